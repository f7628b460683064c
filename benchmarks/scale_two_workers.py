"""Scale-out: one run's stages on one worker vs two, at up to 50M rows. Not in CI (not a bench_*.py
script, so `run_all.py` and `make test` leave it alone): it needs about 15 GB of disk and an hour.

    .venv/bin/python benchmarks/scale_two_workers.py                         # 50M rows, 1 then 2 workers
    .venv/bin/python benchmarks/scale_two_workers.py --rows 5000000 --workers 2
    BENCH_TMP=/big/disk .venv/bin/python benchmarks/scale_two_workers.py     # where the tables go

The table: 20 float features, a 2% minority (`bench_tabular_scale.make_table`), parts of 2M rows;
smote with `sampling_strategy: 0.25` (`--neighbours approximate` for faiss HNSW), and
`source.rows_per_task: 1000000`, so the fit has 50 query blocks and augment 50 tasks at 50M. A
worker is a process with one thread (OMP, OpenBLAS and MKL limited to 1) taking the mapped tasks
handed to it, as a Celery worker with `--concurrency 1` takes the DAG's mapped `fit` and `augment`
tasks: it calls the same stage functions (`augment_jobs.stages.fit` / `augment`), blocks and shards
dealt round-robin. The unmapped stages (snapshot, fit_merge, gate, publish, lineage) run in one
process each. Printed per worker count: wall seconds per stage and peak RSS of every worker
(`os.wait4`), and the speed-up of the mapped stages from one worker to two.

On a real cluster: `docker compose up -d --scale airflow-worker=2` with
`AIRFLOW__CELERY__WORKER_CONCURRENCY=1`, a config like the one this script writes under
`AUGMENT_CONFIGS`, then trigger `augment__bench50m` and read the task durations from the UI or
`airflow tasks states-for-dag-run`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tabular_scale import DS, make_table  # noqa: E402

ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, *args], env=env, stdout=subprocess.PIPE, text=True)


def _wait(procs: list[subprocess.Popen]) -> list[int]:
    """Wait for every process; their peak RSS in MiB (os.wait4); exit on a failure."""
    peaks = []
    for p in procs:
        _, status, usage = os.wait4(p.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"a worker failed: {p.args}")
        peaks.append(usage.ru_maxrss // 1024)
    return peaks


def _stage(env: dict[str, str], *args: str) -> tuple[float, int, str]:
    t = time.perf_counter()
    p = _spawn(["--stage", *args], env)
    out = p.stdout.read() if p.stdout else ""
    peak = _wait([p])[0]
    return time.perf_counter() - t, peak, out.strip()


def _mapped(env: dict[str, str], stage: str, run_uri: str, items: list[int], workers: int) -> tuple[float, list[int]]:
    """Items dealt round-robin to `workers` one-thread processes running at once."""
    t = time.perf_counter()
    procs = [_spawn(["--worker", stage, run_uri, ",".join(map(str, items[w::workers]))], env)
             for w in range(workers) if items[w::workers]]
    peaks = _wait(procs)
    return time.perf_counter() - t, peaks


def run(tmp: Path, raw_root: Path, rows: int, workers: int, neighbours: str) -> dict:
    """One full run on `workers` workers; stage walls and per-worker peaks."""
    name = f"bench{workers}w"
    cfg = tmp / f"{name}.yaml"
    cfg.write_text(json.dumps({
        "dataset": name, "modality": "tabular", "seed": 1, "label": "is_fraud",
        "source": {"uri": f"{raw_root}/{{ds}}/", "format": "parquet", "rows_per_task": 1_000_000},
        "augment": [{"method": "smote", "params": {"sampling_strategy": 0.25, "neighbours": neighbours}}],
        "limits": {"max_synthetic_ratio": 0.5},
        "quality": {"similarity": {"max_ks": 0.5, "max_tvd": 0.5}},
        "publish": {"uri": f"{tmp}/published/{name}", "format": "parquet"},
    }))
    env = {**os.environ, **ONE_THREAD, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
           "MLFLOW_DISABLE_TELEMETRY": "true"}
    out: dict = {"rows": rows, "workers": workers, "neighbours": neighbours, "stage_s": {}, "peak_mib": {}}
    wall, peak, snap_json = _stage(env, "snapshot", str(cfg))
    snap = json.loads(snap_json.splitlines()[-1])
    out["stage_s"]["snapshot"], out["peak_mib"]["snapshot"] = round(wall, 1), peak
    wall, peaks = _mapped(env, "fit", snap["run_uri"], snap["fit_blocks"], workers)
    out["stage_s"]["fit"], out["peak_mib"]["fit"] = round(wall, 1), peaks
    wall, peak, _ = _stage(env, "fit_merge", snap["run_uri"])
    out["stage_s"]["fit_merge"], out["peak_mib"]["fit_merge"] = round(wall, 1), peak
    wall, peaks = _mapped(env, "augment", snap["run_uri"], snap["shards"], workers)
    out["stage_s"]["augment"], out["peak_mib"]["augment"] = round(wall, 1), peaks
    for stage in ("gate", "publish", "lineage"):
        wall, peak, _ = _stage(env, stage, snap["run_uri"])
        out["stage_s"][stage], out["peak_mib"][stage] = round(wall, 1), peak
    out["total_s"] = round(sum(out["stage_s"].values()), 1)
    return out


def _child_stage(stage: str, arg: str) -> None:
    from augment_jobs import stages

    result = stages.snapshot(arg, DS) if stage == "snapshot" else getattr(stages, stage)(arg)
    print(json.dumps(result, default=str))


def _child_worker(stage: str, run_uri: str, items: str) -> None:
    from augment_jobs import stages

    for i in (int(x) for x in items.split(",")):
        getattr(stages, stage)(run_uri, i)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=50_000_000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--neighbours", choices=["exact", "approximate"], default="exact")
    ap.add_argument("--stage", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--make-table", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.make_table:
        make_table(Path(args.make_table[0]), int(args.make_table[1]))
        return
    if args.stage:
        _child_stage(*args.stage)
        return
    if args.worker:
        _child_worker(*args.worker)
        return
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as t:
        tmp = Path(t)
        raw_root = tmp / "raw"
        # in a child: Linux starts a child's peak RSS at its parent's, so the parent stays small
        subprocess.run([sys.executable, __file__, "--make-table", str(raw_root / DS), str(args.rows)], check=True)
        results = [run(tmp, raw_root, args.rows, w, args.neighbours) for w in args.workers]
    for r in results:
        print(f"{r['rows']:,} rows, {r['workers']} worker(s), {r['neighbours']}: total {r['total_s']} s; "
              f"stages {r['stage_s']}; peak MiB {r['peak_mib']}")
    one = next((r for r in results if r["workers"] == 1), None)
    for r in results:
        if one is not None and r is not one:
            for stage in ("fit", "augment"):
                print(f"{stage}: {one['stage_s'][stage] / max(r['stage_s'][stage], 1e-9):.2f}x faster on "
                      f"{r['workers']} workers than on one")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""Tabular at scale: `augment run` on the one tabular engine vs the bare library, side by side.

    .venv/bin/python benchmarks/bench_tabular_scale.py                       # 1M, 5M, 20M smote + 1M smotenc
    .venv/bin/python benchmarks/bench_tabular_scale.py --sizes 1000000       # one size
    .venv/bin/python benchmarks/bench_tabular_scale.py --bare-max-rows 0     # platform side only
    .venv/bin/python benchmarks/bench_tabular_scale.py --sizes 5000000 --smotenc-rows 0   # the 5M goals
    .venv/bin/python benchmarks/bench_tabular_scale.py --sizes 5000000 --smotenc-rows 0 --repeat 3

Each smote size runs the platform twice, `neighbours: exact` and `neighbours: approximate` (faiss
HNSW; `--neighbours exact` for one), against one bare run, with the approximate run's measured
recall (the manifest's `recall`) beside its wall: the figures of the issue 25 goals in one run.
`--repeat N` runs the bare side and every platform run N times, in turn, and compares the fastest
of each (a shared or virtual machine's speed drifts by 2x within minutes).

Tables: `features` float columns (three of them categorical strings for smotenc), a binary
`is_fraud` with a 2% minority, written in part files of 2M rows, 1M rows at a time (a 20M table
never sits in memory). Every side runs in a fresh process, measured by wall time and peak RSS
(os.wait4). The platform side is the real CLI with `source.rows_per_task: 1000000` (snapshot with
pass 1 and the fit, augment mapped over the tasks in turn, gate, publish, MLflow lineage); the bare
side is pyarrow + imbalanced-learn on the whole table, run only up to `--bare-max-rows`. A third
process times scikit-learn's exact same-class neighbour search on the minority rows alone (the
bare side's floor), and a fourth the platform's (`neighbours.exact_nearest`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tabular import _child  # noqa: E402

DS = "2026-01-01"
PART_ROWS = 2_000_000
CHUNK = 1_000_000
CATEGORIES = ["a", "b", "c", "d", "e"]


def make_table(folder: Path, rows: int, features: int = 20, categorical: int = 0, minority: float = 0.02) -> None:
    """Part files of PART_ROWS rows, generated CHUNK rows at a time (seeded per chunk)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    writer, part = None, -1
    for c, start in enumerate(range(0, rows, CHUNK)):
        n = min(CHUNK, rows - start)
        rng = np.random.default_rng([0, c])
        y = (rng.random(n) < minority).astype(np.int64)
        cols: dict[str, object] = {}
        for i in range(features):
            if i < categorical:
                shift = (rng.random(n) < 0.3 * y).astype(np.int64)  # the minority leans to later categories
                cols[f"c{i:02d}"] = np.asarray(CATEGORIES)[np.minimum(rng.integers(0, 4, n) + shift, 4)]
            else:
                cols[f"f{i:02d}"] = rng.normal(size=n) + 0.8 * y * (i % 3 == 0)
        cols["is_fraud"] = y
        t = pa.table(cols)
        if start // PART_ROWS != part:
            if writer is not None:
                writer.close()
            part = start // PART_ROWS
            writer = pq.ParquetWriter(folder / f"part-{part:03d}.parquet", t.schema, compression="zstd")
        writer.write_table(t, row_group_size=256 * 1024)
    if writer is not None:
        writer.close()


def bare(method: str, src: str, out: str) -> None:
    """What a data scientist would write: read the whole partition, fit_resample, write."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from imblearn.over_sampling import SMOTE, SMOTENC

    df = pq.read_table(src).to_pandas()
    X, y = df.drop(columns="is_fraud"), df["is_fraud"].to_numpy()
    if method == "smotenc":
        cats = [c for c in X.columns if c.startswith("c")]
        sampler = SMOTENC(categorical_features=cats, sampling_strategy=0.25, random_state=0)
        Xr, yr = sampler.fit_resample(X, y)
        out_t = pa.Table.from_pandas(Xr.assign(is_fraud=yr), preserve_index=False)
    else:
        Xr, yr = SMOTE(sampling_strategy=0.25, random_state=0).fit_resample(X.to_numpy(), y)
        out_t = pa.table({**{n: Xr[:, i] for i, n in enumerate(X.columns)}, "is_fraud": yr})
    pq.write_table(out_t, out)


def search_only(src: str, which: str) -> None:
    """The same-class neighbour search on the minority rows alone, after reading just those rows:
    `sklearn` (the exact brute-force search imbalanced-learn runs: the bare side's floor) or
    `platform` (`neighbours.exact_nearest`, the exact search of `neighbours: exact`)."""
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    t = pq.read_table(src, filters=pc.field("is_fraud") == 1)
    X = np.column_stack([t.column(n).to_numpy() for n in t.column_names if n.startswith("f")])
    if which == "sklearn":
        from sklearn.neighbors import NearestNeighbors

        NearestNeighbors(n_neighbors=6).fit(X).kneighbors(X, return_distance=False)
    else:
        from augment_jobs.tabular.neighbours import exact_nearest

        exact_nearest(X, np.arange(len(X)), 6)


def _config(tmp: Path, method: str, params: dict) -> Path:
    (tmp / "configs").mkdir()
    (tmp / "expectations").mkdir()
    (tmp / "expectations" / "bench.json").write_text(json.dumps({"name": "bench", "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "f05"}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "is_fraud", "value_set": [0, 1]}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "_id"}},
    ]}))
    cfg = tmp / "configs" / "bench.yaml"
    cfg.write_text(json.dumps({
        "dataset": "bench", "modality": "tabular", "seed": 1,
        "source": {"uri": "{store}/raw/bench/{ds}/", "format": "parquet", "rows_per_task": 1_000_000},
        "label": "is_fraud", "augment": [{"method": method, "params": params}],
        "limits": {"max_synthetic_ratio": 0.5},
        "quality": {"suite": "expectations/bench.json", "similarity": {"max_ks": 0.5, "max_tvd": 0.5}},
        "publish": {"uri": f"{{store}}/published/bench-{tmp.name}", "format": "parquet"},
    }))
    return cfg


def measure(rows: int, method: str, bare_max_rows: int, categorical: int = 0,
            neighbours: tuple[str, ...] = ("exact",), workers: tuple[int, ...] = (1,), repeat: int = 1) -> list[dict]:
    """One table: the bare side, then the platform once per `neighbours` setting and worker count
    (`augment run --workers`), `repeat` times in turn; each side's fastest run is kept."""
    params: dict = {"sampling_strategy": 0.25, "k_neighbors": 5}
    if method == "smotenc":
        params["categorical_features"] = [f"c{i:02d}" for i in range(categorical)]
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as t:
        tmp = Path(t)
        raw = tmp / "store" / "raw" / "bench" / DS
        make_table(raw, rows, categorical=categorical)
        env = {**os.environ, "AUGMENT_STORE": str(tmp / "store"), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}"}
        # a platform's tracking store exists already: create the MLflow schema outside the timing
        subprocess.run([sys.executable, "-c", "import mlflow; mlflow.MlflowClient("
                        f"{env['MLFLOW_TRACKING_URI']!r}).search_experiments()"], check=True, capture_output=True)
        base: dict = {"rows": rows, "method": method}
        runs: dict[tuple[str, int], list[dict]] = {(nb, w): [] for nb in neighbours for w in workers}
        bare_runs: list[dict] = []
        for r in range(repeat):  # bare and platform in turn, so a change of machine speed hits both
            if rows <= bare_max_rows:
                wall, rss, _ = _child([sys.executable, __file__, "--bare", method, str(raw), str(tmp / "bare.parquet")])
                bare_runs.append({"wall_s": round(wall, 1), "peak_rss_mib": rss})
                (tmp / "bare.parquet").unlink(missing_ok=True)
                if method == "smote" and r == 0:
                    for which in ("sklearn", "platform"):  # each in a process of its own (one OpenMP)
                        wall, _, _ = _child([sys.executable, __file__, "--search-only", str(raw), which])
                        base.setdefault("search_only_s", {})[which] = round(wall, 1)
            for (nb, w), done in runs.items():
                done.append(_platform(tmp, f"{nb}-{w}-{r}", method, {**params, "neighbours": nb}, w, env))
        if bare_runs:
            base["bare"] = {**min(bare_runs, key=lambda b: b["wall_s"]), "walls_s": [b["wall_s"] for b in bare_runs]}
        results = []
        for (nb, w), done in runs.items():
            best = min(done, key=lambda d: d["wall_s"])
            out = {**base, "neighbours": nb, "workers": w, "recall": best.pop("recall"),
                   "augment": {**best, "walls_s": [d["wall_s"] for d in done]}}
            if "bare" in out:
                out["wall_ratio"] = round(best["wall_s"] / out["bare"]["wall_s"], 2)
            results.append(out)
        return results


def _platform(tmp: Path, name: str, method: str, params: dict, workers: int, env: dict[str, str]) -> dict:
    """One `augment run` of the config: wall, peak RSS, seconds per stage and the measured recall."""
    run = tmp / name
    run.mkdir()
    cfg = _config(run, method, params)
    wall, rss, err = _child([sys.executable, "-m", "augment_jobs", "run", str(cfg), "--date", DS,
                             "--workers", str(workers)], env)
    stages: dict[str, float] = {}
    for stage, sec in re.findall(r"(?:\[\d/5\] |^ +)(\w+) .*?\(([\d.]+)s\)", err, flags=re.M):
        stages[stage] = round(stages.get(stage, 0) + float(sec), 1)
    manifest = json.loads(next((tmp / "store" / "published" / f"bench-{run.name}").glob(
        "versions/*/_manifest.json")).read_text())
    return {"wall_s": round(wall, 1), "peak_rss_mib": rss, "stage_s": stages,
            "recall": manifest.get("recall", {}).get("recall")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[1_000_000, 5_000_000, 20_000_000])
    ap.add_argument("--smotenc-rows", type=int, default=1_000_000, help="0: skip the smotenc case")
    ap.add_argument("--bare-max-rows", type=int, default=5_000_000, help="largest table the bare side is run on")
    ap.add_argument("--neighbours", nargs="+", default=["exact", "approximate"], choices=["exact", "approximate"],
                    help="smote's neighbour searches to run the platform with (each a run of its own)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                    help="`augment run --workers` counts to run the platform with (each a run of its own)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of each side, in turn; the fastest of each is compared (a noisy machine)")
    ap.add_argument("--bare", nargs=3, metavar=("METHOD", "SRC", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--search-only", nargs=2, metavar=("SRC", "WHICH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.bare:
        bare(*args.bare)
        return
    if args.search_only:
        search_only(*args.search_only)
        return
    results = [r for n in args.sizes for r in measure(n, "smote", args.bare_max_rows, neighbours=tuple(args.neighbours),
                                                     workers=tuple(args.workers), repeat=args.repeat)]
    if args.smotenc_rows:
        results += measure(args.smotenc_rows, "smotenc", args.bare_max_rows, categorical=3, repeat=args.repeat)
    print(f"{'method':<8} {'neighbours':<11} {'w':>2} {'rows':>10} | {'bare s':>7} {'bare MiB':>8} | {'augment s':>9} "
          f"{'augment MiB':>11} | ratio | recall | search alone s: sklearn, platform | stages s")
    for r in results:
        b = r.get("bare", {})
        recall = f"{r['recall']:.4f}" if r.get("recall") is not None else "-"
        search = ", ".join(f"{v}" for v in r.get("search_only_s", {}).values()) or "-"
        print(f"{r['method']:<8} {r['neighbours']:<11} {r.get('workers', 1):>2} {r['rows']:>10,} | {b.get('wall_s', '-'):>7} "
              f"{b.get('peak_rss_mib', '-'):>8} | {r['augment']['wall_s']:>9} {r['augment']['peak_rss_mib']:>11} | "
              f"{r.get('wall_ratio', '-'):>5} | {recall:>6} | {search:>33} | "
              f"{r['augment']['stage_s']}")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

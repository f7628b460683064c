"""Airflow overheads: DAG file parse time, and `dag.test()` against `stages.run` for one dataset/date.

    python benchmarks/bench_airflow.py [--repeats 3] [--dataset tiny|credit_default] [--skip-runs]

Parse time is measured the way the dag-processor pays it: a fresh interpreter that has already
imported Airflow parses one file (cold: augment_jobs not yet imported), then parses it again
(warm). Wall and CPU seconds are both reported: on a shared machine wall time includes waiting for
the CPU. The run comparison executes the same config and logical date in fresh processes, each with
a fresh store and MLflow database: `stages.run(...)` (what `augment run` calls) and `dag.test()` of
`augment__<dataset>` (in-process Airflow on SQLite).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "airflow"))
from tiny import write_tiny, write_tiny_raw  # noqa: E402

DS = "2026-01-05"

PARSE = """
import json, sys, time
import airflow.sdk
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder="/nonexistent")
out = {}
for label in ("cold", "warm"):
    w, c = time.perf_counter(), time.process_time()
    dags = bag.process_file(sys.argv[1], only_if_updated=False)
    out[label] = {"wall": time.perf_counter() - w, "cpu": time.process_time() - c, "dags": len(dags)}
print(json.dumps(out))
"""

STAGES_RUN = """
import json, sys, time
t = time.perf_counter()
from augment_jobs import stages
r = stages.run(sys.argv[1], sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - t, "version": r["version"]}))
"""

DAG_TEST = """
import json, os, sys, time
from datetime import UTC, datetime
from airflow.dag_processing.dagbag import DagBag
t = time.perf_counter()
bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
dag = bag.dags[sys.argv[1]]
t1 = time.perf_counter()
run = dag.test(logical_date=datetime.fromisoformat(sys.argv[2]).replace(tzinfo=UTC))
print(json.dumps({"seconds": time.perf_counter() - t1, "dagbag_seconds": t1 - t, "state": str(run.state)}))
"""


def _json_out(cmd: list[str], env: dict[str, str]) -> dict:
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise SystemExit(out.stdout[-3000:] + out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_parse(repeats: int, env: dict[str, str]) -> dict[str, dict]:
    results = {}
    for path in sorted((ROOT / "dags").glob("*.py")):
        runs = [_json_out([sys.executable, "-c", PARSE, str(path)], env) for _ in range(repeats)]
        results[path.name] = {
            f"{phase}_{kind}": statistics.median(r[phase][kind] for r in runs)
            for phase in ("cold", "warm")
            for kind in ("wall", "cpu")
        } | {"dags": runs[0]["cold"]["dags"]}
    return results


def _platform(tmp: Path, dataset: str) -> tuple[Path, dict[str, str]]:
    """A fresh store, MLflow DB and AIRFLOW_HOME; returns (config path, env)."""
    store = tmp / "store"
    store.mkdir(parents=True)
    env = {
        **os.environ,
        "AUGMENT_STORE": str(store),
        "AUGMENT_CONFIGS": str(tmp / "configs"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
        "AIRFLOW_HOME": str(tmp / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    if dataset == "tiny":
        config = write_tiny(tmp)
        write_tiny_raw(store, DS)
    else:
        (tmp / "configs").mkdir()
        config = Path(shutil.copy(ROOT / "configs" / f"{dataset}.yaml", tmp / "configs"))
        shutil.copytree(ROOT / "expectations", tmp / "expectations")
        code = (
            f"from augment_jobs.demo import write_demo_raw; write_demo_raw({DS!r}, {str(tmp / 'configs')!r})"
        )
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return config, env


def bench_runs(dataset: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        config, env = _platform(Path(a), dataset)
        plain = _json_out([sys.executable, "-c", STAGES_RUN, str(config), DS], env)
        config, env = _platform(Path(b), dataset)
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True
        )
        name = "tiny_tickets" if dataset == "tiny" else dataset
        dagtest = _json_out([sys.executable, "-c", DAG_TEST, f"augment__{name}", DS], env)
    assert dagtest["state"] == "success", dagtest
    return {
        "stages_run_s": plain["seconds"],
        "dag_test_s": dagtest["seconds"],
        "dagbag_s": dagtest["dagbag_seconds"],
        "overhead_s": dagtest["seconds"] - plain["seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dataset", action="append", help="tiny (default) and/or a config name in configs/")
    parser.add_argument("--skip-runs", action="store_true")
    args = parser.parse_args()
    env = {**os.environ, "AIRFLOW_HOME": tempfile.mkdtemp(prefix="bench-airflow-")}
    env.pop("AUGMENT_CONFIGS", None)
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print("\nDAG file parse (median of", args.repeats, "fresh interpreters, seconds)")
    print(f"{'file':<28}{'dags':>5}{'cold wall':>11}{'cold cpu':>10}{'warm wall':>11}{'warm cpu':>10}")
    for name, r in bench_parse(args.repeats, env).items():
        print(
            f"{name:<28}{r['dags']:>5}{r['cold_wall']:>11.3f}{r['cold_cpu']:>10.3f}{r['warm_wall']:>11.3f}"
            f"{r['warm_cpu']:>10.3f}"
        )
    if args.skip_runs:
        return
    print("\ndag.test() vs stages.run (fresh processes and stores, seconds)")
    for dataset in args.dataset or ["tiny"]:
        r = bench_runs(dataset)
        print(
            f"{dataset:<16} stages.run {r['stages_run_s']:.1f}   dag.test {r['dag_test_s']:.1f}"
            f"   overhead {r['overhead_s']:+.1f}   (DagBag fill {r['dagbag_s']:.1f})"
        )
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

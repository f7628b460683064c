"""Run every demo DAG for one logical date through Airflow, in-process (`dag.test()`), no servers.

    python scripts/airflow_demo.py [--date YYYY-MM-DD] [--only DATASET ...]

Airflow's metadata goes to a SQLite file under the repository's `.airflow/` (gitignored; override
with AIRFLOW_HOME), data to AUGMENT_STORE (default `.augment-store/`), lineage to MLflow
(MLFLOW_TRACKING_URI, default a SQLite file in the store folder). For each demo config it writes
the raw partition, runs `augment__<dataset>`, then the `train__<dataset>` consumer of each
tabular dataset, and prints what was published and how to open the Airflow and MLflow UIs.
Exit code 0 when every DAG run succeeded, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def airflow_env() -> None:
    """Point Airflow at the repository's DAGs and a local SQLite home; must run before `import airflow`."""
    os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".airflow"))
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
    os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__PARALLELISM", "4")
    # task logs go to the log files as usual; the console shows the outcome of each run
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)


def migrate() -> None:
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, stdout=subprocess.DEVNULL)


def run_dag(bag: object, dag_id: str, ds: str, conf: dict | None = None) -> str:
    dag = bag.dags[dag_id]  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    run = dag.test(logical_date=datetime.fromisoformat(ds).replace(tzinfo=UTC), run_conf=conf)
    state = str(run.state.value if hasattr(run.state, "value") else run.state)
    print(f"   {dag_id}: {state} in {time.perf_counter() - t0:.1f} s", flush=True)
    return state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", default=(date.today() - timedelta(days=1)).isoformat())
    parser.add_argument("--only", nargs="*", help="dataset names (default: every demo config)")
    args = parser.parse_args(argv)

    airflow_env()
    # library deprecation chatter (Airflow's test client, MLflow schema hints) is not for this console
    warnings.filterwarnings("ignore")
    migrate()
    from airflow.dag_processing.dagbag import DagBag

    from augment_jobs.config import load_config, store_root
    from augment_jobs.demo import demo_configs, look_around, write_demo_raw
    from augment_jobs.lineage import tracking_uri
    from augment_jobs.publish import latest_version

    configs = [load_config(p) for p in demo_configs()]
    configs = [c for c in configs if not args.only or c.dataset in args.only]
    print(
        f"AIRFLOW_HOME={os.environ['AIRFLOW_HOME']}  store={store_root()}  logical date={args.date}",
        flush=True,
    )
    write_demo_raw(args.date)
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        for path, err in bag.import_errors.items():
            print(f"import error in {path}:\n{err}", file=sys.stderr)
    failed = 0
    for cfg in configs:
        dag_id = f"augment__{cfg.dataset}"
        if dag_id not in bag.dags:
            print(f"   {dag_id}: not loaded (see import errors above)")
            failed += 1
            continue
        failed += run_dag(bag, dag_id, args.date) != "success"
    for cfg in configs:
        if f"train__{cfg.dataset}" in bag.dags and latest_version(cfg.publish_uri()):
            failed += run_dag(bag, f"train__{cfg.dataset}", args.date) != "success"

    print("\nPublished (latest):")
    for cfg in configs:
        print(f"  {cfg.dataset:<22} {latest_version(cfg.publish_uri()) or '-':<22} {cfg.publish_uri()}")
    shown = next((c for c in configs if c.publish.format == "parquet" and latest_version(c.publish_uri())), None)
    if shown:
        print("\nLook around:")
        print("\n".join(look_around(shown, latest_version(shown.publish_uri()))))
    home = os.environ["AIRFLOW_HOME"]
    print("\nOpen the UIs:")
    print(
        f"  AIRFLOW_HOME={home} AIRFLOW__CORE__DAGS_FOLDER={ROOT / 'dags'} AIRFLOW__CORE__LOAD_EXAMPLES=False "
        "AIRFLOW__CORE__PARALLELISM=4 airflow standalone    # http://localhost:8080"
    )
    print(f"  mlflow ui --backend-store-uri {tracking_uri()}    # http://localhost:5000")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

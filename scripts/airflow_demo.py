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
import json
import logging
import os
import subprocess
import sys
import time
import traceback
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
    os.environ.setdefault("AUGMENT_DEMO", "1")  # dags/demo_feed.py lands each day's raw data
    os.environ.setdefault("TQDM_DISABLE", "1")  # SDV sampling progress bars are not for this console
    # where `make ui` serves the UIs: MLflow runs link to their Airflow run, the CLI prints run links
    os.environ.setdefault("AUGMENT_AIRFLOW_URL", f"http://127.0.0.1:{os.environ.get('AIRFLOW_UI_PORT', '8080')}")
    os.environ.setdefault("AUGMENT_MLFLOW_URL", f"http://127.0.0.1:{os.environ.get('MLFLOW_UI_PORT', '5000')}")
    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)


def migrate() -> None:
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, stdout=subprocess.DEVNULL)


class TaskLogFile(logging.Handler):
    """Writes what a task logs to the file Airflow's UI reads for that try (JSON lines, as Airflow 3's
    own task logs). `dag.test()` runs tasks in this process and writes no task log otherwise."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.INFO)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = path.open("a")

    def emit(self, record: logging.LogRecord) -> None:
        event = record.getMessage()
        if record.exc_info:
            event += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        line = {"timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(), "level": record.levelname.lower(),
                "event": event, "logger": record.name}
        self.file.write(json.dumps(line) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()
        super().close()


def log_path(ti: object) -> Path:
    """Airflow's default log file of a task try: dag_id=/run_id=/task_id=/[map_index=/]attempt=N.log."""
    from airflow.configuration import conf

    parts = [f"dag_id={ti.dag_id}", f"run_id={ti.run_id}", f"task_id={ti.task_id}"]  # type: ignore[attr-defined]
    if ti.map_index >= 0:  # type: ignore[attr-defined]
        parts.append(f"map_index={ti.map_index}")  # type: ignore[attr-defined]
    return Path(conf.get("logging", "base_log_folder"), *parts, f"attempt={max(ti.try_number, 1)}.log")  # type: ignore[attr-defined]


def capture_task_logs() -> None:
    """Give every in-process task of `dag.test()` its own log file, so the UI shows what it did."""
    from airflow.sdk.definitions import dag as dag_module

    run_task = dag_module._run_task
    if getattr(run_task, "_writes_logs", False):
        return

    def with_log(*, ti: object, **kwargs: object) -> object:
        from augment_jobs.logs import quiet_libraries

        quiet_libraries()
        handler = TaskLogFile(log_path(ti))
        root = logging.getLogger()
        level = root.level
        root.addHandler(handler)
        root.setLevel(min(level, logging.INFO))
        try:
            return run_task(ti=ti, **kwargs)
        finally:
            root.removeHandler(handler)
            root.setLevel(level)
            handler.close()

    with_log._writes_logs = True  # type: ignore[attr-defined]
    dag_module._run_task = with_log


def true_start(dag_id: str, run_id: str) -> None:
    """`dag.test()` records the logical date as the run's start; put the first task's start there."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        first = session.scalar(select(func.min(TaskInstance.start_date)).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id))
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        if run is not None and first is not None:
            run.start_date = first


def run_dag(bag: object, dag_id: str, ds: str, conf: dict | None = None) -> str:
    dag = bag.dags[dag_id]  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    capture_task_logs()
    run = dag.test(logical_date=datetime.fromisoformat(ds).replace(tzinfo=UTC), run_conf=conf)
    true_start(dag_id, run.run_id)
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
    # full paths and the store, so each line works pasted into a fresh shell (no venv activated)
    bin_dir = Path(sys.executable).parent
    store = "" if "AUGMENT_STORE" not in os.environ else f"AUGMENT_STORE={os.environ['AUGMENT_STORE']} "
    if shown:
        print("\nLook around:")
        for line in look_around(shown, latest_version(shown.publish_uri())):
            line = line.strip()
            if line.startswith("augment "):
                line = f"{store}{bin_dir / 'augment'} {line[len('augment '):]}"
            elif line.startswith("python "):
                line = f"{store}{sys.executable} {line[len('python '):]}"
            print(f"  {line}")
    print("\nOpen the UIs (Airflow with the scheduler, and MLflow, on these stores; Ctrl-C stops them):")
    env = " ".join(f"{k}={os.environ[k]}" for k in ("AIRFLOW_HOME", "AUGMENT_STORE", "MLFLOW_TRACKING_URI")
                   if k in os.environ)
    print(f"  cd {ROOT} && {env} make ui")
    print(f"  # Airflow {os.environ['AUGMENT_AIRFLOW_URL']} (login printed by make ui), "
          f"MLflow {os.environ['AUGMENT_MLFLOW_URL']}  (tracking store {tracking_uri()})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""End to end through a real Airflow: api-server, scheduler and dag-processor on a fresh PostgreSQL
database, LocalExecutor and then CeleryExecutor (local Redis broker, real `airflow celery worker`s:
one, then two that share a multi-part tabular run's mapped augment tasks).

Runs are triggered through REST API v2 (SimpleAuthManager, all admins) and `airflow backfill
create`; tiny datasets keep every task to seconds. Every process started here runs in its own
process group and is stopped (group SIGTERM, then SIGKILL) even when a test fails.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "airflow"))
from tiny import write_tabular, write_tabular_raw, write_tiny, write_tiny_raw  # noqa: E402

# one worker under pytest-xdist: the Celery tests share one Redis database (REDIS_DB)
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("redis")]

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS_DB = 11  # a Redis database number nobody else here uses
DATES = ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]
NO_SOURCE = "2026-01-05"  # inside the backfill range, but no raw partition was written for it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reachable(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def _database(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    import psycopg2

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(dbname="postgres", **PG)
    conn.autocommit = True
    conn.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
    finally:
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


class Cluster:
    """Airflow components as process groups, plus a small REST v2 client."""

    def __init__(self, root: Path, env: dict[str, str], port: int) -> None:
        self.root, self.env, self.port = root, env, port
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.base = f"http://127.0.0.1:{port}"
        self._token: str | None = None

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        """`airflow <args>` in its own process group, logging to `<name>.log`; `env` adds to the cluster's."""
        log = (self.root / f"{name}.log").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args],
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append((name, proc))

    def stop(self) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for _, proc in self.procs:
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            with suppress(ProcessLookupError):  # what is left in the group (task processes, server children)
                os.killpg(proc.pid, signal.SIGKILL)

    def wait_logged(self, name: str, text: str, timeout: float = 120) -> None:
        """Wait until `<name>.log` contains `text` (e.g. a Celery worker's "ready.")."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in (self.root / f"{name}.log").read_text():
                return
            for proc_name, proc in self.procs:
                assert proc.poll() is None, f"{proc_name} exited early:\n{self.logs()}"
            time.sleep(0.5)
        raise AssertionError(f"{name} never logged {text!r}\n{self.logs()}")

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-tail:]}" for p in sorted(self.root.glob("*.log")))

    def cli(self, *args: str, timeout: int = 120) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        return out.stdout

    def api(self, method: str, path: str, body: dict | None = None, ok: tuple[int, ...] = (200, 201)) -> Any:
        import httpx

        if self._token is None:
            r = httpx.get(f"{self.base}/auth/token", timeout=30)
            r.raise_for_status()
            self._token = r.json()["access_token"]
        r = httpx.request(
            method,
            f"{self.base}{path}",
            json=body,
            timeout=30,
            headers={"Authorization": f"Bearer {self._token}"},
        )
        assert r.status_code in ok, f"{method} {path}: {r.status_code} {r.text[:500]}"
        return r.json() if r.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs:
                assert proc.poll() is None, f"{name} exited early:\n{self.logs()}"
            if _reachable(self.port):
                try:
                    if self.api("GET", f"/api/v2/dags/{dag_id}", ok=(200, 404)).get("dag_id") == dag_id:
                        return
                except Exception:  # the api-server is still starting
                    pass
            time.sleep(2)
        raise AssertionError(f"{dag_id} never appeared\n{self.logs()}")

    def trigger(self, dag_id: str, ds: str, conf: dict | None = None) -> str:
        body = {"logical_date": f"{ds}T00:00:00Z", "conf": conf or {}}
        return self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)["dag_run_id"]

    def wait_runs(self, dag_id: str, run_ids: list[str], timeout: float = 300) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            states = {r: self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{r}")["state"] for r in run_ids}
            if all(s in ("success", "failed") for s in states.values()):
                return states
            time.sleep(3)
        raise AssertionError(f"runs of {dag_id} not finished: {states}\n{self.logs()}")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, tuple[str, int]]:
        tis = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {t["task_id"]: (t["state"], t["try_number"]) for t in tis if t["map_index"] in (-1, 0)}


@contextmanager
def airflow_cluster(
    tmp_path: Path, executor: str, *, workers: int = 1, concurrency: int = 2
) -> Iterator[tuple[Cluster, Path]]:
    """A running cluster on the tiny datasets' configs (plus any already in `tmp_path/configs`) and its
    store. With CeleryExecutor, `workers` Celery workers `w1`, `w2`, ... of `concurrency` slots each
    consume the `default` queue; a task instance's `hostname` is the name of the worker that ran it
    (`tests/airflow/worker_host.py`: on one machine they would all report the same FQDN)."""
    store = tmp_path / "store"
    store.mkdir()
    write_tiny(tmp_path, airflow="{max_active_runs: 3, retries: 1, retry_delay_seconds: 1, tags: [test]}")
    write_tiny(tmp_path, dataset="tiny_strict", max_synthetic_ratio=0.1)
    for ds in DATES:
        write_tiny_raw(store, ds)
        write_tiny_raw(store, ds, dataset="tiny_strict")
    port = _free_port()
    with _database("augment_af") as airflow_db, _database("augment_mlflow") as mlflow_db:
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(tmp_path / "airflow_home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db,
            "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            # a task's supervisor notices its process exit at the next heartbeat tick (default 5 s): a
            # worker slot stays busy that long after the task succeeded (GX/MLflow tasks exit slowly)
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
            # This cluster's own queue keys: a suite running beside this one (another checkout on
            # this machine) uses the same Redis database, and its worker once took this one's task.
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": f"augment-test-{secrets.token_hex(6)}:",
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + airflow_db,
            "AUGMENT_STORE": str(store),
            "AUGMENT_CONFIGS": str(tmp_path / "configs"),
            "MLFLOW_TRACKING_URI": mlflow_db,  # SQLAlchemy 2.1 maps bare postgresql:// to psycopg 3
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
        cluster = Cluster(tmp_path, env, port)
        try:
            cluster.cli("db", "migrate", timeout=300)
            cluster.start("api-server", "api-server", "--port", str(port))
            cluster.start("scheduler", "scheduler")
            cluster.start("dag-processor", "dag-processor")
            if executor == "CeleryExecutor":
                for i in range(1, workers + 1):
                    name = f"w{i}"
                    cluster.start(
                        f"celery-{name}",
                        *("celery", "worker", "--queues", "default", "--concurrency", str(concurrency)),
                        *("--celery-hostname", f"{name}@%h"),
                        env={
                            "AUGMENT_TEST_WORKER": name,
                            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "worker_host.hostname",
                            "PYTHONPATH": os.pathsep.join(
                                p for p in (str(REPO / "tests" / "airflow"), env.get("PYTHONPATH")) if p
                            ),
                            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),  # one each
                        },
                    )
                for i in range(1, workers + 1):  # every worker consumes before a run is queued
                    cluster.wait_logged(f"celery-w{i}", " ready.")
            yield cluster, store
        finally:
            cluster.stop()


def _latest(store: Path, dataset: str) -> str | None:
    f = store / "published" / dataset / "_latest"
    return json.loads(f.read_text())["version"] if f.exists() else None


def _versions(store: Path, dataset: str) -> list[str]:
    folder = store / "published" / dataset / "versions"
    return (
        sorted(p.name for p in folder.iterdir() if (p / "_manifest.json").exists()) if folder.exists() else []
    )


def test_local_executor_rest_trigger_backfill_and_failing_gate(tmp_path: Path) -> None:
    with airflow_cluster(tmp_path, "LocalExecutor") as (cluster, store):
        for dag_id in ("augment__tiny_tickets", "augment__tiny_strict"):
            cluster.wait_for_dag(dag_id)
            cluster.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

        # manual runs through REST v2 with conf: a good one, a typo in conf, a gate that must fail
        manual = cluster.trigger("augment__tiny_tickets", DATES[0], {"force": False})
        typo = cluster.trigger("augment__tiny_tickets", "2026-01-07", {"forse": True})
        strict = cluster.trigger("augment__tiny_strict", DATES[0])

        # Airflow's own backfill over three dates with data and one without (a scheduler executes
        # what it queues): the date without a partition fails clearly, the others publish
        out = cluster.cli(
            "backfill",
            "create",
            "--dag-id",
            "augment__tiny_tickets",
            "--from-date",
            DATES[1],
            "--to-date",
            NO_SOURCE,
        )
        assert "error" not in out.lower()

        states = cluster.wait_runs("augment__tiny_tickets", [manual, typo])
        assert states == {manual: "success", typo: "failed"}, cluster.logs()
        assert cluster.task_states("augment__tiny_tickets", typo)["snapshot"] == ("failed", 1)

        assert cluster.wait_runs("augment__tiny_strict", [strict]) == {strict: "failed"}
        tis = cluster.task_states("augment__tiny_strict", strict)
        assert tis["gate"] == ("failed", 1), tis  # GateFailed is not retried
        assert tis["publish"][0] == "upstream_failed"
        assert _latest(store, "tiny_strict") is None

        runs = cluster.api("GET", "/api/v2/dags/augment__tiny_tickets/dagRuns?run_type=backfill")["dag_runs"]
        by_date = {r["logical_date"][:10]: r["dag_run_id"] for r in runs}
        assert sorted(by_date) == [*DATES[1:], NO_SOURCE], runs
        states = cluster.wait_runs("augment__tiny_tickets", list(by_date.values()))
        assert {d: states[r] for d, r in by_date.items()} == {
            **{d: "success" for d in DATES[1:]}, NO_SOURCE: "failed"
        }, cluster.logs()
        # InputError is not retried; its one-line reason names the missing partition in the task log
        assert cluster.task_states("augment__tiny_tickets", by_date[NO_SOURCE])["snapshot"] == ("failed", 1)

        versions = _versions(store, "tiny_tickets")
        assert sorted(v.split(".")[0] for v in versions) == DATES
        assert _latest(store, "tiny_tickets").startswith(DATES[-1])

        events = cluster.api("GET", "/api/v2/assets/events?limit=50")["asset_events"]
        published = {
            e["extra"]["version"] for e in events if e.get("extra", {}).get("dataset") == "tiny_tickets"
        }
        assert published == set(versions)


def test_celery_executor_runs_the_dag_on_a_real_worker(tmp_path: Path) -> None:
    with airflow_cluster(tmp_path, "CeleryExecutor") as (cluster, store):
        cluster.wait_for_dag("augment__tiny_tickets")
        cluster.api("PATCH", "/api/v2/dags/augment__tiny_tickets", {"is_paused": False})
        run = cluster.trigger("augment__tiny_tickets", DATES[2], {"force": True})
        assert cluster.wait_runs("augment__tiny_tickets", [run]) == {run: "success"}, cluster.logs()
        assert _latest(store, "tiny_tickets").startswith(DATES[2])
        tis = cluster.api("GET", f"/api/v2/dags/augment__tiny_tickets/dagRuns/{run}/taskInstances")[
            "task_instances"
        ]
        assert {t["queue"] for t in tis} == {"default"}
        assert {t["hostname"] for t in tis} == {"w1"}  # the one worker (tests/airflow/worker_host.py)
        worker_log = (tmp_path / "celery-w1.log").read_text()
        assert "augment__tiny_tickets" in worker_log, worker_log[-3000:]


def test_celery_two_workers_share_a_multi_part_tabular_run(tmp_path: Path) -> None:
    """Streamed SMOTE over 3 Parquet parts, 150 rows per task: 4 mapped augment tasks spread over two
    single-slot workers publish the same bytes as one `augment run` of the same config."""
    ds, dag_id = DATES[0], "augment__cancer"
    config = write_tabular(tmp_path, rows_per_task=150)
    with airflow_cluster(tmp_path, "CeleryExecutor", workers=2, concurrency=1) as (cluster, store):
        cli_store = tmp_path / "cli_store"
        for root in (store, cli_store):
            write_tabular_raw(root, ds)
        cluster.wait_for_dag(dag_id)
        cluster.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        run = cluster.trigger(dag_id, ds)
        cli = subprocess.Popen(  # the plain CLI run of the same config, into its own store, meanwhile
            [sys.executable, "-m", "augment_jobs", "run", str(config), "--date", ds],
            env={**cluster.env, "AUGMENT_STORE": str(cli_store)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert cluster.wait_runs(dag_id, [run], timeout=240) == {run: "success"}, cluster.logs()
        out = cli.communicate(timeout=120)[0]
        assert cli.returncode == 0, out

        tis = cluster.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run}/taskInstances")["task_instances"]
        augment = [t for t in tis if t["task_id"] == "augment"]
        assert sorted(t["map_index"] for t in augment) == [0, 1, 2, 3]  # ceil(569 rows / 150)
        assert {t["state"] for t in tis} == {"success"}
        where = {t["map_index"]: t["hostname"] for t in augment}
        assert set(where.values()) == {"w1", "w2"}, where  # both workers ran mapped tasks

    version = _latest(store, "cancer")
    assert version is not None and version == _latest(cli_store, "cancer")
    airflow_dir, cli_dir = (s / "published" / "cancer" / "versions" / version for s in (store, cli_store))
    files = sorted(p.name for p in airflow_dir.glob("part-*.parquet"))
    assert len(files) == 8  # 569 real + 145 synthetic malignant rows, 100 a file
    assert files == sorted(p.name for p in cli_dir.glob("part-*.parquet"))
    for name in [*files, "_gate_report.json"]:
        assert (airflow_dir / name).read_bytes() == (cli_dir / name).read_bytes(), name
    manifests = [json.loads((d / "_manifest.json").read_text()) for d in (airflow_dir, cli_dir)]
    assert manifests[0]["files"] == manifests[1]["files"]

"""Airflow test harness: an isolated AIRFLOW_HOME (set before Airflow is imported), the repo's DAGs,
and a helper that runs `dag.test()` in a fresh interpreter against a migrated SQLite metadata DB."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # tiny.py, dag_runner.py

# Airflow reads its config on import: never let a test touch ~/airflow or a developer's AIRFLOW_HOME.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="augment-airflow-test-")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of a fresh AIRFLOW_HOME with a migrated SQLite DB (for dag.test subprocesses)."""
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "2",
    }
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=300,
    )
    return env


@pytest.fixture
def tmp_platform(tmp_path: Path, airflow_env: dict[str, str]) -> Iterator[dict[str, Any]]:
    """A private store, MLflow DB and configs folder, as the env of a dag.test subprocess."""
    store = tmp_path / "store"
    store.mkdir()
    env = {
        **airflow_env,
        "AUGMENT_STORE": str(store),
        "AUGMENT_CONFIGS": str(tmp_path / "configs"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    yield {"root": tmp_path, "store": store, "env": env}

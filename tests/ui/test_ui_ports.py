"""`make ui` with a port already taken: it says which port and which variable chooses another."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("var", "name"), [("AIRFLOW_UI_PORT", "Airflow"), ("MLFLOW_UI_PORT", "MLflow")])
def test_a_taken_port_is_named_with_its_variable(tmp_path: Path, var: str, name: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"), "AUGMENT_STORE": str(tmp_path / "store"),
               "AIRFLOW_UI_PORT": "0", "MLFLOW_UI_PORT": "0", var: str(port), "PYTHONPATH": str(REPO)}
        proc = subprocess.run([sys.executable, str(REPO / "scripts" / "ui.py")], env=env, capture_output=True,
                              text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and f"port {port}" in err[0] and f"{name} UI" in err[0] and f"{var}=" in err[0]
    assert not (tmp_path / "airflow" / "ui_passwords.json").exists()  # nothing started, nothing written

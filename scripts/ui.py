"""`make ui`: the Airflow UI (with a scheduler that runs the demo DAGs) and an MLflow server, on the
demo's own stores, bound to 127.0.0.1.

    python scripts/ui.py

Airflow: `api-server` + `scheduler` + `dag-processor` (LocalExecutor, SQLite under AIRFLOW_HOME,
default the repository's `.airflow/`), login `admin` with a password generated at each start.
MLflow: `mlflow server` on the demo's tracking store (MLFLOW_TRACKING_URI, default the SQLite file
in the store folder). Ports: AIRFLOW_UI_PORT (default 8080) and MLFLOW_UI_PORT (default 5000).
Server logs go to `$AIRFLOW_HOME/ui-logs/`. Ctrl-C stops everything it started.
Exit codes: 0 stopped by Ctrl-C, 2 a port is taken, 1 a server failed to start.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

from airflow_demo import ROOT, airflow_env, migrate

HOST = "127.0.0.1"
USER = "admin"
STARTUP_TIMEOUT_S = float(os.environ.get("UI_STARTUP_TIMEOUT", "240"))


def port_free(port: int) -> bool:
    """True when nothing listens on HOST:port (a bind test, so a closing socket does not fool it)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def ports() -> dict[str, tuple[int, str]]:
    """Server name → (port, the variable that chooses it)."""
    return {
        "Airflow": (int(os.environ.get("AIRFLOW_UI_PORT", "8080")), "AIRFLOW_UI_PORT"),
        "MLflow": (int(os.environ.get("MLFLOW_UI_PORT", "5000")), "MLFLOW_UI_PORT"),
    }


def write_password(home: Path) -> str:
    """A fresh password for `admin`, in the passwords file Airflow's simple auth manager reads (mode 600)."""
    password = secrets.token_urlsafe(12)
    path = home / "ui_passwords.json"
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(json.dumps({USER: password}) + "\n")
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(path)
    return password


def server_env(airflow_port: int, mlflow_port: int) -> None:
    """What the three Airflow processes and the tasks they run share."""
    airflow_url = f"http://{HOST}:{airflow_port}"
    os.environ.update({
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # SQLite takes one writer at a time: two task processes at once is what it bears
        "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM_UI", "2"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{airflow_url}/execution/",
        "AIRFLOW__API__BASE_URL": airflow_url,
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(airflow_port),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AUGMENT_AIRFLOW_URL": airflow_url,
        "AUGMENT_MLFLOW_URL": f"http://{HOST}:{mlflow_port}",
    })
    # one signing secret for every process (each would otherwise make its own and reject the others' tokens)
    os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_urlsafe(64))


def start(name: str, cmd: list[str], logs: Path) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    """Start one server in its own process group (so stopping it stops its workers too)."""
    log = (logs / f"{name}.log").open("ab")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, cwd=ROOT)
    return proc, log


def stop(procs: dict[str, subprocess.Popen[bytes]], grace_s: float = 15.0) -> None:
    """SIGTERM every process group, then SIGKILL what is still there after `grace_s`."""
    for proc in procs.values():
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for proc in procs.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # workers left behind by the group leader


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:  # noqa: S310 - our own local server
            return r.status == 200
    except OSError:
        return False


def tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except FileNotFoundError:
        return ""


def main() -> int:
    airflow_env()
    wanted = ports()
    for name, (port, var) in wanted.items():
        if not port_free(port):
            print(f"error: port {port} on {HOST} is in use, so the {name} UI cannot start there; "
                  f"choose another with {var}=PORT (e.g. `make ui {var}={port + 1}`)", file=sys.stderr)
            return 2
    airflow_port, mlflow_port = wanted["Airflow"][0], wanted["MLflow"][0]
    home = Path(os.environ["AIRFLOW_HOME"])
    server_env(airflow_port, mlflow_port)
    password = write_password(home)
    migrate()

    from augment_jobs.lineage import ML_VIEW, tracking_uri

    backend = tracking_uri()
    artifacts = Path(backend[len("sqlite:///"):]).with_name("mlartifacts") if backend.startswith("sqlite:///") \
        else home / "mlartifacts"
    logs = home / "ui-logs"
    logs.mkdir(parents=True, exist_ok=True)
    airflow = [sys.executable, "-m", "airflow"]
    commands = {
        "api-server": airflow + ["api-server", "--host", HOST, "--port", str(airflow_port), "--workers", "1"],
        "scheduler": airflow + ["scheduler"],
        "dag-processor": airflow + ["dag-processor"],
        "mlflow": [sys.executable, "-m", "mlflow", "server", "--host", HOST, "--port", str(mlflow_port),
                   "--backend-store-uri", backend, "--artifacts-destination", str(artifacts), "--workers", "1"],
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    files = []
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for name, cmd in commands.items():
            procs[name], log = start(name, cmd, logs)
            files.append(log)
        checks = {"Airflow": f"http://{HOST}:{airflow_port}/api/v2/monitor/health",
                  "MLflow": f"http://{HOST}:{mlflow_port}/health"}
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        pending = dict(checks)
        while pending and not stopping:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    print(f"error: {name} exited with code {proc.returncode} while starting; "
                          f"its log ({logs / (name + '.log')}) ends with:\n{tail(logs / (name + '.log'))}",
                          file=sys.stderr)
                    return 1
            pending = {k: v for k, v in pending.items() if not healthy(v)}
            if pending and time.monotonic() > deadline:
                print(f"error: {', '.join(pending)} not up after {STARTUP_TIMEOUT_S:.0f} s; logs in {logs}",
                      file=sys.stderr)
                return 1
            time.sleep(1)
        if not stopping:
            print(f"Airflow  http://{HOST}:{airflow_port}   login: {USER} / {password}", flush=True)
            print(f"MLflow   http://{HOST}:{mlflow_port}/#/experiments?{ML_VIEW}", flush=True)
            print(f"stores   AIRFLOW_HOME={home}  MLflow {backend}", flush=True)
            print(f"logs     {logs}/   Ctrl-C stops both.", flush=True)
        while not stopping:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    print(f"error: {name} stopped (exit code {proc.returncode}); see {logs / (name + '.log')}",
                          file=sys.stderr)
                    return 1
            time.sleep(1)
        return 0
    finally:
        print("stopping Airflow and MLflow ...", flush=True)
        stop(procs)
        for f in files:
            f.close()
        print("stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())

"""The `make ui` stack in headless Chromium: what an operator must see in Airflow and MLflow.

Starts `scripts/ui.py` on private stores with two tiny datasets (one passes its gate, one fails it),
runs both DAGs through the real scheduler, then logs in and looks: the run grid, the failed gate
task's log, the MLflow experiment and both runs. Screenshots go to tests/ui/artifacts/ (printed).
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "airflow"))
from tiny import write_tiny, write_tiny_raw  # noqa: E402

DS = "2026-01-05"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(600)]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """A running `scripts/ui.py`: its URLs, login, and a REST helper for Airflow."""

    def __init__(self, proc: subprocess.Popen[str], lines: queue.Queue[str], root: Path) -> None:
        self.proc, self.lines, self.root = proc, lines, root
        self.output: list[str] = []
        self.airflow = self.mlflow = self.password = ""

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.output.append(line)
            if m := re.match(r"Airflow\s+(\S+)\s+login: admin / (\S+)", line):
                self.airflow, self.password = m.group(1), m.group(2)
            if m := re.match(r"MLflow\s+(\S+)", line):
                self.mlflow = m.group(1).split("/#")[0]
                return
        raise AssertionError("make ui did not come up:\n" + "".join(self.output[-40:]))

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.airflow + path, method=method, data=data, headers=headers)
        with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - the local test server
            return json.loads(r.read() or b"{}")

    def token(self, password: str | None = None) -> str:
        return self.api("POST", "/auth/token", {"username": "admin", "password": password or self.password})[
            "access_token"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not CHROMIUM:
        pytest.skip("no chromium on PATH (make test installs Debian's chromium where apt-get can)")
    pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra: pip install -e '.[dev]'")
    root = tmp_path_factory.mktemp("ui")
    for dataset, limit in (("ui_ok", 0.6), ("ui_bad", 0.1)):
        write_tiny(root, dataset=dataset, max_synthetic_ratio=limit, schedule=None,
                   airflow="{retries: 0, tags: [test]}")
        write_tiny_raw(root / "store", DS, dataset=dataset)
    env = {
        **os.environ, "AIRFLOW_HOME": str(root / "airflow"), "AUGMENT_STORE": str(root / "store"),
        "AUGMENT_CONFIGS": str(root / "configs"), "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "AIRFLOW_UI_PORT": str(_free_port()), "MLFLOW_UI_PORT": str(_free_port()),
        "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1",
    }
    env = {k: v for k, v in env.items() if not k.startswith("AIRFLOW__")}  # nothing from the test session's Airflow
    proc = subprocess.Popen([sys.executable, str(REPO / "scripts" / "ui.py")], env=env, cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    s = Stack(proc, lines, root)
    try:
        s.wait_ready(timeout=300)
        yield s
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C does
        try:
            rc = proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rc = None
        assert rc == 0, f"make ui did not stop cleanly on Ctrl-C (exit {rc})"


def _run_dags(s: Stack, token: str) -> dict[str, dict[str, Any]]:
    runs = {}
    for dataset in ("ui_ok", "ui_bad"):
        dag = f"augment__{dataset}"
        s.api("PATCH", f"/api/v2/dags/{dag}", {"is_paused": False}, token)
        runs[dataset] = s.api("POST", f"/api/v2/dags/{dag}/dagRuns", {"logical_date": f"{DS}T00:00:00Z"}, token)
    deadline = time.monotonic() + 360
    while time.monotonic() < deadline:
        runs = {d: s.api("GET", f"/api/v2/dags/augment__{d}/dagRuns/{urllib.parse.quote(r['dag_run_id'], safe='')}",
                         token=token) for d, r in runs.items()}
        if all(r["state"] in ("success", "failed") for r in runs.values()):
            return runs
        time.sleep(3)
    raise AssertionError(f"DAG runs did not finish: { {d: r['state'] for d, r in runs.items()} }")


def _seconds(run: dict[str, Any]) -> float:
    start, end = (datetime.fromisoformat(run[k].replace("Z", "+00:00")) for k in ("start_date", "end_date"))
    return (end - start).total_seconds()


def test_an_operator_sees_verdicts_versions_and_reasons(stack: Stack) -> None:
    import mlflow
    from playwright.sync_api import sync_playwright

    with pytest.raises(urllib.error.HTTPError) as refused:
        stack.token("not-the-password")
    assert refused.value.code == 401
    token = stack.token()
    runs = _run_dags(stack, token)
    assert (runs["ui_ok"]["state"], runs["ui_bad"]["state"]) == ("success", "failed")
    assert all(0 < _seconds(r) < 600 for r in runs.values())  # true start times, not the logical date

    bad_run = urllib.parse.quote(runs["ui_bad"]["dag_run_id"], safe="")
    log = stack.api("GET", f"/api/v2/dags/augment__ui_bad/dagRuns/{bad_run}/taskInstances/gate/logs/1", token=token)
    events = [e for e in log["content"] if isinstance(e, dict)]
    errors = [e["event"] for e in events if e.get("level") == "error"]
    assert len(events) < 40, "library noise in the task log"
    assert errors and errors[0].startswith("GateFailed (exit code 3): ui_bad ")
    for part in ("synthetic_share", "limit 10%", "change limits.max_synthetic_ratio", "more: augment show ui_bad "):
        assert part in errors[0]

    client = mlflow.MlflowClient(f"sqlite:///{stack.root / 'mlflow.db'}")
    ml = {}
    for dataset in ("ui_ok", "ui_bad"):
        exp = client.get_experiment_by_name(f"augment/{dataset}")
        ml[dataset] = (exp.experiment_id, client.search_runs([exp.experiment_id])[0])
    version = ml["ui_ok"][1].data.tags["augment.version"]
    bad_version = ml["ui_bad"][1].data.tags["augment.version"]

    ARTIFACTS.mkdir(exist_ok=True)
    shots = []

    def shot(page: Any, name: str) -> None:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        shots.append(str(path))

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1600, "height": 1500})
        page.set_default_timeout(60_000)
        # Airflow: a wrong password is refused, the generated one lets you in
        page.goto(stack.airflow + "/")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Invalid credentials").wait_for()
        shot(page, "airflow_login_refused")
        page.get_by_label("Password").fill(stack.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/auth/login" not in url)

        ok_run = urllib.parse.quote(runs["ui_ok"]["dag_run_id"], safe="")
        page.goto(f"{stack.airflow}/dags/augment__ui_ok/runs/{ok_run}")
        page.get_by_text("Task Instances").first.wait_for()
        page.get_by_text("lineage").first.wait_for()
        text = page.inner_text("body")
        assert "Success" in text
        durations = re.findall(r"Duration\s+(\d\d):(\d\d):(\d\d)", text)
        assert durations and all(int(h) == 0 and int(m) < 10 for h, m, _ in durations), durations
        shot(page, "airflow_run_grid")

        page.goto(f"{stack.airflow}/dags/augment__ui_bad/runs/{bad_run}/tasks/gate")
        page.get_by_text("GateFailed (exit code 3)").first.wait_for()
        lines = [ln for ln in page.inner_text("body").splitlines() if " ERROR - " in ln]
        assert lines and "GateFailed (exit code 3): ui_bad" in lines[0], lines
        shot(page, "airflow_failed_gate_log")

        # MLflow: the experiment lists both runs; each run leads with its verdict
        exp_ok, run_ok = ml["ui_ok"]
        page.goto(f"{stack.mlflow}/#/experiments/{exp_ok}?workflowType=machine_learning")
        page.get_by_text(f"{version} published").first.wait_for()
        shot(page, "mlflow_experiment")

        page.goto(f"{stack.mlflow}/#/experiments/{exp_ok}/runs/{run_ok.info.run_id}?workflowType=machine_learning")
        page.get_by_text("PASSED: published").first.wait_for()
        text = page.inner_text("body")
        assert f"PASSED: published {version}" in text
        assert "/dags/augment__ui_ok/runs/" in text  # the source links back to the Airflow run
        m = re.search(r"Duration\s+([\d.]+)(s|min)", text)
        assert m and float(m.group(1)) * (60 if m.group(2) == "min" else 1) < 600, text[:2000]
        shot(page, "mlflow_run_passed")

        exp_bad, run_bad = ml["ui_bad"]
        page.goto(f"{stack.mlflow}/#/experiments/{exp_bad}/runs/{run_bad.info.run_id}?workflowType=machine_learning")
        page.get_by_text("FAILED: quarantined").first.wait_for()
        text = page.inner_text("body")
        assert f"FAILED: quarantined {bad_version}" in text and "synthetic_share" in text and "limit 10%" in text
        shot(page, "mlflow_run_failed")
        browser.close()
    print("screenshots:\n  " + "\n  ".join(shots))

"""Run DAGs with in-process `dag.test()` in a fresh interpreter (the Airflow env is set by the caller).

    python dag_runner.py '[{"dag_id": "...", "ds": "2026-01-05", "conf": {...}}, ...]'

Prints one `RESULT {json}` line per run: state, per-task states and tries, and the asset events.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def main() -> None:
    from airflow.dag_processing.dagbag import DagBag

    jobs = json.loads(sys.argv[1])
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    for job in jobs:
        t0 = time.perf_counter()
        dag = bag.dags[job["dag_id"]]
        run = dag.test(
            logical_date=datetime.fromisoformat(job["ds"]).replace(tzinfo=UTC), run_conf=job.get("conf")
        )
        tis = {
            f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else ti.task_id: [
                str(ti.state),
                ti.try_number,
            ]
            for ti in run.get_task_instances()
        }
        out = {
            "dag_id": dag.dag_id,
            "state": str(run.state),
            "tasks": tis,
            "seconds": time.perf_counter() - t0,
        }
        print("RESULT " + json.dumps(out), flush=True)


def run_dags(env: dict[str, str], jobs: list[dict[str, Any]], timeout: int = 600) -> tuple[list[dict], str]:
    """Run `jobs` through dag_runner.py; returns (results, combined output with the task logs)."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), json.dumps(jobs)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = proc.stdout + proc.stderr
    results = [
        json.loads(line[len("RESULT ") :]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")
    ]
    assert proc.returncode == 0 and len(results) == len(jobs), output[-5000:]
    return results, output


if __name__ == "__main__":
    main()

"""Every benchmark still runs: each one at a tiny size (benchmarks/run_all.py `SMOKE`), in its own
process, as `make bench` would run it. Speed is measured in benchmarks/, never asserted here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
from run_all import FULL, SMOKE  # noqa: E402

pytestmark = [pytest.mark.slow]


def test_every_benchmark_is_listed_in_run_all() -> None:
    scripts = {p.name for p in BENCHMARKS.glob("bench_*.py")}
    assert scripts == {s for s, *_ in FULL}, "benchmarks/run_all.py FULL must list every bench_*.py"
    assert scripts == {s for s, *_ in SMOKE}, "benchmarks/run_all.py SMOKE must list every bench_*.py"


@pytest.mark.parametrize("command", SMOKE, ids=[c[0] for c in SMOKE])
def test_benchmark_runs_at_a_tiny_size(command: list[str]) -> None:
    script, *args = command
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stderr[-3000:]}"
    assert proc.stdout.strip(), f"{script} printed nothing"

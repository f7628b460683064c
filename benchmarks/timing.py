"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def best_cpu(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Least CPU time of `repeat` runs and the last result: the process's CPU seconds, not wall
    time, so other jobs on a shared machine do not skew the ratio (both sides single-threaded)."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.process_time()
        out = fn()
        times.append(time.process_time() - t0)
    return min(times), out

"""Run every benchmark in turn (`make bench`); each prints its own ratio against its baseline.

    .venv/bin/python benchmarks/run_all.py [--quick]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

FULL = [
    ["bench_tabular.py", "--copula"],
    ["bench_image.py"],
    ["bench_image_gpu.py"],
    ["bench_image_targets.py"],
    ["bench_text.py"],
    ["bench_timeseries.py"],
    ["bench_airflow.py"],
    ["bench_reader.py"],
    ["bench_privacy.py"],
    ["bench_realdata.py"],
]
QUICK = [
    ["bench_tabular.py", "--rows", "200000"],
    ["bench_image.py", "--images", "64"],
    ["bench_image_gpu.py", "--batch", "8", "--batches", "1", "--sizes", "64"],
    ["bench_image_targets.py", "--images", "8", "--copies", "1"],
    ["bench_text.py", "--texts", "10000"],
    ["bench_timeseries.py", "--series", "1000", "--repeat", "1"],
    ["bench_airflow.py", "--repeats", "1"],
    ["bench_reader.py", "--rows", "200000", "--images", "256", "--repeat", "1"],
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller inputs, for a smoke run")
    args = ap.parse_args()
    failed = 0
    for script, *extra in QUICK if args.quick else FULL:
        print(f"\n=== {script} {' '.join(extra)}", flush=True)
        failed += subprocess.run([sys.executable, str(HERE / script), *extra]).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

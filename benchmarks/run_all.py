"""Run every benchmark in turn (`make bench`); each prints its own ratio against its baseline.

    .venv/bin/python benchmarks/run_all.py [--quick | --smoke]

`--smoke` runs each at a tiny size: what `make test` runs (tests/unit/test_benchmarks.py) so that
every benchmark keeps working; it asserts nothing about speed.
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
    ["bench_audio.py"],
    ["bench_image_gpu.py"],
    ["bench_image_targets.py"],
    ["bench_text.py"],
    ["bench_timeseries.py"],
    ["bench_airflow.py"],
    ["bench_reader.py"],
    ["bench_privacy.py"],
    ["bench_realdata.py"],
    ["bench_tabular_scale.py"],
    ["bench_tabular_engine.py"],
    ["bench_dp.py"],
    ["bench_synthesis.py"],
]
QUICK = [
    ["bench_tabular.py", "--rows", "200000"],
    ["bench_image.py", "--images", "64"],
    ["bench_audio.py", "--clips", "32", "--repeat", "1"],
    ["bench_image_gpu.py", "--batch", "8", "--batches", "1", "--sizes", "64"],
    ["bench_image_targets.py", "--images", "8", "--copies", "1"],
    ["bench_text.py", "--texts", "10000"],
    ["bench_timeseries.py", "--series", "1000", "--repeat", "1"],
    ["bench_airflow.py", "--repeats", "1"],
    ["bench_reader.py", "--rows", "200000", "--images", "256", "--repeat", "1"],
    ["bench_tabular_scale.py", "--sizes", "1000000", "--smotenc-rows", "0"],
    ["bench_dp.py", "--eps", "10"],
    ["bench_tabular_engine.py", "--repeat", "1"],
    ["bench_synthesis.py", "--tables", "penguins", "wine", "diabetes", "--budget", "20"],
]
#: every benchmark at a tiny size (seconds each): the smoke run of `make test`
SMOKE = [
    ["bench_tabular.py", "--rows", "3000"],
    ["bench_image.py", "--images", "64", "--copies", "1", "--batches", "1"],  # one batch of 64 for the pure-augmentation figure
    ["bench_text.py", "--texts", "300"],
    ["bench_timeseries.py", "--series", "40", "--points", "50", "--method-series", "20", "--repeat", "1"],
    ["bench_airflow.py", "--repeats", "1", "--skip-runs"],
    ["bench_reader.py", "--rows", "2000", "--parts", "2", "--images", "16", "--shards", "2", "--workers", "0",
     "--repeat", "1", "--no-s3"],
    ["bench_privacy.py", "--sizes", "2000", "--sdm-timeout", "60"],
    ["bench_realdata.py", "--only", "iris"],
    ["bench_tabular_scale.py", "--sizes", "20000", "--smotenc-rows", "5000", "--bare-max-rows", "20000"],
    ["bench_tabular_engine.py", "--rows", "2000", "--repeat", "1"],
    ["bench_dp.py", "--eps", "10"],
    ["bench_audio.py", "--clips", "8", "--repeat", "1"],
    ["bench_image_gpu.py", "--batch", "8", "--batches", "1", "--sizes", "64"],
    ["bench_image_targets.py", "--images", "8", "--copies", "1"],
    ["bench_synthesis.py", "--tables", "wine", "--candidates", "gaussian_copula", "--tvae-epochs", "1", "--draw", "100"],
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller inputs")
    ap.add_argument("--smoke", action="store_true", help="tiny inputs: does every benchmark still run")
    args = ap.parse_args()
    failed = 0
    for script, *extra in SMOKE if args.smoke else QUICK if args.quick else FULL:
        print(f"\n=== {script} {' '.join(extra)}", flush=True)
        failed += subprocess.run([sys.executable, str(HERE / script), *extra]).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

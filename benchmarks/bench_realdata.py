"""Benchmark: every dataset of the real-data corpus (tests/realdata) end to end, one row each.

Builds each raw partition from the packages that bundle it, runs `augment_jobs.stages.run` with the
committed config (default gate settings) in a fresh temporary store and MLflow, and prints a
Markdown table: rows out, synthetic rows, runtime, skipped items, SDMetrics quality score (SDV
methods), the worst KS and TVD of the similarity check, published or the failure line.

    .venv/bin/python benchmarks/bench_realdata.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "realdata"))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="dataset names (default: all)")
    args = ap.parse_args()
    from corpus import CORPUS, run_one

    from augment_jobs.store import reset_stores

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["AUGMENT_STORE"] = str(Path(tmp) / "store")
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        reset_stores()
        for name in args.only or list(CORPUS):
            row = run_one(Path(tmp) / "store", name)
            rows.append(row)
            print(row, file=sys.stderr, flush=True)
    print("| dataset | modality | rows out | synthetic | seconds | skipped | quality | worst KS | worst TVD | published |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        f = _cells(r)
        status = "yes" if r["published"] else "no: " + str(r.get("error", "")).split("; nothing published")[0]
        print(f"| {r['dataset']} | {r['modality']} | {f('rows')} | {f('synthetic')} | {f('seconds')} | {f('skipped')} | "
              f"{f('quality')} | {f('worst_ks')} | {f('worst_tvd')} | {status} |")


def _cells(row: dict[str, object]) -> object:
    def f(key: str) -> str:
        v = row.get(key)
        return "" if v is None else str(v)

    return f


if __name__ == "__main__":
    main()

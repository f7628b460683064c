"""The one tabular engine vs the previous release's in-memory path, on a small table, side by side.

    .venv/bin/python benchmarks/bench_tabular_engine.py                    # 10,000 rows, smote and copula
    .venv/bin/python benchmarks/bench_tabular_engine.py --rows 2000 --repeat 1
    .venv/bin/python benchmarks/bench_tabular_engine.py --baseline-ref <commit>

Small tables used to be loaded into one pandas frame; now every table takes the two-pass engine
(pass 1 at snapshot, then the mapped tasks). This measures what that costs end to end on a 10k-row
table: `augment run` of this checkout vs `augment run` of `--baseline-ref` (default: the last commit
with the in-memory path), the same config and source, each in a fresh process (wall time, peak
RSS), the best of `--repeat`. The baseline's package is taken with `git archive` from this
repository's history; without it (a shallow clone) only this checkout is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_tabular import _child, _config  # noqa: E402
from tabular_baseline import make_fraud_table  # noqa: E402

DS = "2026-01-01"
#: the last commit whose tabular modality still had the in-memory path
BASELINE_REF = "c8141d7"


def baseline_package(ref: str, dest: Path) -> Path | None:
    """The baseline's `augment_jobs` extracted under `dest` (None when the ref is not in the history)."""
    repo = HERE.parent
    try:
        archive = subprocess.run(["git", "-C", str(repo), "archive", ref, "augment_jobs"], check=True,
                                 capture_output=True).stdout
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def run(tmp: Path, cfg: Path, pythonpath: Path | None, n: int) -> dict:
    """Best of `n` fresh `augment run --force` processes (wall, peak RSS)."""
    env = {**os.environ, "AUGMENT_STORE": str(tmp / "store"), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    best = None
    for _ in range(n):
        wall, rss, _ = _child([sys.executable, "-m", "augment_jobs", "run", str(cfg), "--date", DS, "--force"], env)
        best = min(best or (wall, rss), (wall, rss))
    return {"wall_s": round(best[0], 2), "peak_rss_mib": best[1]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline-ref", default=BASELINE_REF)
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        old = baseline_package(args.baseline_ref, tmp / "baseline")
        for method, params in (("smote", {"sampling_strategy": 0.25, "k_neighbors": 5}),
                               ("gaussian_copula", {"sampling_strategy": 0.25, "quality_rows": 0})):
            case = tmp / method
            raw = case / "store" / "raw" / "bench" / DS
            raw.mkdir(parents=True)
            make_fraud_table(str(raw / "part-0.parquet"), args.rows, features=10, minority=0.05, seed=0)
            cfg = _config(case, method, params)
            subprocess.run([sys.executable, "-c", "import mlflow; mlflow.MlflowClient("
                            f"'sqlite:///{case / 'mlflow.db'}').search_experiments()"], check=True, capture_output=True)
            engine = run(case, cfg, None, args.repeat)
            memory = run(case, cfg, old, args.repeat) if old else None
            results.append({"method": method, "rows": args.rows, "engine": engine, "in_memory": memory,
                            "wall_ratio": round(engine["wall_s"] / memory["wall_s"], 2) if memory else None})
    for r in results:
        base = (f"in-memory ({args.baseline_ref}) {r['in_memory']['wall_s']:>6.2f}s {r['in_memory']['peak_rss_mib']:>5} MiB"
                if r["in_memory"] else "in-memory baseline unavailable (no git history)")
        print(f"{r['method']:<16} rows={r['rows']:>7}  {base} | engine {r['engine']['wall_s']:>6.2f}s "
              f"{r['engine']['peak_rss_mib']:>5} MiB | wall x{r['wall_ratio']}")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""Privacy benchmark: our DCR check against SDMetrics' DCROverfittingProtection, same data, same run.

    .venv/bin/python benchmarks/bench_privacy.py                    # 10k, 30k, 100k, 1M train rows
    .venv/bin/python benchmarks/bench_privacy.py --sizes 10000 30000 --sdm-timeout 120

Each size n: n train rows, n/10 synthetic rows (interpolated between train rows, as SMOTE makes
them), n/5 holdout rows; 20 correlated numeric columns, two categorical (6 and 40 values) and a
binary label. Both sides get the same three frames and measure the same thing: every synthetic
row's distance to the closest train row, with the holdout as the baseline. Ours runs without a
label (one class, the most work for it; the label is then a categorical column for both sides).

Every measurement is a fresh process: wall time of the metric call alone, and peak RSS of the
process (resource.getrusage in the child), minus the RSS once the data is built. SDMetrics runs
under a time limit (--sdm-timeout) and an address-space limit (--sdm-memory-gib); past either it is
reported as "did not fit", and larger sizes are not tried.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def make_frames(n_train: int, seed: int = 0):  # -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]
    """(train, synthetic, holdout) as described in the module docstring."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    d = 20
    weights = rng.standard_normal((4, d))

    def block(n: int) -> pd.DataFrame:
        x = rng.standard_normal((n, 4)) @ weights + 0.3 * rng.standard_normal((n, d))
        df = pd.DataFrame(x, columns=[f"x{i}" for i in range(d)])
        df["cat_a"] = np.array(list("abcdef"))[rng.integers(0, 6, n)]
        df["cat_b"] = np.array([f"r{i}" for i in range(40)])[rng.integers(0, 40, n)]
        df["label"] = np.where(rng.random(n) < 0.1, "pos", "neg")
        return df

    train, holdout = block(n_train), block(n_train // 5)
    n_syn = n_train // 10
    i, j = rng.integers(0, n_train, n_syn), rng.integers(0, n_train, n_syn)
    lam = rng.random((n_syn, 1))
    num = [f"x{k}" for k in range(d)]
    synthetic = train.iloc[i].reset_index(drop=True)
    synthetic[num] = train[num].to_numpy()[i] * (1 - lam) + train[num].to_numpy()[j] * lam
    return train, synthetic, holdout


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(side: str, n: int) -> None:
    """Measure one side at one size; prints one JSON line."""
    sys.path.insert(0, str(REPO))
    train, synthetic, holdout = make_frames(n)
    data_rss = _rss_mib()
    t0, c0 = time.perf_counter(), time.process_time()
    if side in ("ours", "ours_all"):
        from augment_jobs.evaluation.privacy import MAX_QUERY_ROWS, privacy

        out = privacy(train, synthetic, holdout, max_query_rows=len(synthetic) if side == "ours_all" else MAX_QUERY_ROWS)
        summary = {"close_share": out["close_share"], "exact_copies": out["exact_copies"], "index": out["index"],
                   "sampled": out["sampled"]["synthetic"]}
    else:
        from sdmetrics.single_table import DCROverfittingProtection

        cols = {c: {"sdtype": "numerical"} for c in train.columns if c.startswith("x")}
        cols |= {c: {"sdtype": "categorical"} for c in ("cat_a", "cat_b", "label")}
        out = DCROverfittingProtection.compute_breakdown(train, synthetic, holdout, {"columns": cols}, None)
        summary = {"score": out["score"]}
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_mib": _rss_mib(), "data_mib": data_rss, **summary}), flush=True)


def measure(side: str, n: int, timeout: float | None, memory_gib: float | None) -> dict:
    """Run `child` in a fresh interpreter under the limits; {"status": "ok" | "did not fit", ...}."""

    def limits() -> None:
        if memory_gib:
            cap = int(memory_gib * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    cmd = [sys.executable, __file__, "--child", side, "--n", str(n)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, preexec_fn=limits)
    except subprocess.TimeoutExpired:
        return {"status": "did not fit", "why": f"over {timeout:.0f} s"}
    if proc.returncode != 0:
        if "MemoryError" in proc.stderr or "bad_alloc" in proc.stderr or proc.returncode < 0:
            return {"status": "did not fit", "why": f"out of memory (limit {memory_gib} GiB)"}
        # Anything else is a defect of this script, not a measurement: stop here.
        sys.exit(f"bench_privacy: {side} at {n:,} rows failed:\n{proc.stderr[-2000:]}")
    return {"status": "ok", **json.loads(proc.stdout.strip().splitlines()[-1])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000, 1_000_000])
    ap.add_argument("--sdm-timeout", type=float, default=300.0, help="seconds before SDMetrics is stopped")
    ap.add_argument("--sdm-memory-gib", type=float, default=8.0, help="address-space cap for SDMetrics")
    ap.add_argument("--child", choices=["ours", "ours_all", "sdmetrics"], help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.n)
        return 0
    rows = []
    sdm_fits = True
    for n in args.sizes:
        ours = measure("ours", n, None, None)
        if sdm_fits:
            sdm = measure("sdmetrics", n, args.sdm_timeout, args.sdm_memory_gib)
            sdm_fits = sdm["status"] == "ok"
        else:
            sdm = {"status": "did not fit", "why": "not tried: a smaller size did not fit"}
        rows.append((n, ours, sdm))
        print(f"{n:>9,} train: ours {json.dumps(ours)}\n{'':>16}sdmetrics {json.dumps(sdm)}", flush=True)

    largest = max(args.sizes)
    every = measure("ours_all", largest, None, None)
    print(f"{largest:>9,} train, every synthetic row queried: ours {json.dumps(every)}", flush=True)

    print("\n| train rows | synthetic | ours: wall (CPU) | ours: peak RSS (+ over data) | SDMetrics: wall (CPU) "
          "| SDMetrics: peak RSS (+ over data) | wall ratio (SDMetrics / ours) | ours: close share |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, o, s in rows:
        ow = f"{o['seconds']:.1f} s ({o['cpu_seconds']:.0f})" if o["status"] == "ok" else o["status"]
        om = f"{o['peak_mib']:,.0f} MiB (+{o['peak_mib'] - o['data_mib']:,.0f})" if o["status"] == "ok" else ""
        if s["status"] == "ok":
            sw = f"{s['seconds']:.1f} s ({s['cpu_seconds']:.0f})"
            sm = f"{s['peak_mib']:,.0f} MiB (+{s['peak_mib'] - s['data_mib']:,.0f})"
            ratio = f"**{s['seconds'] / o['seconds']:.0f}x**" if o["status"] == "ok" else ""
        else:
            sw, sm, ratio = f"did not fit ({s['why']})", "", "–"
        print(f"| {n:,} | {n // 10:,} | {ow} | {om} | {sw} | {sm} | {ratio} | {o.get('close_share')} |")
    print(f"| {largest:,}, all {largest // 10:,} synthetic rows queried | {largest // 10:,} | "
          f"{every['seconds']:.1f} s ({every['cpu_seconds']:.0f}) | {every['peak_mib']:,.0f} MiB "
          f"(+{every['peak_mib'] - every['data_mib']:,.0f}) | | | | {every['close_share']} |")
    goal = [o for n, o, _ in rows if n == 1_000_000 and o["status"] == "ok"]
    if goal:
        verdict = "met" if goal[0]["seconds"] < 60 else "missed"
        print(f"\nGoal, 100,000 synthetic vs 1,000,000 train under 60 s: {goal[0]['seconds']:.1f} s ({verdict}); "
              f"index: {goal[0]['index']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

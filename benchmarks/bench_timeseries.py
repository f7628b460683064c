"""Benchmark: ts_policy's vectorised jitter + time warp vs a naive per-series loop.

10,000 series × 1,000 points, one value column. Both sides draw the same per-copy random params
from the same per-series generators (`ctx.rng`), so the figures compare how the ops are applied;
the draw time is reported separately. Also times the whole registered method on a frame.

    .venv/bin/python benchmarks/bench_timeseries.py [--series 10000] [--points 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy.interpolate import CubicSpline
from timing import best_cpu  # benchmarks/timing.py: the script folder is on sys.path

from augment_jobs.config import DatasetConfig
from augment_jobs.registry import AugmentContext, get_method
from augment_jobs.timeseries.policy import apply, draw

OPS = [{"op": "jitter", "sigma": 0.03}, {"op": "time_warp", "sigma": 0.2, "knots": 4}]


def config() -> DatasetConfig:
    return DatasetConfig(
        dataset="bench", modality="timeseries", source={"uri": "raw/"},
        series={"id_column": "sid", "time_column": "t", "value_columns": ["v"]},
        augment=[{"method": "ts_policy", "params": {"copies": 1, "ops": OPS}}], publish={"uri": "pub"},
    )


def naive(x: np.ndarray, drawn: list[list], std: np.ndarray) -> np.ndarray:
    """The textbook loop: one series at a time, scipy spline + np.interp per series."""
    b, t, _ = x.shape
    out = np.empty_like(x)
    grid = np.arange(t, dtype=float)
    for i in range(b):
        (noise, sigma), speeds = drawn[i]
        y = x[i, :, 0] + noise[:, 0] * sigma * std[i, 0]
        speed = np.maximum(CubicSpline(np.linspace(0, t - 1, len(speeds)), speeds)(grid), 1e-3)
        path = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]))])
        path *= (t - 1) / path[-1]
        out[i, :, 0] = np.interp(path, grid, y)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--points", type=int, default=1_000)
    ap.add_argument("--method-series", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    cfg = config()
    spec = get_method("ts_policy")
    params = spec.parse_params(cfg.augment[0].params)
    ctx = AugmentContext(cfg=cfg, ds="2026-01-01")
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(size=(a.series, a.points, 1)), axis=1)
    std = x.std(axis=1)
    n_points = a.series * a.points

    t0 = time.process_time()
    drawn = [draw(params.ops, ctx.rng("ts_policy", f"s{i}", 0), a.points, 1)[0] for i in range(a.series)]
    t_draw = time.process_time() - t0

    # Best of a few repeats: a shared 2-core machine is noisy.
    t_fast, fast = best_cpu(lambda: apply(x, params.ops, drawn, std)[0], a.repeat)
    t_slow, slow = best_cpu(lambda: naive(x, drawn, std), a.repeat)
    err = float(np.abs(fast - slow).max())

    print(f"series × points          {a.series:,} × {a.points:,} = {n_points:,} points (jitter + time_warp), CPU seconds, best of {a.repeat}")
    print(f"draw params (both)       {t_draw:7.2f} s   {n_points / t_draw:14,.0f} points/s")
    print(f"vectorised apply         {t_fast:7.2f} s   {n_points / t_fast:14,.0f} points/s")
    print(f"naive per-series loop    {t_slow:7.2f} s   {n_points / t_slow:14,.0f} points/s")
    print(f"ratio (apply)            {t_slow / t_fast:7.1f} x   max |difference| {err:.2e}")
    print(f"ratio (draw + apply)     {(t_draw + t_slow) / (t_draw + t_fast):7.1f} x")

    # The registered method end to end on a frame (sorting, grouping, row building included).
    m, p = a.method_series, a.points
    df = pd.DataFrame({"sid": np.repeat([f"s{i:05d}" for i in range(m)], p), "t": np.tile(np.arange(p), m),
                       "v": x[:m, :, 0].ravel()})
    df["_id"] = [f"f#{i}" for i in range(len(df))]
    df["_synthetic"], df["_source_ids"], df["_method"], df["_params"] = False, [[i] for i in df["_id"]], "source", None
    t0 = time.process_time()
    out = spec(df, params, AugmentContext(cfg=cfg, ds="2026-01-01"))
    t_m = time.process_time() - t0
    print(f"ts_policy method         {t_m:7.2f} s   {(len(out) - len(df)) / t_m:14,.0f} rows/s "
          f"({m:,} series × {p:,} points, frame rows built)")


if __name__ == "__main__":
    main()

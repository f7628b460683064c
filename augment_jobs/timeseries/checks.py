"""Time series: time order per series, lag-1 autocorrelation kept, value bounds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from augment_jobs.checks import CheckResult, GateInput

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def _grouped(df: pd.DataFrame, idc: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(order, series codes in that order, n series): rows grouped by series, kept in their
    stored order inside each series (so the time-order check sees the order as published)."""
    import numpy as np
    import pandas as pd

    codes, uniq = pd.factorize(df[idc].astype(str))
    order = np.argsort(codes, kind="stable")
    return order, codes[order], len(uniq)


def timeseries_checks(g: GateInput) -> list[CheckResult]:
    """Time order per series, lag-1 autocorrelation of augmented vs source, value bounds."""
    import numpy as np

    cfg, out_df = g.cfg, g.frame
    from augment_jobs.timeseries.ops import lag1_acf

    s = cfg.series
    assert s is not None
    idc, tc = s.id_column, s.time_column
    results: list[CheckResult] = []
    order, codes, n = _grouped(out_df, idc)
    t = out_df[tc].to_numpy()[order]
    same = codes[1:] == codes[:-1]
    bad = same & ~(t[1:] > t[:-1])
    bad_series = np.unique(codes[1:][bad])
    sids = out_df[idc].astype(str).to_numpy()[order]
    results.append(CheckResult(
        "ts.time_order", not len(bad_series),
        f"{len(bad_series)} of {n} series have timestamps not strictly increasing"
        + (f" (e.g. {sids[1:][bad][0]!r})" if len(bad_series) else ""),
        int(len(bad_series)),
    ))

    syn = out_df["_synthetic"].astype(bool).to_numpy()[order]
    first = np.r_[True, ~same]
    series_syn = syn[first]
    label = cfg.label if cfg.label in out_df.columns else None
    series_label = out_df[label].to_numpy()[order][first] if label else np.zeros(n)
    max_diff = cfg.quality.similarity.max_acf_diff
    for col in s.value_columns:
        acf = lag1_acf(out_df[col].to_numpy(dtype=float)[order], codes, n)
        worst, where = 0.0, ""
        for cls in np.unique(series_label.astype(str)):
            m = series_label.astype(str) == cls
            a_real, a_syn = acf[m & ~series_syn], acf[m & series_syn]
            a_real, a_syn = a_real[~np.isnan(a_real)], a_syn[~np.isnan(a_syn)]
            if not len(a_real) or not len(a_syn):
                continue
            diff = abs(float(a_syn.mean()) - float(a_real.mean()))
            if diff >= worst:
                worst, where = diff, (f" in class {str(cls)!r}" if label else "")
        results.append(CheckResult(
            f"ts.acf_lag1[{col}]", worst <= max_diff,
            f"mean lag-1 autocorrelation of augmented vs source differs by {worst:.3f}{where} (max {max_diff})",
            round(worst, 6),
        ))

    for col, (low, high) in cfg.quality.value_bounds.items():
        if col not in out_df.columns:
            results.append(CheckResult(f"ts.value_bounds[{col}]", False, f"column {col!r} is not in the output"))
            continue
        v = out_df[col].to_numpy(dtype=float)
        out = np.zeros(len(v), bool)
        if low is not None:
            out |= v < low
        if high is not None:
            out |= v > high
        results.append(CheckResult(
            f"ts.value_bounds[{col}]", not out.any(),
            f"{int(out.sum())} values outside [{low}, {high}]" + (f" (e.g. {v[out][0]:.4g})" if out.any() else ""),
            int(out.sum()),
        ))
    return results

"""Frame hooks for time series: validate and sort the long-format source, add the gate checks.

The shared gate covers synthetic share, label set, NaN/inf, KS similarity and the GX suite; these
add what only time series has: time order per series, lag-1 autocorrelation kept, value bounds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from augment_jobs.errors import InputError
from augment_jobs.modality import CheckResult

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from augment_jobs.config import DatasetConfig


def _cols(df: pd.DataFrame) -> str:
    return str(sorted(map(str, df.columns)))


def prepare(df: pd.DataFrame, cfg: DatasetConfig) -> pd.DataFrame:
    """Check columns and types, make series ids strings, sort by (id, time), reject duplicate
    timestamps, missing values and series with more than one label."""
    import pandas as pd
    from pandas.api import types as pt

    s = cfg.series
    assert s is not None
    idc, tc = s.id_column, s.time_column
    for key, col in (("series.id_column", idc), ("series.time_column", tc)):
        if col not in df.columns:
            raise InputError(f"{key} {col!r} is not in the source; columns: {_cols(df)}; fix the config or the data")
    for col in s.value_columns:
        if col not in df.columns:
            raise InputError(f"series.value_columns {col!r} is not in the source; columns: {_cols(df)}")
    df = df.copy()
    for col in s.value_columns:
        v = df[col]
        if pt.is_bool_dtype(v) or not pt.is_numeric_dtype(v):
            num = pd.to_numeric(v, errors="coerce") if not pt.is_bool_dtype(v) else None
            bad = v.notna() if num is None else (num.isna() & v.notna())
            if num is None or bad.any():
                pos = bad.idxmax()
                raise InputError(
                    f"value column {col!r} must be numeric; row {df['_id'].loc[pos]} has {v.loc[pos]!r}; "
                    "cast or clean it upstream"
                )
            df[col] = num
        if df[col].isna().any():
            pos = df[col].isna().idxmax()
            raise InputError(
                f"value column {col!r} has {int(df[col].isna().sum())} missing values (first: series "
                f"{df[idc].loc[pos]!r} at {df[tc].loc[pos]}); fill or drop them upstream"
            )
    if df[idc].isna().any():
        raise InputError(f"series.id_column {idc!r} has missing ids (first: row {df['_id'][df[idc].isna()].iloc[0]})")
    t = df[tc]
    if not (pt.is_datetime64_any_dtype(t) or (pt.is_numeric_dtype(t) and not pt.is_bool_dtype(t))):
        try:
            df[tc] = pd.to_datetime(t, utc=False)
        except (ValueError, TypeError) as e:
            raise InputError(f"time column {tc!r} is neither numeric nor parseable dates ({str(e).splitlines()[0]})") from None
    if df[tc].isna().any():
        raise InputError(f"time column {tc!r} has missing timestamps (first: row {df['_id'][df[tc].isna()].iloc[0]})")
    # Ids as strings, so augmented series ids ("<sid>~aug0.1") fit the same column type.
    df[idc] = df[idc].astype(str)
    df = df.sort_values([idc, tc], kind="stable").reset_index(drop=True)
    dup = df.duplicated([idc, tc])
    if dup.any():
        pos = dup.idxmax()
        raise InputError(
            f"series {df[idc].loc[pos]!r} has duplicate timestamp {df[tc].loc[pos]} "
            f"({int(dup.sum())} duplicates in all); deduplicate upstream"
        )
    if cfg.label and cfg.label in df.columns:
        n = df.groupby(idc, sort=False)[cfg.label].nunique(dropna=False)
        if (n > 1).any():
            raise InputError(f"series {n.index[(n > 1).to_numpy()][0]!r} has more than one {cfg.label!r}; a label is one per series")
    return df


def _grouped(df: pd.DataFrame, idc: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(order, series codes in that order, n series): rows grouped by series, kept in their
    stored order inside each series (so the time-order check sees the order as published)."""
    import numpy as np
    import pandas as pd

    codes, uniq = pd.factorize(df[idc].astype(str))
    order = np.argsort(codes, kind="stable")
    return order, codes[order], len(uniq)


def checks(cfg: DatasetConfig, source_df: pd.DataFrame, out_df: pd.DataFrame) -> list[CheckResult]:
    """Time order per series, lag-1 autocorrelation of augmented vs source, value bounds."""
    import numpy as np

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


def compare_columns(cfg: DatasetConfig, df: pd.DataFrame) -> list[str]:
    """The value columns are what the KS similarity check compares, per class."""
    assert cfg.series is not None
    return [c for c in cfg.series.value_columns if c in df.columns]

"""Frame hooks for time series: validate and sort the long-format source, count series, choose the
compared columns. The time-series gate checks are in augment_jobs/timeseries/checks.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from augment_jobs.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from augment_jobs.checks import GateInput
    from augment_jobs.config import DatasetConfig


def _cols(df: pd.DataFrame) -> str:
    return str(sorted(map(str, df.columns)))


def prepare(df: pd.DataFrame, cfg: DatasetConfig) -> pd.DataFrame:
    """Check columns and types, make series ids strings, sort by (id, time), reject duplicate
    timestamps and series with more than one label. Missing values are kept: such a series is
    published as it is and not augmented (counted by ts_policy)."""
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


def compare_columns(cfg: DatasetConfig, df: pd.DataFrame) -> list[str]:
    """The value columns are what the KS similarity check compares, per class."""
    assert cfg.series is not None
    return [c for c in cfg.series.value_columns if c in df.columns]


def unit_column(cfg: DatasetConfig) -> str:
    """An item is a series: counted per class and held out whole."""
    assert cfg.series is not None
    return cfg.series.id_column


def report_parts(g: GateInput) -> dict[str, Any]:
    """Up to four source series (of the first value column) overlaid with their copies."""
    from augment_jobs.evaluation.report import SeriesOverlay

    assert g.cfg.series is not None
    idc, tc, col = g.cfg.series.id_column, g.cfg.series.time_column, g.cfg.series.value_columns[0]
    train, synthetic, _ = g.sides
    # the plots compare the values; a series' id and its time axis are not distributions to compare
    plotted = {"real": train.drop(columns=[idc, tc]), "synthetic": synthetic.drop(columns=[idc, tc])}
    if not len(synthetic):
        return plotted
    # a copy's id is "<source id>~aug<step>.<k>": its source is the part before "~aug"
    copies = synthetic.assign(_parent=synthetic[idc].astype(str).str.split("~aug").str[0])
    overlays = []
    for sid, group in copies.groupby("_parent", sort=True):
        src = train[train[idc].astype(str) == sid].sort_values(tc)
        if not len(src):
            continue
        series = [part.sort_values(tc)[col].tolist() for _, part in group.groupby(idc, sort=True)]
        overlays.append(SeriesOverlay(src[col].tolist(), series[:5], title=f"{sid} ({col})"))
        if len(overlays) >= 4:
            break
    return {**plotted, "series": overlays}

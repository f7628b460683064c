"""How far apart two samples of one column are: one Kolmogorov-Smirnov and one total variation
distance, shared by the gate's similarity check and the version report, so both show one number."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def ks_statistic(a: Any, b: Any) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs (as
    scipy's `ks_2samp(...).statistic`), vectorised."""
    import numpy as np

    a, b = np.sort(np.asarray(a, dtype=np.float64)), np.sort(np.asarray(b, dtype=np.float64))
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def tvd(a: pd.Series, b: pd.Series) -> float:
    """Total variation distance of two samples' value shares (values compared as text)."""
    p = a.astype(str).value_counts(normalize=True)
    q = b.astype(str).value_counts(normalize=True)
    return float(0.5 * p.subtract(q, fill_value=0).abs().sum())


def is_ordered(s: pd.Series) -> bool:
    """Numbers, dates and durations: compared by KS; anything else (text, bools) by TVD."""
    import pandas as pd

    return bool((pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s))
                or pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_timedelta64_dtype(s))


def as_numbers(s: pd.Series) -> Any:
    """An ordered column as float64 (dates and durations as integer nanoseconds)."""
    import numpy as np
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(s):
        if getattr(s.dt, "tz", None) is not None:  # instants: compared in UTC
            s = s.dt.tz_convert(None)
        s = s.astype("datetime64[ns]").astype("int64")
    elif pd.api.types.is_timedelta64_dtype(s):
        s = s.astype("timedelta64[ns]").astype("int64")
    return s.to_numpy(np.float64)


def difference(real: pd.Series, syn: pd.Series) -> tuple[str, float]:
    """("ks" | "tvd", statistic) of two samples of one column, missing values left out."""
    real, syn = real.dropna(), syn.dropna()
    if is_ordered(real) and is_ordered(syn):
        return "ks", ks_statistic(as_numbers(real), as_numbers(syn))
    return "tvd", tvd(real, syn)

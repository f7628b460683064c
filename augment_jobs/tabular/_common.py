"""Helpers shared by the tabular methods: class targets, feature matrices, synthetic ids."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from augment_jobs.errors import InputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from augment_jobs.registry import AugmentContext


def labels(df: pd.DataFrame, ctx: AugmentContext, method: str) -> np.ndarray:
    """The label column as an array; InputError if missing or single-class."""
    label = ctx.cfg.label
    if not label or label not in df.columns:
        raise InputError(f"{method}: label column {label!r} not found; columns: {', '.join(map(str, df.columns))}")
    y = df[label].to_numpy()
    classes = df[label].dropna().unique()
    if df[label].isna().any():
        raise InputError(
            f"{method}: label column {label!r} has {int(df[label].isna().sum())} missing values; drop or fill them"
        )
    if len(classes) < 2:
        only = classes[0] if len(classes) else None
        raise InputError(
            f"{method}: label column {label!r} has one class only ({show(only)}); oversampling needs 2+ classes"
        )
    return y




def numeric_matrix(df: pd.DataFrame, columns: list[str], method: str, *, hint: str) -> np.ndarray:
    """Float64 matrix of `columns` (bool, int, float; datetimes as ns); InputError naming a bad column."""
    import numpy as np
    import pandas as pd

    for col in columns:
        s = df[col]
        if pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_bool_dtype(s):
            continue
        if not pd.api.types.is_numeric_dtype(s):
            raise InputError(
                f"{method}: column {col!r} is not numeric (dtype {s.dtype}, e.g. {s.dropna().iloc[0]!r}); {hint}"
            )
    check_no_nan(df, columns, method)
    if all(df[c].dtype == np.float64 for c in columns):
        return df[columns].to_numpy(dtype=np.float64, copy=False)
    out = np.empty((len(df), len(columns)), dtype=np.float64)
    for j, col in enumerate(columns):
        s = df[col]
        out[:, j] = s.astype("int64").to_numpy() if pd.api.types.is_datetime64_any_dtype(s) else s.to_numpy(np.float64)
    return out


def check_no_nan(df: pd.DataFrame, columns: list[str], method: str) -> None:
    """SMOTE interpolates between rows, so a missing value has no meaning there."""
    for col in columns:
        n = int(df[col].isna().sum())
        if n:
            raise InputError(
                f"{method}: feature column {col!r} has {n} missing values (NaN); impute or drop them before "
                f"augmenting, or use gaussian_copula, which models missing values"
            )


def to_frame(values: np.ndarray, columns: list[str], template: pd.DataFrame) -> pd.DataFrame:
    """Generated float values back to the template's column types (ints rounded, not truncated)."""
    import numpy as np
    import pandas as pd

    data: dict[str, Any] = {}
    for j, col in enumerate(columns):
        v = values[:, j]
        dtype = template[col].dtype
        if pd.api.types.is_datetime64_any_dtype(dtype):
            data[col] = pd.to_datetime(np.rint(v).astype("int64"), unit="ns").astype(dtype)
        elif pd.api.types.is_bool_dtype(dtype):
            data[col] = v >= 0.5
        elif pd.api.types.is_integer_dtype(dtype):
            data[col] = np.rint(v).astype(dtype)
        else:
            data[col] = v
    return pd.DataFrame(data, copy=False)


def synthetic_ids(ctx: AugmentContext, method: str, n: int) -> list[str]:
    """Unique, rerun-stable ids: the step and method name them, the position numbers them."""
    prefix = f"syn-{ctx.step}-{method}-"
    with no_gc():
        return [f"{prefix}{i:07d}" for i in range(n)]


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic GC while building many small objects: with a 1M-row frame alive (one list
    per row in `_source_ids`), each collection walks them all; 1 s on 225k new rows."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def append(df: pd.DataFrame, synth: pd.DataFrame) -> pd.DataFrame:
    """Real rows untouched and first, synthetic rows after, fresh RangeIndex.

    Column by column rather than `pd.concat(frames)`: on an all-None object column (`_params` of
    real rows) the frame concat scans every value for NA, 6 s on 1M rows.
    """
    import numpy as np
    import pandas as pd

    if len(synth) == 0:
        return df
    cols: dict[Any, Any] = {}
    for col in df.columns:
        a, b = df[col], synth[col]
        if isinstance(a.dtype, np.dtype) and a.dtype == b.dtype:
            cols[col] = np.concatenate([a.to_numpy(), b.to_numpy()])
        else:
            cols[col] = pd.concat([a, b], ignore_index=True)
    return pd.DataFrame(cols, columns=df.columns, copy=False)


def show(value: Any) -> str:
    """A class value as users wrote it (`1`, `'fraud'`), not `np.int64(1)`."""
    return repr(value.item() if hasattr(value, "item") else value)

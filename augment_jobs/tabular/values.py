"""Values between Arrow, numpy and messages: how a class is shown, how drawn numbers get their
column's source type back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa


def show(value: Any) -> str:
    """A class value as users wrote it (`1`, `'fraud'`), not `np.int64(1)`."""
    return repr(value.item() if hasattr(value, "item") else value)


def as_numbers(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A numeric, boolean or date/time column as float64 (dates and times in their own unit: days for
    date32, the timestamp's unit otherwise); nulls are NaN."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    t = col.type
    if pa.types.is_temporal(t):
        storage = pa.int32() if t.bit_width == 32 else pa.int64()
        col = pc.cast(col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col, storage) \
            if not pa.types.is_timestamp(t) else col.cast(pa.int64())
    elif pa.types.is_boolean(t) or pa.types.is_null(t):
        col = pc.cast(col, pa.float64())
    return np.asarray(pc.cast(col, pa.float64(), safe=False).to_numpy(zero_copy_only=False), dtype=np.float64)


def typed(v: np.ndarray, kind: pa.DataType, *, days: bool = False) -> pa.Array:
    """Drawn floats in a column's source type: integers and date/times rounded, never truncated
    (`days`: a timestamp column holding whole days only stays on whole days); bools at 0.5."""
    import numpy as np
    import pyarrow as pa

    nan = np.isnan(v)
    if pa.types.is_boolean(kind):
        return pa.array(v >= 0.5, mask=nan if nan.any() else None)
    if pa.types.is_integer(kind):
        return pa.array(np.rint(v), from_pandas=True).cast(kind, safe=False)
    if pa.types.is_temporal(kind):
        if days and pa.types.is_timestamp(kind):
            day = DAY[kind.unit]
            v = np.floor(v / day) * day
        if pa.types.is_date64(kind):  # milliseconds of whole days by definition
            v = np.floor(v / DAY["ms"]) * DAY["ms"]
        storage = pa.int32() if kind.bit_width == 32 else pa.int64()
        ints = pa.array(np.where(nan, 0, np.rint(v)).astype(np.int64), mask=nan if nan.any() else None)
        return ints.cast(storage).view(kind)
    return pa.array(v, from_pandas=True).cast(kind, safe=False)


#: one day in each timestamp unit
DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


def whole_days(col: pa.ChunkedArray | pa.Array) -> bool:
    """Whether a timestamp column holds midnights only (a date stored as a timestamp)."""
    import numpy as np
    import pyarrow as pa

    if not pa.types.is_timestamp(col.type):
        return False
    x = as_numbers(col)
    x = x[~np.isnan(x)]
    return bool(len(x)) and bool((np.mod(x, DAY[col.type.unit]) == 0).all())

"""The column vocabulary of published frames (docs/manifest.md, "Published rows"): the platform
columns and their Arrow types, which columns are features, which are identities."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from augment_jobs.config import DatasetConfig

#: Columns every published frame row carries (docs/store.md), plus `_params` (drawn op params, JSON).
PLATFORM_COLUMNS = ("_id", "_synthetic", "_source_ids", "_method", "_params", "_split")


def platform_types() -> dict[str, pa.DataType]:
    """The platform columns' Arrow types (docs/manifest.md)."""
    import pyarrow as pa

    return {"_id": pa.string(), "_synthetic": pa.bool_(), "_source_ids": pa.list_(pa.string()),
            "_method": pa.string(), "_params": pa.string(), "_split": pa.string()}


def feature_columns(df: pd.DataFrame, cfg: DatasetConfig) -> list[str]:
    """Data columns the checks compare: all but the platform columns, the label, the id column and
    the columns with a role (`columns: {<name>: {role: ...}}`)."""
    skip = {*PLATFORM_COLUMNS, cfg.label, cfg.source.id_column, *cfg.role_columns()}
    return [c for c in df.columns if c not in skip]


def id_columns(cfg: DatasetConfig) -> list[str]:
    """The user's identity columns: `source.id_column`, and a time series' `series.id_column`."""
    cols = [cfg.source.id_column] if cfg.source.id_column else []
    if cfg.series is not None:
        cols.append(cfg.series.id_column)
    return cols


def low_cardinality(column: Any, sample: int = 10_000) -> bool:
    """Whether a column is worth dictionary-encoding: few distinct values in its first `sample` rows
    (dictionary-encoding floats and ids costs 5x the write time for nothing)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type
    if pa.types.is_floating(t) or pa.types.is_nested(t) or pa.types.is_boolean(t) or pa.types.is_null(t):
        return False
    head = column.slice(0, sample)
    return len(head) == 0 or pc.count_distinct(head).as_py() <= max(len(head) // 10, 1)

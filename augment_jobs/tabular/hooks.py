"""Frame hooks for the tabular modality: source validation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from augment_jobs.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from augment_jobs.config import DatasetConfig


def prepare(df: pd.DataFrame, cfg: DatasetConfig) -> pd.DataFrame:
    """The label column exists and holds 2+ classes; constraint columns exist. Methods check the rest."""
    from augment_jobs.tabular._common import show
    from augment_jobs.tabular.constraints import check_columns

    where = cfg.config_path or cfg.dataset
    label = cfg.label
    if label not in df.columns:
        cols = ", ".join(str(c) for c in df.columns if not str(c).startswith("_"))
        raise InputError(f"{where}: label column {label!r} not found in the source; available columns: {cols}")
    classes = df[label].dropna().unique()
    if len(classes) < 2:
        only = f"only {show(classes[0])}" if len(classes) else "no values"
        raise InputError(
            f"{where}: label column {label!r} has {only}; oversampling needs 2+ classes: check the source "
            f"partition or the label setting"
        )
    check_columns(df, cfg.constraints, where=f"{where}: constraints")
    return df

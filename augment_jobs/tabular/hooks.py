"""Frame hooks for the tabular modality: source validation and the constraints gate check."""

from __future__ import annotations

from typing import TYPE_CHECKING

from augment_jobs.errors import InputError
from augment_jobs.modality import CheckResult

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


def checks(cfg: DatasetConfig, source_df: pd.DataFrame, out_df: pd.DataFrame) -> list[CheckResult]:
    """`constraints_held`: every published row satisfies every configured constraint."""
    from augment_jobs.tabular.constraints import violations

    if not cfg.constraints:
        return [CheckResult("constraints_held", True, "no constraints configured", {})]
    masks = violations(out_df, cfg.constraints, reference=source_df)
    counts = {name: int(m.sum()) for name, m in masks.items()}
    bad = {name: n for name, n in counts.items() if n}
    if bad:
        detail = "; ".join(f"{name} broken by {n} of {len(out_df)} rows" for name, n in bad.items())
    else:
        detail = f"{len(counts)} constraints held by all {len(out_df)} rows"
    return [CheckResult("constraints_held", not bad, detail, counts)]

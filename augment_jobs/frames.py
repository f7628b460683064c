"""The shared pipeline for frame modalities (tabular, text, time series).

Source files → one pandas frame with the platform columns → the config's steps (registered
methods) → Parquet parts in staging. Modality specifics come from `FrameHooks` registered by the
modality package: `prepare` validates and normalises the loaded source (raise InputError naming the
column), `checks` adds platform gate checks, `compare_columns` chooses the columns the similarity
check compares.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from augment_jobs.errors import InputError
from augment_jobs.modality import CheckResult, Handler, RunPlan, ShardResult

if TYPE_CHECKING:
    import pandas as pd

    from augment_jobs.config import DatasetConfig

#: Columns every published frame row carries (SPEC section 5), plus `_params` (drawn op params, JSON).
PLATFORM_COLUMNS = ("_id", "_synthetic", "_source_ids", "_method", "_params")


@dataclass(frozen=True)
class FrameHooks:
    """Modality-specific parts of the frame pipeline; every field optional."""

    prepare: Callable[[pd.DataFrame, DatasetConfig], pd.DataFrame] | None = None
    checks: Callable[[DatasetConfig, pd.DataFrame, pd.DataFrame], list[CheckResult]] | None = None
    compare_columns: Callable[[DatasetConfig, pd.DataFrame], list[str]] | None = None


_HOOKS: dict[str, FrameHooks] = {}


def register_frame_hooks(modality: str, hooks: FrameHooks) -> None:
    _HOOKS[modality] = hooks


def hooks_for(modality: str) -> FrameHooks:
    from augment_jobs.registry import load_all

    load_all()
    return _HOOKS.get(modality, FrameHooks())


def feature_columns(df: pd.DataFrame, cfg: DatasetConfig) -> list[str]:
    """Data columns a method learns from: all but the platform columns, the label and the id column."""
    skip = {*PLATFORM_COLUMNS, cfg.label, cfg.source.id_column}
    return [c for c in df.columns if c not in skip]


def synthetic_rows(
    template: pd.DataFrame, values: pd.DataFrame, *, method: str, ids: list[str], source_ids: list[list[str]],
    params: list[dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """Build synthetic rows with platform columns, columns ordered and typed like `template`."""
    import pandas as pd

    out = values.copy()
    out["_id"] = ids
    out["_synthetic"] = True
    out["_source_ids"] = source_ids
    out["_method"] = method
    out["_params"] = [json.dumps(p, sort_keys=True) for p in params] if params is not None else None
    out = out.reindex(columns=template.columns)
    for col in template.columns:
        if col in PLATFORM_COLUMNS:
            continue
        try:
            out[col] = out[col].astype(template[col].dtype)
        except (TypeError, ValueError):
            pass
    return pd.DataFrame(out).reset_index(drop=True)


class FrameHandler(Handler):
    """Tabular, text and time series: implemented in the rest of this module."""

    file_kind = "parquet"

    def augment_shard(self, cfg: DatasetConfig, plan: RunPlan, shard: int) -> ShardResult:
        raise InputError("frame pipeline not built yet")

    def gate_frame(self, cfg: DatasetConfig, plan: RunPlan, shards: list[ShardResult]) -> pd.DataFrame:
        raise InputError("frame pipeline not built yet")

    def checks(self, cfg: DatasetConfig, plan: RunPlan, shards: list[ShardResult], frame: pd.DataFrame) -> list[CheckResult]:
        return []

    def lineage(self, manifest: dict[str, Any], version_uri: str, key: str) -> dict[str, Any]:
        return {}

"""Time-series modality: the `ts_policy` method and the time-series frame hooks (registered on import)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from augment_jobs.checks import FRAME
from augment_jobs.checks.timeseries import timeseries_checks
from augment_jobs.modality import FrameHooks, ModalitySpec
from augment_jobs.registry import register_modality
from augment_jobs.timeseries import policy as _policy  # noqa: F401  (registers the method)
from augment_jobs.timeseries.hooks import compare_columns, count_units, prepare

if TYPE_CHECKING:
    from augment_jobs.config import DatasetConfig


def _config(cfg: DatasetConfig) -> None:
    if cfg.series is None:
        raise ValueError("timeseries configs need series: {id_column, time_column, value_columns}")


register_modality(ModalitySpec(
    name="timeseries",
    handler="augment_jobs.frames:FrameHandler",
    source_formats=("parquet", "csv", "jsonl"),
    publish_format="parquet",
    checks=(*FRAME, timeseries_checks),
    frame_hooks=FrameHooks(prepare=prepare, compare_columns=compare_columns, count_units=count_units),
    validate_config=_config,
    demo_writers={"sensors": "augment_jobs.timeseries.demo:write_raw"},
    example="augment_jobs.timeseries.demo:example",
    probe="augment_jobs.frames:probe",
))

"""Text modality: the `eda` method and the text frame hooks (registered on import)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from augment_jobs.checks import FRAME
from augment_jobs.checks.text import text_checks
from augment_jobs.modality import FrameHooks, ModalitySpec
from augment_jobs.registry import register_modality
from augment_jobs.text import eda as _eda  # noqa: F401  (registers the method)
from augment_jobs.text.hooks import compare_columns, prepare

if TYPE_CHECKING:
    from augment_jobs.config import DatasetConfig


def _config(cfg: DatasetConfig) -> None:
    if not cfg.text_column:
        raise ValueError("text configs need text_column (the column holding the texts)")


register_modality(ModalitySpec(
    name="text",
    handler="augment_jobs.frames:FrameHandler",
    source_formats=("parquet", "csv", "jsonl"),
    publish_format="parquet",
    checks=(*FRAME, text_checks),
    frame_hooks=FrameHooks(prepare=prepare, compare_columns=compare_columns),
    validate_config=_config,
    demo_writers={"support_tickets": "augment_jobs.text.demo:write_raw"},
    example="augment_jobs.text.demo:example",
    probe="augment_jobs.frames:probe",
))

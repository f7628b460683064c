"""Tabular modality: the SMOTE family (imbalanced-learn) and SDV synthesizers, with constraints.

Importing registers the modality and its methods; heavy libraries load inside the methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from augment_jobs.checks import FRAME
from augment_jobs.checks.constraints import constraints_held
from augment_jobs.modality import FrameHooks, ModalitySpec
from augment_jobs.registry import register_modality
from augment_jobs.tabular import sdv_methods, smote  # noqa: F401  (registers the methods)
from augment_jobs.tabular.hooks import prepare

if TYPE_CHECKING:
    from augment_jobs.config import DatasetConfig


def _config(cfg: DatasetConfig) -> None:
    if not cfg.label:
        raise ValueError("tabular configs need label (the class column)")


register_modality(ModalitySpec(
    name="tabular",
    handler="augment_jobs.frames:FrameHandler",
    source_formats=("parquet", "csv", "jsonl"),
    publish_format="parquet",
    checks=(*FRAME, constraints_held),
    frame_hooks=FrameHooks(prepare=prepare, gate_reads_lineage=False),
    validate_config=_config,
    demo_writers={
        "credit_default": "augment_jobs.tabular.demo:write_credit",
        "transactions": "augment_jobs.tabular.demo:write_transactions",
        "transactions_copula": "augment_jobs.tabular.demo:write_transactions",
    },
    example="augment_jobs.tabular.demo:example",
    probe="augment_jobs.frames:probe",
))

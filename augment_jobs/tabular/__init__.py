"""Tabular modality: the SMOTE family (imbalanced-learn) and SDV synthesizers, with constraints, on
one engine for every table size (`augment_jobs.tabular.engine`).

Importing registers the modality and its methods; heavy libraries load inside the methods.
"""

from augment_jobs.frames import frame_modality
from augment_jobs.modality import FrameHooks
from augment_jobs.registry import register_modality
from augment_jobs.tabular.checks import constraints_held, derived_held, identifier_columns, neighbour_recall
from augment_jobs.tabular.columns import validate_config

register_modality(frame_modality(
    "tabular",
    requires=("label", "tabular configs need label (the class column)"),
    checks=(constraints_held, derived_held, identifier_columns, neighbour_recall),
    hooks=FrameHooks(gate_reads_lineage=False),
    demo_writers={
        "credit_default": "augment_jobs.tabular.demo:write_credit",
        "transactions": "augment_jobs.tabular.demo:write_transactions",
        "transactions_copula": "augment_jobs.tabular.demo:write_transactions",
    },
    example="augment_jobs.tabular.demo:example",
    handler="augment_jobs.tabular.engine:TabularHandler",
    validate_config=validate_config,
))

from augment_jobs.tabular import methods  # noqa: E402, F401  (registers the methods)

"""Tabular methods: the SMOTE family (imbalanced-learn) and SDV synthesizers, with constraints.

Importing registers the methods and the frame hooks; heavy libraries load inside the methods.
"""

from augment_jobs.frames import FrameHooks, register_frame_hooks
from augment_jobs.tabular import sdv_methods, smote  # noqa: F401  (registers the methods)
from augment_jobs.tabular.hooks import checks, prepare

register_frame_hooks("tabular", FrameHooks(prepare=prepare, checks=checks, compare_columns=None, gate_reads_lineage=False))

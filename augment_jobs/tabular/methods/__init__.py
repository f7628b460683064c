"""The tabular methods, one module per family; importing registers them (`augment_jobs.tabular.method`)."""

from augment_jobs.tabular.methods import auto, dp, sdv, smote_family  # noqa: F401

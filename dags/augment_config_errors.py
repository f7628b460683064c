"""Reports broken dataset configs as an Airflow DAG import error.

`augment_datasets.py` builds one DAG per config that validates and skips the others, so a broken
config never hides the DAGs of the good ones. This file validates the same configs and, if any
fails, raises one ConfigError whose message names each config file and key at fault: the Airflow UI
(and `airflow dags list-import-errors`, `DagBag.import_errors`) shows it against this file.
It defines no DAG.
"""

from __future__ import annotations

from augment_jobs.config import load_configs
from augment_jobs.errors import ConfigError


def broken_configs() -> list[str]:
    """One line per config file that fails validation (file, key, what to do)."""
    return list(load_configs()[1].values())


_errors = broken_configs()
if _errors:
    raise ConfigError(
        f"{len(_errors)} dataset config(s) failed validation; their augment__<dataset> DAGs are not loaded:\n"
        + "\n".join(f"- {line}" for line in _errors)
    )

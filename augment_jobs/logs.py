"""What goes into a task log: quiet third-party loggers, and one line for an expected failure.

An operator reads the first error line of a failed task and must learn from it alone what failed
(the value and the limit), which config key to change, and the command that shows more.
"""

from __future__ import annotations

import logging
from typing import Any

from augment_jobs.errors import AugmentError, GateFailed

#: libraries whose INFO chatter buries the one line that matters (GX alone logs ~200 lines per import)
NOISY_LOGGERS = (
    "great_expectations", "sdv", "rdt", "ctgan", "copulas", "SingleTableSynthesizer", "MultiTableSynthesizer",
    "mlflow", "alembic", "urllib3", "botocore", "boto3", "s3transfer", "numexpr", "PIL", "matplotlib",
    "fsspec", "git",
)

#: gate check name (or its prefix) → the config key that decides it
CHECK_KEYS: tuple[tuple[str, str], ...] = (
    ("synthetic_share", "limits.max_synthetic_ratio"),
    ("max_rows", "limits.max_rows"),
    ("skipped_share", "limits.max_skipped_share"),
    ("label_set_unchanged", "label / augment"),
    ("similarity", "quality.similarity"),
    ("suite:", "quality.suite"),
    ("constraints_held", "constraints"),
    ("missing_share", "augment[].method (SMOTE family: augment[].params.missing)"),  # eda and ts_policy have no `missing`
    ("image.corrupt_share", "source.max_corrupt_share"),
    ("image.", "augment[].params"),
    ("text.", "augment[].params"),
    ("ts.value_bounds", "quality.value_bounds"),
    ("ts.acf", "quality.similarity.max_acf_diff"),
    ("ts.", "augment[].params"),
    ("fairness.", "quality.fairness.max_disparity_change"),
    ("privacy_epsilon", "limits.max_epsilon"),
    ("audio.corrupt_share", "source.max_corrupt_share"),
    ("audio.clipping", "quality.audio.max_clipped_share"),
    ("audio.loudness", "quality.audio.max_loudness_change_db"),
    ("audio.duration", "quality.audio.max_duration_change"),
    ("audio.similarity", "quality.similarity"),
    ("audio.", "augment[].params"),
)


def quiet_libraries(level: int = logging.WARNING) -> None:
    """Raise the level of noisy library loggers (before they are imported: GX logs while importing)."""
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(level)
    # libraries that set levels on their own child loggers (GX does) would log past the parent's level
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and name.startswith(NOISY_LOGGERS) and logger.level < level:
            logger.setLevel(level)


def config_key(check: str) -> str:
    """The config key that decides a gate check (`augment` when nothing more specific is known)."""
    for prefix, key in CHECK_KEYS:
        if check == prefix or check.startswith(prefix):
            return key
    return "augment"


def failed_checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The failed checks of a gate report, in report order."""
    return [c for c in report.get("checks", []) if not c.get("passed")]


def _read_report(uri: str | None) -> dict[str, Any] | None:
    if not uri:
        return None
    from augment_jobs.store import store_for

    try:
        return store_for(uri).read_json(uri)
    except Exception:  # the line must still be printed when the report cannot be read
        return None


def failure_line(e: AugmentError, *, config: str | None = None, dataset: str | None = None,
                 version: str | None = None, ds: str | None = None) -> str:
    """One line for an expected failure: what failed (value, limit), the key to change, the next command."""
    head = f"{type(e).__name__} (exit code {e.exit_code}): {e}"
    where = f" in {config}" if config else ""
    if isinstance(e, GateFailed):
        report = _read_report(e.report_uri) or {}
        failed = failed_checks(report)
        if not failed:  # no readable report: the message itself carries the summary
            return f"{head}; more: augment show DATASET VERSION"
        dataset = report.get("dataset", dataset)
        version = report.get("version", version)
        keys = ", ".join(dict.fromkeys(config_key(c["name"]) for c in failed))
        what = "; ".join(f"{c['name']}: {c['detail']}" for c in failed[:2])
        what += f" (and {len(failed) - 2} more)" if len(failed) > 2 else ""
        kept = e.report_uri.rsplit("/gate/", 1)[0] if e.report_uri else "quarantine/"
        return (f"{type(e).__name__} (exit code {e.exit_code}): {dataset} {version} quality gate failed: {what}; "
                f"change {keys}{where}; more: augment show {dataset} {version}; "
                f"nothing published, output quarantined at {kept}")
    if config and ds:
        return f"{head}; reproduce: augment run {config} --date {ds}"
    return head

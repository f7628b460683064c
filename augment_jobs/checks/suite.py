"""The dataset's Great Expectations 1.x suite, run on the staged output (docs/gate.md).

GX reports a failed validation without raising; the gate turns any failed expectation into a failed
check, so a bad output can never be published.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from augment_jobs.checks import CheckResult, GateInput
from augment_jobs.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from augment_jobs.config import DatasetConfig


def load_suite(path: Path) -> Any:
    """Parse a GX 1.x suite JSON; ConfigError naming the file when it is malformed."""
    from great_expectations.core import ExpectationSuite

    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: suite file not found; fix quality.suite or create the file") from None
    except ValueError as e:
        raise ConfigError(f"{path}: suite is not valid JSON ({e})") from None
    if not isinstance(raw, dict) or "expectations" not in raw:
        raise ConfigError(f"{path}: not a Great Expectations suite (needs 'name' and 'expectations')")
    raw.setdefault("name", path.stem)
    from great_expectations.exceptions import ExpectationNotFoundError
    from great_expectations.expectations.registry import get_expectation_impl

    for i, exp in enumerate(raw["expectations"]):
        if not isinstance(exp, dict) or "type" not in exp:
            raise ConfigError(f"{path}: expectations[{i}] needs a 'type' (e.g. expect_column_values_to_not_be_null)")
        try:
            get_expectation_impl(exp["type"])
        except ExpectationNotFoundError:
            raise ConfigError(
                f"{path}: invalid Great Expectations suite: expectations[{i}] type {exp['type']!r} does not exist in GX 1.x"
            ) from None
    # GX logs (and skips) expectations it cannot build instead of raising: count what it kept
    logging.getLogger("great_expectations").setLevel(logging.CRITICAL)
    try:
        suite = ExpectationSuite(**raw)
        if len(suite.expectations) != len(raw["expectations"]):
            raise ConfigError(f"{path}: invalid Great Expectations suite: some expectations have invalid kwargs")
        return suite
    except ConfigError:
        raise
    except Exception as e:  # GX raises many types for a bad suite; all mean the same to the user
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"{path}: invalid Great Expectations suite: {first}") from None


def check_suite(cfg: DatasetConfig) -> None:
    """Fail fast on a malformed or missing suite (used by `augment check` and the snapshot stage)."""
    if cfg.quality.suite:
        load_suite(cfg.resolve_path(cfg.quality.suite))


def run_suite(g: GateInput) -> list[CheckResult]:
    """Validate the output table with the config's suite; one CheckResult per expectation."""
    cfg, frame = g.cfg, g.frame
    if not cfg.quality.suite:
        return []
    path = cfg.resolve_path(cfg.quality.suite)
    suite = load_suite(path)
    for exp in suite.expectations:
        column = exp.configuration.kwargs.get("column")
        if column is not None and column not in frame.columns:
            raise ConfigError(
                f"{path}: {exp.expectation_type} names column {column!r}, which the output does not have; "
                f"columns: {', '.join(map(str, frame.columns))}"
            )
    frame = _suite_view(suite, frame)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    # GX fingerprints every batch below this size by hashing all of it (seconds per million rows,
    # twice per validation); the fingerprint is only a marker we never read. Pinned GX 1.24.
    pandas_execution_engine.HASH_THRESHOLD = 0

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("augment")
        .add_dataframe_asset("output")
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    result = batch.validate(suite)
    checks = []
    for r in result.results:
        conf = r.expectation_config
        kwargs = {k: v for k, v in conf.kwargs.items() if k != "batch_id"}
        res = r.result or {}
        detail = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        if not r.success:
            exc = (r.exception_info or {}).get("exception_message") if isinstance(r.exception_info, dict) else None
            if exc:
                detail += f"; error: {exc}"
            elif "unexpected_count" in res:
                detail += f"; {res['unexpected_count']} unexpected, e.g. {res.get('partial_unexpected_list', [])[:5]}"
            elif "observed_value" in res:
                detail += f"; observed {res['observed_value']}"
        observed = {k: res[k] for k in ("unexpected_count", "unexpected_percent", "observed_value") if k in res}
        checks.append(CheckResult(f"suite:{conf.type}", bool(r.success), detail, _jsonable(observed)))
    return checks


COLUMN_KWARGS = ("column", "column_A", "column_B", "column_list")


def _suite_view(suite: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """The part of `frame` the suite reads.

    GX hashes the whole batch before validating, and falls back to pickling it when a column holds
    lists (`_source_ids`): minutes on a million rows. Column-scoped suites get only their columns;
    a suite with table-level expectations gets every column, lists joined into strings.
    """
    named: list[str] = []
    for exp in suite.expectations:
        kwargs = exp.configuration.kwargs
        if not any(k in kwargs for k in COLUMN_KWARGS):
            view = frame.copy(deep=False)
            for col in view.columns:
                if view[col].dtype == object and len(view) and _is_list(view[col].iloc[0]):
                    view[col] = view[col].map(lambda v: "|".join(map(str, v)) if v is not None else None)
            return view
        for k in COLUMN_KWARGS:
            value = kwargs.get(k)
            named += value if isinstance(value, list) else [value] if value is not None else []
    return frame[list(dict.fromkeys(named))]


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple) or type(value).__name__ == "ndarray"


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))

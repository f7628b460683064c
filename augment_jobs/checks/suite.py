"""The dataset's Great Expectations 1.x suite, run on the staged output (docs/gate.md).

GX reports a failed validation without raising; the gate turns any failed expectation into a failed
check, so a bad output can never be published.
"""

from __future__ import annotations

import functools
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
    """Fail fast on a malformed or missing suite (used by `augment check` and the snapshot stage).
    A suite made only of expectations the platform evaluates itself is checked without GX
    (`augment_jobs.checks.suite_native`: well-formed, or it goes to GX, which says what is wrong)."""
    from augment_jobs.checks import suite_native
    from augment_jobs.checks.suite_parts import id_columns

    if cfg.quality.suite:
        path = cfg.resolve_path(cfg.quality.suite)
        specs = suite_native.read_specs(path)
        if specs is None or not all(suite_native.native_kind(s, id_columns(cfg)) for s in specs):
            load_suite(path)


def check_columns(path: Path, suite: Any, columns: list[str]) -> None:
    """ConfigError when an expectation (of a GX suite, or `suite_native.Spec`s) names a column the
    output does not have."""
    from augment_jobs.checks.suite_native import spec_of

    for spec in suite if isinstance(suite, list) else map(spec_of, suite.expectations):
        if spec.column is not None and spec.column not in columns:
            raise ConfigError(
                f"{path}: {spec.type} names column {spec.column!r}, which the output does not have; "
                f"columns: {', '.join(map(str, columns))}"
            )


def run_suite(g: GateInput) -> list[CheckResult]:
    """Validate the output table with the config's suite; one CheckResult per expectation.

    A tabular run validated its rows part by part in the augment tasks (`ShardResult.extra
    ["suite"]`): those results are merged (`augment_jobs.checks.suite_parts`), the rest run on the
    gate's bounded sample."""
    cfg, frame = g.cfg, g.frame
    if not cfg.quality.suite:
        return []
    path = cfg.resolve_path(cfg.quality.suite)
    if any("suite" in s.extra for s in g.shards):
        from augment_jobs.checks.suite_parts import merged_checks

        return merged_checks(g, path)
    suite = load_suite(path)
    check_columns(path, suite, list(frame.columns))
    return [check_result(r) for r in validate(suite, suite_view(suite.expectations, frame)).results]


def validate(suite: Any, frame: pd.DataFrame) -> Any:
    """GX's validation result of `frame` against `suite` (one ephemeral context per process)."""
    return _batch_definition().get_batch(batch_parameters={"dataframe": frame}).validate(suite)


@functools.cache
def _batch_definition() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    # GX fingerprints every batch below this size by hashing all of it (seconds per million rows,
    # twice per validation); the fingerprint is only a marker we never read. Pinned GX 1.24.
    pandas_execution_engine.HASH_THRESHOLD = 0

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context.data_sources.add_pandas("augment").add_dataframe_asset("output").add_batch_definition_whole_dataframe("all")


def check_result(r: Any, basis: str = "") -> CheckResult:
    """A CheckResult from one GX expectation result; `basis` (e.g. "on a sample of 900 rows") is
    appended to the detail."""
    conf = r.expectation_config
    exc = (r.exception_info or {}).get("exception_message") if isinstance(r.exception_info, dict) else None
    return describe(conf.type, conf.kwargs, bool(r.success), r.result or {}, exc, basis)


def describe(kind: str, kwargs: dict[str, Any], success: bool, res: dict[str, Any], error: str | None = None,
             basis: str = "") -> CheckResult:
    """`suite:<type>` with a detail naming the kwargs, what failed, and the basis of the result."""
    detail = ", ".join(f"{k}={v}" for k, v in kwargs.items() if k != "batch_id")
    if not success:
        if error:
            detail += f"; error: {error}"
        elif "unexpected_count" in res:
            detail += f"; {res['unexpected_count']} unexpected, e.g. {jsonable(res.get('partial_unexpected_list', [])[:5])}"
        elif "observed_value" in res:
            detail += f"; observed {jsonable(res['observed_value'])}"
    if basis:
        detail += f" ({basis})"
    observed = {k: res[k] for k in ("unexpected_count", "unexpected_percent", "observed_value") if k in res}
    return CheckResult(f"suite:{kind}", success, detail, jsonable(observed))


COLUMN_KWARGS = ("column", "column_A", "column_B", "column_list")


def suite_columns(expectations: list[Any]) -> list[str] | None:
    """The columns these expectations read, or None when one is table-level (it reads every column)."""
    named: list[str] = []
    for exp in expectations:
        kwargs = exp.configuration.kwargs
        if not any(k in kwargs for k in COLUMN_KWARGS):
            return None
        for k in COLUMN_KWARGS:
            value = kwargs.get(k)
            named += value if isinstance(value, list) else [value] if value is not None else []
    return list(dict.fromkeys(named))


def suite_view(expectations: list[Any], frame: pd.DataFrame) -> pd.DataFrame:
    """The part of `frame` these expectations read.

    GX hashes the whole batch before validating, and falls back to pickling it when a column holds
    lists (`_source_ids`): minutes on a million rows. Column-scoped suites get only their columns;
    a suite with table-level expectations gets every column, lists joined into strings.
    """
    columns = suite_columns(expectations)
    if columns is not None:
        return frame[columns]
    view = frame.copy(deep=False)
    for col in view.columns:
        if view[col].dtype == object and len(view) and _is_list(view[col].iloc[0]):
            view[col] = view[col].map(lambda v: "|".join(map(str, v)) if v is not None else None)
    return view


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple) or type(value).__name__ == "ndarray"


def jsonable(obj: Any) -> Any:
    """`obj` as it reads back from JSON (numpy scalars and timestamps as plain values or text)."""
    return json.loads(json.dumps(obj, default=_plain))


def _plain(value: Any) -> Any:
    return value.item() if type(value).__module__ == "numpy" and hasattr(value, "item") else str(value)

"""The GX suite of a tabular run: validated part by part, merged at the gate (docs/gate.md).

Each augment task validates the rows it writes, a *part* at a time (consecutive row groups of one
output file, up to `PART_ROWS` rows: the same parts for any number of tasks), and keeps, per
expectation, a small record of what GX found. The records of a file are folded into one and stored
in the task's `ShardResult.extra["suite"]`; the gate folds the files' records in file order and
turns each expectation's total into one `suite:<type>` check.

How an expectation merges is decided from GX's own description of it (`kind_of`):

- `rows`: a map expectation (column, column pair, multicolumn) whose verdict on a row depends on
  that row alone. Counts add up, so the merged result is exact: element, missing and unexpected
  counts summed, the first 20 unexpected values in output order, success when the unexpected share
  of the considered rows meets `mostly`, as GX computes it on a whole table.
- `ids`: uniqueness of `_id` or of the id column: checked within each part; the platform makes
  these unique across parts (source ids are checked unique at snapshot, synthetic ids are numbered).
- `count`, `min`, `max`, `sum`, `mean`, `stdev`: aggregates with an exact merge (row count summed,
  min of minima, ...; mean and standard deviation from each part's count, mean and sum of squared
  deviations), judged by the expectation's own GX code on the merged value.
- `schema`: table columns, column types and column count, the same in every part: passes when every
  part passed.
- `sample`: everything else (uniqueness of other columns, median, quantiles, distinct values,
  z-scores, outliers, increasing values, ...) cannot be merged from parts: it runs on the gate's
  bounded per-class sample, and its detail says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from augment_jobs.checks import CheckResult
from augment_jobs.checks import suite_native as native
from augment_jobs.checks.suite import (
    check_columns,
    check_result,
    describe,
    jsonable,
    load_suite,
    suite_columns,
    suite_view,
    validate,
)
from augment_jobs.checks.suite_native import Spec, spec_of
from augment_jobs.errors import AugmentError

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd
    import pyarrow as pa

    from augment_jobs.checks import GateInput
    from augment_jobs.config import DatasetConfig

#: unexpected values kept per expectation (GX's own partial list size)
PARTIAL = 20
#: aggregate metrics with an exact merge, by the metric an expectation declares it needs
AGGREGATES = {"table.row_count": "count", "column.min": "min", "column.max": "max", "column.sum": "sum",
              "column.mean": "mean", "column.standard_deviation": "stdev"}
METRIC = {v: k for k, v in AGGREGATES.items()}
SCHEMA = {"table.columns", "table.column_types", "table.column_count"}
#: map metrics that compare rows with each other although GX marks no window or aggregate for them
#: on any engine (pandas: `duplicated`)
CROSS_ROW = {"compound_columns.unique"}


def kind_of(exp: Any, id_columns: tuple[str, ...] = ("_id",)) -> str:
    """How an expectation merges across parts (module docstring): from GX's class hierarchy, the
    metric functions of its map metric, and the metrics it declares."""
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )

    kwargs = exp.configuration.kwargs
    if isinstance(exp, ColumnMapExpectation | ColumnPairMapExpectation | MulticolumnMapExpectation):
        if not _cross_row(exp):
            return "rows"
        if exp.map_metric == "column_values.unique" and kwargs.get("column") in id_columns:
            return "ids"
        return "sample"
    deps = set(getattr(type(exp), "metric_dependencies", ()) or ())
    if len(deps) == 1 and (metric := next(iter(deps))) in AGGREGATES:
        kind = AGGREGATES[metric]
        # mean and deviation are merged from counts this module computes, without GX's row filter
        return "sample" if kind in ("mean", "stdev") and kwargs.get("row_condition") else kind
    if deps and deps <= SCHEMA:
        return "schema"
    return "sample"


def _cross_row(exp: Any) -> bool:
    """Whether a map expectation's verdict on a row depends on other rows: GX computes its condition
    with a window function on some engine (uniqueness, increasing), or it needs an aggregate of the
    column (z-scores, outliers)."""
    from great_expectations.core.metric_function_types import MetricPartialFunctionTypes
    from great_expectations.execution_engine import PandasExecutionEngine
    from great_expectations.expectations.registry import _get_metric_definition, get_metric_provider

    if exp.map_metric in CROSS_ROW:
        return True
    providers = _get_metric_definition(f"{exp.map_metric}.condition")["providers"].values()
    if any(getattr(fn, "metric_fn_type", None) == MetricPartialFunctionTypes.WINDOW_CONDITION_FN
           for _, fn in providers):
        return True
    engine = PandasExecutionEngine()
    try:
        todo = list(exp.get_validation_dependencies(execution_engine=engine).metric_configurations.values())
        seen: set[Any] = set()
        while todo:
            metric = todo.pop()
            if metric.id in seen:
                continue
            seen.add(metric.id)
            if metric.metric_name.startswith("column."):
                return True
            provider, _ = get_metric_provider(metric.metric_name, engine)
            todo += provider.get_evaluation_dependencies(metric=metric, execution_engine=engine).values()
    except Exception:  # noqa: BLE001  (GX cannot plan it: not provably row-wise, so not merged)
        return True
    return False


# --- the augment task: validate each part -------------------------------------------------------------
#: rows and Arrow bytes of the suite's columns gathered before one validation: GX costs ~0.2 s a call
#: whatever the size, so row groups are validated together, up to a file, within these bounds (which
#: also bound the pandas frame GX builds: the per-task peak, about 150 MiB over a run without a suite)
PART_ROWS = 1 << 18
PART_BYTES = 32 * 1024**2


@dataclass
class PartSuite:
    """The suite's mergeable expectations, validated part by part in an augment task: `add` each row
    group written, `file_records` at the end of each file. A part is a run of a file's row groups
    (at most `PART_ROWS` rows / `PART_BYTES`), so the parts, and the records, do not depend on the
    number of tasks. Row counts without a `row_condition` are counted, and the common expectations
    computed on Arrow (`augment_jobs.checks.suite_native`), so GX validates only the rest, if any."""

    suite: Any  # what GX validates per part (expectation i of the dataset's suite has id str(i)), or None
    kinds: list[str]
    counted: list[int]  # row-count expectations counted directly
    columns: list[str] | None  # what a part's view holds; None: every column (a table-level expectation)
    types: list[str]  # the dataset suite's expectation types, in order (the gate checks they still match)
    native: dict[int, Spec] = field(default_factory=dict)  # evaluated on Arrow, by expectation index
    _pending: list[pa.Table] = field(default_factory=list)
    _rows: int = 0
    _parts: list[list[dict[str, Any] | None]] = field(default_factory=list)

    @classmethod
    def for_run(cls, cfg: DatasetConfig, schema: pa.Schema) -> PartSuite | None:
        """None when the config has no suite; ConfigError when it names a column the output lacks.
        GX is imported only when an expectation needs it."""
        if not cfg.quality.suite:
            return None
        path = cfg.resolve_path(cfg.quality.suite)
        ids = id_columns(cfg)
        specs = native.read_specs(path)
        if specs is not None and all(native.native_kind(s, ids) for s in specs):
            check_columns(path, specs, schema.names)
            if all(native.evaluable(s, schema) for s in specs):
                return cls.of(specs, ids, schema)
        full = load_suite(path)
        check_columns(path, full, schema.names)
        return cls.of(full, ids, schema)

    @classmethod
    def of(cls, full: Any, ids: tuple[str, ...] = ("_id",), schema: pa.Schema | None = None) -> PartSuite:
        """The per-part suite of a loaded GX suite, or of a list of `Spec`s that `suite_native`
        evaluates on their own (`ids`: the columns unique by construction). With `schema`, what
        `suite_native` can evaluate on it is computed on Arrow; without, GX validates everything."""
        specs = [s if isinstance(s, Spec) else spec_of(s) for s in (full if isinstance(full, list) else
                                                                    full.expectations)]
        kinds = kinds_of(full, ids)
        counted = [i for i, kind in enumerate(kinds) if kind == "count" and not specs[i].kwargs.get("row_condition")]
        keep = [i for i, kind in enumerate(kinds) if kind != "sample" and i not in counted]
        on_arrow = {i: specs[i] for i in keep if schema is not None and native.native_kind(specs[i], ids)
                    and native.evaluable(specs[i], schema)}
        by_gx = [i for i in keep if i not in on_arrow]
        gx_columns = suite_columns([full.expectations[i] for i in by_gx]) if by_gx else []
        columns = None if gx_columns is None else list(dict.fromkeys(
            [*gx_columns, *(s.column for s in on_arrow.values() if s.column)]))
        return cls(subsuite(full, by_gx) if by_gx else None, kinds, counted, columns, [s.type for s in specs],
                   on_arrow)

    def add(self, table: pa.Table) -> None:
        """Rows just written; validated once enough of them are gathered."""
        if all(kind == "sample" for kind in self.kinds):
            return
        self._pending.append(part_view(table, self.columns))
        self._rows += table.num_rows
        if self._rows >= PART_ROWS or sum(t.nbytes for t in self._pending) >= PART_BYTES:
            self._flush()

    def file_records(self) -> list[dict[str, Any] | None]:
        """The records of the file just written, folded over its parts; starts the next file."""
        self._flush()
        records, self._parts = self.fold(self._parts), []
        return records

    def _flush(self) -> None:
        import pyarrow as pa

        if self._rows:
            self._parts.append(self.validate(pa.concat_tables(self._pending), self._rows))
            self._pending, self._rows = [], 0

    def validate(self, view: pa.Table, rows: int | None = None) -> list[dict[str, Any] | None]:
        """One record per expectation of the dataset's suite (None: evaluated on the gate's sample)
        for one part of `rows` rows, given as `part_view` made it."""
        records: list[dict[str, Any] | None] = [None] * len(self.kinds)
        for i in self.counted:
            records[i] = {"parts": 1, "value": view.num_rows if rows is None else rows}
        for i, spec in self.native.items():
            records[i] = native.record(spec, self.kinds[i], view)
        if self.suite is not None and self.suite.expectations:
            frame = view.to_pandas()
            for r in validate(self.suite, frame).results:
                i = int(r.expectation_config.id)
                records[i] = part_record(self.kinds[i], r, frame)
        return records

    def fold(self, parts: list[list[dict[str, Any] | None]]) -> list[dict[str, Any] | None]:
        """Fold parts' records, in order, into one record per expectation."""
        return fold_parts(self.kinds, parts)


def kinds_of(suite: Any, ids: tuple[str, ...]) -> list[str]:
    """Each expectation's merge kind: known without GX for `suite_native`'s, else GX's (`kind_of`)."""
    if isinstance(suite, list):
        return [native.native_kind(s, ids) or "sample" for s in suite]
    return [native.native_kind(spec_of(e), ids) or kind_of(e, ids) for e in suite.expectations]


def subsuite(suite: Any, indices: list[int]) -> Any:
    """The expectations `indices` of `suite`, each with its index as id (GX reorders results)."""
    from great_expectations.core import ExpectationSuite

    return ExpectationSuite(name=suite.name, expectations=[
        {**suite.expectations[i].configuration.to_json_dict(), "id": str(i)} for i in indices])


def id_columns(cfg: DatasetConfig) -> tuple[str, ...]:
    """Columns the platform makes unique across a whole run: `_id`, and the id column if any."""
    return ("_id", cfg.source.id_column) if cfg.source.id_column else ("_id",)


def part_view(table: pa.Table, columns: list[str] | None) -> pa.Table:
    """What GX validates of a part: the named columns, or every column with lists joined by `|` (as
    the whole-table `suite_view` of the other modalities)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if columns is not None:
        return table.select(columns)
    cols = []
    for f in table.schema:
        col = table.column(f.name)
        if pa.types.is_list(f.type) or pa.types.is_large_list(f.type):
            col = pc.binary_join(pc.cast(col, pa.list_(pa.string())), "|")
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def part_record(kind: str, r: Any, frame: pd.DataFrame) -> dict[str, Any]:
    """What one part's GX result contributes to the merged one."""
    exc = r.exception_info if isinstance(r.exception_info, dict) else {}
    if exc.get("raised_exception"):
        return {"parts": 1, "error": str(exc.get("exception_message"))}
    res = r.result or {}
    if kind in ("rows", "ids"):
        if "unexpected_count" not in res:  # e.g. a column type checked once for the column
            return {"parts": 1, "ok": bool(r.success), "observed": jsonable(res.get("observed_value"))}
        return {"parts": 1, "n": int(res.get("element_count") or 0), "missing": int(res.get("missing_count") or 0),
                "unexpected": int(res["unexpected_count"]),
                "values": jsonable(list(res.get("partial_unexpected_list") or [])[:PARTIAL])}
    if kind in ("mean", "stdev"):
        import numpy as np

        try:
            values = frame[r.expectation_config.kwargs["column"]].dropna().to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as e:
            return {"parts": 1, "error": f"not numeric: {e}"}
        mean = float(values.mean()) if len(values) else 0.0
        return {"parts": 1, "n": len(values), "mean": mean, "m2": float(((values - mean) ** 2).sum())}
    if kind == "schema":
        return {"parts": 1, "ok": bool(r.success), "observed": jsonable(res.get("observed_value"))}
    value = res.get("observed_value")
    return {"parts": 1, "value": None if _missing(value) else jsonable(value)}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# --- merging ------------------------------------------------------------------------------------------
def fold_parts(kinds: list[str], parts: list[list[dict[str, Any] | None]]) -> list[dict[str, Any] | None]:
    """Per expectation, the fold of its records over `parts` (lists of records, in output order)."""
    return [None if kind == "sample" else fold(kind, [p[i] for p in parts if p[i] is not None])
            for i, kind in enumerate(kinds)]


def fold(kind: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge one expectation's records, in output order, into one of the same shape: exact for every
    kind (an error in any part is kept; float sums are added in the order given)."""
    parts = sum(r["parts"] for r in records)
    if kind == "schema" and not records:
        return {"parts": 0, "ok": True, "observed": None}
    if errors := [r for r in records if "error" in r]:
        return {"parts": parts, "error": errors[0]["error"]}
    if any("ok" in r for r in records):  # all-parts verdicts (schema; a type check done per column)
        oks = [r if "ok" in r else {"ok": _share_ok(r, 1.0), "observed": None} for r in records]
        failed = [r for r in oks if not r["ok"]]
        return {"parts": parts, "ok": not failed, "observed": (failed or oks)[0]["observed"]}
    if kind in ("rows", "ids"):
        values = [v for r in records for v in r["values"]][:PARTIAL]
        return {"parts": parts, "n": sum(r["n"] for r in records), "missing": sum(r["missing"] for r in records),
                "unexpected": sum(r["unexpected"] for r in records), "values": values}
    if kind in ("mean", "stdev"):
        n, mean, m2 = 0, 0.0, 0.0
        for r in records:  # Chan et al.: pairwise update of count, mean and squared deviations
            if r["n"]:
                total = n + r["n"]
                delta = r["mean"] - mean
                mean += delta * r["n"] / total
                m2 += r["m2"] + delta * delta * n * r["n"] / total
                n = total
        return {"parts": parts, "n": n, "mean": mean, "m2": m2}
    values = [r["value"] for r in records if r["value"] is not None]
    if kind == "count":
        return {"parts": parts, "value": sum(values)}
    merge = {"min": min, "max": max, "sum": sum}[kind]
    return {"parts": parts, "value": merge(values) if values else None}


def _share_ok(record: dict[str, Any], mostly: float) -> bool:
    """GX's verdict for a map expectation: the share of considered rows that are expected ≥ mostly
    (considered: not missing; vacuously true without any)."""
    considered = record["n"] - record["missing"]
    return considered == 0 or (considered - record["unexpected"]) / considered >= mostly


def merged_check(exp: Any, kind: str, record: dict[str, Any] | None) -> CheckResult:
    """One `suite:<type>` check from an expectation's record folded over every part; `exp` is a GX
    expectation or a `Spec` (whose aggregates `suite_native.judge` judges, as GX would)."""
    spec = exp if isinstance(exp, Spec) else spec_of(exp)
    record = record or fold(kind, [])
    n = record["parts"]
    basis = {"ids": f"checked within each of {n} parts; platform ids are unique across parts by construction",
             "schema": f"the same in each of {n} parts"}.get(kind, f"merged over {n} parts")
    if "error" in record:
        return describe(spec.type, spec.kwargs, False, {}, record["error"], basis)
    if "ok" in record:
        res = {} if record["observed"] is None else {"observed_value": record["observed"]}
        return describe(spec.type, spec.kwargs, record["ok"], res, None, basis)
    if kind in ("rows", "ids"):
        considered = record["n"] - record["missing"]
        mostly = spec.kwargs.get("mostly")
        success = _share_ok(record, 1.0 if mostly is None else float(mostly))
        res = {"unexpected_count": record["unexpected"],
               "unexpected_percent": 100 * record["unexpected"] / considered if considered else 0.0,
               "partial_unexpected_list": record["values"]}
        return describe(spec.type, spec.kwargs, success, res, None, basis)
    if kind == "mean":
        value = record["mean"] if record["n"] else None
    elif kind == "stdev":
        value = math.sqrt(record["m2"] / (record["n"] - 1)) if record["n"] > 1 else None
    else:
        value = record["value"]
    try:  # the expectation's own judgement of the value
        verdict = native.judge(spec, value) if exp is spec else exp._validate(metrics={METRIC[kind]: value})
    except Exception as e:  # noqa: BLE001  (e.g. a row count compared with another table: not available)
        return describe(spec.type, spec.kwargs, False, {"observed_value": value}, f"{type(e).__name__}: {e}", basis)
    return describe(spec.type, spec.kwargs, bool(verdict["success"]), dict(verdict.get("result") or {}), None, basis)


# --- the gate ---------------------------------------------------------------------------------------
def merged_checks(g: GateInput, path: Path) -> list[CheckResult]:
    """The suite's checks of a tabular run, in suite order: merged from the tasks' per-file records,
    or run on the gate's bounded sample for expectations that do not merge. GX is imported only
    when an expectation is not `suite_native`'s."""
    ids = id_columns(g.cfg)
    specs = native.read_specs(path)
    suite: Any = specs if specs is not None and all(native.native_kind(s, ids) for s in specs) else load_suite(path)
    exps = suite if isinstance(suite, list) else suite.expectations
    kinds = kinds_of(suite, ids)
    files = sorted((f for s in g.shards for f in s.extra.get("suite", [])), key=lambda f: f["file"])
    types = [e.type if isinstance(e, Spec) else e.expectation_type for e in exps]
    if any(f["expectations"] != types for f in files):
        raise AugmentError(f"{path}: the suite changed after the augment tasks validated the output against it; "
                           "run it again (the changed suite gives a new version)")
    totals = fold_parts(kinds, [f["results"] for f in files])
    checks: list[CheckResult | None] = [
        None if kind == "sample" else merged_check(e, kind, totals[i])
        for i, (e, kind) in enumerate(zip(exps, kinds, strict=True))
    ]
    sampled = [i for i, kind in enumerate(kinds) if kind == "sample"]
    if sampled:
        sub = subsuite(suite, sampled)
        check_columns(path, sub, list(g.frame.columns))
        rows = sum(c["after"] for c in g.counts.values())
        basis = f"on a sample of {len(g.frame):,} of {rows:,} rows: not mergeable across parts"
        for r in validate(sub, suite_view([exps[i] for i in sampled], g.frame)).results:
            checks[int(r.expectation_config.id)] = check_result(r, basis)
    return [c for c in checks if c is not None]

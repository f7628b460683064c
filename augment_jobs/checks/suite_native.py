"""The suite's common expectations evaluated on Arrow, with GX's own semantics (docs/gate.md).

Importing GX 1.x takes about 9 s, and each validation call costs 0.2-0.4 s whatever its size. A
tabular run validates every row part by part, in every augment task, so for the expectations most
suites are made of the platform computes each part's record from the Arrow table itself (the same
record `suite_parts.part_record` makes from GX's result) and judges the merged aggregates as GX
does. A suite made only of these never imports GX; any other expectation, kwarg or column type goes
to GX as before. `tests/unit/core/test_suite_native.py` checks every one against GX on real tables.

What GX's pandas engine does, and this module with it: a float NaN counts as missing, like a null;
map expectations leave missing values out (except the null checks, which count them); unexpected
values are kept in row order; an aggregate over no values is `None`, which fails its check.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

#: expectation type → how it merges across parts (`suite_parts.kind_of`, which must agree: tested)
KINDS = {
    "expect_column_values_to_not_be_null": "rows",
    "expect_column_values_to_be_null": "rows",
    "expect_column_values_to_be_in_set": "rows",
    "expect_column_values_to_not_be_in_set": "rows",
    "expect_column_values_to_be_between": "rows",
    "expect_column_values_to_be_unique": "ids",  # on the platform's id columns only
    "expect_table_row_count_to_be_between": "count",
    "expect_table_row_count_to_equal": "count",
    "expect_column_min_to_be_between": "min",
    "expect_column_max_to_be_between": "max",
    "expect_column_mean_to_be_between": "mean",
    "expect_column_stdev_to_be_between": "stdev",
}
BETWEEN = {"min_value", "max_value", "strict_min", "strict_max"}
#: kwargs each type may have here (anything else goes to GX)
KWARGS = {
    "expect_column_values_to_not_be_null": {"column", "mostly"},
    "expect_column_values_to_be_null": {"column", "mostly"},
    "expect_column_values_to_be_in_set": {"column", "value_set", "mostly"},
    "expect_column_values_to_not_be_in_set": {"column", "value_set", "mostly"},
    "expect_column_values_to_be_between": {"column", "mostly"} | BETWEEN,
    "expect_column_values_to_be_unique": {"column", "mostly"},
    "expect_table_row_count_to_be_between": BETWEEN,
    "expect_table_row_count_to_equal": {"value"},
    "expect_column_min_to_be_between": {"column"} | BETWEEN,
    "expect_column_max_to_be_between": {"column"} | BETWEEN,
    "expect_column_mean_to_be_between": {"column"} | BETWEEN,
    "expect_column_stdev_to_be_between": {"column"} | BETWEEN,
}
#: kwargs with no bearing on the verdict or the record, and conditions that are unset
IGNORED = {"result_format", "catch_exceptions", "meta"}
UNSET = {"row_condition", "condition_parser"}
#: unexpected values kept per expectation (GX's own partial list size)
PARTIAL = 20


@dataclass(frozen=True)
class Spec:
    """One expectation of the suite file: its type and kwargs, as written."""

    type: str
    kwargs: dict[str, Any]

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column")


def spec_of(exp: Any) -> Spec:
    """A GX expectation as a `Spec` (its type and kwargs)."""
    return Spec(exp.expectation_type, dict(exp.configuration.kwargs))


def read_specs(path: Path) -> list[Spec] | None:
    """The suite's expectations, or None when the file is not a plain suite (GX then reports why)."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    exps = raw.get("expectations") if isinstance(raw, dict) else None
    if not isinstance(exps, list) or not all(
            isinstance(e, dict) and isinstance(e.get("type"), str) and isinstance(e.get("kwargs", {}), dict)
            for e in exps):
        return None
    return [Spec(e["type"], dict(e.get("kwargs", {}))) for e in exps]


def native_kind(spec: Spec, ids: tuple[str, ...]) -> str | None:
    """The spec's merge kind when this module evaluates it, else None (GX does)."""
    kind = KINDS.get(spec.type)
    if kind is None:
        return None
    kw = {k: v for k, v in spec.kwargs.items() if k not in IGNORED and not (k in UNSET and v is None)}
    if not set(kw) <= KWARGS[spec.type]:
        return None
    if "column" in KWARGS[spec.type] and not isinstance(kw.get("column"), str):
        return None
    if kind == "ids" and kw["column"] not in ids:
        return None  # uniqueness of any other column needs every row at once: GX, on the gate's sample
    if "mostly" in kw and not (_number(kw["mostly"]) and 0 <= kw["mostly"] <= 1):
        return None
    if "value_set" in KWARGS[spec.type] and _value_set(kw.get("value_set")) is None:
        return None
    if spec.type == "expect_table_row_count_to_equal" and not (isinstance(kw.get("value"), int)
                                                               and not isinstance(kw.get("value"), bool)):
        return None
    if KWARGS[spec.type] >= BETWEEN:
        bounds = [kw.get("min_value"), kw.get("max_value")]
        if not all(b is None or _number(b) for b in bounds) or not all(
                isinstance(kw.get(s, False), bool) for s in ("strict_min", "strict_max")):
            return None
        if spec.type == "expect_column_values_to_be_between" and bounds == [None, None]:
            return None  # GX's own error
    return kind


def evaluable(spec: Spec, schema: pa.Schema) -> bool:
    """Whether this module computes the spec's per-part record on a table of `schema`."""
    import pyarrow as pa

    if spec.column is None:
        return spec.type.startswith("expect_table_row_count")
    if spec.column not in schema.names:
        return False
    t = schema.field(spec.column).type
    if pa.types.is_dictionary(t):
        t = t.value_type
    numeric = (pa.types.is_integer(t) and t.bit_width <= 64) or pa.types.is_float64(t)
    text = pa.types.is_string(t) or pa.types.is_large_string(t)
    if spec.type.endswith("_null"):
        return True
    if "value_set" in spec.kwargs:
        values = _value_set(spec.kwargs["value_set"])
        return bool(values) and (text if isinstance(values[0], str) else numeric)
    if spec.type == "expect_column_values_to_be_unique":
        return numeric or text
    return numeric  # between, min, max, mean, stdev


def record(spec: Spec, kind: str, view: pa.Table) -> dict[str, Any]:
    """One part's record, as `suite_parts.part_record` makes it from GX's result."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    col = view.column(spec.column)
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    n = len(col)
    missing = pc.is_null(col, nan_is_null=True)
    if kind in ("mean", "stdev"):
        values = pc.filter(col, pc.invert(missing)).to_numpy().astype(np.float64)
        mean = float(values.mean()) if len(values) else 0.0
        return {"parts": 1, "n": len(values), "mean": mean, "m2": float(((values - mean) ** 2).sum())}
    if kind in ("min", "max"):
        found = pc.min_max(pc.filter(col, pc.invert(missing)))[kind].as_py()
        return {"parts": 1, "value": found}
    n_missing = int(pc.sum(missing).as_py() or 0)
    if spec.type == "expect_column_values_to_not_be_null":
        nan = float("nan") if pa.types.is_floating(col.type) else None
        return _rows(n, 0, n_missing, [nan] * min(PARTIAL, n_missing))
    if spec.type == "expect_column_values_to_be_null":
        bad = pc.invert(missing)
        return _rows(n, 0, n - n_missing, _first(col, bad))
    present = pc.invert(missing)
    if kind == "ids":
        counts = pc.value_counts(pc.filter(col, present))
        repeated = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
        bad = pc.and_(present, pc.is_in(col, value_set=repeated))
    elif "value_set" in spec.kwargs:
        inside = pc.is_in(col, value_set=_set_array(spec.kwargs["value_set"], col.type))
        bad = pc.and_(present, pc.invert(inside) if spec.type == "expect_column_values_to_be_in_set" else inside)
    else:
        ok = pc.and_kleene(*(_bound(col, spec.kwargs, side) for side in ("min", "max")))
        bad = pc.and_(present, pc.invert(ok))
    unexpected = int(pc.sum(bad).as_py() or 0)
    return _rows(n, n_missing, unexpected, _first(col, bad) if unexpected else [])


def judge(spec: Spec, value: Any) -> dict[str, Any]:
    """GX's verdict on an aggregate (row count, min, max, mean, deviation) merged over every part."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        observed = value if spec.type == "expect_table_row_count_to_equal" else None
        return {"success": False, "result": {"observed_value": observed}}
    if spec.type == "expect_table_row_count_to_equal":
        return {"success": value == spec.kwargs["value"], "result": {"observed_value": value}}
    kw = spec.kwargs
    lo, hi = kw.get("min_value"), kw.get("max_value")
    ok = (lo is None or (value > lo if kw.get("strict_min") else value >= lo)) and \
         (hi is None or (value < hi if kw.get("strict_max") else value <= hi))
    return {"success": bool(ok), "result": {"observed_value": value}}


# --- helpers ------------------------------------------------------------------------------------------
def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _value_set(values: Any) -> list[Any] | None:
    """A non-empty set of only strings or only finite numbers, else None."""
    if not isinstance(values, list) or not values:
        return None
    if all(isinstance(v, str) for v in values) or all(_number(v) for v in values):
        return values
    return None


def _set_array(values: list[Any], kind: pa.DataType) -> pa.Array:
    """The value set as the column's type; for an integer column only whole numbers can match."""
    import pyarrow as pa

    if pa.types.is_integer(kind):
        whole = sorted({int(v) for v in values if float(v).is_integer() and abs(v) < 2**63})
        return pa.array(whole, pa.int64()).cast(kind, safe=False) if pa.types.is_signed_integer(kind) else \
            pa.array([v for v in whole if 0 <= v < 2**64], pa.uint64()).cast(kind, safe=False)
    if pa.types.is_floating(kind):
        return pa.array([float(v) for v in values], kind)
    return pa.array([str(v) for v in values], kind)


def _bound(col: pa.ChunkedArray, kw: dict[str, Any], side: str) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    limit = kw.get(f"{side}_value")
    if limit is None:
        return pa.scalar(True)
    strict = kw.get(f"strict_{side}", False)
    op = {("min", False): pc.greater_equal, ("min", True): pc.greater,
          ("max", False): pc.less_equal, ("max", True): pc.less}[side, bool(strict)]
    return op(col, pa.scalar(float(limit)) if isinstance(limit, float) or pa.types.is_floating(col.type)
              else pa.scalar(int(limit)))


def _first(col: pa.ChunkedArray, mask: Any) -> list[Any]:
    import pyarrow.compute as pc

    return pc.filter(col, mask).slice(0, PARTIAL).to_pylist()


def _rows(n: int, missing: int, unexpected: int, values: list[Any]) -> dict[str, Any]:
    from augment_jobs.checks.suite import jsonable

    return {"parts": 1, "n": n, "missing": missing, "unexpected": unexpected, "values": jsonable(values)}

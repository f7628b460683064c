"""Column treatment for the SDV synthesizers and the SDMetrics quality score (real SDV, no mocks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from augment_jobs.registry import methods
from augment_jobs.tabular.quality_score import quality_score
from augment_jobs.tabular.sdv_columns import choose_distribution, decode, encode, plan_columns


def zero_inflated(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    calls = np.where(rng.random(n) < 0.86, 0, rng.poisson(25, n) + 1).astype(np.int64)
    minutes = rng.gamma(4.0, 40.0, n).round(1)
    minutes[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame({
        "calls": calls,
        "minutes": minutes,
        "rating": rng.integers(1, 6, n),
        "plan": rng.choice(["basic", "pro", None], n, p=[0.6, 0.3, 0.1]),
    })


def test_plan_picks_mass_points_categories_and_a_fitting_marginal() -> None:
    df = zero_inflated()
    plans = plan_columns(df, list(df.columns), constrained=set(), fixed=set(), choose_marginal=True,
                         default_distribution="truncnorm")
    assert plans["calls"].treatment == "mass+continuous" and plans["calls"].masses == [0.0]
    assert plans["calls"].integer and (plans["calls"].low, plans["calls"].high) == (0.0, float(df["calls"].max()))
    assert plans["rating"].treatment == "categorical" and plans["plan"].treatment == "categorical"
    assert plans["minutes"].treatment == "continuous" and plans["minutes"].distribution in {"gamma", "beta"}
    assert plans["minutes"].fit_ks < 0.06


def test_choose_distribution_fits_the_shape() -> None:
    rng = np.random.default_rng(1)
    name, ks = choose_distribution(rng.uniform(3, 9, 3000), 3000, "u")
    assert name in {"uniform", "truncnorm", "beta"} and ks < 0.03  # a wide truncnorm is a uniform
    name, ks = choose_distribution(rng.gamma(1.5, 2.0, 3000), 3000, "g")
    assert name in {"gamma", "beta"} and ks < 0.03  # skewed: never norm or truncnorm


def test_encode_decode_round_trip_keeps_masses_missing_and_range() -> None:
    df = zero_inflated()
    plans = plan_columns(df, list(df.columns), constrained=set(), fixed=set(), choose_marginal=False,
                         default_distribution="truncnorm")
    enc = encode(df, plans, np.random.default_rng(0))
    assert "__mass__calls" in enc and not (enc["calls"] == 0).any()  # the model sees the continuous part only
    dec = decode(enc, plans, df)
    assert list(dec.columns) == list(df.columns)
    np.testing.assert_array_equal(dec["calls"].to_numpy(), df["calls"].to_numpy())
    wild = enc.assign(calls=enc["calls"] * 10 + 0.4)
    out = decode(wild, plans, df)["calls"]
    assert out.max() <= df["calls"].max() and (out == out.round()).all()


@pytest.mark.parametrize("treatment", ["auto", "off"])
def test_copula_keeps_zero_mass_only_with_treatment(treatment: str, make_ctx) -> None:
    df = zero_inflated(800)
    df["label"] = np.where(np.arange(len(df)) % 5 == 0, 1, 0)
    df["_id"] = [f"p#{i}" for i in range(len(df))]
    df["_synthetic"], df["_source_ids"], df["_method"], df["_params"] = False, None, "source", None
    spec = methods("tabular")["gaussian_copula"]
    ctx = make_ctx()
    params = {"sampling_strategy": None, "num_rows": 800, "column_treatment": treatment}
    if treatment == "off":
        params["default_distribution"] = "beta"  # SDV's own default
    out = spec(df, spec.parse_params(params), ctx)
    syn = out[out["_synthetic"]]
    zeros = float((syn["calls"] == 0).mean())
    assert syn["calls"].between(0, df["calls"].max()).all()
    assert 0 < ctx.metrics["quality.score"] <= 1 and "quality.0.column_shapes" in ctx.metrics
    assert any("worst columns" in n for n in ctx.notes)
    if treatment == "auto":
        assert abs(zeros - 0.86) < 0.06
        assert syn["minutes"].isna().mean() == pytest.approx(0.05, abs=0.04)  # missingness modelled, not dropped
        assert any("calls=mass[0]+" in n for n in ctx.notes) and ctx.metrics["columns.mass+continuous"] >= 1
    else:
        assert abs(zeros - 0.86) > 0.06  # bare SDV smears the point mass (77% zeros here)


def test_quality_score_ranks_a_broken_column_worst() -> None:
    real = zero_inflated(1000, seed=2)
    good = zero_inflated(1000, seed=3)
    bad = good.assign(minutes=good["minutes"] * 5)
    q_good, q_bad = quality_score(real, good, None), quality_score(real, bad, None)
    assert q_bad["worst_columns"][0][0] == "minutes" and q_bad["column_shapes"] < q_good["column_shapes"]
    assert 0.85 < q_good["score"] <= 1 and len(q_good["worst_columns"]) == 3
    assert set(q_good) == {"score", "column_shapes", "column_pair_trends", "worst_columns"}


def test_heavy_tail_is_modelled_on_the_log_scale() -> None:
    rng = np.random.default_rng(4)
    income = np.where(rng.random(1500) < 0.2, 0.0, rng.lognormal(3, 1.5, 1500).round(1))
    df = pd.DataFrame({"income": income})
    plans = plan_columns(df, ["income"], constrained=set(), fixed=set(), choose_marginal=True,
                         default_distribution="truncnorm")
    plan = plans["income"]
    assert plan.masses == [0.0] and plan.log_shift is not None and plan.fit_ks < 0.05
    assert "=mass[0]+log-" in plan.describe()
    enc = encode(df, plans, np.random.default_rng(0))
    assert enc["income"].max() < 20  # the model sees log values
    np.testing.assert_allclose(decode(enc, plans, df)["income"].to_numpy(), income, rtol=1e-9, atol=1e-6)

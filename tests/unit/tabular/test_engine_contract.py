"""The tabular contract suite: every registered tabular method (found in the registry, not listed
here, in imbalanced-learn's `estimator_checks` style) run through the one engine on the same cases:
1 and 4 tasks give identical rows, missing features, constraints, a date column, a class smaller
than `k_neighbors`, and a holdout split."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest

from augment_jobs.config import DatasetConfig
from augment_jobs.errors import InputError
from augment_jobs.registry import AugmentContext, methods
from augment_jobs.tabular.engine import run_frame
from augment_jobs.tabular.method import tabular_method

TABULAR = sorted(methods("tabular").values(), key=lambda m: m.name)
SLOW = {"ctgan", "tvae", "auto"}  # neural fits (auto: its TVAE candidate): a few seconds each even at 2 epochs
DS = "2026-03-01"


def params_of(spec: Any) -> bool:
    return "categorical_features" in spec.params_model.model_fields


def table(n: int = 220, seed: int = 0, *, categorical: bool = False) -> pd.DataFrame:
    """~20% minority, a float, an int, a date and (for SMOTE-NC) a category."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.2
    day0 = dt.date(2024, 1, 1)
    df = pd.DataFrame({
        "amount": np.round(rng.lognormal(4, 0.5, n) + 30 * y, 2),
        "score": rng.normal(0, 1, n) + y,
        "visits": rng.poisson(np.where(y, 4, 1)).astype("int64"),
        "opened": [day0 + dt.timedelta(days=int(d)) for d in rng.integers(0, 365, n)],
        "label": np.where(y, "yes", "no"),
    })
    if categorical:
        df.insert(4, "region", rng.choice(["north", "south", "east"], n))
    return df


def example(spec: Any) -> dict[str, Any]:
    """The method's example params, for this table: a method taking public `bounds` gets wide ones."""
    params = dict(spec.example)
    if "bounds" in spec.params_model.model_fields:
        params["bounds"] = {"amount": [0, 1000], "score": [-6, 6], "visits": [0, 30]}
    return params


def config(spec: Any, **extra: Any) -> DatasetConfig:
    raw = {"dataset": "contract", "modality": "tabular", "seed": 3, "source": {"uri": "mem://"}, "label": "label",
           "augment": [{"method": spec.name, "params": {**example(spec), "sampling_strategy": 0.5}}],
           "publish": {"uri": "mem://out"}, **extra}
    return DatasetConfig(**raw)


def run(spec: Any, df: pd.DataFrame, cfg: DatasetConfig, tasks: int = 1) -> tuple[pd.DataFrame, AugmentContext]:
    ctx = AugmentContext(cfg=cfg, ds=DS)
    return run_frame(df, cfg, DS, ctx=ctx, tasks=tasks), ctx


@pytest.fixture(params=[pytest.param(m, marks=pytest.mark.slow) if m.name in SLOW else m for m in TABULAR],
                ids=[m.name for m in TABULAR])
def spec(request: pytest.FixtureRequest) -> Any:
    return request.param


def test_one_task_or_four_publish_the_same_rows(spec: Any) -> None:
    df = table(categorical=params_of(spec))
    one, _ = run(spec, df, config(spec), tasks=1)
    four, _ = run(spec, df, config(spec), tasks=4)
    # ids of real rows name the file they were read from: compare everything else
    same = ["_synthetic", "_method", "label"] if not spec.reproducible else [
        c for c in one.columns if c not in ("_id", "_source_ids")]  # a DP fit draws fresh noise each run
    pd.testing.assert_frame_equal(one[same], four[same])
    syn = one[one["_synthetic"]]
    assert len(syn) and (syn["_method"] == spec.name).all()
    n_no, n_yes = (df["label"] == "no").sum(), (df["label"] == "yes").sum()
    assert (one["label"] == "yes").sum() == int(0.5 * n_no), "the target is met exactly"
    assert len(one) == len(df) + int(0.5 * n_no) - n_yes
    for col in df.columns:  # every source column keeps its type, the date too
        assert one[col].dtype == df[col].dtype or (col == "opened" and isinstance(one[col].iloc[-1], dt.date)), col
    if tabular_method(spec.name).lineage:
        parents = set(df.index.map(lambda i: f"part-0.parquet#{i}"))
        assert all(len(p) == 2 and set(p) <= parents for p in one.loc[one["_synthetic"], "_source_ids"])


def test_dates_are_drawn_inside_the_observed_range(spec: Any) -> None:
    df = table(categorical=params_of(spec))
    out, _ = run(spec, df, config(spec))
    syn = out.loc[out["_synthetic"], "opened"]
    assert syn.map(lambda d: isinstance(d, dt.date)).all()
    lo, hi = df["opened"].min(), df["opened"].max()
    assert syn.between(lo, hi).all()
    assert syn.nunique() > 5, "dates are interpolated or modelled, not copied from one row"


def test_missing_features_are_counted_for_the_oversampled_class_only(spec: Any) -> None:
    df = table(categorical=params_of(spec))
    yes, no = np.flatnonzero(df["label"] == "yes"), np.flatnonzero(df["label"] == "no")
    df.loc[yes[:4], "score"] = np.nan
    df.loc[no[:6], "score"] = np.nan
    if "bounds" in spec.params_model.model_fields:  # a DP mechanism needs a complete table: one line naming it
        with pytest.raises(InputError, match=r"column 'score' has missing values") as e:
            run(spec, df, config(spec))
        assert "\n" not in str(e.value)
        return
    out, ctx = run(spec, df, config(spec))
    assert out.loc[~out["_synthetic"], "score"].isna().sum() == 10  # real rows published as they are
    assert (out["label"] == "yes").sum() == int(0.5 * len(no))
    if tabular_method(spec.name).lineage:  # interpolation skips the 4 gaps of the class it oversamples
        assert ctx.skipped == {"row with a missing value in 'score' (params.missing: skip)": 4}
        assert out.loc[out["_synthetic"], "score"].notna().all()
    else:  # generative models model missingness: nothing is skipped
        assert ctx.skipped == {}


def test_constraints_hold_on_every_synthetic_row_and_targets_are_met(spec: Any) -> None:
    df = table(categorical=params_of(spec))
    # real rows break the range (left in: messy data); synthetic rows may not
    assert not df["amount"].between(20, 100).all()
    cfg = config(spec, constraints=[{"type": "range", "column": "amount", "low": 20, "high": 100},
                                    {"type": "inequality", "low": "visits", "high": "amount"}])
    out, ctx = run(spec, df, cfg)
    syn = out[out["_synthetic"]]
    assert syn["amount"].between(20, 100).all() and (syn["visits"] <= syn["amount"]).all()
    assert (out["label"] == "yes").sum() == int(0.5 * (df["label"] == "no").sum())
    assert "constraint_redrawn_rows" in ctx.metrics


def test_a_class_smaller_than_k_still_gets_its_rows(spec: Any) -> None:
    df = table(categorical=params_of(spec))
    df = pd.concat([df[df["label"] == "no"], df[df["label"] == "yes"].head(4)], ignore_index=True)
    out, ctx = run(spec, df, config(spec, augment=[{"method": spec.name, "params": {
        **example(spec), "sampling_strategy": {"yes": 30}}}]))
    assert (out["label"] == "yes").sum() == 30 or any("got" in n for n in ctx.notes)
    if "k_neighbors" in spec.params_model.model_fields:
        assert any("lowered from 5 to 3" in n for n in ctx.notes), ctx.notes


def test_no_synthetic_row_derives_from_a_holdout_row(spec: Any) -> None:
    df = table(categorical=params_of(spec))
    out, _ = run(spec, df, config(spec, split={"holdout": 0.25}))
    real = out[~out["_synthetic"]]
    held = set(real.loc[real["_split"] == "holdout", "_id"])
    assert held and set(out.loc[out["_synthetic"], "_split"]) == {"train"}
    assert not {p for ps in out.loc[out["_synthetic"], "_source_ids"] for p in ps} & held


def test_roles_and_derived_columns_for_every_method_same_bytes_for_any_task_count(spec: Any) -> None:
    df = table(categorical=params_of(spec))
    df.insert(0, "member_id", np.arange(5000, 5000 + len(df), dtype="int64"))
    df["name"] = [f"person {i}" for i in range(len(df))]
    df["amount_x2"] = df["amount"] * 2
    cols = {"member_id": {"role": "id"}, "name": {"role": "pii"}, "amount_x2": {"derived": "amount * 2"}}
    one, _ = run(spec, df, config(spec, columns=cols), tasks=1)
    four, _ = run(spec, df, config(spec, columns=cols), tasks=4)
    same = [c for c in one.columns if c not in ("_id", "_source_ids")] if spec.reproducible else [
        "_synthetic", "_method", "label", "member_id"]  # a DP fit draws fresh noise each run
    pd.testing.assert_frame_equal(one[same], four[same])
    syn = one[one["_synthetic"]]
    assert len(syn)
    assert not set(syn["member_id"]) & set(df["member_id"]) and one["member_id"].is_unique
    assert syn["name"].isna().all()
    assert np.allclose(syn["amount_x2"], syn["amount"] * 2)

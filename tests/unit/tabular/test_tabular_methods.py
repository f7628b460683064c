"""The common test: every registered tabular method, on one small imbalanced table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from augment_jobs.registry import methods
from augment_jobs.tabular.constraints import violations
from augment_jobs.tabular.method import tabular_method

NUMERIC_ONLY = {"smote", "borderline_smote", "adasyn"}
PARAMS = {
    "smotenc": {"sampling_strategy": 0.5, "categorical_features": ["country", "currency"]},
    "ctgan": {"sampling_strategy": 0.5, "epochs": 1},
    "tvae": {"sampling_strategy": 0.5, "epochs": 1},
    "auto": {"sampling_strategy": 0.5, "candidates": ["gaussian_copula", "tvae"], "epochs": 1},
}
#: the reproducible methods (dp_synth's fresh noise per fit has its cases in test_engine_contract.py)
TABULAR = sorted(n for n, m in methods("tabular").items() if m.reproducible)


def test_the_seven_of_the_contract_are_registered():
    assert {"adasyn", "borderline_smote", "ctgan", "gaussian_copula", "smote", "smotenc", "tvae"} <= set(TABULAR)
    assert "dp_synth" in methods("tabular")


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in {"ctgan", "tvae", "auto"} else n for n in TABULAR]
)
def test_method_contract(name, make_frame, make_ctx, constraints):
    spec = methods("tabular")[name]
    df = make_frame(categorical=name not in NUMERIC_ONLY)
    cons = constraints if name not in NUMERIC_ONLY else constraints[:2]
    params = spec.parse_params(PARAMS.get(name, {"sampling_strategy": 0.5}))
    original = df.copy(deep=True)

    ctx = make_ctx(cons)
    out = spec(df, params, ctx)

    # the input frame is not modified, and its rows come first, untouched and in order
    pd.testing.assert_frame_equal(df, original)
    pd.testing.assert_frame_equal(out.iloc[: len(df)], original)
    assert list(out.columns) == list(df.columns)
    syn = out.iloc[len(df):]
    assert len(syn) > 0

    # platform columns of the appended rows
    assert syn["_synthetic"].all()
    assert (syn["_method"] == name).all()
    assert out["_id"].is_unique
    assert list(syn["_id"]) == [f"syn-0-{name}-{i:07d}" for i in range(len(syn))]
    real_ids = set(df["_id"])
    for sources in syn["_source_ids"]:
        assert isinstance(sources, list)
        if not tabular_method(name).lineage:  # drawn from a fitted model
            assert sources == []
        else:
            assert len(sources) == 2 and set(sources) <= real_ids
    if tabular_method(name).lineage:
        steps = [json.loads(p)["step"] for p in syn["_params"]]
        assert all(-1e-6 <= s <= 1 + 1e-6 for s in steps)
    for col in df.columns:
        if not col.startswith("_"):
            assert out[col].dtype == df[col].dtype, col
    assert not syn[[c for c in df.columns if not c.startswith("_")]].isna().any().any()

    # class targets: minority / majority = 0.5, met exactly (draws breaking a constraint are redrawn)
    counts = out["label"].value_counts()
    target = int(0.5 * counts[0])
    assert counts[0] == (df["label"] == 0).sum()
    assert counts[1] == target

    # constraints held by every row
    for cname, mask in violations(out, ctx.cfg.constraints).items():
        assert not mask.any(), cname

    # deterministic: same input and context, identical frame
    again = spec(df.copy(deep=True), params, make_ctx(cons))
    pd.testing.assert_frame_equal(out, again)
    # and the draw depends on the date (derived randomness, not a global seed)
    other = make_ctx(cons)
    other.ds = "2026-01-02"
    moved = spec(df, params, other)
    num = [c for c in ("amount", "score") if c in df.columns]
    assert not np.allclose(moved.iloc[len(df):][num].to_numpy()[:10], syn[num].to_numpy()[:10])


@pytest.mark.parametrize("name", ["smote", "smotenc", "gaussian_copula"])
def test_dict_strategy_and_string_keys(name, make_frame, make_ctx):
    spec = methods("tabular")[name]
    df = make_frame()
    n1 = int((df["label"] == 1).sum())
    raw = {"sampling_strategy": {"1": n1 + 25}}
    if name == "smotenc":
        raw["categorical_features"] = ["country", "currency"]
    feats = df if name != "smote" else df.drop(columns=["country", "currency"])
    out = spec(feats, spec.parse_params(raw), make_ctx())
    assert (out["label"] == 1).sum() == n1 + 25
    assert (out["label"] == 0).sum() == (df["label"] == 0).sum()


def test_gaussian_copula_num_rows_and_artifact(make_frame, make_ctx, tmp_path):
    spec = methods("tabular")["gaussian_copula"]
    df = make_frame()
    ctx = make_ctx(artifact_uri=str(tmp_path / "artifacts"))
    out = spec(df, spec.parse_params({"sampling_strategy": None, "num_rows": 40}), ctx)
    assert len(out) == len(df) + 40
    saved = sorted(p.name for p in (tmp_path / "artifacts").iterdir())
    assert saved and all(p.startswith("synthesizer-0-") and p.endswith(".pkl") for p in saved)
    from sdv.utils import load_synthesizer

    synth = load_synthesizer(str(tmp_path / "artifacts" / saved[0]))
    assert synth.get_metadata() is not None

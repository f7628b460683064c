"""Each SMOTE-family row lies on the segment between the two parents it names."""

from __future__ import annotations

import json

import numpy as np
import pytest

from augment_jobs.registry import methods

CASES = [
    ("smote", {"sampling_strategy": 0.6, "k_neighbors": 3}),
    ("borderline_smote", {"sampling_strategy": 0.6, "kind": "borderline-1"}),
    ("borderline_smote", {"sampling_strategy": 0.6, "kind": "borderline-2"}),
    ("adasyn", {"sampling_strategy": 0.6}),
    ("smotenc", {"sampling_strategy": 0.6, "categorical_features": ["country", "currency"]}),
]
FLOATS = ["amount", "score", "opened_at", "closed_at"]  # `age` is rounded to int, so off the segment


@pytest.mark.parametrize(("name", "raw"), CASES, ids=[f"{n}-{r.get('kind', '')}" for n, r in CASES])
def test_synthetic_rows_lie_between_their_parents(name, raw, make_frame, make_ctx):
    spec = methods("tabular")[name]
    df = make_frame(categorical=name == "smotenc")
    out = spec(df, spec.parse_params(raw), make_ctx())
    syn = out.iloc[len(df):]
    by_id = df.set_index("_id")
    a = by_id.loc[[s[0] for s in syn["_source_ids"]], FLOATS].to_numpy()
    b = by_id.loc[[s[1] for s in syn["_source_ids"]], FLOATS].to_numpy()
    x = syn[FLOATS].to_numpy()
    t = np.array([json.loads(p)["step"] for p in syn["_params"]])
    # x = a + t (b - a), with the recorded step, for every numeric column
    scale = np.abs(df[FLOATS].to_numpy()).max(axis=0)
    np.testing.assert_allclose((a + t[:, None] * (b - a)) / scale, x / scale, atol=1e-5)
    assert ((t >= -1e-6) & (t <= 1 + 1e-6)).all()
    # the base parent is of the generated class (borderline-2's partner may be of another class)
    assert (by_id.loc[[s[0] for s in syn["_source_ids"]], "label"].to_numpy() == syn["label"].to_numpy()).all()
    if raw.get("kind") != "borderline-2":
        assert (by_id.loc[[s[1] for s in syn["_source_ids"]], "label"].to_numpy() == syn["label"].to_numpy()).all()
    # the interpolated columns really come from both parents, not a copy of one
    assert (np.abs(b - a).sum(axis=1) > 0).mean() > 0.9


def test_adasyn_matches_imblearn_generation(make_frame, make_ctx, monkeypatch):
    """With imbalanced-learn's own rounding, the re-implemented step yields exactly ADASYN's rows."""
    from imblearn.over_sampling import ADASYN

    from augment_jobs.tabular import _samplers

    monkeypatch.setattr(_samplers, "_apportion", lambda w, n: np.rint(w * n).astype(int))
    spec = methods("tabular")["adasyn"]
    df = make_frame(categorical=False)
    ctx = make_ctx()
    out = spec(df, spec.parse_params({"sampling_strategy": 0.6}), ctx)
    feats = ["amount", "score", "opened_at", "closed_at"]
    X = df[[*feats, "age"]].to_numpy(np.float64)
    y = df["label"].to_numpy()
    target = int(0.6 * (y == 0).sum())
    ref_X, _ = ADASYN(sampling_strategy={1: target}, random_state=ctx.seed32("adasyn")).fit_resample(X, y)
    np.testing.assert_allclose(out.iloc[len(df):][feats].to_numpy(np.float64), ref_X[len(df):, :4], rtol=1e-12)


def test_adasyn_hits_target_exactly(make_frame, make_ctx):
    spec = methods("tabular")["adasyn"]
    df = make_frame(categorical=False)
    for s in (0.4, 0.5, 0.7):
        out = spec(df, spec.parse_params({"sampling_strategy": s}), make_ctx())
        assert (out["label"] == 1).sum() == int(s * (df["label"] == 0).sum())

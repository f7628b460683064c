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


def test_adasyn_samples_per_row_equal_imblearns(make_frame, make_ctx):
    """ADASYN's density ratios: each minority row starts as many samples as imbalanced-learn's gives it
    (its generation with the exact-target rounding, `RecordingADASYN`)."""
    from imblearn_reference import RecordingADASYN

    spec = methods("tabular")["adasyn"]
    df = make_frame(categorical=False)
    out = spec(df, spec.parse_params({"sampling_strategy": 0.6}), make_ctx())
    feats = ["amount", "score", "age", "opened_at", "closed_at"]
    X, y = df[feats].to_numpy(np.float64), df["label"].to_numpy()
    target = int(0.6 * (y == 0).sum())
    ref = RecordingADASYN(sampling_strategy={1: target}, random_state=0)
    ref.fit_resample(X, y)
    rows = next(r for c, r, _ in ref.records_ if c == 1)
    own = df["_id"].to_numpy()[y == 1]
    want = dict(zip(own, np.bincount(rows, minlength=len(own)), strict=True))
    got = out.iloc[len(df):]["_source_ids"].map(lambda s: s[0]).value_counts().to_dict()
    assert {k: v for k, v in want.items() if v} == got


def test_adasyn_hits_target_exactly(make_frame, make_ctx):
    spec = methods("tabular")["adasyn"]
    df = make_frame(categorical=False)
    for s in (0.4, 0.5, 0.7):
        out = spec(df, spec.parse_params({"sampling_strategy": s}), make_ctx())
        assert (out["label"] == 1).sum() == int(s * (df["label"] == 0).sum())

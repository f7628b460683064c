"""Efficacy: baseline vs augmented on a real holdout, deterministic, skipped when it cannot be told."""

from __future__ import annotations

import pandas as pd
import pytest

from augment_jobs.evaluation.efficacy import METRICS, efficacy


@pytest.fixture(scope="module")
def parts(cancer_split, smote_rows):
    train, holdout = cancer_split
    numeric = train.drop(columns=["size_band"])
    synthetic = smote_rows(numeric, "target", ratio=1.0)
    synthetic["size_band"] = "m"
    return train, synthetic, holdout


@pytest.mark.parametrize("model", ["logistic", "hist_gbm"])
def test_scores_both_models_deterministically(parts, model):
    train, synthetic, holdout = parts
    first = efficacy(train, synthetic, holdout, "target", model=model, metric="recall_minority")
    assert first == efficacy(train, synthetic, holdout, "target", model=model, metric="recall_minority")
    assert first["skipped_reason"] is None and first["minority"] == "0"
    assert 0.0 < first["baseline"] <= 1.0 and 0.0 < first["augmented"] <= 1.0
    assert first["uplift"] == pytest.approx(first["augmented"] - first["baseline"], abs=1e-6)
    assert first["rows"] == {"train": len(train), "synthetic": len(synthetic), "holdout": len(holdout)}


def test_every_metric_and_oversampling_helps_minority_recall(parts):
    train, synthetic, holdout = parts
    for metric in METRICS:
        out = efficacy(train, synthetic, holdout, "target", metric=metric)
        assert out["metric"] == metric and 0.0 <= out["baseline"] <= 1.0, out
    # With 28 minority train rows against 250, balancing should not hurt minority recall.
    recall = efficacy(train, synthetic, holdout, "target", metric="recall_minority")
    assert recall["uplift"] >= 0.0


def test_one_class_holdout_is_skipped_with_a_reason(parts):
    train, synthetic, holdout = parts
    out = efficacy(train, synthetic, holdout[holdout.target == 1], "target")
    assert out["baseline"] is None and out["uplift"] is None
    assert out["skipped_reason"].startswith("efficacy skipped: the holdout holds 1 class(es) (1)")
    no_minority = efficacy(train, synthetic, holdout[holdout.target == 1].iloc[:0], "target")
    assert "holds 0 class(es)" in no_minority["skipped_reason"]


def test_bad_keys_name_the_key(parts):
    train, synthetic, holdout = parts
    with pytest.raises(ValueError, match="quality.efficacy.model: 'svm'"):
        efficacy(train, synthetic, holdout, "target", model="svm")
    with pytest.raises(ValueError, match="no label column 'y'"):
        efficacy(train, synthetic, holdout, "y")


def test_text_uses_tfidf_logistic():
    good = ["great product works well", "love it works great", "excellent quality love", "works as described great"]
    bad = ["broke after a day", "terrible quality broke", "refund please terrible"]
    train = pd.DataFrame({"text": good * 5 + bad, "label": ["pos"] * 20 + ["neg"] * 3})
    synthetic = pd.DataFrame({"text": ["terrible broke refund", "broke terrible day", "quality terrible"] * 3,
                              "label": ["neg"] * 9})
    holdout = pd.DataFrame({"text": ["love the great quality", "terrible it broke", "broke refund"],
                            "label": ["pos", "neg", "neg"]})
    out = efficacy(train, synthetic, holdout, "label", metric="recall_minority", text_column="text")
    assert out["model"] == "tfidf_logistic" and out["minority"] == "neg"
    assert out["augmented"] >= out["baseline"] and out["augmented"] == 1.0

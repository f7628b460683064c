"""Efficacy, extended: per-class recall on the long tail, Brier scores and reliability diagrams,
and the leave-one-step-out ablation, on scikit-learn's bundled wine and breast-cancer tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine

from augment_jobs.evaluation.efficacy import brier, efficacy, reliability
from augment_jobs.evaluation.split import assign_split


@pytest.fixture(scope="module")
def cancer_parts(cancer_split, smote_rows):
    train, holdout = cancer_split
    synthetic = smote_rows(train.drop(columns=["size_band"]), "target", ratio=1.0)
    synthetic["size_band"] = "m"
    synthetic["_method"] = "smote"
    return train, synthetic, holdout


def test_calibration_and_per_class_recall(cancer_parts):
    train, synthetic, holdout = cancer_parts
    out = efficacy(train, synthetic, holdout, "target", metric="recall_minority")
    rec = out["per_class_recall"]
    assert list(rec) == ["0", "1"]  # rarest class first
    assert rec["0"]["tail"] and not rec["1"]["tail"]
    assert rec["0"]["baseline"] == pytest.approx(out["baseline"])  # minority recall is that class's recall
    assert rec["0"]["holdout_rows"] == int((holdout["target"].astype(str) == "0").sum())
    for side in ("baseline", "augmented"):
        cal = out["calibration"][side]
        assert 0.0 <= cal["brier"] <= 2.0 and 0.0 <= cal["brier_minority"] <= 1.0
        assert sum(b["rows"] for b in cal["reliability"]) == len(holdout)
        assert all(b["low"] <= b["mean_predicted"] <= b["high"] for b in cal["reliability"])
    assert "ablation" not in out  # one step: nothing to leave out


def test_brier_and_reliability_by_hand():
    y = np.array(["a", "b", "a", "a"])
    proba = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.0, 1.0]])
    # rows: 0, 0, (0.25 + 0.25), (1 + 1) -> mean 2.5 / 4
    assert brier(y, proba, ["a", "b"]) == pytest.approx(0.625)
    bins = reliability(np.array([1.0, 0.0, 1.0, 1.0]), proba[:, 0], bins=2)
    assert bins == [{"low": 0.0, "high": 0.5, "mean_predicted": 0.0, "observed": 0.5, "rows": 2},
                    {"low": 0.5, "high": 1.0, "mean_predicted": 0.75, "observed": 1.0, "rows": 2}]


def test_ablation_leaves_each_step_out_on_a_long_tailed_wine_table(smote_rows):
    wine = load_wine(as_frame=True).frame.rename(columns=lambda c: c.replace("/", "_"))
    wine["target"] = wine["target"].map({0: "barolo", 1: "grignolino", 2: "barbera"})
    # a long tail: all of one cultivar, 30 and 12 of the others
    wine = pd.concat([wine[wine.target == "grignolino"], wine[wine.target == "barolo"].head(30),
                      wine[wine.target == "barbera"].head(12)], ignore_index=True)
    wine["_id"] = [f"w{i}" for i in range(len(wine))]
    split, _ = assign_split(wine["_id"], wine["target"], 0.3, seed=1)
    train = wine[split == "train"].drop(columns="_id").reset_index(drop=True)
    holdout = wine[split == "holdout"].drop(columns="_id").reset_index(drop=True)
    one = smote_rows(train, "target", ratio={"barbera": 40, "barolo": 40, "grignolino": 50}, k=3)
    one["_method"] = "smote"
    two = smote_rows(train, "target", ratio={"barbera": 60, "barolo": 40, "grignolino": 50}, k=3)
    two = two[two["target"] == "barbera"].assign(_method="borderline_smote")
    synthetic = pd.concat([one, two], ignore_index=True)
    out = efficacy(train, synthetic, holdout, "target", metric="balanced_accuracy",
                   steps=["smote", "borderline_smote"])
    rec = out["per_class_recall"]
    assert list(rec)[0] == "barbera" and rec["barbera"]["tail"] and not rec["grignolino"]["tail"]
    assert [a["method"] for a in out["ablation"]] == ["smote", "borderline_smote"]
    assert [a["synthetic_rows"] for a in out["ablation"]] == [len(one), len(two)]
    for a in out["ablation"]:
        assert a["contribution"] == pytest.approx(out["augmented"] - a["without"], abs=1e-6)
    # leaving every step out is the baseline: the ablation of a step whose rows are all there is
    only_first = efficacy(train, one, holdout, "target", metric="balanced_accuracy")
    assert out["ablation"][1]["without"] == pytest.approx(only_first["augmented"])
    assert len(out["calibration"]["augmented"]["reliability"]) >= 2

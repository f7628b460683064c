"""Downstream efficacy: does training on real + synthetic rows beat training on real rows alone?

The same scikit-learn model is fitted twice with a fixed random_state, once on the train rows and
once on train + synthetic rows, and both are scored on the holdout (see docs/gate.md,
`quality.efficacy`). Only real holdout rows are scored, so no synthetic row leaks into evaluation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, f1_score, recall_score, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

MODELS = ("logistic", "hist_gbm")
METRICS = ("f1_minority", "recall_minority", "balanced_accuracy", "roc_auc")
RANDOM_STATE = 0
# One-hot columns are bounded: rare categories fold into one "infrequent" column.
MIN_FREQUENCY = 5
MAX_CATEGORIES = 50
RELIABILITY_BINS = 10


def feature_columns(frame: pd.DataFrame, label: str) -> list[str]:
    """Every column except the label and platform columns (names starting with "_")."""
    return [c for c in frame.columns if c != label and not str(c).startswith("_")]


def _estimator(model: str) -> ClassifierMixin:
    if model == "logistic":
        return LogisticRegression(max_iter=2000, random_state=RANDOM_STATE)
    return HistGradientBoostingClassifier(random_state=RANDOM_STATE)


def build_model(frame: pd.DataFrame, features: list[str], model: str, text_column: str | None) -> Pipeline:
    """The unfitted pipeline: TF-IDF + logistic regression for text, else a mixed-type encoder."""
    if text_column is not None:
        return make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True),
            LogisticRegression(max_iter=2000, random_state=RANDOM_STATE),
        )
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])]
    categorical = [c for c in features if c not in numeric]
    # Dense one-hot output: HistGradientBoosting does not take sparse input, and the width is bounded.
    encoder = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("cat", make_pipeline(
                SimpleImputer(strategy="constant", fill_value="(missing)"),
                OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=MIN_FREQUENCY,
                              max_categories=MAX_CATEGORIES, sparse_output=False),
            ), categorical),
        ],
        sparse_threshold=0.0,
    )
    return Pipeline([("encode", encoder), ("model", _estimator(model))])


def _inputs(frame: pd.DataFrame, features: list[str], text_column: str | None) -> pd.DataFrame | pd.Series:
    if text_column is not None:
        return frame[text_column].fillna("").astype(str)
    x = frame[features].copy()
    for c in x.columns:  # one type per categorical column: the imputer and encoder need it
        if not (pd.api.types.is_numeric_dtype(x[c]) or pd.api.types.is_bool_dtype(x[c])):
            x[c] = x[c].astype(object).map(str, na_action="ignore").where(x[c].notna(), np.nan)
        elif pd.api.types.is_bool_dtype(x[c]):
            x[c] = x[c].astype(float)
    return x


def score(metric: str, y_true: np.ndarray, y_pred: np.ndarray, proba_minority: np.ndarray, minority: str) -> float:
    """One metric; minority-class metrics treat the minority as the positive class (one vs rest)."""
    if metric == "f1_minority":
        return float(f1_score(y_true, y_pred, labels=[minority], average="macro", zero_division=0))
    if metric == "recall_minority":
        return float(recall_score(y_true, y_pred, labels=[minority], average="macro", zero_division=0))
    if metric == "balanced_accuracy":
        return float(balanced_accuracy_score(y_true, y_pred))
    return float(roc_auc_score(y_true == minority, proba_minority))


def _fit_predict(pipe: Pipeline, x: Any, y: np.ndarray, x_test: Any) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(predicted labels, class probabilities, the classes in the probabilities' column order)."""
    pipe.fit(x, y)
    return pipe.predict(x_test), pipe.predict_proba(x_test), [str(c) for c in pipe.classes_]


def _metric(metric: str, y_test: np.ndarray, pred: np.ndarray, proba: np.ndarray, classes: list[str],
            minority: str) -> float:
    p_min = proba[:, classes.index(minority)] if minority in classes else np.zeros(len(y_test))
    return score(metric, y_test, pred, p_min, minority)


def brier(y_true: np.ndarray, proba: np.ndarray, classes: list[str]) -> float:
    """Multi-class Brier score: mean over rows of the squared distance between the predicted class
    probabilities and the one-hot truth (0 is perfect; 2 the worst; for two classes twice the binary score)."""
    onehot = (np.asarray(y_true)[:, None] == np.asarray(classes)[None, :]).astype(float)
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))


def reliability(is_positive: np.ndarray, p: np.ndarray, bins: int = RELIABILITY_BINS) -> list[dict[str, float]]:
    """The reliability diagram of one-vs-rest probabilities: per non-empty bin of equal width, the
    mean predicted probability, the observed share of positives and the rows in it."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    at = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    out = []
    for b in range(bins):
        mask = at == b
        if mask.any():
            out.append({"low": round(float(edges[b]), 6), "high": round(float(edges[b + 1]), 6),
                        "mean_predicted": round(float(p[mask].mean()), 6),
                        "observed": round(float(is_positive[mask].mean()), 6), "rows": int(mask.sum())})
    return out


def calibration(y_test: np.ndarray, proba: np.ndarray, classes: list[str], minority: str) -> dict[str, Any]:
    """Brier scores (all classes, and the minority one vs rest) and the minority's reliability diagram."""
    positive = (y_test == minority).astype(float)
    p_min = proba[:, classes.index(minority)] if minority in classes else np.zeros(len(y_test))
    return {"brier": round(brier(y_test, proba, classes), 6),
            "brier_minority": round(float(np.mean((p_min - positive) ** 2)), 6),
            "reliability": reliability(positive, p_min)}


def per_class_recall(y_test: np.ndarray, base: np.ndarray, aug: np.ndarray,
                     train_counts: pd.Series) -> dict[str, dict[str, Any]]:
    """Recall of every class on the holdout, real only vs real + synthetic, rarest class first; the
    long tail (`tail`) is the classes holding fewer train rows than the median class."""
    classes = sorted(train_counts.index, key=lambda c: (train_counts[c], c))
    median = float(np.median(train_counts.to_numpy()))
    out = {}
    for c in classes:
        held = y_test == c
        if not held.any():
            continue
        out[c] = {"baseline": round(float((base[held] == c).mean()), 6),
                  "augmented": round(float((aug[held] == c).mean()), 6),
                  "holdout_rows": int(held.sum()), "train_rows": int(train_counts[c]),
                  "tail": bool(train_counts[c] < median)}
    return out


def efficacy(
    train_real: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    label: str,
    model: str = "logistic",
    metric: str = "f1_minority",
    text_column: str | None = None,
    steps: list[str] | None = None,
) -> dict[str, Any]:
    """Baseline (train rows) vs augmented (train + synthetic) score on the holdout.

    Also `per_class_recall` (every class, the long tail marked), `calibration` of both models
    (`brier`, `brier_minority`, the minority's `reliability` diagram) and, when `steps` (the
    methods of the config's steps, in order) names more than one, `ablation`: the score without
    each step's synthetic rows.

    Returns {model, metric, baseline, augmented, uplift, skipped_reason, minority, rows}; when the
    comparison cannot be made (one class in train or holdout, no minority rows held out) the
    scores are None and skipped_reason says why in one line. Text uses TF-IDF + logistic
    regression whatever `model` says (recorded in `model`).
    """
    if model not in MODELS:
        raise ValueError(f"quality.efficacy.model: {model!r} is not one of {', '.join(MODELS)}")
    if metric not in METRICS:
        raise ValueError(f"quality.efficacy.metric: {metric!r} is not one of {', '.join(METRICS)}")
    for name, frame in (("train", train_real), ("synthetic", synthetic), ("holdout", holdout)):
        if label not in frame.columns:
            raise ValueError(f"efficacy: the {name} rows have no label column {label!r}")
    if text_column is not None and text_column not in train_real.columns:
        raise ValueError(f"efficacy: the train rows have no text column {text_column!r}")
    used_model = "tfidf_logistic" if text_column is not None else model
    result: dict[str, Any] = {
        "model": used_model, "metric": metric, "baseline": None, "augmented": None, "uplift": None,
        "skipped_reason": None, "minority": None,
        "rows": {"train": len(train_real), "synthetic": len(synthetic), "holdout": len(holdout)},
    }
    # Labels compared as text: a label read back from Parquet as int must match one written as str.
    y_train = train_real[label].astype(str).to_numpy()
    y_syn = synthetic[label].astype(str).to_numpy()
    y_hold = holdout[label].astype(str).to_numpy()
    train_counts = pd.Series(y_train).value_counts()
    if len(train_counts) < 2:
        result["skipped_reason"] = f"efficacy skipped: the train rows hold {len(train_counts)} class(es); need 2 or more"
        return result
    # Least frequent train class; ties go to the first in sorted order so the choice is stable.
    minority = sorted(train_counts[train_counts == train_counts.min()].index)[0]
    result["minority"] = minority
    hold_classes = sorted(set(y_hold))
    if len(hold_classes) < 2:
        result["skipped_reason"] = (
            f"efficacy skipped: the holdout holds {len(hold_classes)} class(es) ({', '.join(hold_classes) or 'no rows'});"
            " raise split.holdout or add rows of the other classes"
        )
        return result
    if metric != "balanced_accuracy" and minority not in hold_classes:
        result["skipped_reason"] = (
            f"efficacy skipped: the holdout has no rows of the minority class {minority!r}; raise split.holdout"
        )
        return result
    features = feature_columns(train_real, label)
    if text_column is None and not features:
        result["skipped_reason"] = "efficacy skipped: no feature columns besides the label and platform columns"
        return result
    x_train = _inputs(train_real, features, text_column)
    x_hold = _inputs(holdout, features, text_column)
    x_syn = _inputs(synthetic, features, text_column)

    def fit(x_extra: Any, y_extra: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
        x = pd.concat([x_train, x_extra], ignore_index=True) if len(y_extra) else x_train
        y = np.concatenate([y_train, y_extra]) if len(y_extra) else y_train
        return _fit_predict(build_model(train_real, features, model, text_column), x, y, x_hold)

    base = fit(x_syn.iloc[:0], y_syn[:0])
    aug = fit(x_syn, y_syn)
    baseline, augmented = (_metric(metric, y_hold, *r, minority) for r in (base, aug))
    result.update(baseline=round(baseline, 6), augmented=round(augmented, 6), uplift=round(augmented - baseline, 6))
    result["per_class_recall"] = per_class_recall(y_hold, base[0], aug[0], train_counts)
    result["calibration"] = {"baseline": calibration(y_hold, base[1], base[2], minority),
                             "augmented": calibration(y_hold, aug[1], aug[2], minority)}
    if steps and len(steps) > 1 and "_method" in synthetic.columns:
        # Leave one step out: what the score is without the rows that step made (rows are told apart
        # by `_method`, so two steps running the same method are left out together).
        methods = synthetic["_method"].astype(str).to_numpy()
        ablation = []
        for i, method in enumerate(steps):
            keep = methods != method
            without = _metric(metric, y_hold, *fit(x_syn[keep], y_syn[keep]), minority)
            ablation.append({"step": i, "method": method, "synthetic_rows": int((~keep).sum()),
                             "without": round(without, 6), "contribution": round(augmented - without, 6)})
        result["ablation"] = ablation
    return result

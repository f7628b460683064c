"""Real data for the evaluation tests: scikit-learn's bundled data sets, made imbalanced."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from imblearn.over_sampling import SMOTE
from sklearn.datasets import load_breast_cancer

from augment_jobs.evaluation.split import assign_split


def _smote_rows(train: pd.DataFrame, label: str, ratio: float = 1.0, k: int = 5) -> pd.DataFrame:
    """Only the new rows SMOTE adds to `train` (numeric features), like the platform's synthetic part."""
    features = [c for c in train.columns if c != label and not c.startswith("_")]
    sm = SMOTE(sampling_strategy=ratio, k_neighbors=k, random_state=0)
    x, y = sm.fit_resample(train[features], train[label])
    out = x.iloc[len(train):].copy()
    out[label] = y.iloc[len(train):].to_numpy()
    return out.reset_index(drop=True)


@pytest.fixture(scope="session")
def smote_rows():
    """SMOTE's new rows for a frame: (train, label, ratio=1.0, k=5) -> DataFrame."""
    return _smote_rows


@pytest.fixture(scope="session")
def cancer() -> pd.DataFrame:
    """Breast cancer, malignant (0) cut to 40 rows so it is the minority, with a categorical column."""
    data = load_breast_cancer(as_frame=True)
    df = data.frame.rename(columns=lambda c: c.replace(" ", "_"))
    df = pd.concat([df[df.target == 1], df[df.target == 0].iloc[:40]], ignore_index=True)
    df["size_band"] = pd.cut(df["mean_area"], [0, 400, 700, 1000, np.inf], labels=["s", "m", "l", "xl"]).astype(str)
    df["_id"] = [f"bc{i:04d}" for i in range(len(df))]
    return df


@pytest.fixture(scope="session")
def cancer_split(cancer: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    split, _ = assign_split(cancer["_id"], cancer["target"], 0.3, seed=0)
    return cancer[split == "train"].reset_index(drop=True), cancer[split == "holdout"].reset_index(drop=True)

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


@pytest.fixture(scope="session")
def full_report_input(cancer_split):
    """A ReportInput with every part: tabular rows, checks, efficacy, privacy, images, text, series."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    from augment_jobs.evaluation.efficacy import efficacy
    from augment_jobs.evaluation.privacy import check_privacy, privacy
    from augment_jobs.evaluation.report import ImageSample, ReportInput, SeriesOverlay, TextPair

    train, holdout = cancer_split
    synthetic = _smote_rows(train.drop(columns=["size_band"]), "target", ratio=0.8)
    synthetic["size_band"] = np.where(synthetic["mean_area"] > 700, "l", "m")
    eff = efficacy(train, synthetic, holdout, "target", metric="f1_minority")
    priv = privacy(train, synthetic, holdout, label="target")
    checks = [("schema", True, "every source column present with its type"),
              ("similarity", True, "largest KS statistic 0.21 (limit 0.3)"),
              *check_privacy(priv, max_exact_copies=0, max_close_share=0.05)]
    before = train["target"].astype(str).value_counts().to_dict()
    after = {k: v + int((synthetic["target"].astype(str) == k).sum()) for k, v in before.items()}
    photos = load_sample_images().images
    images = [
        ImageSample(Image.fromarray(photos[0]), boxes=[[120, 60, 420, 300]], box_labels=["temple"], caption="source",
                    synthetic=False),
        ImageSample(Image.fromarray(photos[0][:, ::-1].copy()), boxes=[[220, 60, 520, 300]], box_labels=["temple"],
                    caption="hflip"),
        ImageSample(Image.fromarray(photos[1]), boxes=[[150, 100, 500, 400]], box_labels=["flower"], caption="source",
                    synthetic=False),
        ImageSample(Image.fromarray((photos[1] * 0.7).astype(np.uint8)), boxes=[[150, 100, 500, 400]],
                    box_labels=["flower"], caption="brightness 0.7"),
    ]
    texts = [
        TextPair("The printer stopped working after the update.", "The printer quit working after the upgrade.",
                 label="hardware", method="eda: synonym"),
        TextPair("I cannot log in to my account since yesterday.", "I cannot log in to my own account since yesterday.",
                 label="access", method="eda: insert"),
    ]
    t = np.linspace(0, 6 * np.pi, 200)
    rng = np.random.default_rng(0)
    source = np.sin(t) + 0.1 * t
    series = [SeriesOverlay(source, [source + rng.normal(0, 0.1, t.size) for _ in range(3)], title="sensor-07"),
              SeriesOverlay(np.cos(t), [np.cos(t) * s for s in (0.9, 1.1)], title="sensor-12")]
    return ReportInput(
        dataset="cancer", version="2026-12-02T00-00-00", passed=all(c[1] for c in checks), checks=checks,
        label="target", counts_before=before, counts_after=after, real=train, synthetic=synthetic,
        efficacy=eff, privacy=priv, images=images, text_pairs=texts, series=series,
        skipped={"missing features": 3}, notes=["split: class 9 has 2 rows, too few to hold out 0.2 of them; all stay train"],
        max_columns=8,
    )

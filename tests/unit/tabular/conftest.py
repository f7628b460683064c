"""Small imbalanced tables and a context factory for the tabular method tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from augment_jobs.config import DatasetConfig
from augment_jobs.registry import AugmentContext

CONSTRAINTS = [
    {"type": "range", "column": "amount", "low": 0},
    {"type": "inequality", "low": "opened_at", "high": "closed_at"},
    {"type": "fixed_combinations", "columns": ["country", "currency"]},
]


def make_frame(n: int = 300, seed: int = 0, categorical: bool = True) -> pd.DataFrame:
    """Binary, ~15% minority, overlapping classes; platform columns as the frame pipeline adds them."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.15).astype(np.int64)
    df = pd.DataFrame({
        "amount": np.abs(rng.normal(100, 30, n)) + 40 * y,
        "score": rng.normal(0, 1, n) + y,
        "age": rng.integers(18, 80, n),
        "opened_at": rng.normal(1.7e18, 1e15, n),  # the pipeline hands datetimes over as float ns
    })
    df["closed_at"] = df["opened_at"] + np.abs(rng.normal(1e14, 3e13, n))
    if categorical:
        df["country"] = rng.choice(["DE", "FR", "IT"], n)
        df["currency"] = df["country"].map({"DE": "EUR", "FR": "EUR", "IT": "EUR2"})
    df["label"] = y
    df["_id"] = [f"part-0.parquet#{i}" for i in range(n)]
    df["_synthetic"] = False
    df["_source_ids"] = [[i] for i in df["_id"]]
    df["_method"] = "source"
    df["_params"] = None
    return df


def make_ctx(constraints: list[dict[str, Any]] | None = None, *, seed: int = 7, step: int = 0,
             artifact_uri: str | None = None) -> AugmentContext:
    cfg = DatasetConfig(
        dataset="unit", modality="tabular", seed=seed, source={"uri": "mem://"}, label="label",
        augment=[{"method": "smote"}], publish={"uri": "mem://out"}, constraints=constraints or [],
    )
    return AugmentContext(cfg=cfg, ds="2026-01-01", step=step, artifact_uri=artifact_uri)


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture(name="make_frame")
def _make_frame_fixture() -> Any:
    return make_frame


@pytest.fixture(name="make_ctx")
def _make_ctx_fixture() -> Any:
    return make_ctx


@pytest.fixture
def constraints() -> list[dict[str, Any]]:
    return [dict(c) for c in CONSTRAINTS]

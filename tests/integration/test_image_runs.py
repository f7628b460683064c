"""The image demo config end to end through the CLI: WebDataset shards published with a manifest,
read back by the torch reader and stock webdataset, traced by `augment lineage`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from augment_jobs.cli import main
from augment_jobs.config import load_config
from augment_jobs.image.demo import write_raw
from augment_jobs.reader import open_dataset

REPO = Path(__file__).resolve().parents[2]
DS = "2026-01-01"
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_shapes_publish_read_and_trace(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch
    import webdataset

    config = REPO / "configs" / "shapes.yaml"
    cfg = load_config(config)
    write_raw(cfg.source_uri(DS), DS)
    assert main(["run", str(config), "--date", DS]) == 0
    ds = open_dataset(cfg.publish_uri())
    m = ds.manifest
    assert m["format"] == "webdataset" and m["gate"]["passed"] and ds.verify()
    assert all(f["path"].startswith("shard-") and f["path"].endswith(".tar") for f in m["files"])
    assert m["counts"]["triangle"]["synthetic"] > 0

    # stock webdataset reads the shards; every sample carries the json fields of docs/store.md
    samples = list(webdataset.WebDataset(ds.files, shardshuffle=False, empty_check=False))
    assert len(samples) == m["rows"]
    assert len({s["__key__"] for s in samples}) == len(samples)
    meta = json.loads(samples[-1]["json"])
    for key in ("label", "boxes", "box_labels", "source_key", "synthetic", "method", "params", "seed"):
        assert key in meta, key
    synthetic = next(json.loads(s["json"]) | {"__key__": s["__key__"]} for s in samples if json.loads(s["json"])["synthetic"])

    # the torch reader across 2 DataLoader workers sees every sample exactly once
    loader = torch.utils.data.DataLoader(ds.torch(shuffle=False), batch_size=None, num_workers=2)
    keys = [item["__key__"] for item in loader]
    assert sorted(keys) == sorted(s["__key__"] for s in samples)

    capsys.readouterr()
    assert main(["lineage", cfg.publish_uri(), ds.version, synthetic["__key__"], "--json"]) == 0
    trace = json.loads(capsys.readouterr().out)
    assert trace["source_key"] == synthetic["source_key"] and trace["mlflow"]["run_id"] == m["mlflow"]["run_id"]

    assert main(["run", str(config), "--date", DS]) == 0  # the same run again: a no-op
    assert open_dataset(cfg.publish_uri()).version == ds.version


def test_shapes_on_s3(s3_store: str) -> None:
    import torch

    config = REPO / "configs" / "shapes.yaml"
    cfg = load_config(config)
    assert cfg.publish_uri().startswith("s3://")
    write_raw(cfg.source_uri(DS), DS)
    assert main(["run", str(config), "--date", DS]) == 0
    ds = open_dataset(cfg.publish_uri())
    assert ds.verify() and all(u.startswith("s3://") for u in ds.files)
    loader = torch.utils.data.DataLoader(ds.torch(shuffle=True, seed=1), batch_size=None, num_workers=0)
    assert sum(1 for _ in loader) == ds.manifest["rows"]

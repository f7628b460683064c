"""The streaming reader over versions the platform publishes (the credit_default demo config
through the CLI), on a local store and on S3 (moto's server), with DataLoader workers and the
local cache."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest
import torch
import yaml

from augment_jobs.cli import main
from augment_jobs.errors import AugmentError
from augment_jobs.reader import open_dataset
from augment_jobs.store import store_for
from augment_jobs.streaming import Cache
from augment_jobs.tabular.demo import write_credit

REPO = Path(__file__).resolve().parents[2]
DS = "2026-11-01"
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def publish_credit(tmp_path: Path, store_root: str, rows: int = 3000) -> str:
    """Run the demo config with 700-row files; returns the publish URI."""
    cfg = yaml.safe_load((REPO / "configs" / "credit_default.yaml").read_text())
    cfg["publish"]["rows_per_file"] = 700
    (tmp_path / "configs").mkdir()
    (tmp_path / "expectations").mkdir()
    shutil.copy(REPO / "expectations" / "credit_default.json", tmp_path / "expectations")
    config = tmp_path / "configs" / "credit_default.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    write_credit(f"{store_root}/raw/credit_default/{DS}", DS, rows=rows)
    assert main(["run", str(config), "--date", DS]) == 0
    return f"{store_root}/published/credit_default"


def test_streams_what_to_pandas_reads_over_ranks_and_workers(store: Path, tmp_path: Path, monkeypatch) -> None:
    uri = publish_credit(tmp_path, str(store))
    ds = open_dataset(uri)
    assert len(ds.files) > 2
    df = ds.to_pandas()
    streamed = pa.Table.from_batches(list(ds.iter_batches(batch_size=500))).to_pandas()
    assert streamed.equals(df)
    real = pa.Table.from_batches(list(ds.iter_batches(batch_size=500, columns=["_id"], real_only=True)))
    assert real.column("_id").to_pylist() == ds.to_pandas(real_only=True)["_id"].tolist()

    seen, counts = Counter(), set()
    for rank in range(3):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "3")
        n = 0
        for batch in open_dataset(uri).torch(batch_size=64, shuffle=True, seed=1).loader(num_workers=2):
            assert batch["limit_bal"].dtype == torch.float64 and batch["_synthetic"].dtype == torch.bool
            assert isinstance(batch["_source_ids"], list)
            seen.update(i for i, p in zip(batch["_id"], batch["_pad"].tolist(), strict=True) if not p)
            n += len(batch["_id"])
        counts.add(n)
    assert len(counts) == 1 and set(seen.values()) == {1} and set(seen) == set(df["_id"])


def test_s3_with_workers_and_a_bounded_cache(s3_store: str, tmp_path: Path, monkeypatch) -> None:
    uri = publish_credit(tmp_path, s3_store, rows=2000)
    cache = tmp_path / "cache"
    ds = open_dataset(uri, cache_dir=str(cache), cache_limit=10 << 20)
    train = ds.torch(batch_size=100, shuffle=True, seed=4)
    ids = [i for b in train.loader(num_workers=2) for i in b["_id"]]
    assert sorted(ids) == sorted(ds.to_pandas()["_id"])
    assert {p.name for p in cache.iterdir()} == {r.sha256 for r in ds.refs}

    # from the cache alone: the data files are gone from S3 and the second epoch still reads
    store = store_for(uri)
    for u in ds.files:
        store.delete(u)
    train.set_epoch(1)
    assert sorted(i for b in train.loader(num_workers=2) for i in b["_id"]) == sorted(ids)

    small = tmp_path / "small"
    limit = max(r.bytes for r in ds.refs) + 1  # room for one file
    with pytest.raises(AugmentError, match=r"part-\d+\.parquet: listed in the manifest but missing"):
        list(open_dataset(uri, cache_dir=str(small), cache_limit=limit).torch())  # not cached there, not on S3
    tight = Cache(str(small), limit)
    for r in ds.refs:  # the bound holds while files come and go
        tight.put(r.sha256, (cache / r.sha256).read_bytes())
        assert sum(p.stat().st_size for p in small.iterdir()) <= limit and tight.get(r.sha256) is not None

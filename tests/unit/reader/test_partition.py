"""Exact partition over simulated ranks (RANK / WORLD_SIZE) and real DataLoader workers: every
sample once per epoch, equal counts per rank, pads marked; one big shard feeds every worker."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch
from reader_helpers import publish_parquet, publish_tars

from augment_jobs.reader import open_dataset

SIZES = [10, 3, 25]  # 38 samples: unequal files, 38 % 3 == 2


@pytest.fixture(scope="module", params=["parquet", "webdataset"])
def version(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    uri = str(tmp_path_factory.mktemp(request.param) / "ds")
    (publish_parquet if request.param == "parquet" else publish_tars)(uri, SIZES)
    return uri, request.param


def key(sample: dict) -> list[str]:
    k = sample.get("_id", sample.get("__key__"))
    return k if isinstance(k, list) else [k]


def pads(sample: dict) -> list[bool]:
    p = sample["_pad"]
    return [bool(x) for x in p.reshape(-1).tolist()] if isinstance(p, torch.Tensor) else [bool(p)]


def read_rank(ds, workers: int) -> list[tuple[str, bool]]:
    out = []
    for item in ds.loader(num_workers=workers):
        out += list(zip(key(item), pads(item), strict=True))
    return out


def all_keys(uri: str) -> set[str]:
    ds = open_dataset(uri)
    return {k for batch in ds.iter_batches(batch_size=100, columns=["__key__"] if ds.format == "webdataset" else ["_id"])
            for k in (batch.column("_id").to_pylist() if ds.format == "parquet" else [s["__key__"] for s in batch])}


@pytest.mark.parametrize("world", [1, 2, 3])
@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("drop_last", [False, True])
def test_every_sample_once_and_equal_counts(version, world, workers, drop_last, monkeypatch) -> None:
    uri, _ = version
    everything = all_keys(uri)
    n = len(everything)
    per_rank = []
    for rank in range(world):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", str(world))
        ds = open_dataset(uri).torch(batch_size=4 if workers else None, shuffle=True, seed=5, drop_last=drop_last)
        per_rank.append(read_rank(ds, workers))
        assert len(ds) == -(-len(per_rank[-1]) // (4 if workers else 1))
    counts = {len(r) for r in per_rank}
    assert len(counts) == 1, counts
    real = Counter(k for r in per_rank for k, pad in r if not pad)
    assert set(real.values()) <= {1}
    if drop_last:
        assert counts == {n // world} and all(not p for r in per_rank for _, p in r)
        assert len(real) == n - n % world and set(real) <= everything
    else:
        assert set(real) == everything and counts == {-(-n // world)}
        padded = [k for r in per_rank for k, p in r if p]
        assert len(padded) == -n % world and set(padded) <= everything


def test_one_big_shard_feeds_every_worker(tmp_path: Path) -> None:
    uri = str(tmp_path / "one")
    publish_parquet(uri, [37])
    keys = [k for k, _ in read_rank(open_dataset(uri).torch(), workers=2)]
    # round robin over two workers, each with its own contiguous half of the one file
    assert keys[:4] == ["r0", "r18", "r1", "r19"] and sorted(keys) == sorted(f"r{i}" for i in range(37))


def test_order_is_the_same_for_any_world_size_and_changes_with_epoch(version, monkeypatch) -> None:
    uri, _ = version

    def order(world: int, epoch: int) -> list[str]:
        seq = []
        for rank in range(world):
            monkeypatch.setenv("RANK", str(rank))
            monkeypatch.setenv("WORLD_SIZE", str(world))
            ds = open_dataset(uri).torch(shuffle=True, seed=11)
            ds.set_epoch(epoch)
            seq += [k for item in ds for k, p in zip(key(item), pads(item), strict=True) if not p]
        return seq

    one = order(1, 0)
    assert order(2, 0) == one == order(3, 0) == order(1, 0)
    assert sorted(one) == sorted(all_keys(uri))
    assert order(1, 1) != one and sorted(order(1, 1)) == sorted(one)
    plain = [k for item in open_dataset(uri).torch() for k in key(item)]
    assert one != plain

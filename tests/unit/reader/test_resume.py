"""Mid-epoch resume: the samples not read yet that epoch, exactly, also with another world size."""

from __future__ import annotations

from collections import Counter

import pytest
from reader_helpers import publish_parquet, publish_tars
from test_partition import SIZES, all_keys, key, pads

from augment_jobs.reader import open_dataset


@pytest.fixture(scope="module", params=["parquet", "webdataset"])
def uri(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    uri = str(tmp_path_factory.mktemp(request.param) / "ds")
    (publish_parquet if request.param == "parquet" else publish_tars)(uri, SIZES)
    return uri


def as_rank(monkeypatch: pytest.MonkeyPatch, rank: int, world: int) -> None:
    monkeypatch.setenv("RANK", str(rank))
    monkeypatch.setenv("WORLD_SIZE", str(world))


def take(loader, batches: int | None) -> list[tuple[str, bool]]:
    out = []
    for i, item in enumerate(loader):
        out += list(zip(key(item), pads(item), strict=True))
        if batches is not None and i + 1 == batches:
            break
    return out


def first_part(uri: str, monkeypatch, world: int, workers: int, batches: int) -> tuple[dict, set[str]]:
    """Every rank reads `batches` batches of epoch 1; rank 0's state and what all ranks read."""
    read, states = set(), []
    for rank in range(world):
        as_rank(monkeypatch, rank, world)
        ds = open_dataset(uri).torch(batch_size=3, shuffle=True, seed=7)
        ds.set_epoch(1)
        read |= {k for k, p in take(ds.loader(num_workers=workers), batches) if not p}
        states.append(ds.state_dict())
    assert all(s == states[0] for s in states)  # every rank records the same progress
    return states[0], read


@pytest.mark.parametrize(("workers", "new_world", "new_workers"), [(2, 2, 2), (0, 2, 0), (2, 3, 0), (0, 3, 2)])
def test_resume_reads_exactly_the_rest(uri, monkeypatch, workers, new_world, new_workers) -> None:
    state, read = first_part(uri, monkeypatch, world=2, workers=workers, batches=2)
    assert len(read) == 2 * 2 * 3  # 2 ranks x 2 batches x 3 samples
    everything = all_keys(uri)
    rest, counts = Counter(), set()
    for rank in range(new_world):
        as_rank(monkeypatch, rank, new_world)
        ds = open_dataset(uri).torch(batch_size=3, shuffle=True, seed=7)
        ds.load_state_dict(state)
        ds.set_epoch(1)  # the usual loop calls it: the same epoch keeps the loaded state
        got = take(ds.loader(num_workers=new_workers), None)
        counts.add(len(got))
        rest.update(k for k, p in got if not p)
    assert len(counts) == 1 and set(rest.values()) == {1}
    assert set(rest) == everything - read and not set(rest) & read


def test_same_world_size_continues_each_rank_where_it_stopped(uri, monkeypatch) -> None:
    state, _ = first_part(uri, monkeypatch, world=2, workers=2, batches=2)
    for rank in range(2):
        as_rank(monkeypatch, rank, 2)
        whole = open_dataset(uri).torch(batch_size=3, shuffle=True, seed=7)
        whole.set_epoch(1)
        uninterrupted = take(whole.loader(num_workers=2), None)
        resumed = open_dataset(uri).torch(batch_size=3, shuffle=True, seed=7)
        resumed.load_state_dict(state)
        assert sorted(take(resumed.loader(num_workers=2), None)) == sorted(uninterrupted[2 * 3:])


def test_state_in_process_and_next_epoch_starts_afresh(uri, monkeypatch) -> None:
    as_rank(monkeypatch, 0, 1)
    ds = open_dataset(uri).torch(shuffle=True, seed=2)
    it = iter(ds)
    head = [next(it) for _ in range(5)]
    state = ds.state_dict()
    assert state["epoch"] == 0 and sum(b - a for a, b in state["consumed"]) == 5
    again = open_dataset(uri).torch(shuffle=True, seed=2)
    again.load_state_dict(state)
    tail = list(again)
    assert [k for s in head + tail for k in key(s)] == [k for s in ds for k in key(s)]
    again.set_epoch(1)
    assert len(list(again)) == sum(SIZES)

"""The torch reader: every sample once across DataLoader workers and ranks; variable boxes kept."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from image_helpers import image_cfg, make_plan, run_all, small_source

from augment_jobs.image.torch_data import WebDatasetShards
from augment_jobs.store import join


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], int]:
    root = tmp_path_factory.mktemp("reader")
    cfg = image_cfg(small_source(root / "src", n=10), root, params={"copies_per_image": 1}, max_samples=3)
    plan = make_plan(cfg, root)
    results = run_all(cfg, plan)
    urls = [join(plan.data_uri, f["path"]) for r in results for f in r.files]
    return urls, sum(f["rows"] for r in results for f in r.files)


def test_two_workers_see_every_sample_once(shards) -> None:
    urls, total = shards
    loader = torch.utils.data.DataLoader(WebDatasetShards(urls, shuffle=False, batch_size=4), batch_size=None,
                                         num_workers=2)
    keys = Counter()
    for batch in loader:
        keys.update(batch["__key__"])
        assert isinstance(batch["boxes"], list) and all(b.shape[1] == 4 for b in batch["boxes"])
        img = batch["image"]
        assert all(i.dtype == torch.uint8 and i.shape[0] == 3 for i in (img if isinstance(img, list) else [*img]))
    assert len(keys) == total and set(keys.values()) == {1}


def test_ranks_partition_the_shards(shards, monkeypatch) -> None:
    urls, total = shards
    seen = Counter()
    for rank in range(2):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        ds = WebDatasetShards(urls, shuffle=True, seed=4)
        seen.update(s["__key__"] for s in ds)
    assert len(seen) == total and set(seen.values()) == {1}


def test_shuffle_is_seeded_and_changes_with_epoch(shards) -> None:
    urls, _ = shards
    ds = WebDatasetShards(urls, shuffle=8, seed=1)
    a = [s["__key__"] for s in ds]
    b = [s["__key__"] for s in ds]
    ds.set_epoch(1)
    c = [s["__key__"] for s in ds]
    plain = [s["__key__"] for s in WebDatasetShards(urls)]
    assert a == b and sorted(a) == sorted(plain) and a != plain and c != a

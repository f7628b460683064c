"""A torch IterableDataset over published WebDataset shards (local paths or s3:// URIs).

    ds = WebDatasetShards(urls, shuffle=1000, batch_size=32, seed=0)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=4)

Shards are split across distributed ranks (torch.distributed when initialised, else the RANK /
WORLD_SIZE environment variables) and then across DataLoader workers, so every sample is seen once
per epoch across the whole job. With shuffling, the shard order is shuffled with the same seed on
every rank before the split (the split stays a partition), and samples go through a per-worker
shuffle buffer. Call `set_epoch(n)` to reshuffle per epoch. Batches keep variable-length boxes as
lists (`collate`). Ranks may see unequal sample counts when shards differ in size.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from augment_jobs.image.io import iter_tar
from augment_jobs.rng import derive_seed

DEFAULT_BUFFER = 1000


def rank_world() -> tuple[int, int]:
    """(rank, world size): torch.distributed if initialised, else RANK / WORLD_SIZE, else (0, 1)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def decode_sample(key: str, parts: dict[str, bytes]) -> dict[str, Any]:
    """WebDataset members → {"__key__", "image" (uint8 [3, H, W]), "boxes" (float [n, 4]), ...}."""
    from PIL import Image

    img = next((parts[e] for e in ("jpg", "jpeg", "png") if e in parts), None)
    if img is None:
        raise ValueError(f"sample {key!r} has no jpg/png member")
    arr = np.asarray(Image.open(io.BytesIO(img)).convert("RGB"))
    meta = json.loads(parts["json"]) if "json" in parts else {}
    boxes = torch.tensor(meta.get("boxes") or [], dtype=torch.float32).reshape(-1, 4)
    return {
        "__key__": key, "image": torch.from_numpy(arr.copy()).permute(2, 0, 1), "boxes": boxes,
        "box_labels": list(meta.get("box_labels") or []), "label": meta.get("label"), "json": meta,
    }


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch samples: images stacked when they share a size (else a list); boxes stay a list."""
    out: dict[str, Any] = {k: [s[k] for s in samples] for k in samples[0]}
    shapes = {tuple(s["image"].shape) for s in samples}
    if len(shapes) == 1:
        out["image"] = torch.stack(out["image"])
    return out


class WebDatasetShards(IterableDataset):
    """Samples (or batches, with `batch_size`) from WebDataset tars, split over ranks and workers."""

    def __init__(self, urls: list[str] | str, shuffle: bool | int = False, batch_size: int | None = None,
                 seed: int = 0) -> None:
        super().__init__()
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        self.buffer = DEFAULT_BUFFER if shuffle is True else int(shuffle or 0)
        self.shuffle = bool(shuffle)
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def my_shards(self) -> list[str]:
        """The shards this rank/worker reads."""
        rank, world = rank_world()
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        urls = list(self.urls)
        if self.shuffle:
            np.random.default_rng(derive_seed(self.seed, "shards", self.epoch)).shuffle(urls)
        return urls[rank * nw + wid::world * nw]

    def _samples(self) -> Iterator[dict[str, Any]]:
        shards = self.my_shards()
        if not self.shuffle:
            for url in shards:
                for key, parts in iter_tar(url):
                    yield decode_sample(key, parts)
            return
        rank, _ = rank_world()
        info = get_worker_info()
        rng = np.random.default_rng(derive_seed(self.seed, "buffer", self.epoch, rank, info.id if info else 0))
        buf: list[tuple[str, dict[str, bytes]]] = []
        for url in shards:
            for item in iter_tar(url):
                buf.append(item)
                if len(buf) >= max(1, self.buffer):
                    i = int(rng.integers(len(buf)))
                    buf[i], buf[-1] = buf[-1], buf[i]
                    yield decode_sample(*buf.pop())
        rng.shuffle(buf)
        for item in buf:
            yield decode_sample(*item)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if not self.batch_size:
            yield from self._samples()
            return
        batch: list[dict[str, Any]] = []
        for s in self._samples():
            batch.append(s)
            if len(batch) == self.batch_size:
                yield collate(batch)
                batch = []
        if batch:
            yield collate(batch)

"""WebDataset samples for torch: decoding, batching, and the shard-level reader.

`open_dataset(uri).torch()` (docs/reader.md) reads published versions through
`augment_jobs.torch_stream` with exact per-rank counts, resume and sha256 checks; this module gives
it the WebDataset decoding (`WebDatasetChunks`). `WebDatasetShards` below reads any list of tar
URLs without a manifest (no hashes, no row counts), splitting whole shards:

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
import tarfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import IterableDataset, get_worker_info

from augment_jobs.image.io import decode_rgb
from augment_jobs.modality import SampleCodec
from augment_jobs.rng import derive_seed
from augment_jobs.samples import iter_tar, member_key
from augment_jobs.streaming import Chunks, CorruptFile, FileRef, Segment, topology

DEFAULT_BUFFER = 1000
COLUMNS = ("__key__", "image", "boxes", "box_labels", "label", "json", "mask", "keypoints")  # what decode_sample gives


def rank_world() -> tuple[int, int]:
    """(rank, world size): torch.distributed if initialised, else RANK / WORLD_SIZE, else (0, 1)."""
    return topology()


def decode_sample(key: str, parts: dict[str, bytes], columns: tuple[str, ...] = COLUMNS) -> dict[str, Any]:
    """WebDataset members → {"__key__", "image" (uint8 [3, H, W]), "boxes" (float [n, 4]), "mask"
    (uint8 [H, W] class ids, or None), "keypoints" (float [k, 3]), ...}; only `columns` are built
    (an image not asked for is not decoded)."""
    out: dict[str, Any] = {"__key__": key}
    if "image" in columns:
        img = next((parts[e] for e in ("jpg", "jpeg", "png") if e in parts), None)
        if img is None:
            raise ValueError(f"sample {key!r} has no jpg/png member")
        arr = decode_rgb(img)
        # one copy into channels-first contiguous memory: batches then stack with a plain memcpy
        out["image"] = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
    if "mask" in columns:
        m = parts.get("mask.png")
        out["mask"] = None if m is None else torch.from_numpy(np.array(Image.open(io.BytesIO(m)), dtype=np.uint8))
    if len(columns) > 2 or "image" not in columns:
        meta = json.loads(parts["json"]) if "json" in parts else {}
        fields = {
            "boxes": lambda: torch.tensor(meta.get("boxes") or [], dtype=torch.float32).reshape(-1, 4),
            "box_labels": lambda: list(meta.get("box_labels") or []), "label": lambda: meta.get("label"),
            "json": lambda: meta,
            "keypoints": lambda: torch.tensor(meta.get("keypoints") or [], dtype=torch.float32).reshape(-1, 3),
        }
        out.update({c: fields[c]() for c in columns if c in fields})
    return out


class TensorViews(list):
    """A list of tensors kept as views of one flat tensor, and pickled as that tensor and the split
    sizes: a batch crossing from a DataLoader worker then moves one block of shared memory instead
    of one per sample (each costs a shared-memory segment and a file descriptor)."""

    def __init__(self, tensors: list[torch.Tensor]) -> None:
        self.sizes = [len(t) for t in tensors]
        self.flat = torch.from_numpy(np.concatenate([t.numpy() for t in tensors]))
        super().__init__(torch.split(self.flat, self.sizes))

    def __reduce__(self) -> tuple[Any, ...]:
        return _split_views, (self.flat, self.sizes)


def _split_views(flat: torch.Tensor, sizes: list[int]) -> list[torch.Tensor]:
    return list(torch.split(flat, sizes))


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch samples: images stacked when they share a size (else a list); boxes stay a list;
    `_pad` (when present) a bool tensor."""
    out: dict[str, Any] = {k: [s[k] for s in samples] for k in samples[0]}
    if "image" in out and len({tuple(i.shape) for i in out["image"]}) == 1:
        # numpy's stack, a plain copy: torch.stack of uint8 goes through intra-op threads, which
        # on a busy machine cost a thousand times the copy
        out["image"] = torch.from_numpy(np.stack([i.numpy() for i in out["image"]]))
    if "boxes" in out and len(samples) > 1:
        out["boxes"] = TensorViews(out["boxes"])
    if "mask" in out and all(m is not None for m in out["mask"]) and len({tuple(m.shape) for m in out["mask"]}) == 1:
        out["mask"] = torch.from_numpy(np.stack([m.numpy() for m in out["mask"]]))
    if "_pad" in out:
        out["_pad"] = torch.tensor(out["_pad"], dtype=torch.bool)
    return out


def tar_samples(data: Any, where: str) -> list[tuple[str, dict[str, bytes]]]:
    """(key, {ext: bytes}) for every sample of a tar held in memory, grouped as `iter_tar` groups."""
    out: list[tuple[str, dict[str, bytes]]] = []
    view = memoryview(data)
    try:
        with tarfile.open(fileobj=io.BytesIO(view), mode="r:") as tf:
            for m in tf:
                if not m.isfile():
                    continue
                k, ext = member_key(m.name)
                if not out or out[-1][0] != k:
                    out.append((k, {}))
                out[-1][1][ext.lower()] = view[m.offset_data:m.offset_data + m.size].tobytes()
    except tarfile.TarError as e:
        raise CorruptFile(f"{where}: not a readable tar ({e})") from None
    return out


CODEC = SampleCodec(COLUMNS, decode_sample)


class WebDatasetChunks(Chunks):
    """WebDataset shards decoded from verified bytes into lists of sample dicts with `_pad`."""

    def __init__(self, columns: tuple[str, ...] = COLUMNS, codec: SampleCodec = CODEC) -> None:
        self.columns = columns
        self.codec = codec

    def decode(self, data: Any, ref: FileRef, seg: Segment) -> list[dict[str, Any]]:
        items = tar_samples(data, ref.uri)
        if len(items) != ref.rows:
            raise CorruptFile(f"{ref.uri}: {len(items)} samples, the manifest says {ref.rows}")
        return [self.codec.decode(*items[r], self.columns) | {"_pad": bool(p)}
                for r, p in zip(seg.rows.tolist(), seg.pad.tolist(), strict=True)]

    def length(self, chunk: list[dict[str, Any]]) -> int:
        return len(chunk)

    def concat(self, chunks: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
        return [s for c in chunks for s in c]

    def slice(self, chunk: list[dict[str, Any]], start: int, stop: int) -> list[dict[str, Any]]:
        return chunk[start:stop]

    def repeat_as_pad(self, chunk: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
        return [chunk[-1] | {"_pad": True} for _ in range(n)]


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

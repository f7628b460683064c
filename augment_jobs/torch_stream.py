"""The torch side of the streaming reader: `StreamingDataset` (what `PublishedDataset.torch()`
returns) and `ResumableLoader` (what `StreamingDataset.loader()` returns). The partition, order and
resume model is described in `augment_jobs.streaming`; the user guide is docs/reader.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from augment_jobs.errors import AugmentError
from augment_jobs.streaming import (
    Cache,
    Chunks,
    FileRef,
    decoded_segments,
    epoch_order,
    from_ranges,
    pass_positions,
    process_store,
    rank_span,
    rebatch,
    round_robin_taken,
    segments,
    substitute_skipped,
    to_ranges,
    topology,
    worker,
    worker_items,
)

STATE_FORMAT = 1


@dataclass(frozen=True)
class Source:
    """Where a pass reads from: picklable, so DataLoader workers rebuild their own store client."""

    uri: str
    version: str
    files: tuple[FileRef, ...]
    prefetch: int = 2
    cache_dir: str | None = None
    cache_limit: int = 0

    @property
    def rows(self) -> list[int]:
        return [f.rows for f in self.files]

    @property
    def total_rows(self) -> int:
        return sum(f.rows for f in self.files)

    def cache(self) -> Cache | None:
        return Cache(self.cache_dir, self.cache_limit) if self.cache_dir and self.cache_limit > 0 else None


def arrow_to_torch(table: Any) -> dict[str, Any]:
    """Columns → tensors (numeric and bool without nulls; ints with nulls become float NaN) or lists."""
    import pyarrow as pa
    import pyarrow.types as pt

    out: dict[str, Any] = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        t = col.type
        if pt.is_integer(t) or pt.is_floating(t) or (pt.is_boolean(t) and col.null_count == 0):
            arr = col.to_numpy() if col.num_chunks == 1 and col.null_count == 0 else \
                pa.chunked_array(col.chunks, t).to_numpy()
            out[name] = torch.from_numpy(np.array(arr, copy=not arr.flags.writeable))
        else:
            out[name] = col.to_pylist()
    return out


class StreamingDataset(IterableDataset):
    """Samples (or batches) of one published version, split exactly over ranks and DataLoader
    workers, in a (seed, epoch) order, resumable mid-epoch; see docs/reader.md."""

    def __init__(self, source: Source, chunks: Chunks, *, kind: str, batch_size: int | None = None,
                 shuffle: bool = False, seed: int = 0, drop_last: bool = False, on_corrupt: str = "raise",
                 transform: Callable[[Any, int], Any] | None = None, transform_on: str = "cpu") -> None:
        super().__init__()
        if batch_size is not None and (isinstance(batch_size, bool) or int(batch_size) < 1):
            raise AugmentError(f"batch_size={batch_size!r}: give a positive number of samples, or None for single samples")
        if on_corrupt not in ("raise", "skip"):
            raise AugmentError(f"on_corrupt={on_corrupt!r}: use 'raise' or 'skip'")
        self.source, self.chunks, self.kind = source, chunks, kind
        if kind == "webdataset":  # imported here, so forked DataLoader workers start with PIL loaded
            import augment_jobs.image.torch_data  # noqa: F401
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle, self.seed, self.drop_last, self.on_corrupt = bool(shuffle), int(seed), bool(drop_last), on_corrupt
        #: applied to every item with the epoch (online augmentation); "cuda": by `loader()`, on the GPU
        self.transform, self.transform_on = transform, transform_on
        self.epoch = 0
        self._resume: dict[str, Any] | None = None  # a loaded state, until a pass starts from it
        self._pass: dict[str, Any] | None = None  # the pass in progress, as this process counts it
        self.skipped: list[str] = []  # files skipped as corrupt by passes run in this process

    # --- epochs and state --------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Use the order of `epoch` from the next pass on (a loaded state for another epoch is dropped)."""
        self.epoch = int(epoch)
        if self._resume is not None and self._resume["epoch"] != self.epoch:
            self._resume = None

    def state_dict(self, batches_seen: int | None = None, num_workers: int | None = None) -> dict[str, Any]:
        """Where this epoch stands: the positions of the epoch order consumed so far, for every rank.

        Counted automatically when iterating the dataset in this process or through `loader()`;
        with a plain DataLoader with workers pass `batches_seen` (items this rank received this
        pass) and `num_workers`. Assumes every rank received as many items (a synchronous job).
        """
        n = self.source.total_rows
        p = self._pass if self._pass is not None and self._pass["epoch"] == self.epoch else None
        base = p["base"] if p is not None else self._base_ranges()
        seen = batches_seen if batches_seen is not None else (p["seen"] if p is not None else 0)
        mask = from_ranges(base, n)
        if seen:
            world = p["world"] if p is not None else topology()[1]
            workers = num_workers or (p["workers"] if p is not None else 1)
            remaining = np.flatnonzero(~mask)
            item = self.batch_size or 1
            for rank in range(world):
                span = rank_span(len(remaining), world, rank, self.drop_last)
                runs = worker_items(span.length, item, workers)
                for (first, _), taken in zip(runs, round_robin_taken(seen, [c for _, c in runs]), strict=True):
                    pos, pad = pass_positions(remaining, span, first * item, min((first + taken) * item, span.length))
                    mask[pos[~pad]] = True
        return {"format": STATE_FORMAT, "uri": self.source.uri, "version": self.source.version, "seed": self.seed,
                "shuffle": self.shuffle, "rows": n, "epoch": self.epoch, "consumed": to_ranges(mask)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from `state`: the next pass yields exactly the samples of its epoch not consumed
        yet, split over the ranks and workers there are now."""
        mine = {"version": self.source.version, "seed": self.seed, "shuffle": self.shuffle, "rows": self.source.total_rows}
        theirs = {k: state.get(k) for k in mine}
        if state.get("format") != STATE_FORMAT or theirs != mine:
            diff = ", ".join(f"{k} {theirs[k]!r} (here {mine[k]!r})" for k in mine if theirs[k] != mine[k])
            raise AugmentError(f"load_state_dict: the state was saved for another reader ({diff or 'unknown format'}); "
                               "open the same version with the same seed and shuffle to resume")
        self.epoch = int(state["epoch"])
        self._resume = {"epoch": self.epoch, "consumed": [list(r) for r in state["consumed"]]}
        self._pass = None

    def _base_ranges(self) -> list[list[int]]:
        r = self._resume
        return r["consumed"] if r is not None and r["epoch"] == self.epoch else []

    def _begin_pass(self, workers: int) -> list[list[int]]:
        """Called in the process that counts: snapshot what the pass starts from."""
        base = self._base_ranges()
        self._pass = {"epoch": self.epoch, "base": base, "world": topology()[1], "workers": workers, "seen": 0}
        return base

    # --- iteration ----------------------------------------------------------------------------
    def loader(self, num_workers: int = 0, **kwargs: Any) -> ResumableLoader:
        """A DataLoader over this dataset that counts what it delivers, so `state_dict()` is exact."""
        return ResumableLoader(self, num_workers=num_workers, **kwargs)

    def __iter__(self) -> Iterator[Any]:
        counting = get_worker_info() is None
        if counting:
            base = self._begin_pass(1)
            self._resume = None  # this pass starts from it; the next pass of the epoch starts afresh
        else:
            base = self._base_ranges()
        in_pass = self.transform is not None and self.transform_on != "cuda"
        for item in self._items(base):
            if counting:
                self._pass["seen"] += 1
            yield self.transform(item, self.epoch) if in_pass else item

    def augment(self, item: Any) -> Any:
        """Apply the dataset's transform (online augmentation) to an item on its device, for the
        current epoch: what `loader()` does with `augment_on="cuda"` after moving a batch to the GPU."""
        return item if self.transform is None else self.transform(item, self.epoch)

    def _items(self, base: list[list[int]]) -> Iterator[Any]:
        rank, world = topology()
        wid, nw = worker()
        rows = self.source.rows
        order = epoch_order(rows, self.seed, self.epoch, self.shuffle)
        remaining = np.flatnonzero(~from_ranges(base, len(order)))
        span = rank_span(len(remaining), world, rank, self.drop_last)
        item = self.batch_size or 1
        first, count = worker_items(span.length, item, nw)[wid]
        pos, pad = pass_positions(remaining, span, first * item, min((first + count) * item, span.length))
        offsets = np.concatenate([[0], np.cumsum(rows, dtype=np.int64)])
        segs = segments(order[pos], pad, offsets)
        store = process_store(self.source.uri)
        files = list(self.source.files)
        decoded = decoded_segments(store, files, segs, self.source.prefetch, self.source.cache(), self.on_corrupt,
                                   self.chunks.decode, skipped=self.skipped)
        chunks = substitute_skipped(decoded, self.chunks)
        if self.batch_size:
            for batch in rebatch(chunks, self.batch_size, self.chunks):
                yield self._batch(batch)
        else:
            for chunk in chunks:
                yield from self._samples(chunk)

    def _batch(self, chunk: Any) -> dict[str, Any]:
        if self.kind == "parquet":
            return arrow_to_torch(chunk)
        from augment_jobs.image.torch_data import collate

        return collate(chunk)

    def _samples(self, chunk: Any) -> Iterator[dict[str, Any]]:
        if self.kind != "parquet":
            yield from chunk
            return
        cols = arrow_to_torch(chunk)
        names = list(cols)
        for i in range(chunk.num_rows):
            yield {k: cols[k][i] for k in names}

    def __len__(self) -> int:
        """Items (samples, or batches) this rank gets in the next pass; the same on every rank."""
        n = self.source.total_rows
        remaining = n - int(from_ranges(self._base_ranges(), n).sum())
        span = rank_span(remaining, topology()[1], 0, self.drop_last)
        return -(-span.length // (self.batch_size or 1))

    def __repr__(self) -> str:
        return (f"StreamingDataset({self.source.uri!r}, version={self.source.version!r}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, seed={self.seed}, epoch={self.epoch}, drop_last={self.drop_last})")


def passthrough(item: Any) -> Any:
    return item


class ResumableLoader(DataLoader):
    """A DataLoader (batching left to the dataset) that counts the items it delivers for `state_dict`."""

    def __init__(self, dataset: StreamingDataset, num_workers: int = 0, **kwargs: Any) -> None:
        if kwargs.get("batch_size") is not None:
            raise AugmentError("loader(batch_size=...): give batch_size to .torch(); the loader passes batches through")
        if kwargs.get("persistent_workers"):
            raise AugmentError("loader(persistent_workers=True): workers would keep the first epoch's order; leave it off")
        kwargs["batch_size"] = None
        kwargs.setdefault("collate_fn", passthrough)  # items are batched already; skip default_convert's walk
        super().__init__(dataset, num_workers=num_workers, **kwargs)

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        ds: StreamingDataset = self.dataset  # type: ignore[assignment]
        for item in self._counted(ds):
            yield _on_gpu(ds, item) if ds.transform is not None and ds.transform_on == "cuda" else item

    def _counted(self, ds: StreamingDataset) -> Iterator[Any]:
        if not self.num_workers:
            yield from super().__iter__()  # the dataset counts itself in this process
            return
        ds._begin_pass(self.num_workers)
        it = super().__iter__()  # workers start here, with the loaded state
        ds._resume = None
        for item in it:
            ds._pass["seen"] += 1
            yield item


def _on_gpu(ds: StreamingDataset, item: dict[str, Any]) -> dict[str, Any]:
    """Move a batch's images (and masks) to CUDA and augment them there, batched."""
    item = dict(item)
    for k in ("image", "mask"):
        v = item.get(k)
        if isinstance(v, torch.Tensor):
            item[k] = v.to("cuda", non_blocking=True)
        elif isinstance(v, list):
            item[k] = [t.to("cuda", non_blocking=True) if isinstance(t, torch.Tensor) else t for t in v]
    return ds.augment(item)


__all__ = ["StreamingDataset", "ResumableLoader", "Source", "arrow_to_torch"]

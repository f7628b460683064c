"""Reading published datasets (docs/reader.md).

    from augment_jobs.reader import open_dataset
    ds = open_dataset("s3://bucket/published/credit_default")     # follows `latest`
    df = ds.to_pandas(real_only=False)
    for batch in ds.iter_batches(batch_size=4096, columns=["amount", "_id"]): ...
    train = ds.torch(batch_size=64, shuffle=True, seed=0)          # torch IterableDataset
    for batch in train.loader(num_workers=4): ...

Only committed versions (with `_manifest.json`) are visible; a pinned version never moves. Streamed
reads check every file's sha256 against the manifest while the bytes arrive.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Any

from augment_jobs.contract import Manifest
from augment_jobs.errors import AugmentError, ConfigError, NotFound
from augment_jobs.publish import is_committed, latest_version, read_manifest, version_uri
from augment_jobs.store import join, store_for
from augment_jobs.streaming import Chunks, FileRef, parquet_schema, prefetched, process_store, rebatch

DEFAULT_CACHE_LIMIT = 10 << 30


# --- the one place that reads the manifest's structure ---------------------------------------------
def manifest_files(manifest: Manifest) -> list[tuple[str, str, int, int]]:
    """(path, sha256, bytes, rows) of each data file, in order."""
    return [(f.path, f.sha256, f.bytes, f.rows) for f in manifest.files]


class PublishedDataset:
    """One committed version of a published dataset."""

    def __init__(self, uri: str, version: str, manifest: Manifest, *, prefetch: int = 2, cache_dir: str | None = None,
                 cache_limit: int = DEFAULT_CACHE_LIMIT) -> None:
        self.uri = uri.rstrip("/")
        self.version = version
        self.manifest = manifest
        # read_manifest refused an unknown schema_version already (augment_jobs/contract.py)
        self.format, self.rows = manifest.format, manifest.rows
        base = version_uri(self.uri, version)
        self.refs = tuple(FileRef(join(base, p), sha, size, rows) for p, sha, size, rows in manifest_files(manifest))
        self.prefetch, self.cache_dir, self.cache_limit = max(1, int(prefetch)), cache_dir, int(cache_limit)

    @property
    def files(self) -> list[str]:
        """URIs of the version's data files, in order."""
        return [r.uri for r in self.refs]

    @cached_property
    def _store(self) -> Any:
        return store_for(self.uri)

    # --- whole-version reads ------------------------------------------------------------------
    def to_arrow(self) -> Any:
        """A pyarrow dataset over the version's Parquet files."""
        import pyarrow.dataset as pads

        self._require("parquet", "to_arrow")
        fs, _ = self._store.arrow_fs()
        return pads.dataset([self._store.arrow_path(u) for u in self.files], filesystem=fs, format="parquet")

    def to_pandas(self, real_only: bool = False, split: str | None = None) -> Any:
        """The version as a pandas DataFrame; `real_only` drops synthetic rows, `split` keeps the rows
        whose `_split` is that value."""
        import pyarrow.dataset as pads

        dataset = self.to_arrow()
        self._check_split(split, dataset.schema.names)
        cond = None
        if real_only:
            cond = pads.field("_synthetic") == False  # noqa: E712
        if split is not None:
            cond = (pads.field("_split") == split) if cond is None else cond & (pads.field("_split") == split)
        return (dataset.to_table(filter=cond) if cond is not None else dataset.to_table()).to_pandas()

    def verify(self) -> bool:
        """Check every file's sha256 against the manifest; raise naming the first mismatch."""
        for ref in self.refs:
            try:
                digest = self._store.sha256(ref.uri)
            except FileNotFoundError:
                raise AugmentError(f"{ref.uri}: listed in the manifest but missing") from None
            if digest != ref.sha256:
                raise AugmentError(f"{ref.uri}: sha256 {digest[:12]}… does not match the manifest's {ref.sha256[:12]}…")
        return True

    # --- streaming ----------------------------------------------------------------------------
    def iter_batches(self, batch_size: int = 65536, columns: list[str] | None = None, split: str | None = None,
                     real_only: bool = False) -> Iterator[Any]:
        """Stream the version in file order, sha256-checked as read: pyarrow RecordBatches of at most
        `batch_size` rows (Parquet) or lists of `batch_size` sample dicts (WebDataset, the last one
        shorter). Files are fetched and decoded `prefetch` at a time in background threads."""
        _check_batch_size(batch_size, allow_none=False)
        if self.format == "parquet":
            decode, ops = self._parquet_decoder(batch_size, columns, split, real_only), _SampleLists()
        elif self.format == "webdataset":
            decode, ops = self._tar_decoder(columns, split, real_only), _SampleLists()
        else:
            raise AugmentError(f"{self.uri}: cannot stream format {self.format!r}; parquet and webdataset can be streamed")
        fetched = prefetched(process_store(self.uri), list(self.refs), list(range(len(self.refs))), self.prefetch,
                             self._source().cache(), "raise", then=decode)
        batches = (b for _, file_batches in fetched for b in file_batches if len(b))
        # Parquet batches go out as the files give them (at most batch_size rows, as pyarrow's own
        # iter_batches): joining pieces across row groups would copy every column once more
        return batches if self.format == "parquet" else rebatch(batches, batch_size, ops)

    def _parquet_decoder(self, size: int, columns: list[str] | None, split: str | None, real_only: bool) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        names = self._parquet_names()
        wanted = self._check_columns(columns, names)
        self._check_split(split, names)
        filters = (["_synthetic"] if real_only else []) + (["_split"] if split is not None else [])
        read = None if columns is None else list(dict.fromkeys([*wanted, *filters]))

        def decode(_: int, data: Any) -> list[Any]:
            out = []
            pf = pq.ParquetFile(pa.BufferReader(pa.py_buffer(data)))
            for rb in pf.iter_batches(batch_size=size, columns=read):
                if filters:
                    keep = None
                    if real_only:
                        keep = pc.invert(pc.fill_null(rb.column("_synthetic"), False))
                    if split is not None:
                        is_split = pc.fill_null(pc.equal(rb.column("_split"), split), False)
                        keep = is_split if keep is None else pc.and_(keep, is_split)
                    rb = rb.filter(keep)
                out.append(rb if read is None or read == wanted else rb.select(wanted))
            return out

        return decode

    def _codec(self) -> Any:
        """How this version's WebDataset samples decode: its modality's `sample_codec` (images when
        the modality registers none, or is not installed here)."""
        from augment_jobs.modality import resolve
        from augment_jobs.registry import modalities

        spec = modalities().get(self.manifest.modality)
        return resolve(spec.sample_codec if spec is not None and spec.sample_codec
                       else "augment_jobs.image.torch_data:CODEC")

    def _tar_decoder(self, columns: list[str] | None, split: str | None, real_only: bool) -> Any:
        from augment_jobs.image.torch_data import tar_samples

        codec = self._codec()
        decode_sample = codec.decode
        cols = tuple(self._check_columns(columns, list(codec.columns)))
        need = tuple(dict.fromkeys([*cols, *(["json"] if real_only or split is not None else [])]))

        def decode(k: int, data: Any) -> list[list[dict[str, Any]]]:
            out = []
            for key, parts in tar_samples(data, self.refs[k].uri):
                s = decode_sample(key, parts, need)
                meta = s.get("json") or {}
                if split is not None and "split" not in meta:
                    raise AugmentError(f"{self.uri} version {self.version}: samples carry no split; read without split=")
                if (real_only and meta.get("synthetic")) or (split is not None and meta["split"] != split):
                    continue
                out.append({c: s[c] for c in cols})
            return [out]

        return decode

    def torch(self, batch_size: int | None = None, shuffle: bool = False, seed: int = 0, drop_last: bool = False,
              columns: list[str] | None = None, on_corrupt: str = "raise", augment: Any = None,
              augment_on: str = "cpu") -> Any:
        """A torch IterableDataset over the version (Parquet or WebDataset): every rank gets the same
        number of samples, the order follows (seed, epoch) for any world size, `state_dict()` resumes
        mid-epoch, every file is sha256-checked while read. See docs/reader.md.

        `augment` (WebDataset images): a config path (its `image_policy` step) or a dict of
        image_policy params, applied to every sample as it is read, drawn from (seed, epoch, key);
        `augment_on="cuda"` augments batched on the GPU in `loader()` instead of in the workers."""
        from augment_jobs.torch_stream import StreamingDataset

        _check_batch_size(batch_size, allow_none=True)
        transform = None
        if augment is not None:
            if self.format != "webdataset":
                raise ConfigError(f"{self.uri}: augment= applies to image (WebDataset) versions; this one is {self.format}")
            if augment_on not in ("cpu", "cuda"):
                raise ConfigError(f"augment_on={augment_on!r}: use 'cpu' (in the DataLoader workers) or 'cuda'")
            from augment_jobs.image.online import OnlineAugment

            transform = OnlineAugment(augment, seed=seed)
        if self.format == "parquet":
            from augment_jobs.streaming import ParquetChunks

            cols = None if columns is None else \
                list(dict.fromkeys(["_id", *self._check_columns(columns, self._parquet_names())]))
            chunks: Chunks = ParquetChunks(cols)
        elif self.format == "webdataset":
            from augment_jobs.image.torch_data import WebDatasetChunks

            codec = self._codec()
            chunks = WebDatasetChunks(tuple(dict.fromkeys(["__key__", *self._check_columns(columns, list(codec.columns))])),
                                      codec)
        else:
            raise AugmentError(f"{self.uri}: .torch() reads parquet or webdataset; this version is {self.format}")
        return StreamingDataset(self._source(), chunks, kind=self.format, batch_size=batch_size, shuffle=bool(shuffle),
                                seed=seed, drop_last=drop_last, on_corrupt=on_corrupt, transform=transform,
                                transform_on=augment_on)

    # --- helpers --------------------------------------------------------------------------------
    def _source(self) -> Any:
        from augment_jobs.torch_stream import Source

        return Source(self.uri, self.version, self.refs, self.prefetch, self.cache_dir, self.cache_limit)

    def _parquet_names(self) -> list[str]:
        if not self.refs:
            return []
        return list(parquet_schema(process_store(self.uri), self.refs[0]).names)

    def _check_columns(self, columns: list[str] | None, names: list[str]) -> list[str]:
        if columns is None:
            return list(names)
        if isinstance(columns, str):
            columns = [columns]
        missing = [c for c in columns if c not in names]
        if missing:
            raise ConfigError(f"{self.uri} version {self.version}: no column {', '.join(map(repr, missing))}; "
                              f"columns are {', '.join(names)}")
        return list(columns)

    def _check_split(self, split: str | None, names: list[str]) -> None:
        if split is not None and "_split" not in names:
            raise ConfigError(f"{self.uri} version {self.version}: split={split!r} but this version has no _split "
                              "column (published without a split); read without split=")

    def _require(self, fmt: str, what: str) -> None:
        if self.format != fmt:
            raise AugmentError(f"{self.uri}: .{what}() needs a {fmt} dataset; this one is {self.format}")

    def __repr__(self) -> str:
        return f"PublishedDataset({self.uri!r}, version={self.version!r}, rows={self.rows})"


def _check_batch_size(batch_size: Any, *, allow_none: bool) -> None:
    if batch_size is None and allow_none:
        return
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size={batch_size!r}: give a positive number of rows"
                          + (", or None for single samples" if allow_none else ""))


class _SampleLists(Chunks):
    def length(self, chunk: list[Any]) -> int:
        return len(chunk)

    def concat(self, chunks: list[list[Any]]) -> list[Any]:
        return [s for c in chunks for s in c]

    def slice(self, chunk: list[Any], start: int, stop: int) -> list[Any]:
        return chunk[start:stop]


def open_dataset(uri: str, version: str = "latest", *, prefetch: int = 2, cache_dir: str | None = None,
                 cache_limit: int = DEFAULT_CACHE_LIMIT) -> PublishedDataset:
    """Open a committed version of the dataset published at `uri` (default: `latest`).

    Streamed reads fetch `prefetch` files ahead in threads; with `cache_dir`, files read from S3
    are kept there (at most `cache_limit` bytes, least recently used evicted)."""
    uri = uri.rstrip("/")
    if version == "latest":
        resolved = latest_version(uri)
        if resolved is None:
            raise NotFound(f"{uri}: nothing published yet (no _latest); run the dataset's config first")
        version = resolved
    try:
        manifest = read_manifest(uri, version)
    except NotFound:
        there = [v for v in store_for(uri).list_dirs(join(uri, "versions")) if is_committed(uri, v)]
        raise NotFound(f"{uri}: no committed version {version!r}; versions there are: "
                       f"{', '.join(there) if there else 'none'}") from None
    return PublishedDataset(uri, version, manifest, prefetch=prefetch, cache_dir=cache_dir, cache_limit=cache_limit)

"""Reading published datasets (docs/reader.md).

    from augment_jobs.reader import open_dataset
    ds = open_dataset("s3://bucket/published/credit_default")     # follows `latest`
    df = ds.to_pandas(real_only=False)

Only committed versions (with `_manifest.json`) are visible; a pinned version never moves.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from augment_jobs.contract import Manifest
from augment_jobs.errors import AugmentError, NotFound
from augment_jobs.publish import latest_version, read_manifest, version_uri
from augment_jobs.store import join, store_for


class PublishedDataset:
    """One committed version of a published dataset."""

    def __init__(self, uri: str, version: str, manifest: Manifest) -> None:
        self.uri = uri.rstrip("/")
        self.version = version
        self.manifest = manifest

    @property
    def files(self) -> list[str]:
        """URIs of the version's data files, in order."""
        base = version_uri(self.uri, self.version)
        return [join(base, f.path) for f in self.manifest.files]

    @cached_property
    def _store(self) -> Any:
        return store_for(self.uri)

    def to_arrow(self) -> Any:
        """A pyarrow dataset over the version's Parquet files."""
        import pyarrow.dataset as pads

        self._require("parquet", "to_arrow")
        fs, _ = self._store.arrow_fs()
        return pads.dataset([self._store.arrow_path(u) for u in self.files], filesystem=fs, format="parquet")

    def to_pandas(self, real_only: bool = False) -> Any:
        """The version as a pandas DataFrame; `real_only` drops synthetic rows."""
        import pyarrow.dataset as pads

        dataset = self.to_arrow()
        table = dataset.to_table(filter=pads.field("_synthetic") == False) if real_only else dataset.to_table()  # noqa: E712
        return table.to_pandas()

    def verify(self) -> bool:
        """Check every file's sha256 against the manifest; raise naming the first mismatch."""
        for f, uri in zip(self.manifest.files, self.files, strict=True):
            try:
                digest = self._store.sha256(uri)
            except FileNotFoundError:
                raise AugmentError(f"{uri}: listed in the manifest but missing") from None
            if digest != f.sha256:
                raise AugmentError(f"{uri}: sha256 {digest[:12]}… does not match the manifest's {f.sha256[:12]}…")
        return True

    def torch(self, shuffle: bool | int = False, batch_size: int | None = None, seed: int = 0) -> Any:
        """A torch IterableDataset over the WebDataset shards, split across ranks and workers."""
        self._require("webdataset", "torch")
        from augment_jobs.image.torch_data import WebDatasetShards

        return WebDatasetShards(self.files, shuffle=shuffle, batch_size=batch_size, seed=seed)

    def _require(self, fmt: str, what: str) -> None:
        if self.manifest.format != fmt:
            raise AugmentError(f"{self.uri}: .{what}() needs a {fmt} dataset; this one is {self.manifest.format}")

    def __repr__(self) -> str:
        return f"PublishedDataset({self.uri!r}, version={self.version!r}, rows={self.manifest.rows})"


def open_dataset(uri: str, version: str = "latest") -> PublishedDataset:
    """Open a committed version of the dataset published at `uri` (default: `latest`)."""
    uri = uri.rstrip("/")
    if version == "latest":
        resolved = latest_version(uri)
        if resolved is None:
            raise NotFound(f"{uri}: nothing published yet (no _latest)")
        version = resolved
    return PublishedDataset(uri, version, read_manifest(uri, version))

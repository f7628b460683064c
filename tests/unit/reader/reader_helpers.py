"""Published versions written the way the platform lays them out (Parquet parts or WebDataset tars
under versions/<v>/, a manifest with sha256/bytes/rows per file, `_latest`), small and fast."""

from __future__ import annotations

import io
import socket
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from augment_jobs.image.io import TarShardWriter
from augment_jobs.publish import LATEST, manifest_uri, version_uri
from augment_jobs.store import dumps, join, store_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manifest(uri: str, version: str, fmt: str, files: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    store = store_for(uri)
    listed = []
    for f in files:
        digest, size = store.digest(join(version_uri(uri, version), f["path"]))
        listed.append({"path": f["path"], "sha256": digest, "bytes": size, "rows": f["rows"]})
    return {
        "schema_version": 1, "dataset": uri.rsplit("/", 1)[-1], "version": version, "logical_date": version[:10],
        "created_at": "2026-01-01T00:00:00+00:00", "config_sha256": "0" * 64, "seed": 0, "platform_version": "test",
        "format": fmt, "modality": "image" if fmt == "webdataset" else "tabular", "source": [], "files": listed, "rows": sum(f["rows"] for f in files), "counts": {},
        "gate": {"passed": True, "checks": [], "summary": "", "report_uri": ""}, "mlflow": {}, **extra,
    }


def commit(uri: str, m: dict[str, Any]) -> None:
    store = store_for(uri)
    store.write_bytes(manifest_uri(uri, m["version"]), dumps(m))
    store.write_bytes(join(uri, LATEST), dumps({"version": m["version"], "logical_date": m["logical_date"]}))


def publish_parquet(uri: str, sizes: list[int], version: str = "2026-01-01.0001", *, split: bool = False,
                    row_group: int = 7) -> dict[str, Any]:
    """Parts of `sizes` rows (row groups of `row_group`), `_id` = "r<global index>", every third
    row synthetic; with `split`, every fourth real row is "holdout"."""
    store = store_for(uri)
    files, start = [], 0
    for n, rows in enumerate(sizes):
        idx = np.arange(start, start + rows)
        cols: dict[str, Any] = {
            "_id": pa.array([f"r{i}" for i in idx]), "x": pa.array(idx.astype(np.float64) / 2),
            "k": pa.array(idx.astype(np.int64)), "cat": pa.array([f"c{i % 3}" for i in idx]),
            "_synthetic": pa.array(idx % 3 == 2), "_source_ids": pa.array([[f"r{i - 1}"] for i in idx]),
        }
        if split:
            cols["_split"] = pa.array(["holdout" if (i % 3 != 2 and i % 4 == 0) else "train" for i in idx])
        buf = io.BytesIO()
        pq.write_table(pa.table(cols), buf, row_group_size=row_group)
        name = f"part-{n:05d}.parquet"
        store.write_bytes(join(version_uri(uri, version), name), buf.getvalue())
        files.append({"path": name, "rows": rows})
        start += rows
    m = manifest(uri, version, "parquet", files)
    commit(uri, m)
    return m


def publish_tars(uri: str, sizes: list[int], version: str = "2026-01-01.0001") -> dict[str, Any]:
    """WebDataset shards of `sizes` samples (tiny PNGs, json with label/boxes/synthetic)."""
    import json

    from PIL import Image

    writer = TarShardWriter(version_uri(uri, version), "shard", max_samples=max(sizes))
    k = 0
    for rows in sizes:
        writer._close_current()  # one shard per entry of `sizes`, however big
        writer._open()
        for _ in range(rows):
            buf = io.BytesIO()
            Image.fromarray(np.full((4 + k % 3, 5, 3), k % 255, dtype=np.uint8)).save(buf, format="PNG")
            meta = {"label": f"l{k % 2}", "boxes": [[0, 0, 1, 1]], "box_labels": ["a"], "synthetic": k % 3 == 2}
            writer.write(f"s{k:05d}", {"png": buf.getvalue(), "json": json.dumps(meta).encode()})
            k += 1
    files = [f for f in writer.close() if f["rows"]]
    m = manifest(uri, version, "webdataset", files)
    commit(uri, m)
    return m

"""Per-sample metadata of an image run: one Parquet row per published sample (what the GX suite
and the image checks read), written per shard under staging."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from augment_jobs.store import store_for

if TYPE_CHECKING:
    import pandas as pd

META_COLUMNS = ["key", "source_key", "source_uri", "label", "synthetic", "width", "height", "n_boxes", "boxes",
                "pixel_mean", "pixel_std", "pixel_min", "pixel_max", "method", "params", "seed", "file"]


def meta_row(key: str, rec: dict[str, Any], px: np.ndarray, path: str) -> dict[str, Any]:
    sub = px[::2, ::2].astype(np.float32)  # mean/std on a 1-in-4 pixel grid: same answer, 4x cheaper
    return {
        "key": key, "source_key": rec["source_key"], "source_uri": rec["source_uri"], "label": rec["label"],
        "synthetic": rec["synthetic"], "width": rec["width"], "height": rec["height"], "n_boxes": len(rec["boxes"]),
        "boxes": json.dumps(rec["boxes"]), "pixel_mean": float(sub.mean()), "pixel_std": float(sub.std()),
        "pixel_min": int(px.min()), "pixel_max": int(px.max()), "method": rec["method"],
        "params": json.dumps(rec["params"], sort_keys=True), "seed": rec["seed"], "file": path,
    }


def write_meta(uri: str, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([
        ("key", pa.string()), ("source_key", pa.string()), ("source_uri", pa.string()), ("label", pa.string()),
        ("synthetic", pa.bool_()), ("width", pa.int32()), ("height", pa.int32()), ("n_boxes", pa.int32()),
        ("boxes", pa.string()), ("pixel_mean", pa.float64()), ("pixel_std", pa.float64()),
        ("pixel_min", pa.int32()), ("pixel_max", pa.int32()), ("method", pa.string()), ("params", pa.string()),
        ("seed", pa.int64()), ("file", pa.string()),
    ])
    table = pa.Table.from_pylist(rows, schema=schema)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    store_for(uri).write_bytes(uri, buf.getvalue())


def read_meta(uris: list[str]) -> pd.DataFrame:
    """The metadata of every shard, in shard order."""
    import pandas as pd
    import pyarrow.parquet as pq

    frames = []
    for uri in uris:
        store = store_for(uri)
        frames.append(pq.read_table(store.arrow_path(uri), filesystem=store.arrow_fs()[0]).to_pandas())
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=META_COLUMNS)

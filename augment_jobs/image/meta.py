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

#: (name, Arrow type) of every metadata column; the artifact figures of a copy sit beside its
#: source image's (`src_*`), so the gate compares a copy with its own source.
_FIELDS = [
    ("key", "string"), ("source_key", "string"), ("source_uri", "string"), ("label", "string"),
    ("synthetic", "bool"), ("width", "int32"), ("height", "int32"), ("n_boxes", "int32"), ("boxes", "string"),
    ("keypoints", "string"), ("pixel_mean", "float64"), ("pixel_std", "float64"), ("pixel_min", "int32"),
    ("pixel_max", "int32"), ("clip_share", "float64"), ("sharpness", "float64"), ("mask_classes", "string"),
    ("src_clip_share", "float64"), ("src_sharpness", "float64"), ("src_mask_classes", "string"),
    ("method", "string"), ("params", "string"), ("seed", "int64"), ("file", "string"),
]
META_COLUMNS = [n for n, _ in _FIELDS]


def sharpness(px: np.ndarray) -> float:
    """Variance of the Laplacian of the luma: falls with blur and with pixelation (flat blocks)."""
    g = px.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) if px.ndim == 3 else px.astype(np.float32)
    if min(g.shape) < 3:
        return 0.0
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float(lap.var())


def clip_share(px: np.ndarray) -> float:
    """Share of pixels clipped to black or white: every channel at 0, or every channel at 255 (one
    channel at its limit is ordinary in a saturated colour or a bright sky)."""
    if px.ndim == 2:
        px = px[..., None]
    # channel by channel: numpy's reductions over a last axis of 3 are slow
    black, white = px[..., 0] == 0, px[..., 0] == 255
    for c in range(1, px.shape[-1]):
        black &= px[..., c] == 0
        white &= px[..., c] == 255
    return float(np.count_nonzero(black | white) / max(black.size, 1))


def pixel_figures(px: np.ndarray, mask: np.ndarray | None = None) -> dict[str, Any]:
    """The per-image figures of the metadata (computed in the handler's thread pool)."""
    sub = px[::2, ::2].astype(np.float32)  # mean/std on a 1-in-4 pixel grid: same answer, 4x cheaper
    classes = None if mask is None else json.dumps(np.flatnonzero(np.bincount(mask.ravel(), minlength=1)).tolist())
    return {"pixel_mean": float(sub.mean()), "pixel_std": float(sub.std()), "pixel_min": int(px.min()),
            "pixel_max": int(px.max()), "clip_share": clip_share(px), "sharpness": sharpness(px),
            "mask_classes": classes}


def meta_row(key: str, rec: dict[str, Any], figures: dict[str, Any], path: str,
             source: dict[str, Any] | None = None) -> dict[str, Any]:
    """One sample's metadata from its json record and `pixel_figures`; `source` is the source
    image's row (for a copy)."""
    src = source or figures
    return {
        "key": key, "source_key": rec["source_key"], "source_uri": rec["source_uri"], "label": rec["label"],
        "synthetic": rec["synthetic"], "width": rec["width"], "height": rec["height"], "n_boxes": len(rec["boxes"]),
        "boxes": json.dumps(rec["boxes"]), "keypoints": json.dumps(rec.get("keypoints") or []), **figures,
        "src_clip_share": src["clip_share"], "src_sharpness": src["sharpness"],
        "src_mask_classes": src["mask_classes"], "method": rec["method"],
        "params": json.dumps(rec["params"], sort_keys=True), "seed": rec["seed"], "file": path,
    }


def write_meta(uri: str, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"string": pa.string(), "bool": pa.bool_(), "int32": pa.int32(), "int64": pa.int64(),
             "float64": pa.float64()}
    schema = pa.schema([(n, types[t]) for n, t in _FIELDS])
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

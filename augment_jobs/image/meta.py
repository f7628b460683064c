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


_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


# The figures read channel planes ([C, H, W] uint8, as the augmented batch comes out): a plane op
# is contiguous and SIMD, where interleaved H x W x 3 pixels cost numpy 2-7x more per figure.
def sharpness(planes: np.ndarray) -> float:
    """Variance of the Laplacian of the luma: falls with blur and with pixelation (flat blocks)."""
    if planes.shape[0] == 3:
        g = planes[0] * _LUMA[0]
        g += planes[1] * _LUMA[1]
        g += planes[2] * _LUMA[2]
    else:
        g = planes[0].astype(np.float32)
    if min(g.shape) < 3:
        return 0.0
    lap = g[1:-1, 1:-1] * 4
    for side in (g[:-2, 1:-1], g[2:, 1:-1], g[1:-1, :-2], g[1:-1, 2:]):
        lap -= side
    return float(lap.var())


def clip_share(planes: np.ndarray, lo: int = 0, hi: int = 255) -> float:
    """Share of pixels clipped to black or white: every channel at 0, or every channel at 255 (one
    channel at its limit is ordinary in a saturated colour or a bright sky). `lo`/`hi`: the
    planes' min and max, when known (a plane with no 0 has no black pixel)."""
    n = 0
    if lo == 0:
        black = planes[0].copy()
        for c in planes[1:]:
            black |= c
        n += planes[0].size - np.count_nonzero(black)
    if hi == 255:
        white = planes[0].copy()
        for c in planes[1:]:
            white &= c
        n += np.count_nonzero(white == 255)
    return float(n / max(planes[0].size, 1))


def class_ids(mask: np.ndarray) -> list[int]:
    """The class ids present in a uint8 mask, ascending."""
    if not mask.size:
        return []
    top = int(mask.max())
    if top < 16:  # the usual few classes: one compare each, no 8-byte-per-pixel bincount copy
        return [c for c in range(top + 1) if c == top or (mask == c).any()]
    return np.flatnonzero(np.bincount(mask.ravel(), minlength=1)).tolist()


def pixel_figures(planes: np.ndarray, mask: np.ndarray | None = None) -> dict[str, Any]:
    """The per-image figures of the metadata, from [C, H, W] uint8 planes (computed in the
    shard's thread while the pool encodes)."""
    sub = planes[:, ::2, ::2].astype(np.float32)  # mean/std on a 1-in-4 pixel grid: same answer, 4x cheaper
    lo, hi = int(planes.min()), int(planes.max())
    classes = None if mask is None else json.dumps(class_ids(mask))
    return {"pixel_mean": float(sub.mean()), "pixel_std": float(sub.std()), "pixel_min": lo,
            "pixel_max": hi, "clip_share": clip_share(planes, lo, hi), "sharpness": sharpness(planes),
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

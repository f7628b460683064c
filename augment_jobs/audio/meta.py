"""Per-sample metadata of an audio run: one Parquet row per published sample, with the simple
features the gate compares (duration, RMS loudness, spectral centroid) and what it counts (samples
beyond full scale, NaN/inf), written per shard under staging."""

from __future__ import annotations

import io
import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from augment_jobs.store import store_for

if TYPE_CHECKING:
    import pandas as pd

SILENCE_DBFS = -120.0  # the loudness recorded for digital silence (log of zero)
#: the features compared real vs augmented, per class (docs/gate.md, audio)
FEATURES = ("duration_s", "rms_dbfs", "spectral_centroid_hz")


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema([
        ("key", pa.string()), ("source_key", pa.string()), ("source_uri", pa.string()), ("label", pa.string()),
        ("synthetic", pa.bool_()), ("sample_rate", pa.int32()), ("channels", pa.int32()), ("frames", pa.int64()),
        ("duration_s", pa.float64()), ("rms_dbfs", pa.float64()), ("peak", pa.float64()),
        ("spectral_centroid_hz", pa.float64()), ("clipped", pa.int64()), ("clipped_share", pa.float64()),
        ("nonfinite", pa.int64()), ("method", pa.string()), ("params", pa.string()), ("seed", pa.int64()),
        ("file", pa.string()),
    ])


def features(wave: np.ndarray, sr: int) -> dict[str, float]:
    """Duration (s), RMS loudness (dBFS, SILENCE_DBFS for silence), peak, spectral centroid (Hz, of
    the mono mix's magnitude spectrum; 0 for silence) of a float clip [channels, frames]."""
    x = wave.astype(np.float64)
    n = x.shape[1]
    rms = math.sqrt(float(np.mean(x * x))) if x.size else 0.0
    mono = x.mean(axis=0)
    mag = np.abs(np.fft.rfft(mono)) if n > 1 else np.zeros(1)
    total = float(mag.sum())
    centroid = float((np.fft.rfftfreq(n, 1 / sr)[: len(mag)] * mag).sum() / total) if total > 0 and n > 1 else 0.0
    return {
        "duration_s": n / sr,
        "rms_dbfs": max(SILENCE_DBFS, 20 * math.log10(rms)) if rms > 0 else SILENCE_DBFS,
        "peak": float(np.abs(x).max()) if x.size else 0.0,
        "spectral_centroid_hz": centroid,
    }


def meta_row(key: str, rec: dict[str, Any], wave: np.ndarray, path: str, clipped: int = 0,
             nonfinite: int = 0) -> dict[str, Any]:
    f = features(wave, rec["sample_rate"])
    return {
        "key": key, "source_key": rec["source_key"], "source_uri": rec["source_uri"], "label": rec["label"],
        "synthetic": rec["synthetic"], "sample_rate": rec["sample_rate"], "channels": int(wave.shape[0]),
        "frames": int(wave.shape[1]), **{k: float(v) for k, v in f.items()}, "clipped": clipped,
        "clipped_share": clipped / wave.size if wave.size else 0.0, "nonfinite": nonfinite, "method": rec["method"],
        "params": json.dumps(rec["params"], sort_keys=True), "seed": rec["seed"], "file": path,
    }


def write_meta(uri: str, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=_schema()), buf)
    store_for(uri).write_bytes(uri, buf.getvalue())


def read_meta(uris: list[str]) -> pd.DataFrame:
    """The metadata of every shard, in shard order."""
    import pandas as pd
    import pyarrow.parquet as pq

    frames = []
    for uri in uris:
        store = store_for(uri)
        frames.append(pq.read_table(store.arrow_path(uri), filesystem=store.arrow_fs()[0]).to_pandas())
    return pd.concat(frames, ignore_index=True) if frames else _schema().empty_table().to_pandas()

"""Demo raw data for time series: machine sensor readings, temperature + vibration, 60 series of
200 points at one-minute steps, with a rare "failure" class (drift and bursts before failure)."""

from __future__ import annotations

from typing import Any


def readings(ds: str, n_series: int = 60, points: int = 200):  # -> pd.DataFrame
    """Long-format readings: machine_id, ts, temperature, vibration, status."""
    import numpy as np
    import pandas as pd

    from augment_jobs.rng import rng_for

    rng = rng_for(0, ds, "sensors")
    t = np.arange(points)
    start = pd.Timestamp(ds)
    frames = []
    for m in range(n_series):
        failure = m % 12 == 5  # 5 of 60 machines: the rare class
        base = rng.uniform(55, 65)
        # An AR(1) process gives realistic autocorrelation; failing machines drift up and burst.
        ar = np.zeros(points)
        eps = rng.normal(0, 0.6, points)
        for i in range(1, points):  # demo data only: a tiny sequential recursion
            ar[i] = 0.8 * ar[i - 1] + eps[i]
        temp = base + 2.0 * np.sin(2 * np.pi * t / 60 + rng.uniform(0, 6.28)) + ar
        # Vibration is a per-minute RMS, so it is smooth too; failure bursts last several minutes.
        vib = 0.5 + 0.03 * ar + np.convolve(rng.normal(0, 0.02, points), np.ones(5) / 5, mode="same")
        if failure:
            temp += np.linspace(0, 8, points)
            bursts = np.where(rng.random(points) < 0.04, rng.uniform(0.5, 1.5, points), 0.0)
            vib += np.convolve(bursts, np.hanning(9), mode="same")
        vib = np.abs(vib)
        frames.append(pd.DataFrame({
            "machine_id": f"M{m:03d}",
            "ts": start + pd.to_timedelta(t, unit="min"),
            "temperature": np.round(temp, 3),
            "vibration": np.round(vib, 4),
            "status": "failure" if failure else "normal",
        }))
    df = pd.concat(frames, ignore_index=True)
    # Exports arrive unsorted; the pipeline sorts by (machine, time).
    return df.sample(frac=1.0, random_state=int(rng.integers(2**31))).reset_index(drop=True)


def write_raw(source_uri: str, ds: str) -> None:
    """Write one Parquet partition of sensor readings under `source_uri` (local or S3)."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from augment_jobs.store import join, store_for

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(readings(ds), preserve_index=False), buf, compression="zstd")
    store_for(source_uri).write_bytes(join(source_uri, "readings.parquet"), buf.getvalue())


def example(method: Any) -> tuple[Any, Any]:
    """A few sensor series and a config running `method` on them (method-contract tests)."""
    from augment_jobs.config import DatasetConfig
    from augment_jobs.frames import example_frame
    from augment_jobs.timeseries.hooks import prepare

    df = readings("2026-01-01", n_series=8, points=40)
    cfg = DatasetConfig(
        dataset="example", modality="timeseries", source={"uri": "example/"}, label="status",
        series={"id_column": "machine_id", "time_column": "ts", "value_columns": ["temperature", "vibration"]},
        augment=[{"method": method.name, "params": method.example}], publish={"uri": "example-out"},
    )
    return cfg, prepare(example_frame(df), cfg)

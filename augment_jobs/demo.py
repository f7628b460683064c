"""`augment demo`: write realistic raw data into the store and run every demo config end to end.

Each demo config's dataset has a raw-data writer `write(source_uri, ds)`; writers are
deterministic, so running the demo twice for one date is a no-op the second time.
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from augment_jobs.config import config_files, configs_dir
from augment_jobs.errors import AugmentError

#: dataset name → "module:function" writing that dataset's raw partition
WRITERS = {
    "credit_default": "augment_jobs.demo:write_credit",
    "transactions": "augment_jobs.demo:write_transactions",
    "transactions_copula": "augment_jobs.demo:write_transactions",
    "shapes": "augment_jobs.image.demo:write_raw",
    "support_tickets": "augment_jobs.text.demo:write_raw",
    "sensors": "augment_jobs.timeseries.demo:write_raw",
}


def demo_configs(folder: Path | None = None) -> list[Path]:
    """Config files in `folder` whose dataset has a demo writer."""
    import yaml

    out = []
    for path in config_files(folder):
        raw = yaml.safe_load(path.read_text()) or {}
        if isinstance(raw, dict) and raw.get("dataset") in WRITERS:
            out.append(path)
    return out


def raw_asset(cfg: Any) -> Any:
    """The Airflow Asset `demo_feed` announces when it lands a dataset's raw partition (the source
    folder without the date)."""
    from airflow.sdk import Asset

    uri = cfg.source_uri("DS").split("DS")[0].rstrip("/")
    return Asset(uri if "://" in uri else Path(uri).as_uri())


def _writer(dataset: str) -> Callable[[str, str], None]:
    module, _, name = WRITERS[dataset].partition(":")
    return getattr(importlib.import_module(module), name)


def write_demo_raw(ds: str, configs_dir: str | None = None) -> list[str]:
    """Write the raw partition of every demo config for `ds`; returns the source URIs."""
    from augment_jobs.config import load_config

    written: list[str] = []
    for path in demo_configs(Path(configs_dir) if configs_dir else None):
        cfg = load_config(path)
        uri = cfg.source_uri(ds)
        if uri not in written:
            _writer(cfg.dataset)(uri, ds)
            written.append(uri)
    return written


def run_demo(ds: str, *, only: list[str] | None = None, progress: Callable[[str], None] = print) -> int:
    """Write demo data and run each demo config; print what was published and where to look."""
    from augment_jobs import stages
    from augment_jobs.config import load_config, store_root
    from augment_jobs.lineage import tracking_uri

    paths = [p for p in demo_configs() if only is None or load_config(p).dataset in only]
    if not paths:
        raise AugmentError(f"no demo configs found in {configs_dir()}" + (f" for {only}" if only else ""))
    progress(f"store: {store_root()}   logical date: {ds}")
    written: set[str] = set()
    failures = 0
    published = []
    for path in paths:
        cfg = load_config(path)
        uri = cfg.source_uri(ds)
        if uri not in written:
            progress(f"\n== writing demo raw data → {uri}")
            _writer(cfg.dataset)(uri, ds)
            written.add(uri)
        progress(f"== {cfg.dataset} ({cfg.modality}: {', '.join(s.method for s in cfg.augment)})")
        try:
            result = stages.run(str(path), ds, progress=progress)
            published.append((cfg, result))
        except AugmentError as e:
            failures += 1
            progress(f"   FAILED (exit {e.exit_code}): {e}")
    print("\nPublished:")
    for cfg, result in published:
        print(f"  {cfg.dataset:<22} {result['version']:<22} {result['manifest_uri']}")
    if published:
        cfg, result = published[0]
        print("\nLook around:")
        print("\n".join(look_around(cfg, result["version"])))
        print(f"  mlflow ui --backend-store-uri {tracking_uri()}")
    return 1 if failures else 0


def look_around(cfg: Any, version: str) -> list[str]:
    """Commands that show a published version: its versions, manifest, a row's lineage, the data."""
    uri = cfg.publish_uri()
    return [
        f"  augment versions {uri}",
        f"  augment show {uri}",
        f"  augment lineage {uri} {version} {_example_key(cfg, version)}",
        f"  python -c \"from augment_jobs.reader import open_dataset; print(open_dataset('{uri}').to_pandas().head())\"",
    ]


def _example_key(cfg: Any, version: str) -> str:
    """A synthetic row's `_id` to try `augment lineage` on."""
    import pyarrow.dataset as pads

    from augment_jobs.reader import open_dataset

    if cfg.publish.format != "parquet":
        return "<__key__>"
    table = open_dataset(cfg.publish_uri(), version).to_arrow().to_table(
        columns=["_id"], filter=pads.field("_synthetic") == True  # noqa: E712
    )
    return table.column(0)[0].as_py() if table.num_rows else "<_id>"


# --- tabular demo data ---------------------------------------------------------------------------
def _write_table(uri: str, name: str, df: Any, fmt: str = "parquet") -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from augment_jobs.store import join, store_for

    buf = io.BytesIO()
    if fmt == "csv":
        buf.write(df.to_csv(index=False).encode())
    else:
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), buf, compression="zstd")
    store_for(uri).write_bytes(join(uri, name), buf.getvalue())


def transactions_frame(ds: str, rows: int = 6000, fraud_rate: float = 0.03) -> Any:
    """An imbalanced fraud-like transactions table with business rules:
    amount >= 0, opened_at <= closed_at, (country, currency) from a fixed set."""
    import numpy as np
    import pandas as pd

    from augment_jobs.rng import rng_for

    rng = rng_for(0, ds, "transactions")
    fraud = rng.random(rows) < fraud_rate
    n = rows
    countries = np.array(["DE", "FR", "US", "GB", "JP"])
    currency = {"DE": "EUR", "FR": "EUR", "US": "USD", "GB": "GBP", "JP": "JPY"}
    country = countries[rng.choice(5, n, p=[0.3, 0.2, 0.3, 0.15, 0.05])]
    channel = np.where(fraud, rng.choice(["web", "app", "pos"], n, p=[0.6, 0.3, 0.1]),
                       rng.choice(["web", "app", "pos"], n, p=[0.3, 0.4, 0.3]))
    amount = np.round(np.where(fraud, rng.lognormal(5.5, 1.0, n), rng.lognormal(3.8, 1.0, n)), 2)
    opened = pd.Timestamp("2018-01-01") + pd.to_timedelta(rng.integers(0, 2500, n), unit="D")
    closed = opened + pd.to_timedelta(rng.integers(0, 400, n), unit="D")
    return pd.DataFrame({
        "tx_id": [f"TX{ds.replace('-', '')}{i:07d}" for i in range(n)],
        "amount": amount,
        "balance": np.round(rng.gamma(2.0, 1500.0, n), 2),
        "age": rng.integers(18, 90, n).astype("int64"),
        "tenure_days": rng.integers(1, 3000, n).astype("int64"),
        "n_tx_24h": (rng.poisson(np.where(fraud, 6.0, 2.0))).astype("int64"),
        "merchant_risk": np.round(np.clip(rng.beta(np.where(fraud, 5, 2), np.where(fraud, 2, 5)), 0, 1), 4),
        "opened_at": opened,
        "closed_at": closed,
        "channel": channel,
        "country": country,
        "currency": [currency[c] for c in country],
        "is_fraud": np.where(fraud, "fraud", "legit"),
    })


def write_transactions(source_uri: str, ds: str) -> None:
    """Two Parquet files of fraud-like transactions."""
    df = transactions_frame(ds)
    half = len(df) // 2
    _write_table(source_uri, "transactions-0.parquet", df.iloc[:half])
    _write_table(source_uri, "transactions-1.parquet", df.iloc[half:])


def write_credit(source_uri: str, ds: str, rows: int = 5000) -> None:
    """A numeric credit-default table (about 8% defaults) as CSV."""
    import numpy as np
    import pandas as pd

    from augment_jobs.rng import rng_for

    rng = rng_for(0, ds, "credit")
    default = rng.random(rows) < 0.08
    limit = np.round(rng.lognormal(10.5, 0.6, rows), -2)
    util = np.clip(rng.beta(np.where(default, 5, 2), np.where(default, 2, 4)), 0, 1)
    df = pd.DataFrame({
        "limit_bal": limit,
        "age": rng.integers(21, 75, rows),
        "utilization": np.round(util, 4),
        "bill_amt": np.round(limit * util, 2),
        "pay_amt": np.round(limit * util * rng.uniform(0.0, np.where(default, 0.3, 1.0)), 2),
        "late_payments": rng.poisson(np.where(default, 2.5, 0.4)),
        "default": np.where(default, 1, 0),
    })
    _write_table(source_uri, "credit.csv", df, fmt="csv")

"""Demo raw data for the tabular modality: a credit-default CSV and fraud-like transactions."""

from __future__ import annotations

import io
from typing import Any


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


def example(method: Any) -> tuple[Any, Any]:
    """A small credit-like table and a config running `method` on it (method-contract tests)."""
    import numpy as np
    import pandas as pd

    from augment_jobs.config import DatasetConfig
    from augment_jobs.frames import example_frame

    rng = np.random.default_rng(0)
    n = 240
    y = rng.random(n) < 0.2
    df = pd.DataFrame({
        "limit_bal": np.round(rng.lognormal(10.5, 0.6, n), -2),
        "utilization": np.round(rng.beta(np.where(y, 5, 2), 3), 4),
        "late_payments": rng.poisson(np.where(y, 2.5, 0.4)),
        "default": np.where(y, 1, 0),
    })
    if "categorical_features" in method.params_model.model_fields:
        df.insert(3, "region", rng.choice(["north", "south", "east"], n))
    cfg = DatasetConfig(
        dataset="example", modality="tabular", source={"uri": "example/"}, label="default",
        augment=[{"method": method.name, "params": method.example}], publish={"uri": "example-out"},
    )
    return cfg, example_frame(df)

"""Baselines for the tabular methods: bare imbalanced-learn / SDV vs the platform's method functions.

    python benchmarks/tabular_baseline.py --rows 1000000          # smote, 1M x 20
    python benchmarks/tabular_baseline.py --rows 100000 --copula  # gaussian copula too

Prints seconds and peak RSS growth (MiB) of each run, each measured in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def make_fraud_table(path: str, rows: int, features: int = 20, minority: float = 0.02, seed: int = 0) -> None:
    """A synthetic fraud table: `features` float columns, binary `is_fraud` with `minority` share."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < minority).astype(np.int64)
    cols = {f"f{i:02d}": rng.normal(size=rows) + 0.8 * y * (i % 3 == 0) for i in range(features)}
    cols["is_fraud"] = y
    pq.write_table(pa.table(cols), path)


def bare_smote(in_path: str, out_path: str) -> None:
    """What a data scientist would write: read, SMOTE(0.25).fit_resample, write."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from imblearn.over_sampling import SMOTE

    table = pq.read_table(in_path)
    names = [n for n in table.column_names if n != "is_fraud"]
    df = table.to_pandas()
    X, y = SMOTE(sampling_strategy=0.25, random_state=0).fit_resample(df[names].to_numpy(), df["is_fraud"].to_numpy())
    out = pa.table({**{n: X[:, i] for i, n in enumerate(names)}, "is_fraud": y})
    pq.write_table(out, out_path)


def bare_gaussian_copula(in_path: str, out_path: str, n_rows: int, distribution: str = "truncnorm") -> None:
    """Bare SDV 2.0: one GaussianCopula fitted on the whole table, `n_rows` sampled, written."""
    import warnings

    import pyarrow.parquet as pq
    from sdv.metadata import Metadata
    from sdv.single_table import GaussianCopulaSynthesizer

    df = pq.read_table(in_path).to_pandas()
    columns = {c: {"sdtype": "numerical"} for c in df.columns if c != "is_fraud"}
    columns["is_fraud"] = {"sdtype": "categorical"}
    metadata = Metadata.load_from_dict({"tables": {"t": {"columns": columns}}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        synth = GaussianCopulaSynthesizer(metadata, default_distribution=distribution)
        synth.fit({"t": df})
        sample = synth.sample(n_rows)["t"]
    sample.to_parquet(out_path, index=False)


def platform_method(in_path: str, out_path: str, method: str, params: dict) -> None:
    """The registered method function on the same file (platform columns added as the pipeline does)."""
    import pyarrow.parquet as pq

    from augment_jobs.config import DatasetConfig
    from augment_jobs.registry import AugmentContext, get_method

    df = pq.read_table(in_path).to_pandas()
    df["_id"] = [f"in.parquet#{i}" for i in range(len(df))]
    df["_synthetic"] = False
    df["_source_ids"] = [[i] for i in df["_id"]]
    df["_method"] = "source"
    df["_params"] = None
    cfg = DatasetConfig(dataset="bench", modality="tabular", source={"uri": in_path}, label="is_fraud",
                        augment=[{"method": method, "params": params}], publish={"uri": out_path})
    spec = get_method(method)
    t = time.perf_counter()
    out = spec(df, spec.parse_params(params), AugmentContext(cfg=cfg, ds="2026-01-01"))
    print(json.dumps({"method_seconds": round(time.perf_counter() - t, 2)}), file=sys.stderr)
    out.to_parquet(out_path, index=False)


def _measure(call: str) -> dict:
    """Run `call` in a fresh interpreter; seconds and peak RSS (MiB)."""
    code = (
        "import resource, time, sys; sys.path.insert(0, 'benchmarks'); import tabular_baseline as b; "
        f"t = time.perf_counter(); {call}; "
        "print(round(time.perf_counter() - t, 2), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    secs, rss = res.stdout.split()[-2:]
    extra = [json.loads(line) for line in res.stderr.splitlines() if line.startswith("{")]
    return {"seconds": float(secs), "peak_rss_mib": int(rss), **(extra[0] if extra else {})}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--copula", action="store_true", help="also gaussian copula (bare vs platform)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src, out = os.path.join(tmp, "in.parquet"), os.path.join(tmp, "out.parquet")
        make_fraud_table(src, args.rows, args.features, seed=0)
        report = {
            "bare_smote": _measure(f"b.bare_smote({src!r}, {out!r})"),
            "platform_smote": _measure(
                f"b.platform_method({src!r}, {out!r}, 'smote', {{'sampling_strategy': 0.25}})"),
        }
        if args.copula:
            import pyarrow.parquet as pq

            y = pq.read_table(src, columns=["is_fraud"]).column(0).to_numpy()
            n_new = int(0.25 * (y == 0).sum()) - int((y == 1).sum())
            report["bare_gaussian_copula"] = _measure(f"b.bare_gaussian_copula({src!r}, {out!r}, {n_new})")
            report["platform_gaussian_copula"] = _measure(
                f"b.platform_method({src!r}, {out!r}, 'gaussian_copula', {{'sampling_strategy': 0.25}})")
        print(json.dumps({"rows": args.rows, "features": args.features, **report}, indent=2))


if __name__ == "__main__":
    main()

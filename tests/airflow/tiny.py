"""Tiny datasets and their configs for orchestration tests (seconds per run, no demo data): support
tickets (text) and a multi-part Parquet table made from scikit-learn's bundled breast-cancer data."""

from __future__ import annotations

import json
import random
from pathlib import Path

WORDS = [
    "the",
    "service",
    "was",
    "good",
    "bad",
    "slow",
    "quick",
    "support",
    "agent",
    "reply",
    "order",
    "late",
    "refund",
    "app",
    "crash",
]


def write_tiny(
    root: Path,
    *,
    dataset: str = "tiny_tickets",
    max_synthetic_ratio: float = 0.6,
    schedule: str | None = "@daily",
    airflow: str = "{retries: 1, retry_delay_seconds: 1, tags: [test]}",
) -> Path:
    """Write `<root>/configs/<dataset>.yaml` (+ thesaurus); returns the config path."""
    (root / "configs").mkdir(parents=True, exist_ok=True)
    (root / "thesauri").mkdir(exist_ok=True)
    (root / "thesauri" / "tiny.yaml").write_text("good: [great, fine]\nbad: [poor, awful]\n")
    path = root / "configs" / f"{dataset}.yaml"
    path.write_text(
        f"""dataset: {dataset}
modality: text
description: tiny support tickets for orchestration tests
schedule: {json.dumps(schedule)}
seed: 3
source: {{uri: "{{store}}/raw/{dataset}/{{ds}}/", format: jsonl}}
label: label
text_column: text
augment:
  - method: eda
    params: {{n_aug: 1, thesaurus: thesauri/tiny.yaml, synonym_rate: 0.2}}
limits: {{max_synthetic_ratio: {max_synthetic_ratio}}}
publish: {{uri: "{{store}}/published/{dataset}"}}
airflow: {airflow}
"""
    )
    return path


def write_tiny_raw(store: Path, ds: str, *, dataset: str = "tiny_tickets", rows: int = 60) -> Path:
    """One JSONL file of `rows` labelled texts for logical date `ds`."""
    rng = random.Random(ds)
    folder = store / "raw" / dataset / ds
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "part-0.jsonl").open("w") as f:
        for i in range(rows):
            text = " ".join(rng.choice(WORDS) for _ in range(8))
            f.write(json.dumps({"text": text, "label": "pos" if i % 3 else "neg"}) + "\n")
    return folder


def write_tabular(
    root: Path, *, dataset: str = "cancer", rows_per_task: int = 150, schedule: str | None = None
) -> Path:
    """Write `<root>/configs/<dataset>.yaml`: SMOTE on the tabular engine, `rows_per_task` rows per
    mapped augment task, files of 100 rows, unscheduled unless `schedule`; returns the config path."""
    (root / "configs").mkdir(parents=True, exist_ok=True)
    path = root / "configs" / f"{dataset}.yaml"
    path.write_text(
        f"""dataset: {dataset}
modality: tabular
description: breast-cancer diagnoses in Parquet parts; SMOTE balances the malignant class
schedule: {json.dumps(schedule)}
seed: 5
source: {{uri: "{{store}}/raw/{dataset}/{{ds}}/", format: parquet, rows_per_task: {rows_per_task}}}
label: target
augment:
  - method: smote
    params: {{k_neighbors: 5}}
limits: {{max_synthetic_ratio: 0.3}}
publish: {{uri: "{{store}}/published/{dataset}", rows_per_file: 100}}
airflow: {{retries: 0, tags: [test]}}
"""
    )
    return path


def write_tabular_raw(store: Path, ds: str, *, dataset: str = "cancer", parts: int = 3) -> Path:
    """scikit-learn's breast-cancer table (569 rows, 30 features, label `target`) as `parts` Parquet
    files in the partition of `ds`."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.datasets import load_breast_cancer

    table = pa.Table.from_pandas(load_breast_cancer(as_frame=True).frame, preserve_index=False)
    folder = store / "raw" / dataset / ds
    folder.mkdir(parents=True, exist_ok=True)
    n = table.num_rows
    for i in range(parts):
        lo, hi = i * n // parts, (i + 1) * n // parts
        pq.write_table(table.slice(lo, hi - lo), folder / f"part-{i}.parquet")
    return folder

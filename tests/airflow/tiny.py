"""A tiny text dataset and its config for orchestration tests (seconds per run, no demo data)."""

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

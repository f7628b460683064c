"""A 60-row imbalanced CSV partition and a SMOTE config for it: a whole run in seconds (no GX suite)."""

from __future__ import annotations

from pathlib import Path

import yaml


def write_tiny_tabular(root: Path, ds: str, *, max_synthetic_ratio: float = 0.6, store: str = "{store}") -> Path:
    """Write the source partition under `<root>/raw/tiny/<ds>/` and `<root>/configs/tiny.yaml`
    (source and publish URIs under `store`); returns the config path."""
    part = root / "raw" / "tiny" / ds
    part.mkdir(parents=True)
    lines = ["x,y,label"] + [f"{i * 0.5},{(i * 7) % 11},{1 if i % 6 == 0 else 0}" for i in range(60)]
    (part / "part.csv").write_text("\n".join(lines) + "\n")
    cfg = {
        "dataset": "tiny", "modality": "tabular", "seed": 3, "label": "label",
        "source": {"uri": store + "/raw/tiny/{ds}/", "format": "csv"},
        "augment": [{"method": "smote", "params": {"sampling_strategy": 1.0, "k_neighbors": 3}}],
        "limits": {"max_synthetic_ratio": max_synthetic_ratio},
        "publish": {"uri": store + "/published/tiny"},
    }
    (root / "configs").mkdir(exist_ok=True)
    path = root / "configs" / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path

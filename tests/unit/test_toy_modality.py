"""A fifth modality registered from its own package runs end to end through the shared stages."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
import toy_modality  # noqa: E402  (registers the `toy` modality and its `duplicate` method)

from augment_jobs.cli import main  # noqa: E402
from augment_jobs.reader import open_dataset  # noqa: E402
from augment_jobs.registry import methods, modalities  # noqa: E402


def test_toy_modality_publishes_through_the_shared_stages(store: Path, tmp_path: Path, capsys) -> None:
    assert "toy" in modalities() and methods("toy")["duplicate"].modality == "toy"
    (tmp_path / "configs").mkdir()
    config = tmp_path / "configs" / "toys.yaml"
    config.write_text(yaml.safe_dump({
        "dataset": "toys", "modality": "toy", "source": {"uri": "{store}/raw/toys/{ds}/", "format": "csv"},
        "label": "kind", "augment": [{"method": "duplicate"}], "limits": {"max_synthetic_ratio": 0.5},
        "publish": {"uri": "{store}/published/toys"},
    }))
    toy_modality.write_raw(str(store / "raw" / "toys" / "2026-01-01"), "2026-01-01")
    assert main(["run", str(config), "--date", "2026-01-01"]) == 0
    ds = open_dataset(str(store / "published" / "toys"))
    df = ds.to_pandas()
    assert len(df) == 6 and df["_synthetic"].sum() == 3 and ds.manifest.counts["a"].after == 4
    assert all(c.passed for c in ds.manifest.gate.checks) and {c.name for c in ds.manifest.gate.checks} >= {
        "synthetic_share", "similarity", "missing_share", "skipped_share"}
    assert main(["lineage", str(store / "published" / "toys"), ds.version, "toys.csv#0~dup0", "--json"]) == 0
    assert "toys.csv#0" in capsys.readouterr().out


def test_unknown_modality_lists_the_registered_ones(tmp_path: Path, capsys) -> None:
    (tmp_path / "configs").mkdir()
    config = tmp_path / "configs" / "x.yaml"
    config.write_text(yaml.safe_dump({"dataset": "x", "modality": "video", "source": {"uri": "x/"}, "label": "y",
                                      "augment": [{"method": "smote"}], "publish": {"uri": "p"}}))
    assert main(["check", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert "modality: unknown modality 'video'; registered: audio, image, tabular, text, timeseries, toy" in err
    assert len(err.splitlines()) == 1

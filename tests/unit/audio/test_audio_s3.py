"""The audio path through S3 (moto's real HTTP server): the demo's messy raw data in, a published,
gated FLAC WebDataset version out, read back by the torch reader."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from audio_helpers import noise_folder  # noqa: E402

pytestmark = pytest.mark.integration


def test_demo_data_published_on_s3(s3_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import augment_jobs.audio.demo as demo
    from augment_jobs.cli import main
    from augment_jobs.reader import open_dataset

    monkeypatch.setattr(demo, "CLASSES", {"go": (180.0, 4), "stop": (120.0, 4)})
    demo.write_raw(f"{s3_store}/raw/cmds/2026-01-05/", "2026-01-05")
    noise_folder(tmp_path / "noise")
    (tmp_path / "configs").mkdir()
    config = tmp_path / "configs" / "cmds.yaml"
    config.write_text(yaml.safe_dump({
        "dataset": "cmds", "modality": "audio", "seed": 2, "label": "label",
        "source": {"uri": "{store}/raw/cmds/{ds}/", "format": "audio", "max_corrupt_share": 0.2},
        "augment": [{"method": "audio_policy", "params": {"copies": 1, "ops": [
            {"op": "background", "folder": "noise", "snr_db": [15, 25]}, {"op": "pitch_shift", "p": 0.5}]}}],
        "limits": {"max_synthetic_ratio": 0.6},
        "publish": {"uri": "{store}/published/cmds", "format": "webdataset", "shard_max_samples": 5},
    }))
    assert main(["run", str(config), "--date", "2026-01-05"]) == 0
    ds = open_dataset(f"{s3_store}/published/cmds")
    m = ds.manifest
    assert {r.key for r in m.rejected} == {"mess/truncated.wav", "mess/notes.wav"}
    assert m.rows == 10 + 9 and len(m.files) == 4  # 8 clips + silence + tiny; copies for all but tiny
    samples = list(ds.torch())
    assert len(samples) == 19 and all(s["json"]["source_uri"].startswith("s3://") for s in samples)

"""The audio demo config end to end through `augment demo`: its raw data (three classes, 8 to 48 kHz,
wav/flac/ogg, the mess) published and gated, read back by the torch reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from augment_jobs.cli import main
from augment_jobs.config import load_config
from augment_jobs.reader import open_dataset

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow]


def test_speech_commands_demo(store: Path) -> None:
    assert main(["demo", "--date", "2026-01-01", "--only", "speech_commands"]) == 0
    cfg = load_config(REPO / "configs" / "speech_commands.yaml")
    ds = open_dataset(cfg.publish_uri())
    m = ds.manifest
    assert m.counts["left"].synthetic == 3 * m.counts["left"].before  # the rare class, 3 copies per clip
    assert {r.key for r in m.rejected} == {"mess/truncated.wav", "mess/notes.wav"}
    assert all(c.passed for c in m.gate.checks)
    assert sum(c.name.startswith("suite:") for c in m.gate.checks) == 9  # expectations/speech_commands.json
    batch = next(iter(ds.torch(batch_size=8)))
    assert len(batch["audio"]) == 8 and all(a.dtype.is_floating_point for a in batch["audio"])

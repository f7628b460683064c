"""Bad audio configs: one line naming the file and key, exit 2, before anything runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from audio_helpers import noise_folder  # noqa: E402

from augment_jobs.cli import main  # noqa: E402
from augment_jobs.config import load_config  # noqa: E402


def write_config(root: Path, ops: list[dict], **extra) -> Path:
    (root / "configs").mkdir(exist_ok=True)
    path = root / "configs" / "clips.yaml"
    path.write_text(yaml.safe_dump({
        "dataset": "clips", "modality": "audio", "seed": 1,
        "source": {"uri": "{store}/raw/clips/{ds}/", "format": "audio", **extra.pop("source", {})}, "label": "label",
        "augment": [{"method": "audio_policy", "params": {"copies": 1, "ops": ops}}],
        "limits": {"max_synthetic_ratio": 0.6}, "publish": {"uri": "{store}/published/clips", "format": "webdataset"},
        **extra,
    }))
    return path


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_unknown_op(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, [{"op": "warble", "p": 0.5}])
    err = one_line_error(capsys, ["check", str(path)])
    assert "clips.yaml" in err and "augment[0].params.ops.0" in err and "'warble'" in err and "'pitch_shift'" in err


@pytest.mark.parametrize("op", [{"op": "noise", "snr_db": [30, 10]}, {"op": "background", "folder": "noise",
                                                                        "snr_db": [20, 5]}])
def test_snr_range_backwards(tmp_path: Path, capsys: pytest.CaptureFixture[str], op: dict) -> None:
    noise_folder(tmp_path / "noise")
    err = one_line_error(capsys, ["check", str(write_config(tmp_path, [op]))])
    assert "snr_db: low" in err and "is above high" in err and "clips.yaml" in err


def test_empty_noise_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "noise").mkdir()
    (tmp_path / "noise" / "README.txt").write_text("not a clip")
    path = write_config(tmp_path, [{"op": "background", "folder": "noise"}])
    err = one_line_error(capsys, ["run", str(path), "--date", "2026-01-01"])
    assert "augment[0].params.ops[0].folder: 'noise' has no audio files" in err and "clips.yaml" in err


def test_missing_noise_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = one_line_error(capsys, ["check", str(write_config(tmp_path, [{"op": "reverb", "folder": "rooms"}]))])
    assert "augment[0].params.ops[0].folder: 'rooms' is not a folder" in err


def test_noise_clips_are_part_of_the_fingerprint(tmp_path: Path) -> None:
    folder = noise_folder(tmp_path / "noise")
    path = write_config(tmp_path, [{"op": "background", "folder": "noise"}])
    before = load_config(path).sha256()
    (folder / "noise_0.flac").write_bytes((folder / "noise_1.flac").read_bytes())
    assert load_config(path).sha256() != before


def test_the_demo_config_checks() -> None:
    repo = Path(__file__).resolve().parents[3]
    assert main(["check", str(repo / "configs" / "speech_commands.yaml")]) == 0

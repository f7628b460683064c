"""Real audio through the audio modality: speech from a real TTS engine (Debian's espeak-ng, several
voices and languages), noise clips made with sox, recordings shipped in Debian packages
(alsa-utils, sound-theme-freedesktop) when installed, and the mess real folders have (stereo,
8 kHz and 48 kHz, silence, a 1 ms clip, a truncated file, a non-audio file).

`make audio-tools` installs the tools; without espeak-ng and sox these tests skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from augment_jobs.cli import main
from augment_jobs.reader import open_dataset

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")),
                                                   reason="espeak-ng and sox not installed (make audio-tools)")]
DS = "2026-02-01"
WORDS = {"yes": {"en": "yes", "de": "ja", "fr": "oui", "es": "si"}, "no": {"en": "no", "de": "nein", "fr": "non",
                                                                         "es": "no"}}
VOICES = ("", "+f3", "+m3")
RECORDINGS = (Path("/usr/share/sounds/alsa"), Path("/usr/share/sounds/freedesktop/stereo"))


def run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def build_source(folder: Path) -> dict[str, int]:
    """Speech, recordings and mess under `folder` with annotations.jsonl; returns clips per class."""
    folder.mkdir(parents=True)
    lines, counts = [], {}
    for label, words in WORDS.items():
        for lang, word in words.items():
            for n, variant in enumerate(VOICES):
                name = f"speech/{label}_{lang}_{n}.wav"
                (folder / "speech").mkdir(exist_ok=True)
                run("espeak-ng", "-v", f"{lang}{variant}", "-w", str(folder / name), word)
                lines.append({"file": name, "label": label})
                counts[label] = counts.get(label, 0) + 1
    recorded = [p for d in RECORDINGS if d.is_dir() for p in sorted(d.iterdir())
                if p.suffix in (".wav", ".oga") and "Noise" not in p.name][:12]
    for p in recorded:
        shutil.copy(p, folder / p.name)
        lines.append({"file": p.name, "label": "recording"})
        counts["recording"] = counts.get("recording", 0) + 1
    (folder / "mess").mkdir()
    src = folder / "speech" / "yes_en_0.wav"
    run("sox", str(src), str(folder / "mess" / "stereo.wav"), "remix", "1", "1")
    run("sox", str(src), "-r", "8000", str(folder / "mess" / "low_rate.wav"))
    run("sox", str(folder / "speech" / "no_en_0.wav"), "-r", "48000", str(folder / "mess" / "high_rate.flac"))
    run("sox", "-n", "-r", "16000", "-b", "16", str(folder / "mess" / "silence.wav"), "trim", "0", "0.5")
    run("sox", str(src), str(folder / "mess" / "short.wav"), "trim", "0", "0.001")
    data = (folder / "speech" / "no_de_1.wav").read_bytes()
    (folder / "mess" / "truncated.wav").write_bytes(data[: len(data) // 3])
    (folder / "mess" / "readme.wav").write_text("this folder holds the yes/no corpus\n" * 10)
    for name, label in (("stereo.wav", "yes"), ("low_rate.wav", "yes"), ("high_rate.flac", "no"),
                        ("silence.wav", "no"), ("short.wav", "yes"), ("truncated.wav", "no"), ("readme.wav", "yes")):
        lines.append({"file": f"mess/{name}", "label": label})
    (folder / "annotations.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return counts


def test_real_speech_and_recordings_publish_and_gate(store: Path, tmp_path: Path) -> None:
    build_source(store / "raw" / "speech" / DS)
    (tmp_path / "noise").mkdir()
    run("sox", "-n", "-r", "16000", "-b", "16", str(tmp_path / "noise" / "pink.wav"), "synth", "2", "pinknoise", "vol", "0.2")
    run("sox", "-n", "-r", "44100", "-b", "16", str(tmp_path / "noise" / "brown.flac"), "synth", "1", "brownnoise")
    (tmp_path / "configs").mkdir()
    config = tmp_path / "configs" / "speech.yaml"
    config.write_text(yaml.safe_dump({
        "dataset": "speech", "modality": "audio", "seed": 3,
        "source": {"uri": "{store}/raw/speech/{ds}/", "format": "audio", "max_corrupt_share": 0.1}, "label": "label",
        "augment": [{"method": "audio_policy", "params": {"copies": 1, "ops": [
            {"op": "gain", "p": 0.7, "db": [-3, 3]}, {"op": "pitch_shift", "p": 0.5, "semitones": [-2, 2]},
            {"op": "speed", "p": 0.3, "factor": [0.95, 1.05]}, {"op": "reverb", "p": 0.3, "wet": [0.1, 0.3]},
            {"op": "background", "p": 0.5, "folder": "noise", "snr_db": [10, 25]},
            {"op": "noise", "p": 0.3, "snr_db": [25, 40], "color": "pink"},
            {"op": "time_shift", "p": 0.3, "max_fraction": 0.05}, {"op": "filter", "p": 0.3, "kind": "highpass",
                                                                   "cutoff_hz": [60, 200]},
            {"op": "time_mask", "p": 0.3, "max_fraction": 0.05}, {"op": "freq_mask", "p": 0.3, "max_fraction": 0.03},
        ]}}],
        "limits": {"max_synthetic_ratio": 0.6},
        # TTS speech has a tight loudness spread, so any gain moves the KS of RMS dBFS far (0.5 to
        # 0.67 measured with gain +-3 dB): the median loudness check is the guard here
        "quality": {"similarity": {"max_ks": 0.75, "min_rows": 10},
                    "audio": {"max_loudness_change_db": 6, "max_duration_change": 0.1}},
        "publish": {"uri": "{store}/published/speech", "format": "webdataset"},
    }))
    assert main(["run", str(config), "--date", DS]) == 0
    ds = open_dataset(str(store / "published" / "speech"))
    m = ds.manifest
    assert sorted(r.key for r in m.rejected) == ["mess/readme.wav", "mess/truncated.wav"]
    assert m.skipped == {"clip shorter than 32 frames (audio_policy)": 1}  # the 1 ms clip at 22 kHz
    assert all(c.passed for c in m.gate.checks)
    samples = list(ds.torch())
    rates = {s["sample_rate"] for s in samples}
    assert {8000, 22050, 48000} <= rates and {s["audio"].shape[0] for s in samples} >= {1, 2}
    originals = {s["json"]["source_key"]: s for s in samples if not s["json"]["synthetic"]}
    for s in samples:
        rec = s["json"]
        ops = {o["op"] for o in rec["params"].get("ops", [])}
        if rec["synthetic"] and "pitch_shift" in ops and "speed" not in ops:
            assert s["audio"].shape == originals[rec["source_key"]]["audio"].shape  # duration kept
    # the published originals are the source samples, bit for bit (FLAC is lossless)
    src = store / "raw" / "speech" / DS / "speech" / "yes_de_2.wav"
    pcm, _ = sf.read(src, dtype="int16", always_2d=True)
    got = originals["speech/yes_de_2.wav"]["audio"].numpy().T
    assert np.array_equal(np.round(got * 32768).astype(np.int16), pcm)

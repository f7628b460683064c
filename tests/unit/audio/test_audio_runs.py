"""Audio end to end through the CLI on a local store: a messy folder in (8, 16 and 48 kHz, mono and
stereo, wav/flac/ogg, silence, a 20-frame clip, a truncated wav, a text file named .wav), FLAC
WebDataset out with a manifest, read back by the torch reader and stock webdataset, traced by
`augment lineage`; bad inputs fail with one line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from audio_helpers import noise_folder  # noqa: E402

from augment_jobs.audio.demo import encode_file, voiced  # noqa: E402
from augment_jobs.cli import main  # noqa: E402
from augment_jobs.reader import open_dataset  # noqa: E402

DS = "2026-01-01"
OPS = [
    {"op": "gain", "p": 0.8, "db": [-3, 3]}, {"op": "speed", "p": 0.4, "factor": [0.95, 1.05]},
    {"op": "pitch_shift", "p": 0.4, "semitones": [-1, 1]}, {"op": "background", "p": 0.5, "folder": "noise"},
    {"op": "noise", "p": 0.5, "snr_db": [20, 30]}, {"op": "time_shift", "p": 0.5, "max_fraction": 0.1},
    {"op": "filter", "p": 0.3, "kind": "highpass", "cutoff_hz": [50, 150]}, {"op": "time_mask", "p": 0.3},
    {"op": "freq_mask", "p": 0.3, "max_fraction": 0.05}, {"op": "reverb", "p": 0.3, "wet": [0.1, 0.2]},
]


def write_source(folder: Path) -> None:
    """10 good clips of two classes and the four kinds of mess."""
    rng = np.random.default_rng(7)
    lines = []
    for i in range(10):
        sr = (8000, 16000, 48000)[i % 3]
        ext, fmt, sub = (("wav", "WAV", "PCM_16"), ("flac", "FLAC", "PCM_24"), ("ogg", "OGG", "VORBIS"))[i % 3]
        label = "yes" if i % 2 else "no"
        wave = voiced(rng, 140 + 30 * (i % 2), sr, 0.25 + 0.02 * i, 2 if i % 4 == 0 else 1)
        (folder / label).mkdir(parents=True, exist_ok=True)
        (folder / label / f"c{i}.{ext}").write_bytes(encode_file(wave, sr, fmt, sub))
        lines.append({"file": f"{label}/c{i}.{ext}", "label": label, "segments": [[0.01, 0.2]]})
    (folder / "silence.wav").write_bytes(encode_file(np.zeros((1, 4000), np.float32), 16000, "WAV", "PCM_16"))
    (folder / "tiny.wav").write_bytes(encode_file(voiced(rng, 150, 16000, 20 / 16000), 16000, "WAV", "PCM_16"))
    whole = encode_file(voiced(rng, 150, 16000, 0.3), 16000, "WAV", "PCM_16")
    (folder / "truncated.wav").write_bytes(whole[: len(whole) // 2])
    (folder / "notes.wav").write_bytes(b"not audio at all\n" * 30)
    lines += [{"file": "silence.wav", "label": "no"}, {"file": "tiny.wav", "label": "yes"},
              {"file": "truncated.wav", "label": "no"}, {"file": "notes.wav", "label": "yes"}]
    (folder / "annotations.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def write_config(root: Path, name: str = "clips", source: dict | None = None, batch_size: int = 32,
                 **extra) -> Path:
    (root / "configs").mkdir(exist_ok=True)
    noise_folder(root / "noise")
    path = root / "configs" / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "dataset": name, "modality": "audio", "seed": 1,
        "source": source or {"uri": "{store}/raw/clips/{ds}/", "format": "audio", "max_corrupt_share": 0.2},
        "label": "label", "augment": [{"method": "audio_policy", "params": {"copies": {"per_class": {"yes": 2},
                                                                                      "default": 1}, "ops": OPS,
                                                                "batch_size": batch_size}}],
        "limits": {"max_synthetic_ratio": 0.7}, "publish": {"uri": f"{{store}}/published/{name}", "format": "webdataset"},
        **extra,
    }))
    return path


@pytest.fixture(scope="module")
def module_store(tmp_path_factory: pytest.TempPathFactory, mlflow_uri: str) -> Iterator[Path]:
    """One store for the module's tests, which read the same published run."""
    from augment_jobs.store import reset_stores

    root = tmp_path_factory.mktemp("audio")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUGMENT_STORE", str(root / "store"))
        mp.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
        mp.delenv("AUGMENT_FAULT", raising=False)
        reset_stores()
        yield root
    reset_stores()


@pytest.fixture(scope="module")
def published(module_store: Path) -> tuple[Path, Path]:
    store = module_store / "store"
    write_source(store / "raw" / "clips" / DS)
    config = write_config(module_store)
    assert main(["run", str(config), "--date", DS]) == 0
    return config, store / "published" / "clips"


def test_publishes_flac_webdataset_with_manifest_and_lineage(published: tuple[Path, Path],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    import webdataset

    _, uri = published
    ds = open_dataset(str(uri))
    m = ds.manifest
    assert m.modality == "audio" and m.format == "webdataset"
    # 12 decodable clips (10 + silence + tiny); yes: 5 + tiny → 2 copies each but tiny (skipped); no: 6 → 1 each
    assert m.counts["yes"].before == 6 and m.counts["yes"].synthetic == 10
    assert m.counts["no"].before == 6 and m.counts["no"].synthetic == 6 and m.rows == 28
    assert sorted(r.key for r in m.rejected) == ["notes.wav", "truncated.wav"]
    assert m.skipped == {"clip shorter than 32 frames (audio_policy)": 1}
    checks = {c.name: c for c in m.gate.checks}
    assert all(c.passed for c in checks.values())
    assert {"audio.finite", "audio.clipping", "audio.loudness", "audio.duration", "audio.similarity",
            "audio.corrupt_share", "label_set_unchanged"} <= set(checks)
    assert checks["audio.corrupt_share"].observed == pytest.approx(2 / 14)

    samples = list(webdataset.WebDataset([str(uri / "versions" / m.version / f.path) for f in m.files],
                                         shardshuffle=False))
    assert len(samples) == 28 and all({"flac", "json"} <= set(s) for s in samples)
    recs = [json.loads(s["json"]) for s in samples]
    copy = next(r for r in recs if r["synthetic"] and r["source_key"] == "yes/c1.flac")
    assert copy["method"] == "audio_policy" and copy["seed"] is not None and copy["params"]["ops"]
    assert {r["sample_rate"] for r in recs} == {8000, 16000, 48000} and {r["channels"] for r in recs} == {1, 2}
    key = next(s["__key__"] for s, r in zip(samples, recs, strict=True) if r is copy)
    assert main(["lineage", str(uri), m.version, key, "--json"]) == 0
    traced = json.loads(capsys.readouterr().out)
    assert traced["source_key"] == "yes/c1.flac" and traced["params"] == copy["params"]

    report = (uri / "versions" / m.version / "_report.html").read_text()
    assert report.count("<audio controls") >= 2 and "Audio: real vs augmented" in report

    from mlflow.tracking import MlflowClient

    logged = {a.path for a in MlflowClient().list_artifacts(m.mlflow.run_id)}
    assert "spectrogram_grid.png" in logged


def test_reader_yields_waveforms_split_exactly_and_resumes(published: tuple[Path, Path],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    _, uri = published
    ds = open_dataset(str(uri))
    assert ds.verify()
    first = next(iter(ds.torch(batch_size=4, shuffle=True, seed=3)))
    assert isinstance(first["audio"][0], torch.Tensor) and first["audio"][0].dtype == torch.float32
    assert first["audio"][0].dim() == 2 and len(first["label"]) == 4 and first["label"][0] in {"yes", "no"}
    keys = []
    for rank in range(3):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "3")
        keys.append([s["__key__"] for s in ds.torch(shuffle=True, seed=3, columns=["__key__"]) if not s["_pad"]])
    assert len({len(k) for k in keys}) <= 2 and len(set().union(*keys)) == 28
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    full = [s["__key__"] for s in ds.torch(shuffle=True, seed=3, columns=["__key__"])]
    part = ds.torch(shuffle=True, seed=3, columns=["__key__"])
    it = iter(part)
    seen = [next(it)["__key__"] for _ in range(10)]
    state = part.state_dict()
    resumed = ds.torch(shuffle=True, seed=3, columns=["__key__"])
    resumed.load_state_dict(state)
    assert seen + [s["__key__"] for s in resumed] == full


@pytest.mark.slow
def test_same_inputs_give_byte_identical_files(published: tuple[Path, Path], module_store: Path) -> None:
    config, uri = published
    first = open_dataset(str(uri)).manifest
    assert main(["run", str(config), "--date", DS, "--force"]) == 0  # publish refuses different bytes
    # batches of one clip instead of 32 (another dataset, same source): the same data files
    assert main(["run", str(write_config(module_store, "clips_b1", batch_size=1)), "--date", DS]) == 0
    again = open_dataset(str(module_store / "store" / "published" / "clips_b1")).manifest
    assert [f.sha256 for f in again.files] == [f.sha256 for f in first.files]


@pytest.mark.slow
def test_webdataset_source(published: tuple[Path, Path], module_store: Path) -> None:
    _, uri = published
    store = module_store / "store"
    m = open_dataset(str(uri)).manifest
    src = store / "raw" / "from_tars" / DS
    src.mkdir(parents=True)
    for f in m.files:
        (src / f.path).write_bytes((uri / "versions" / m.version / f.path).read_bytes())
    config = write_config(module_store, "from_tars", source={"uri": "{store}/raw/from_tars/{ds}/", "format": "webdataset"},
                          limits={"max_synthetic_ratio": 0.8})
    assert main(["run", str(config), "--date", DS]) == 0
    out = open_dataset(str(store / "published" / "from_tars")).manifest
    assert out.counts["yes"].before == 16 and out.counts["no"].before == 12  # every published sample is a source


def test_unreadable_files_above_the_limit_fail_the_gate(store: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    write_source(store / "raw" / "clips" / DS)
    config = write_config(tmp_path, source={"uri": "{store}/raw/clips/{ds}/", "format": "audio",
                                            "max_corrupt_share": 0.1})
    assert main(["run", str(config), "--date", DS]) == 3
    (err,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert "audio.corrupt_share: 2 of 14 inputs rejected (14.3%; limit 10.0%)" in err, err
    assert "change source.max_corrupt_share" in err
    uri = store / "published" / "clips"
    assert not (uri / "_latest").exists() and not (uri / "versions").exists()
    (quarantined,) = (uri / "quarantine").iterdir()
    assert (quarantined / "report.html").exists()


def test_checks_fail_on_nan_clipping_loudness_and_features() -> None:
    import pandas as pd

    from augment_jobs.audio.checks import clipping, finite, loudness_duration, similarity
    from augment_jobs.checks import GateInput
    from augment_jobs.config import DatasetConfig

    cfg = DatasetConfig(dataset="t", modality="audio", source={"uri": "x/", "format": "audio"}, label="label",
                        augment=[{"method": "audio_policy"}], publish={"uri": "o", "format": "webdataset"},
                        quality={"similarity": {"min_rows": 5}})
    n = 10
    real = pd.DataFrame({"key": [f"r{i}" for i in range(n)], "label": "a", "synthetic": False, "frames": 1000,
                         "channels": 1, "duration_s": 1.0 + np.arange(n) / 100, "rms_dbfs": -20.0 - np.arange(n),
                         "spectral_centroid_hz": 1000.0 + np.arange(n), "clipped": 0, "clipped_share": 0.0,
                         "nonfinite": 0})
    good = real.assign(key=[f"s{i}" for i in range(n)], synthetic=True)
    bad = good.assign(rms_dbfs=good["rms_dbfs"] + 15, duration_s=good["duration_s"] * 2, clipped=100,
                      clipped_share=0.1, nonfinite=[3] + [0] * (n - 1))

    def run(syn: pd.DataFrame) -> dict[str, bool]:
        g = GateInput(cfg=cfg, plan=None, shards=[], frame=pd.concat([real, syn], ignore_index=True))
        return {r.name: r.passed for check in (finite, clipping, loudness_duration, similarity) for r in check(g)}

    assert all(run(good).values())
    assert not any(run(bad).values())

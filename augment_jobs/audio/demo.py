"""Demo raw data for `configs/speech_commands.yaml`: short synthetic "commands", with the mess real
audio folders have.

Three classes of voiced sounds (a harmonic series with a formant-like envelope and vibrato:
`go`, `stop`, and a rare `left`), at 8, 16 and 48 kHz, mono and stereo, 0.3 to 1.2 s, in wav, flac
and ogg, plus annotations.jsonl. `mess=True` adds what the gate must cope with: a silent clip, a
20-frame clip (published as real, counted as skipped), a truncated wav and a text file named
`.wav` (both rejected and counted). Written through the store, so a local folder and S3 both work.
Same date, same bytes.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from augment_jobs.rng import rng_for
from augment_jobs.store import join, store_for

CLASSES = {"go": (180.0, 14), "stop": (120.0, 14), "left": (240.0, 6)}  # (base pitch Hz, clips); left is rare
RATES = (8000, 16000, 48000)
FORMATS = (("wav", "WAV", "PCM_16"), ("flac", "FLAC", "PCM_16"), ("ogg", "OGG", "VORBIS"))


def voiced(rng: np.random.Generator, f0: float, sr: int, seconds: float, channels: int = 1) -> np.ndarray:
    """A voiced sound [channels, frames]: harmonics of f0 with vibrato, a formant-ish spectral
    envelope and an attack/decay envelope, a little breath noise."""
    n = max(1, int(seconds * sr))
    t = np.arange(n) / sr
    f = f0 * (1 + 0.03 * np.sin(2 * np.pi * rng.uniform(4, 7) * t))
    phase = 2 * np.pi * np.cumsum(f) / sr
    formant = rng.uniform(500, 1500)
    y = np.zeros(n)
    for h in range(1, 12):
        if h * f0 >= sr / 2 * 0.9:
            break
        y += np.exp(-((h * f0 - formant) / 800) ** 2) / h * np.sin(h * phase)
    env = np.minimum(1, t / 0.03) * np.exp(-t * rng.uniform(0.5, 3))
    y = y * env + rng.normal(0, 0.003, n)
    y = 0.5 * y / max(1e-9, np.abs(y).max())
    out = np.stack([y * (1 - 0.2 * c) for c in range(channels)])
    return out.astype(np.float32)


def encode_file(wave: np.ndarray, sr: int, fmt: str, subtype: str) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, wave.T, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def write_raw(source_uri: str, ds: str, mess: bool = True) -> None:
    """Write the speech-commands dataset (clips + annotations.jsonl) under `source_uri`."""
    store = store_for(source_uri)
    rng = rng_for(0, ds, "speech-commands-demo")
    lines = []
    n = 0
    for label, (f0, count) in CLASSES.items():
        for _ in range(count):
            sr = int(RATES[n % len(RATES)])
            ext, fmt, subtype = FORMATS[n % len(FORMATS)]
            channels = 2 if n % 5 == 0 else 1
            wave = voiced(rng, f0 * rng.uniform(0.9, 1.1), sr, float(rng.uniform(0.3, 1.2)), channels)
            name = f"{label}/clip_{n:03d}.{ext}"
            store.write_bytes(join(source_uri, name), encode_file(wave, sr, fmt, subtype))
            lines.append({"file": name, "label": label, "segments": [[0.02, round(wave.shape[1] / sr * 0.8, 3)]]})
            n += 1
    if mess:
        store.write_bytes(join(source_uri, "mess/silence.wav"), encode_file(np.zeros((1, 8000), np.float32), 16000,
                                                                            "WAV", "PCM_16"))
        store.write_bytes(join(source_uri, "mess/tiny.wav"), encode_file(voiced(rng, 200, 16000, 20 / 16000), 16000,
                                                                         "WAV", "PCM_16"))
        whole = encode_file(voiced(rng, 150, 16000, 0.5), 16000, "WAV", "PCM_16")
        store.write_bytes(join(source_uri, "mess/truncated.wav"), whole[: len(whole) // 2])
        store.write_bytes(join(source_uri, "mess/notes.wav"), b"these are meeting notes, not audio\n" * 20)
        lines += [{"file": "mess/silence.wav", "label": "go"}, {"file": "mess/tiny.wav", "label": "stop"},
                  {"file": "mess/truncated.wav", "label": "go"}, {"file": "mess/notes.wav", "label": "stop"}]
    store.write_bytes(join(source_uri, "annotations.jsonl"), "".join(json.dumps(x) + "\n" for x in lines).encode())


def example(method: Any) -> tuple[Any, Any]:
    """Six short clips (mono and stereo, two rates) as one batch, and a config running `method`."""
    from augment_jobs.audio.batch import AudioBatch
    from augment_jobs.config import DatasetConfig

    rng = np.random.default_rng(0)
    cfg = DatasetConfig(
        dataset="example", modality="audio", source={"uri": "example/", "format": "audio"}, label="label",
        augment=[{"method": method.name, "params": method.example}],
        publish={"uri": "example-out", "format": "webdataset"},
    )
    srs = [8000, 16000] * 3
    waves = [voiced(rng, 150 + 20 * i, sr, 0.2 + 0.05 * i, 1 + i % 2) for i, sr in enumerate(srs)]
    batch = AudioBatch(waves=waves, sample_rates=srs, keys=[f"clip_{i}.wav" for i in range(6)], copies=[0] * 6,
                       labels=["go", "stop"] * 3)
    return cfg, batch


def probe(out: Any, cfg: Any) -> list[Any]:
    """One ProbeItem per augmented clip: its source key is its lineage."""
    from augment_jobs.modality import ProbeItem

    assert len(out.params) == len(out.seeds) == len(out.keys) == len(out.waves), \
        "a method must return a clip, params and a seed per input clip"
    import hashlib

    # the output's content takes part in the determinism check
    digest = [hashlib.blake2b(w.tobytes(), digest_size=6).hexdigest() for w in out.waves]
    return [ProbeItem(f"{k}-a{c}-{d}", True, (k,), lab, cfg.augment[0].method)
            for k, c, lab, d in zip(out.keys, out.copies, out.labels, digest, strict=True)]

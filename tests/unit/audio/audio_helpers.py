"""Small real clips for the audio tests: sines, voiced sounds, folders of noise clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from augment_jobs.audio.demo import encode_file, voiced


def sine(freq: float, sr: int, seconds: float, amp: float = 0.5, channels: int = 1) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return np.stack([amp * np.sin(2 * np.pi * freq * t)] * channels).astype(np.float32)


def peak_hz(wave: np.ndarray, sr: int) -> float:
    """The strongest frequency of the mono mix."""
    mag = np.abs(np.fft.rfft(wave.mean(axis=0) * np.hanning(wave.shape[1])))
    return float(np.fft.rfftfreq(wave.shape[1], 1 / sr)[int(np.argmax(mag))])


def band_energy(wave: np.ndarray, sr: int, lo: float, hi: float) -> float:
    f = np.fft.rfftfreq(wave.shape[1], 1 / sr)
    mag = np.abs(np.fft.rfft(wave, axis=1)) ** 2
    return float(mag[:, (f >= lo) & (f < hi)].sum())


def rms(wave: np.ndarray) -> float:
    return float(np.sqrt(np.mean(wave.astype(np.float64) ** 2)))


def noise_folder(path: Path, n: int = 2, sr: int = 16000) -> Path:
    """A folder of `n` short noise clips (FLAC), different rates."""
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        rate = sr if i % 2 == 0 else sr * 2
        (path / f"noise_{i}.flac").write_bytes(
            encode_file((rng.standard_normal((1, rate // 2)) * 0.1).astype(np.float32), rate, "FLAC", "PCM_16"))
    return path


def voice(seed: int, sr: int = 16000, seconds: float = 0.5, channels: int = 1) -> np.ndarray:
    return voiced(np.random.default_rng(seed), 150 + seed, sr, seconds, channels)

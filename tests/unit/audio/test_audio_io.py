"""Audio decoding guards and deterministic, lossless FLAC encoding."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).parent))
from audio_helpers import voice  # noqa: E402

from augment_jobs.audio.demo import encode_file  # noqa: E402
from augment_jobs.audio.io import RawClip, decode, encode, encode_pcm, read_flac  # noqa: E402
from augment_jobs.samples import Rejected  # noqa: E402

RAW = RawClip("a.wav", "mem://a.wav", "x")


@pytest.mark.parametrize("fmt,subtype,bits", [("WAV", "PCM_16", 16), ("FLAC", "PCM_24", 24), ("WAV", "FLOAT", 24),
                                              ("OGG", "VORBIS", 16)])
def test_decodes_every_format_and_keeps_the_original_exactly(fmt: str, subtype: str, bits: int) -> None:
    x = voice(1, 16000, 0.3, channels=2)
    clip = decode(RAW, encode_file(x, 16000, fmt, subtype))
    assert clip.sample_rate == 16000 and clip.wave.shape == (2, x.shape[1]) and clip.bits == bits
    back, sr = read_flac(encode_pcm(clip.pcm, clip.sample_rate, clip.bits))
    assert sr == 16000 and back.shape == clip.wave.shape
    if subtype.startswith("PCM"):  # integer sources publish bit for bit
        assert np.array_equal(back, clip.wave)
        assert np.array_equal(sf.read(io.BytesIO(encode_file(x, 16000, fmt, subtype)), dtype="int32")[0],
                              sf.read(io.BytesIO(encode_pcm(clip.pcm, 16000, bits)), dtype="int32")[0])


def test_flac_encoding_is_deterministic() -> None:
    x = voice(2, 48000, 0.2)
    assert encode(x, 48000, 16) == encode(x.copy(), 48000, 16)
    y, _ = read_flac(encode(x, 48000, 16))
    assert np.abs(y - x).max() <= 1 / 32767


def _wav(x: np.ndarray, sr: int = 16000, subtype: str = "PCM_16") -> bytes:
    return encode_file(x, sr, "WAV", subtype)


@pytest.mark.parametrize("name,data,reason", [
    ("truncated wav", _wav(voice(3, 16000, 0.5))[:9000], "truncated"),
    ("truncated flac", encode_file(voice(3, 16000, 0.5), 16000, "FLAC", "PCM_16")[:3000], "not a readable audio"),
    ("not audio", b"meeting notes, not audio\n" * 40, "not a readable audio file: Format not recognised"),
    ("empty wav", _wav(np.zeros((1, 0), np.float32)), "no audio frames"),
    ("NaN float wav", _wav(np.array([[0.1, np.nan, 0.2] * 100], np.float32), subtype="FLOAT"), "NaN or inf"),
])
def test_unusable_inputs_are_rejected_with_the_reason(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        decode(RAW, data)

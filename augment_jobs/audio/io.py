"""Audio I/O through libsndfile (`soundfile`): guarded decoding, deterministic FLAC encoding, folders
of clips, and the WebDataset source reader. Tars are read and written by `augment_jobs.samples`
(the same deterministic WebDataset writer and grouping rules for every sample modality).

Decoding guards: an unreadable or non-audio file, a truncated one (fewer frames than its header
declares), an empty one, one with NaN/inf samples or more channels than FLAC holds is rejected by
key and the run goes on (the gate fails above `source.max_corrupt_share`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from augment_jobs.audio import AUDIO_EXTS
from augment_jobs.samples import Rejected, iter_tar

MAX_CHANNELS = 8  # FLAC's limit
MAX_FRAMES = 48_000 * 60 * 30  # 30 minutes at 48 kHz: longer inputs are rejected before decoding
INT16, INT24 = 32767, 8_388_607


@dataclass
class RawClip:
    """One source clip before decoding; `data` is None until read (folder sources)."""

    source_key: str
    source_uri: str
    label: str
    data: bytes | None = None
    segments: list[list[float]] = field(default_factory=list)


@dataclass
class Clip:
    raw: RawClip
    wave: np.ndarray  # float32 [channels, frames] in [-1, 1]
    sample_rate: int
    pcm: np.ndarray  # int32 [frames, channels] as decoded (left-justified): the lossless original
    bits: int  # 16 or 24: the FLAC depth the clip is published at


def decode(raw: RawClip, data: bytes) -> Clip:
    """Decode one clip; Rejected (with the reason) for anything unusable."""
    import soundfile as sf

    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            frames, sr, channels, subtype = f.frames, f.samplerate, f.channels, f.subtype
            extra = f.extra_info
            if channels > MAX_CHANNELS:
                raise Rejected(f"{channels} channels; FLAC holds at most {MAX_CHANNELS}")
            if frames > MAX_FRAMES:
                raise Rejected(f"{frames} frames declared, above the {MAX_FRAMES} limit; not decoded")
            pcm = f.read(dtype="int32", always_2d=True)
    except Rejected:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, EOFError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if msg.startswith("Error opening"):  # drop the in-memory file's repr (an address, different every run)
            msg = msg.split(": ", 1)[-1]
        raise Rejected(f"not a readable audio file: {msg}") from None
    # libsndfile reads a truncated WAV up to where it ends and reports the shortfall in its log
    if "should be" in extra and ("data :" in extra or "RIFF :" in extra):
        line = next((ln.strip() for ln in extra.splitlines() if "should be" in ln), "size mismatch")
        raise Rejected(f"truncated: header and file size disagree ({line})")
    if len(pcm) < frames:
        raise Rejected(f"truncated: {frames} frames declared, {len(pcm)} decoded")
    if len(pcm) == 0:
        raise Rejected("no audio frames")
    wave = (pcm.T.astype(np.float64) / 2**31).astype(np.float32)
    if subtype in ("FLOAT", "DOUBLE"):
        # float sources are read without int clipping, so NaN/inf (which int32 would hide) are seen
        with sf.SoundFile(io.BytesIO(data)) as f:
            as_float = f.read(dtype="float32", always_2d=True)
        if not np.isfinite(as_float).all():
            raise Rejected("NaN or inf samples in the source")
    bits = 24 if subtype in ("PCM_24", "PCM_32", "FLOAT", "DOUBLE") else 16
    return Clip(raw, wave, int(sr), pcm, bits)


def encode_pcm(pcm: np.ndarray, sr: int, bits: int) -> bytes:
    """int32 left-justified [frames, channels] → FLAC bytes (libsndfile keeps the top bits exactly)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, pcm, sr, format="FLAC", subtype=f"PCM_{bits}")
    return buf.getvalue()


def to_pcm(wave: np.ndarray, bits: int) -> np.ndarray:
    """float [channels, frames] in [-1, 1] → int32 left-justified [frames, channels], rounded (the
    same rule every time, so copies are byte-identical)."""
    full = INT24 if bits == 24 else INT16
    q = np.round(np.clip(wave.T.astype(np.float64), -1, 1) * full).astype(np.int32)
    return q << (32 - bits)


def encode(wave: np.ndarray, sr: int, bits: int) -> bytes:
    """float [channels, frames] → FLAC bytes at `bits` depth."""
    return encode_pcm(to_pcm(wave, bits), sr, bits)


def read_flac(data: bytes) -> tuple[np.ndarray, int]:
    """FLAC (or any libsndfile format) bytes → (float32 [channels, frames], sample rate)."""
    import soundfile as sf

    y, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return np.ascontiguousarray(y.T), int(sr)


# --- WebDataset sources --------------------------------------------------------------------------
def iter_tar_clips(uri: str, label_field: str) -> Any:
    """Source clips from a WebDataset tar: RawClip, or (key, reason) for a sample with no audio
    member or a bad json."""
    import json

    from augment_jobs.errors import InputError

    tar_name = uri.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    for key, parts in iter_tar(uri):
        source_key = f"{tar_name}/{key}"
        ext = next((e for e in parts if f".{e}" in AUDIO_EXTS), None)
        if ext is None:
            yield source_key, f"no audio member ({', '.join(AUDIO_EXTS)}); have {sorted(parts)}"
            continue
        try:
            rec = json.loads(parts.get("json", b"{}"))
        except ValueError as e:
            yield source_key, f"json member is not JSON ({e})"
            continue
        if label_field not in rec:
            raise InputError(f"{uri}: sample {key} has no {label_field!r} (the config's label) in its json")
        yield RawClip(source_key, uri, str(rec[label_field]), parts[ext], segments_of(rec, f"{uri}: sample {key}"))


def segments_of(rec: dict[str, Any], where: str) -> list[list[float]]:
    """The optional `segments` of an annotation: [[start_s, end_s], ...]; InputError when malformed."""
    from augment_jobs.errors import InputError

    segs = rec.get("segments") or []
    ok = isinstance(segs, list) and all(
        isinstance(s, list | tuple) and len(s) == 2 and all(isinstance(v, int | float) for v in s) and 0 <= s[0] <= s[1]
        for s in segs)
    if not ok:
        raise InputError(f"{where}: segments {segs!r} must be [[start_s, end_s], ...] with 0 <= start <= end")
    return [[float(a), float(b)] for a, b in segs]

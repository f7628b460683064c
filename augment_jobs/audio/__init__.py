"""Audio modality: the `audio_policy` method (params model + registration).

Importing this package is cheap (pydantic only): torch, soundfile and soxr are imported inside the
method and the handler, so `augment check` and DAG parsing stay fast. Every op declares its params
here; `augment_jobs.audio.engine` draws and applies them (docs/config.md, "Audio").
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, model_validator

from augment_jobs.audio.checks import CHECKS
from augment_jobs.modality import ModalitySpec
from augment_jobs.registry import AugmentContext, MethodParams, register, register_modality
from augment_jobs.sampling import Copies, copies_for

if TYPE_CHECKING:
    from augment_jobs.audio.batch import AudioBatch
    from augment_jobs.config import DatasetConfig

Range = tuple[float, float]
AUDIO_EXTS = (".wav", ".flac", ".ogg", ".oga", ".opus")
NOISE_COLORS = ("white", "pink", "brown", "blue", "violet")


def _check_range(name: str, r: Range, lo: float, hi: float) -> None:
    a, b = r
    if a > b:
        raise ValueError(f"{name}: low {a} is above high {b}; give [low, high]")
    if a < lo or b > hi:
        raise ValueError(f"{name}: {list(r)} must lie in [{lo}, {hi}]")


class _Op(MethodParams):
    p: float = Field(1.0, ge=0, le=1)  # probability that a copy gets this op


class Gain(_Op):
    """Multiply by a gain drawn in decibels."""

    op: Literal["gain"]
    db: Range = (-6.0, 6.0)

    @model_validator(mode="after")
    def _ranges(self) -> Gain:
        _check_range("db", self.db, -60, 60)
        return self


class Noise(_Op):
    """Gaussian noise at an SNR (dB) drawn from the range; `color` shapes its spectrum as 1/f^k
    (white 0, pink 1, brown 2, blue -1, violet -2); a list draws one colour per copy."""

    op: Literal["noise"]
    snr_db: Range = (10.0, 40.0)
    color: Literal["white", "pink", "brown", "blue", "violet"] | list[
        Literal["white", "pink", "brown", "blue", "violet"]] = "white"

    @model_validator(mode="after")
    def _ranges(self) -> Noise:
        _check_range("snr_db", self.snr_db, -20, 100)
        if isinstance(self.color, list) and not self.color:
            raise ValueError("color: an empty list; name one or more of " + ", ".join(NOISE_COLORS))
        return self


class Background(_Op):
    """Mix in a clip drawn from `folder` (wav, flac, ogg; resampled, looped or cut to length) at an
    SNR (dB) drawn from the range. `folder` is relative to the parent of the config's folder."""

    op: Literal["background"]
    folder: str
    snr_db: Range = (5.0, 20.0)

    @model_validator(mode="after")
    def _ranges(self) -> Background:
        _check_range("snr_db", self.snr_db, -20, 100)
        return self


class TimeShift(_Op):
    """Shift by up to `max_fraction` of the clip's duration either way; `rollover` wraps the
    shifted-out part around, otherwise it is replaced by silence."""

    op: Literal["time_shift"]
    max_fraction: float = Field(0.2, ge=0, le=1)
    rollover: bool = True


class Speed(_Op):
    """Play faster or slower by a factor drawn from the range (resampled with soxr): duration and
    pitch change together."""

    op: Literal["speed"]
    factor: Range = (0.9, 1.1)

    @model_validator(mode="after")
    def _ranges(self) -> Speed:
        _check_range("factor", self.factor, 0.25, 4)
        return self


class PitchShift(_Op):
    """Shift the pitch by semitones drawn from the range, keeping the duration and the loudness
    (RMS): a phase-vocoder time stretch (torch STFT) then a soxr resample back to the original
    length."""

    op: Literal["pitch_shift"]
    semitones: Range = (-2.0, 2.0)

    @model_validator(mode="after")
    def _ranges(self) -> PitchShift:
        _check_range("semitones", self.semitones, -12, 12)
        return self


class TimeMask(_Op):
    """`masks` spans, each up to `max_fraction` of the duration, set to silence."""

    op: Literal["time_mask"]
    max_fraction: float = Field(0.1, gt=0, le=1)
    masks: int = Field(1, ge=1, le=16)


class FreqMask(_Op):
    """`masks` frequency bands, each up to `max_fraction` of the band 0..Nyquist, removed."""

    op: Literal["freq_mask"]
    max_fraction: float = Field(0.1, gt=0, le=1)
    masks: int = Field(1, ge=1, le=16)


class Filter(_Op):
    """A zero-phase Butterworth-magnitude filter of `order`: `lowpass` / `highpass` at a cutoff (Hz)
    drawn from `cutoff_hz`; `bandpass` centred on it, `bandwidth_octaves` wide. Cutoffs above a
    clip's Nyquist frequency are clamped to it."""

    op: Literal["filter"]
    kind: Literal["lowpass", "highpass", "bandpass"] = "lowpass"
    cutoff_hz: Range = (2000.0, 6000.0)
    bandwidth_octaves: Range = (1.0, 2.0)
    order: int = Field(4, ge=1, le=12)

    @model_validator(mode="after")
    def _ranges(self) -> Filter:
        _check_range("cutoff_hz", self.cutoff_hz, 1, 200_000)
        _check_range("bandwidth_octaves", self.bandwidth_octaves, 0.05, 10)
        return self


class Reverb(_Op):
    """Convolve with an impulse response: one drawn from `folder` when given, otherwise a synthetic
    one (exponentially decaying noise, RT60 drawn from `rt60_s`); mixed `wet` (fraction) with the
    dry signal, loudness kept."""

    op: Literal["reverb"]
    folder: str | None = None
    rt60_s: Range = (0.2, 0.8)
    wet: Range = (0.2, 0.5)

    @model_validator(mode="after")
    def _ranges(self) -> Reverb:
        _check_range("rt60_s", self.rt60_s, 0.01, 10)
        _check_range("wet", self.wet, 0, 1)
        return self


Op = Annotated[
    Gain | Noise | Background | TimeShift | Speed | PitchShift | TimeMask | FreqMask | Filter | Reverb,
    Field(discriminator="op"),
]
OP_NAMES = ("gain", "noise", "background", "time_shift", "speed", "pitch_shift", "time_mask", "freq_mask",
            "filter", "reverb")
#: ops that read files from a folder named in their params
FOLDER_OPS = ("background", "reverb")


class AudioPolicyParams(MethodParams):
    """Params of `audio_policy` (docs/config.md, "Audio")."""

    copies: Copies = 1
    ops: list[Op] = Field(default_factory=list)
    batch_size: int = Field(32, ge=1, le=4096)  # clips per batched call; output does not depend on it

    def copies_for(self, label: str) -> int:
        return copies_for(self.copies, label)


@register("audio_policy", modality="audio", params=AudioPolicyParams, example={
    "copies": 1, "ops": [{"op": "gain", "db": [-3, 3]}, {"op": "noise", "snr_db": [20, 30]},
                         {"op": "time_mask", "p": 0.5}, {"op": "filter", "p": 0.5, "kind": "lowpass"}]})
def audio_policy(batch: AudioBatch, params: AudioPolicyParams, ctx: AugmentContext) -> AudioBatch:
    """Batched gain, noise, background, shift, speed, pitch, masks, filters, reverb; params per clip."""
    from augment_jobs.audio.engine import run_policy

    return run_policy(batch, params, ctx)


def folder_clips(folder: Path) -> list[str]:
    """Audio files of a folder (recursive), as sorted paths relative to it."""
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and p.suffix.lower() in AUDIO_EXTS and not p.name.startswith((".", "_")))


def validate_config(cfg: DatasetConfig) -> None:
    """Every folder an op names (background clips, impulse responses) exists and holds audio files.
    Runs at DAG parse time: pathlib only."""
    for i, step in enumerate(cfg.augment):
        ops = step.params.get("ops") if isinstance(step.params, dict) else None
        for k, op in enumerate(ops if isinstance(ops, list) else []):
            if isinstance(op, dict) and op.get("op") in FOLDER_OPS and isinstance(op.get("folder"), str):
                where = f"augment[{i}].params.ops[{k}].folder"
                folder = cfg.resolve_path(op["folder"])
                if not folder.is_dir():
                    raise ValueError(f"{where}: {op['folder']!r} is not a folder ({folder}); "
                                     f"create it or fix the path (relative to the parent of the config's folder)")
                if not folder_clips(folder):
                    raise ValueError(f"{where}: {op['folder']!r} has no audio files ({', '.join(AUDIO_EXTS)}); "
                                     f"add clips to it or remove the {op['op']} op")


register_modality(ModalitySpec(
    name="audio",
    handler="augment_jobs.audio.handler:AudioHandler",
    source_formats=("audio", "webdataset"),
    publish_format="webdataset",
    checks=CHECKS,
    validate_config=validate_config,
    demo_writers={"speech_commands": "augment_jobs.audio.demo:write_raw"},
    report_parts="augment_jobs.audio.artifacts:report_parts",
    example="augment_jobs.audio.demo:example",
    probe="augment_jobs.audio.demo:probe",
    sample_codec="augment_jobs.audio.torch_data:CODEC",
))

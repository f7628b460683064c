"""The audio engine: each op does what its docstring says (replayed from hand-written params), draws
are per clip, and output bytes do not depend on the batch."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from audio_helpers import band_energy, noise_folder, peak_hz, rms, sine, voice  # noqa: E402

from augment_jobs.audio import AudioPolicyParams  # noqa: E402
from augment_jobs.audio.batch import AudioBatch  # noqa: E402
from augment_jobs.audio.engine import apply, colored_noise, draw, move_segments, run_policy  # noqa: E402
from augment_jobs.config import DatasetConfig  # noqa: E402
from augment_jobs.registry import AugmentContext  # noqa: E402

SR = 16000


def ops_of(*ops: dict) -> list:
    return AudioPolicyParams(ops=list(ops)).ops


def replay(wave: np.ndarray, op: dict, drawn: dict, sr: int = SR, folders: dict | None = None) -> np.ndarray:
    out, _, _ = apply([wave], [sr], [[drawn]], ops_of(op), folders or {})
    return out[0]


def test_gain_scales_by_the_drawn_decibels() -> None:
    x = sine(440, SR, 0.25, amp=0.25)
    y = replay(x, {"op": "gain"}, {"op": "gain", "db": -6.0})
    assert rms(y) / rms(x) == pytest.approx(10 ** (-6 / 20), rel=1e-5)


@pytest.mark.parametrize("color,slope", [("white", 0), ("pink", -1), ("brown", -2), ("blue", 1)])
def test_noise_hits_the_snr_and_its_colour(color: str, slope: int) -> None:
    x = sine(440, SR, 1.0, amp=0.3)
    y = replay(x, {"op": "noise"}, {"op": "noise", "snr_db": 10.0, "color": color, "seed": 3})
    noise = y - x
    assert 20 * np.log10(rms(x) / rms(noise)) == pytest.approx(10.0, abs=0.05)
    # power per octave band grows by 2^(slope+1) per octave (1/f^k power density over a doubling width)
    n = colored_noise(3, 1, SR * 4, color)
    lo, hi = band_energy(n, SR, 500, 1000), band_energy(n, SR, 1000, 2000)
    assert np.log2(hi / lo) == pytest.approx(slope + 1, abs=0.2)


def test_noise_leaves_silence_silent() -> None:
    x = np.zeros((1, 4000), np.float32)
    assert not replay(x, {"op": "noise"}, {"op": "noise", "snr_db": 10.0, "color": "white", "seed": 1}).any()


def test_background_mixes_a_folder_clip_at_the_snr(tmp_path: Path) -> None:
    folder = noise_folder(tmp_path / "noise")
    x = voice(1, SR, 0.7)  # longer than the clips: they loop
    op = {"op": "background", "folder": str(folder), "snr_db": [5, 5]}
    y = replay(x, op, {"op": "background", "file": "noise_1.flac", "offset": 0.3, "snr_db": 5.0},
               folders={0: folder})
    assert y.shape == x.shape
    assert 20 * np.log10(rms(x) / rms(y - x)) == pytest.approx(5.0, abs=0.05)


def test_time_shift_rolls_or_pads() -> None:
    x = voice(2, SR, 0.25)
    n = x.shape[1]
    s = round(0.1 * n)
    rolled = replay(x, {"op": "time_shift"}, {"op": "time_shift", "fraction": 0.1, "rollover": True})
    assert np.array_equal(rolled, np.roll(x, s, axis=1))
    padded = replay(x, {"op": "time_shift"}, {"op": "time_shift", "fraction": -0.1, "rollover": False})
    assert np.array_equal(padded[:, : n - s], x[:, s:]) and not padded[:, n - s:].any()


def test_speed_resamples_the_duration() -> None:
    x = sine(1000, SR, 0.5)
    y = replay(x, {"op": "speed"}, {"op": "speed", "factor": 1.25})
    assert y.shape[1] == pytest.approx(x.shape[1] / 1.25, abs=2)
    assert peak_hz(y, SR) == pytest.approx(1250, abs=10)  # faster: higher


@pytest.mark.parametrize("sr,semitones", [(8000, 3.0), (16000, -2.0), (48000, 5.0)])
def test_pitch_shift_moves_pitch_and_keeps_duration(sr: int, semitones: float) -> None:
    x = sine(600, sr, 0.5, amp=0.2, channels=2)  # headroom: the vocoder's beating would clip at 0.5
    y = replay(x, {"op": "pitch_shift"}, {"op": "pitch_shift", "semitones": semitones}, sr=sr)
    assert y.shape == x.shape and rms(y) == pytest.approx(rms(x), rel=0.01)  # loudness kept
    assert peak_hz(y, sr) == pytest.approx(600 * 2 ** (semitones / 12), rel=0.02)


def test_pitch_shift_of_a_clip_shorter_than_a_window() -> None:
    x = sine(600, SR, 0.01)  # 160 frames, a 512-frame window
    assert replay(x, {"op": "pitch_shift"}, {"op": "pitch_shift", "semitones": 2.0}).shape == x.shape


def test_time_mask_silences_the_drawn_span() -> None:
    x = voice(3, SR, 0.5)
    n = x.shape[1]
    y = replay(x, {"op": "time_mask"}, {"op": "time_mask", "spans": [[0.25, 0.1]]})
    lo, hi = int(0.25 * n), int(0.25 * n) + int(np.ceil(0.1 * n))
    assert not y[:, lo:hi].any() and np.array_equal(y[:, :lo], x[:, :lo]) and np.array_equal(y[:, hi:], x[:, hi:])


def test_freq_mask_removes_the_band() -> None:
    x = sine(2000, SR, 0.5) + sine(5000, SR, 0.5)  # 2000 Hz is 0.25 of Nyquist
    y = replay(x, {"op": "freq_mask"}, {"op": "freq_mask", "spans": [[0.2, 0.1]]})
    assert band_energy(y, SR, 1900, 2100) < 1e-4 * band_energy(x, SR, 1900, 2100)
    assert band_energy(y, SR, 4900, 5100) == pytest.approx(band_energy(x, SR, 4900, 5100), rel=1e-3)


@pytest.mark.parametrize("kind,kept,cut", [("lowpass", 300, 6000), ("highpass", 6000, 300), ("bandpass", 2000, 300)])
def test_filters_keep_their_band(kind: str, kept: float, cut: float) -> None:
    x = sine(kept, SR, 0.5, amp=0.3) + sine(cut, SR, 0.5, amp=0.3)
    drawn = {"op": "filter", "kind": kind, "cutoff_hz": 2000.0, "order": 4, "bandwidth_octaves": 1.0}
    y = replay(x, {"op": "filter", "kind": kind}, drawn)
    assert band_energy(y, SR, kept - 50, kept + 50) > 0.5 * band_energy(x, SR, kept - 50, kept + 50)
    assert band_energy(y, SR, cut - 50, cut + 50) < 0.01 * band_energy(x, SR, cut - 50, cut + 50)


def test_cutoff_above_nyquist_is_clamped() -> None:
    x = voice(4, 8000, 0.25)
    y = replay(x, {"op": "filter"}, {"op": "filter", "kind": "lowpass", "cutoff_hz": 20000.0, "order": 4}, sr=8000)
    assert np.isfinite(y).all() and rms(y) > 0.5 * rms(x)


def test_reverb_keeps_length_and_loudness(tmp_path: Path) -> None:
    x = voice(5, SR, 0.5, channels=2)
    y = replay(x, {"op": "reverb"}, {"op": "reverb", "rt60_s": 0.4, "seed": 9, "wet": 0.5})
    assert y.shape == x.shape and rms(y) == pytest.approx(rms(x), rel=1e-3) and not np.array_equal(x, y)
    folder = noise_folder(tmp_path / "irs", n=1)
    z = replay(x, {"op": "reverb", "folder": str(folder)}, {"op": "reverb", "file": "noise_0.flac", "wet": 0.3},
               folders={0: folder})
    assert z.shape == x.shape and not np.array_equal(x, z)


def test_segments_follow_speed_and_shift() -> None:
    assert move_segments([[0.2, 0.4]], [{"op": "speed", "factor": 2.0}], 1.0) == [[0.1, 0.2]]
    assert move_segments([[0.8, 0.95]], [{"op": "time_shift", "fraction": 0.1, "rollover": True}], 1.0) == \
        [[0.9, 1.0], [0.0, 0.05]]
    assert move_segments([[0.0, 0.05]], [{"op": "time_shift", "fraction": -0.1, "rollover": False}], 1.0) == []
    assert move_segments([[0.1, 0.3]], [{"op": "gain", "db": 3.0}], 1.0) == [[0.1, 0.3]]


# --- the method: per-clip draws, batch independence ------------------------------------------------
ALL_OPS = [
    {"op": "gain", "p": 0.9}, {"op": "noise", "p": 0.7, "color": ["white", "pink"]},
    {"op": "speed", "p": 0.5}, {"op": "pitch_shift", "p": 0.5}, {"op": "reverb", "p": 0.5},
    {"op": "time_shift", "p": 0.5}, {"op": "filter", "p": 0.5, "kind": "bandpass"},
    {"op": "freq_mask", "p": 0.5}, {"op": "time_mask", "p": 0.5},
]


def _cfg() -> DatasetConfig:
    return DatasetConfig(dataset="t", modality="audio", seed=3, source={"uri": "x/", "format": "audio"}, label="label",
                         augment=[{"method": "audio_policy", "params": {"ops": ALL_OPS}}],
                         publish={"uri": "o", "format": "webdataset"})


def _clips(n: int) -> AudioBatch:
    srs = [8000, 16000, 48000, 16000] * n
    waves = [voice(i, srs[i], 0.1 + 0.03 * (i % 5), 1 + i % 2) for i in range(n)]
    return AudioBatch(waves=waves, sample_rates=srs[:n], keys=[f"k{i}" for i in range(n)], copies=[i % 2 for i in range(n)],
                      labels=["a"] * n)


def test_output_does_not_depend_on_the_batch() -> None:
    params = AudioPolicyParams(ops=ALL_OPS)
    ctx = AugmentContext(cfg=_cfg(), ds="2026-01-01")
    whole = run_policy(_clips(9), params, ctx)
    singles = [run_policy(AudioBatch(waves=[w], sample_rates=[sr], keys=[k], copies=[c], labels=["a"]), params, ctx)
               for w, sr, k, c in zip(_clips(9).waves, _clips(9).sample_rates, _clips(9).keys, _clips(9).copies,
                                      strict=True)]
    assert all(np.array_equal(a, s.waves[0]) for a, s in zip(whole.waves, singles, strict=True))
    assert [p for p in whole.params] == [s.params[0] for s in singles] and whole.seeds == [s.seeds[0] for s in singles]
    fired = {d["op"] for p in whole.params for d in p["ops"]}
    assert fired == {o["op"] for o in ALL_OPS}, f"every op fires somewhere in the batch: {fired}"


def test_draws_come_from_the_clip_key_and_copy() -> None:
    params = AudioPolicyParams(ops=ALL_OPS)
    a = draw(params.ops, AugmentContext(cfg=_cfg(), ds="2026-01-01").rng("k1", 0), {})
    b = draw(params.ops, AugmentContext(cfg=_cfg(), ds="2026-01-01").rng("k1", 0), {})
    c = draw(params.ops, AugmentContext(cfg=_cfg(), ds="2026-01-02").rng("k1", 0), {})
    assert a == b and a != c


def test_recorded_params_replay_to_the_same_clip() -> None:
    params = AudioPolicyParams(ops=ALL_OPS)
    batch = _clips(4)
    out = run_policy(batch, params, AugmentContext(cfg=_cfg(), ds="2026-01-01"))
    for i in range(4):
        recorded = out.params[i]["ops"]
        drawn = []
        for op in params.ops:  # realign the recorded (fired) ops with the policy's list
            drawn.append(recorded.pop(0) if recorded and recorded[0]["op"] == op.op else None)
        again, _, _ = apply([batch.waves[i]], [batch.sample_rates[i]], [drawn], params.ops, {})
        assert np.array_equal(again[0], out.waves[i])


def test_clipping_and_nonfinite_are_counted() -> None:
    x = sine(440, SR, 0.1, amp=0.9)
    out, clipped, nonfinite = apply([x], [SR], [[{"op": "gain", "db": 12.0}]], ops_of({"op": "gain"}), {})
    assert clipped[0] > 0 and nonfinite == [0] and np.abs(out[0]).max() <= 1.0


def test_nonfinite_samples_are_counted_and_zeroed() -> None:
    x = sine(440, SR, 0.1, amp=0.5)
    x[0, 10] = np.nan
    x[0, 20] = np.inf
    out, clipped, nonfinite = apply([x, sine(440, SR, 0.1)], [SR, SR], [[{"op": "gain", "db": 0.0}], [None]],
                                    ops_of({"op": "gain"}), {})
    assert nonfinite == [2, 0] and clipped == [0, 0] and np.isfinite(out[0]).all() and out[0][0, 10] == 0


@pytest.mark.gpu
def test_cuda_matches_cpu_within_a_16_bit_step() -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    params = AudioPolicyParams(ops=ALL_OPS)
    batch = _clips(8)
    drawn = [draw(params.ops, np.random.default_rng(i), {}) for i in range(8)]
    cpu, _, _ = apply(batch.waves, batch.sample_rates, drawn, params.ops, {}, "cpu")
    gpu, _, _ = apply(batch.waves, batch.sample_rates, drawn, params.ops, {}, "cuda")
    for a, b in zip(cpu, gpu, strict=True):
        assert a.shape == b.shape and np.abs(a - b).max() < 1 / 32767

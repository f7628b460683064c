"""Audio engine vs audiomentations, and vs a per-clip loop of our own engine, side by side (CPU).

    .venv/bin/python benchmarks/bench_audio.py [--clips 256] [--seconds 1.0] [--repeat 3]
    AUGMENT_BENCH_TINY=1 .venv/bin/python benchmarks/bench_audio.py     # smoke size: 16 clips

Same clips (voiced sounds, 16 kHz mono, `--seconds` long), same ops with every op firing (p=1):

1. `common`: gain, Gaussian noise at an SNR, time shift (rollover), time mask, low-pass filter,
   band-stop (ours: freq_mask) - the ops both libraries have;
2. `pitch`: pitch shift keeping the duration (ours: torch phase vocoder + soxr; audiomentations:
   its default signalsmith-stretch, and librosa's phase vocoder);
3. `reverb`: convolution with an impulse response from a folder (ApplyImpulseResponse).

Each is timed as the CPU seconds of the whole process (every thread counted, so a thread pool gains
nothing from cores the baseline leaves idle), best of `--repeat`, and as wall seconds.
Ours runs in batches of 32 (`audio_policy`'s default) and, for the per-clip loop, one clip per call.
Prints clips/s and the ratio ours / baseline. Goal: >= 3x audiomentations on `common`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from timing import best_cpu  # noqa: E402

SR = 16000
OURS = {
    "common": [
        {"op": "gain", "db": [-6, 6]}, {"op": "noise", "snr_db": [10, 30]},
        {"op": "time_shift", "max_fraction": 0.2, "rollover": True}, {"op": "time_mask", "max_fraction": 0.1},
        {"op": "filter", "kind": "lowpass", "cutoff_hz": [2000, 6000], "order": 2},
        {"op": "freq_mask", "max_fraction": 0.05},
    ],
    "pitch": [{"op": "pitch_shift", "semitones": [-3, 3]}],
    "reverb": [{"op": "reverb", "folder": "IRS", "wet": [0.2, 0.4]}],
}


def baseline(policy: str, ir_dir: str, method: str = "signalsmith_stretch"):
    import audiomentations as A

    if policy == "common":
        return A.Compose([
            A.Gain(min_gain_db=-6, max_gain_db=6, p=1), A.AddGaussianSNR(min_snr_db=10, max_snr_db=30, p=1),
            A.Shift(min_shift=-0.2, max_shift=0.2, rollover=True, p=1),
            A.TimeMask(min_band_part=0.0, max_band_part=0.1, p=1),
            A.LowPassFilter(min_cutoff_freq=2000, max_cutoff_freq=6000, min_rolloff=12, max_rolloff=12, p=1),
            A.BandStopFilter(min_center_freq=500, max_center_freq=6000, min_bandwidth_fraction=0.05,
                             max_bandwidth_fraction=0.2, p=1),
        ])
    if policy == "pitch":
        return A.Compose([A.PitchShift(min_semitones=-3, max_semitones=3, method=method, p=1)])
    return A.Compose([A.ApplyImpulseResponse(ir_path=ir_dir, p=1)])


def make_clips(n: int, seconds: float) -> list[np.ndarray]:
    from augment_jobs.audio.demo import voiced

    rng = np.random.default_rng(0)
    return [voiced(rng, rng.uniform(100, 250), SR, seconds) for _ in range(n)]


def make_irs(folder: Path) -> None:
    from augment_jobs.audio.demo import encode_file
    from augment_jobs.audio.engine import synthetic_ir

    folder.mkdir(parents=True, exist_ok=True)
    for i, rt in enumerate((0.2, 0.4, 0.6)):
        ir = synthetic_ir(i, rt, SR)
        (folder / f"ir_{i}.wav").write_bytes(encode_file((ir / np.abs(ir).max())[None, :], SR, "WAV", "PCM_16"))


def ours(clips: list[np.ndarray], ops: list[dict], batch: int, cfg_dir: Path):
    from augment_jobs.audio import AudioPolicyParams
    from augment_jobs.audio.batch import AudioBatch
    from augment_jobs.audio.engine import run_policy
    from augment_jobs.config import DatasetConfig
    from augment_jobs.registry import AugmentContext

    params = AudioPolicyParams(ops=ops, batch_size=batch)
    cfg = DatasetConfig(dataset="bench", modality="audio", source={"uri": "x/", "format": "audio"}, label="label",
                        augment=[{"method": "audio_policy", "params": params.model_dump()}],
                        publish={"uri": "o", "format": "webdataset"}, config_path=str(cfg_dir / "configs" / "b.yaml"))
    ctx = AugmentContext(cfg=cfg, ds="2026-01-01")

    def run() -> int:
        done = 0
        for s in range(0, len(clips), batch):
            part = clips[s:s + batch]
            out = run_policy(AudioBatch(waves=part, sample_rates=[SR] * len(part), keys=[f"c{s + i}" for i in range(len(part))],
                                        copies=[0] * len(part), labels=["x"] * len(part)), params, ctx)
            done += len(out.waves)
        return done

    return run


def theirs(clips: list[np.ndarray], aug):
    def run() -> int:
        for c in clips:
            aug(samples=c[0], sample_rate=SR)
        return len(clips)

    return run


def timed(fn, repeat: int) -> tuple[float, float]:
    """(best CPU seconds, wall seconds of one more run)."""
    cpu, _ = best_cpu(fn, repeat)
    t0 = time.perf_counter()
    fn()
    return cpu, time.perf_counter() - t0


def main() -> int:
    tiny = os.environ.get("AUGMENT_BENCH_TINY") == "1"
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=16 if tiny else 256)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=1 if tiny else 3)
    args = ap.parse_args()
    import torch

    clips = make_clips(args.clips, args.seconds)
    print(f"{args.clips} clips of {args.seconds} s at {SR} Hz, mono; torch {torch.__version__}, "
          f"{os.cpu_count()} CPUs; CPU seconds best of {args.repeat}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_irs(root / "irs")
        for policy, ops in OURS.items():
            ops = [{**o, "folder": str(root / "irs")} if o.get("folder") == "IRS" else o for o in ops]
            sides = [("ours, batches of 32", ours(clips, ops, 32, root)), ("ours, one clip per call", ours(clips, ops, 1, root)),
                     ("audiomentations 0.43", theirs(clips, baseline(policy, str(root / "irs"))))]
            if policy == "pitch":
                sides.append(("audiomentations, librosa vocoder",
                              theirs(clips, baseline(policy, "", "librosa_phase_vocoder"))))
            for _, fn in sides:
                fn()  # warm up: imports, numba's JIT, FFT plans, caches
            times = {name: timed(fn, args.repeat) for name, fn in sides}
            base_cpu = times["audiomentations 0.43"][0]
            for name, (cpu, wall) in times.items():
                rows.append((policy, name, args.clips / cpu, args.clips / wall, base_cpu / cpu))
    print(f"\n{'policy':8} {'side':34} {'clips/s (CPU)':>14} {'clips/s (wall)':>15} {'vs audiomentations':>19}")
    for policy, name, cps, wps, ratio in rows:
        print(f"{policy:8} {name:34} {cps:14.1f} {wps:15.1f} {ratio:18.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

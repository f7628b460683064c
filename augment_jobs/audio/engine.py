"""The batched audio engine: draw per-clip parameters, then apply them op by op.

Drawing is separate from applying: `draw(ops, rng, ...)` returns plain dicts (recorded in each
sample's json as `params`) and `apply(...)` replays them. Every random number comes from the clip's
own generator, seeded by (seed, date, step, key, copy), so output does not depend on batch size,
order or worker count. Positions are drawn as fractions of the clip (a shift of 0.1 of its
duration), so a replay needs nothing but the params and the clip.

How it batches. The clips of a batch (on CPU: of each micro-batch, see `apply`) (any length, channel count, sample rate) are packed as rows
of one zero-padded tensor [rows, frames], one row per channel, on CUDA when present. Elementwise
ops (gain, noise and background mixing, time shift, time mask) run on the whole tensor at once.
Spectral ops (filter, freq_mask) run of consecutive ops are fused into one gain curve per clip:
one rfft/irfft per clip for the whole run. FFTs run one clip at a time on purpose: torch's CPU FFT
of a [B, n] batch gives bits that depend on B (measured), which would break byte-identical output;
a clip's own FFT depends on that clip only. On CPU they go through scipy.fft (3x torch's there). Speed and pitch_shift resample through soxr (libsoxr,
on the CPU); pitch_shift's time stretch is a phase vocoder on torch's STFT.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from augment_jobs.audio import NOISE_COLORS, AudioPolicyParams
from augment_jobs.rng import derive_seed

if TYPE_CHECKING:
    import torch

    from augment_jobs.audio.batch import AudioBatch
    from augment_jobs.registry import AugmentContext

SPECTRAL_OPS = frozenset({"filter", "freq_mask"})
#: power spectrum ~ 1/f^k of each noise colour
COLOR_EXPONENT = {"white": 0.0, "pink": 1.0, "brown": 2.0, "blue": -1.0, "violet": -2.0}
assert set(COLOR_EXPONENT) == set(NOISE_COLORS)


def _r(v: float) -> float:
    return float(round(float(v), 5))


# --- drawing -----------------------------------------------------------------------------------
def draw(ops: Sequence[Any], rng: np.random.Generator, clips: dict[int, list[str]]) -> list[dict[str, Any] | None]:
    """One copy's parameters: a list aligned with `ops`, None where the op does not fire.
    `clips[k]` lists the files of op k's folder (background, reverb), by name."""
    out: list[dict[str, Any] | None] = []
    for k, op in enumerate(ops):
        if not rng.random() < op.p:
            out.append(None)
            continue
        name = op.op
        d: dict[str, Any] = {"op": name}
        if name == "gain":
            d["db"] = _r(rng.uniform(*op.db))
        elif name == "noise":
            colors = op.color if isinstance(op.color, list) else [op.color]
            d.update(snr_db=_r(rng.uniform(*op.snr_db)), color=str(colors[int(rng.integers(len(colors)))]),
                     seed=int(rng.integers(2**31 - 1)))
        elif name == "background":
            files = clips[k]
            d.update(file=files[int(rng.integers(len(files)))], offset=_r(rng.random()),
                     snr_db=_r(rng.uniform(*op.snr_db)))
        elif name == "time_shift":
            d.update(fraction=_r(rng.uniform(-op.max_fraction, op.max_fraction)), rollover=op.rollover)
        elif name == "speed":
            d["factor"] = _r(rng.uniform(*op.factor))
        elif name == "pitch_shift":
            d["semitones"] = _r(rng.uniform(*op.semitones))
        elif name in ("time_mask", "freq_mask"):
            spans = []
            for _ in range(op.masks):
                width = rng.uniform(0, op.max_fraction)
                spans.append([_r(rng.uniform(0, 1 - width)), _r(width)])
            d["spans"] = spans
        elif name == "filter":
            d.update(kind=op.kind, cutoff_hz=_r(rng.uniform(*op.cutoff_hz)), order=op.order)
            if op.kind == "bandpass":
                d["bandwidth_octaves"] = _r(rng.uniform(*op.bandwidth_octaves))
        elif name == "reverb":
            if op.folder is not None:
                files = clips[k]
                d["file"] = files[int(rng.integers(len(files)))]
            else:
                d.update(rt60_s=_r(rng.uniform(*op.rt60_s)), seed=int(rng.integers(2**31 - 1)))
            d["wet"] = _r(rng.uniform(*op.wet))
        out.append(d)
    return out


# --- files of an op's folder ---------------------------------------------------------------------
@lru_cache(maxsize=128)
def _load_mono(path: str, sr: int) -> np.ndarray:
    """A folder clip as mono float32 at `sr` (soxr resampling), cached per run."""
    import soundfile as sf
    import soxr

    data, file_sr = sf.read(path, dtype="float32", always_2d=True)
    mono = data.mean(axis=1, dtype=np.float64).astype(np.float32)
    if file_sr != sr and len(mono):
        mono = soxr.resample(mono, file_sr, sr, quality="HQ").astype(np.float32)
    return mono


# --- the packed batch ----------------------------------------------------------------------------
class Packed:
    """Clips as rows of one zero-padded tensor [rows, frames]; clip i owns rows `rows[i]` and its
    first `n[i]` frames. Everything past a clip's length stays exactly zero."""

    def __init__(self, waves: list[torch.Tensor]) -> None:
        import torch

        self.device = waves[0].device
        self.n = [int(w.shape[1]) for w in waves]
        starts = np.cumsum([0] + [int(w.shape[0]) for w in waves])
        self.rows = [slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:], strict=True)]
        self.x = torch.zeros((int(starts[-1]), max(self.n)), dtype=torch.float32, device=self.device)
        for i, w in enumerate(waves):
            self.x[self.rows[i], :self.n[i]] = w

    def __len__(self) -> int:
        return len(self.n)

    def get(self, i: int) -> torch.Tensor:
        return self.x[self.rows[i], :self.n[i]]

    def set(self, i: int, y: torch.Tensor) -> None:
        """Replace clip i (its length may change)."""
        import torch.nn.functional as F

        m = int(y.shape[1])
        if m > self.x.shape[1]:
            self.x = F.pad(self.x, (0, m - self.x.shape[1]))
        self.x[self.rows[i], :m] = y
        self.x[self.rows[i], m:] = 0
        self.n[i] = m

    def per_row(self, values: Sequence[float], fill: float) -> torch.Tensor:
        """A [rows, 1] column: values[i] on clip i's rows."""
        import torch

        col = torch.full((self.x.shape[0], 1), fill, dtype=torch.float32)
        for i, v in enumerate(values):
            col[self.rows[i]] = float(v)
        return col.to(self.device)

    def frames(self) -> torch.Tensor:
        """Each row's clip length, [rows, 1] int64."""
        import torch

        col = torch.zeros((self.x.shape[0], 1), dtype=torch.int64)
        for i, n in enumerate(self.n):
            col[self.rows[i]] = n
        return col.to(self.device)

    def rms(self, i: int) -> float:
        """RMS of clip i over all its channels, summed in float64 (independent of the padding)."""
        return _rms(self.get(i))


# --- ops -----------------------------------------------------------------------------------------
def _gain(p: Packed, ds: dict[int, dict[str, Any]]) -> None:
    p.x.mul_(p.per_row([10 ** (ds[i]["db"] / 20) if i in ds else 1.0 for i in range(len(p))], 1.0))


def _time_mask(p: Packed, ds: dict[int, dict[str, Any]]) -> None:
    import torch

    t = torch.arange(p.x.shape[1], device=p.device).view(1, -1)
    mask = torch.zeros_like(p.x, dtype=torch.bool)
    for j in range(max(len(d["spans"]) for d in ds.values())):
        lo = [math.floor(ds[i]["spans"][j][0] * p.n[i]) if i in ds and j < len(ds[i]["spans"]) else 0
              for i in range(len(p))]
        hi = [lo[i] + math.ceil(ds[i]["spans"][j][1] * p.n[i]) if i in ds and j < len(ds[i]["spans"]) else 0
              for i in range(len(p))]
        mask |= (t >= p.per_row(lo, 0)) & (t < p.per_row(hi, 0))
    p.x.masked_fill_(mask, 0.0)


def _time_shift(p: Packed, ds: dict[int, dict[str, Any]]) -> None:
    """Two slice copies per clip (a gather over the padded batch costs 3x as much on CPU)."""
    import torch

    for i, d in ds.items():
        n = p.n[i]
        s = round(d["fraction"] * n)
        if n == 0 or s == 0:
            continue
        x = p.get(i)
        if d["rollover"]:
            p.x[p.rows[i], :n] = torch.roll(x, s, dims=1)
        elif abs(s) >= n:
            x.zero_()
        elif s > 0:
            x[:, s:] = x[:, :n - s].clone()
            x[:, :s] = 0
        else:
            x[:, :n + s] = x[:, -s:].clone()
            x[:, n + s:] = 0


def colored_noise(seed: int, channels: int, n: int, color: str) -> np.ndarray:
    """Unit-RMS Gaussian noise [channels, n] from `seed`, its power spectrum shaped as 1/f^k."""
    import torch

    # torch's CPU generator: half numpy's cost for 16k normals (measured 60 vs 120 us), the same
    # numbers on every machine, and CPU-made so a CUDA run adds the very same noise
    w = torch.randn((channels, n), generator=torch.Generator().manual_seed(seed)).numpy()
    k = COLOR_EXPONENT[color]
    if k and n > 2:
        f = np.fft.rfftfreq(n)
        scale = np.zeros_like(f)
        scale[1:] = f[1:] ** (-k / 2)
        w = np.fft.irfft(np.fft.rfft(w, axis=1) * scale, n=n, axis=1).astype(np.float32)
    rms = float(np.sqrt(np.mean(np.square(w, dtype=np.float64)))) if w.size else 0.0
    return w / np.float32(rms) if rms > 0 else w


def _mix(p: Packed, ds: dict[int, dict[str, Any]], make: Any) -> None:
    """Add, to each clip in `ds`, the unit-RMS signal `make(i, d)` [channels or 1, n] scaled to
    the drawn SNR against the clip's RMS (a silent clip stays silent)."""
    import torch

    for i, d in ds.items():
        level = p.rms(i) / 10 ** (d["snr_db"] / 20)
        if level == 0 or p.n[i] == 0:
            continue
        sig = make(i, d)
        sig *= np.float32(level)
        p.get(i).add_(torch.from_numpy(sig).to(p.device))


def _noise(p: Packed, ds: dict[int, dict[str, Any]], ctx: _Ctx) -> None:
    _mix(p, ds, lambda i, d: colored_noise(d["seed"], p.rows[i].stop - p.rows[i].start, p.n[i], d["color"]))


def _background(p: Packed, ds: dict[int, dict[str, Any]], ctx: _Ctx, k: int) -> None:
    def make(i: int, d: dict[str, Any]) -> np.ndarray:
        clip = _load_mono(str(ctx.folders[k] / d["file"]), ctx.srs[i])
        if not len(clip):
            return np.zeros((1, p.n[i]), np.float32)
        idx = (int(d["offset"] * len(clip)) + np.arange(p.n[i])) % len(clip)  # looped from the drawn offset
        seg = clip[idx].astype(np.float64)
        rms = math.sqrt(float(np.mean(seg * seg)))
        return (seg / rms if rms > 0 else seg).astype(np.float32)[None, :]

    _mix(p, ds, make)


def rfft(x: torch.Tensor, n: int) -> torch.Tensor:
    """rfft over the last axis, zero-padded to n: torch's on CUDA, scipy's (pocketfft) on CPU, which
    is 3x faster than torch's CPU FFT for one clip (measured, 16k frames: 0.27 vs 0.82 ms)."""
    import torch

    if x.is_cuda:
        return torch.fft.rfft(x, n=n)
    import scipy.fft

    return torch.from_numpy(scipy.fft.rfft(x.numpy(), n=n, axis=-1))


def irfft(x: torch.Tensor, n: int) -> torch.Tensor:
    """The inverse of `rfft`, n frames, float32."""
    import torch

    if x.is_cuda:
        return torch.fft.irfft(x, n=n)
    import scipy.fft

    return torch.from_numpy(scipy.fft.irfft(x.numpy(), n=n, axis=-1).astype(np.float32, copy=False))


def _butter(ratio: np.ndarray, order: int) -> np.ndarray:
    """Butterworth magnitude 1 / sqrt(1 + ratio^(2 order)), the power by repeated squaring (np.power
    of a float array costs 5x the rest of a clip's filter)."""
    r2 = ratio * ratio
    acc, base, k = np.ones_like(r2), r2, order
    while k:
        if k & 1:
            acc = acc * base
        base, k = base * base, k >> 1
    return 1 / np.sqrt(1 + acc)


def _spectral_gain(ds: list[dict[str, Any]], n: int, sr: int) -> np.ndarray:
    """The product of the gain curves of a run of spectral ops over the rfft bins of n frames."""
    f = np.fft.rfftfreq(n, 1.0 / sr).astype(np.float32)
    nyq = sr / 2
    g = np.ones_like(f)
    with np.errstate(divide="ignore", over="ignore"):
        inv = 1 / f  # f = 0: inf, so a high-pass removes DC exactly
        for d in ds:
            if d["op"] == "freq_mask":
                for lo, width in d["spans"]:
                    g[(f >= lo * nyq) & (f < (lo + width) * nyq)] = 0.0
                continue
            order = d["order"]
            fc = np.float32(min(d["cutoff_hz"], 0.95 * nyq))
            if d["kind"] == "lowpass":
                g *= _butter(f / fc, order)
            elif d["kind"] == "highpass":
                g *= _butter(fc * inv, order)
            else:
                half = 2 ** (d["bandwidth_octaves"] / 2)
                lo, hi = np.float32(fc / half), np.float32(min(fc * half, 0.99 * nyq))
                g *= _butter(lo * inv, order) * _butter(f / hi, order)
    return g


def _spectral(p: Packed, run: list[dict[int, dict[str, Any]]], ctx: _Ctx) -> None:
    import torch

    for i in sorted({i for ds in run for i in ds}):
        n = p.n[i]
        if n < 2:
            continue
        g = torch.from_numpy(_spectral_gain([ds[i] for ds in run if i in ds], n, ctx.srs[i])).to(p.device)
        p.set(i, irfft(rfft(p.get(i), n) * g, n))


def _fft_convolve(x: torch.Tensor, ir: torch.Tensor) -> torch.Tensor:
    """x [C, n] convolved with ir [m], cut to n frames."""
    import scipy.fft

    n = x.shape[1]
    size = scipy.fft.next_fast_len(n + ir.shape[0] - 1, real=True)  # zero padding: the same linear convolution
    return irfft(rfft(x, size) * rfft(ir, size), size)[:, :n]


def synthetic_ir(seed: int, rt60_s: float, sr: int) -> np.ndarray:
    """Exponentially decaying Gaussian noise, 60 dB down after rt60_s, with a unit direct path."""
    n = max(2, round(rt60_s * sr))
    t = np.arange(n) / sr
    ir = np.random.default_rng(seed).standard_normal(n) * np.exp(-math.log(1000) * t / rt60_s) * 0.3
    ir[0] = 1.0
    return ir.astype(np.float32)


def _rms(y: torch.Tensor) -> float:
    return float(y.double().square().mean().sqrt()) if y.numel() else 0.0


def _at_rms(y: torch.Tensor, target: float) -> torch.Tensor:
    """y scaled to RMS `target` (unchanged when silent)."""
    level = _rms(y)
    return y * (target / level) if level > 0 else y


def _reverb(p: Packed, ds: dict[int, dict[str, Any]], ctx: _Ctx, k: int) -> None:
    import torch

    for i, d in ds.items():
        x = p.get(i)
        if p.n[i] < 2:
            continue
        sr = ctx.srs[i]
        ir = _load_mono(str(ctx.folders[k] / d["file"]), sr) if "file" in d else synthetic_ir(d["seed"], d["rt60_s"], sr)
        if not len(ir):
            continue
        wet = _fft_convolve(x, torch.from_numpy(ir).to(p.device))
        dry_rms, wet_rms = p.rms(i), _rms(wet)
        if wet_rms == 0:
            continue
        wet = wet * (dry_rms / wet_rms)
        mixed = (1 - d["wet"]) * x + d["wet"] * wet
        p.set(i, _at_rms(mixed, dry_rms))  # loudness kept


def _speed(p: Packed, ds: dict[int, dict[str, Any]], ctx: _Ctx) -> None:
    import soxr
    import torch

    for i, d in ds.items():
        if p.n[i] < 2:
            continue
        sr = ctx.srs[i]
        y = soxr.resample(p.get(i).cpu().numpy().T, sr * d["factor"], sr, quality="HQ")
        p.set(i, torch.from_numpy(np.ascontiguousarray(y.T, dtype=np.float32)).to(p.device))


def stft_size(sr: int) -> int:
    """About 32 ms windows: 256 at 8 kHz, 512 at 16 kHz, 2048 at 48 kHz and above."""
    return int(2 ** round(math.log2(max(64, sr * 0.032))))


def time_stretch(x: torch.Tensor, rate: float, n_fft: int) -> torch.Tensor:
    """Phase-vocoder time stretch of x [C, n] by `rate` (>1 faster): torch STFT, phase advanced per
    bin, inverse STFT to round(n / rate) frames."""
    import torch

    n = x.shape[1]
    hop = n_fft // 4
    win = torch.hann_window(n_fft, device=x.device)
    spec = torch.stft(x, n_fft, hop, window=win, return_complex=True)  # [C, F, T]
    bins, frames = spec.shape[-2], spec.shape[-1]
    steps = torch.arange(0, frames, rate, device=x.device, dtype=torch.float64)
    spec = torch.cat([spec, torch.zeros_like(spec[..., :2])], dim=-1)
    i0 = steps.floor().long()
    alpha = (steps - i0).float()
    s0, s1 = spec[..., i0], spec[..., i0 + 1]
    advance = torch.linspace(0, math.pi * hop, bins, device=x.device).view(-1, 1)
    phase = s1.angle() - s0.angle() - advance
    phase = phase - 2 * math.pi * torch.round(phase / (2 * math.pi)) + advance
    phase = torch.cat([s0.angle()[..., :1], phase[..., :-1]], dim=-1)
    mag = alpha * s1.abs() + (1 - alpha) * s0.abs()
    out = torch.polar(mag, torch.cumsum(phase, dim=-1))
    return torch.istft(out, n_fft, hop, window=win, length=max(1, round(n / rate)))


def _pitch_shift(p: Packed, ds: dict[int, dict[str, Any]], ctx: _Ctx) -> None:
    import soxr
    import torch
    import torch.nn.functional as F

    for i, d in ds.items():
        n, sr = p.n[i], ctx.srs[i]
        if n < 2 or d["semitones"] == 0:
            continue
        n_fft = stft_size(sr)
        x = p.get(i)
        if n <= n_fft // 2:  # the STFT's reflect padding needs more frames than half a window
            x = F.pad(x, (0, n_fft // 2 + 1 - n))
        rate = 2 ** (-d["semitones"] / 12)
        stretched = time_stretch(x, rate, n_fft).cpu().numpy()
        y = soxr.resample(stretched.T, sr / rate, sr, quality="HQ").T
        y = y[:, :n] if y.shape[1] >= n else np.pad(y, ((0, 0), (0, n - y.shape[1])))
        # the vocoder's overlap-add of re-phased frames loses 2 to 4 dB on speech: loudness kept
        p.set(i, _at_rms(torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)).to(p.device), p.rms(i)))


class _Ctx:
    """Per-batch facts the ops read besides the tensor: sample rates, op folders."""

    def __init__(self, srs: list[int], folders: dict[int, Path]) -> None:
        self.srs, self.folders = srs, folders


# --- applying ------------------------------------------------------------------------------------
CPU_MICRO = 8  # clips per CPU task: small tensors, one torch thread each, in parallel


def apply(waves: list[np.ndarray], srs: list[int], drawn: list[list[dict[str, Any] | None]], ops: Sequence[Any],
          folders: dict[int, Path], device: str = "cpu") -> tuple[list[np.ndarray], list[int], list[int]]:
    """Apply drawn params to clips ([channels, frames] float32); returns the outputs clamped to
    [-1, 1] with NaN/inf zeroed, and per clip the samples that were beyond full scale and the
    NaN/inf samples before that (the gate counts both).

    On CUDA the batch goes in whole. On CPU it is cut into micro-batches of CPU_MICRO clips run on
    the shared engine thread pool (`augment_jobs.samples.cpu_pool`), one torch thread each: torch's intra-op threads on small
    tensors cost 10x the work on a shared 2-core box (measured: 2.75 s vs 0.25 s for 16 clips
    through every op). Every op is per clip, so the output is the same either way."""
    if device != "cpu":
        return _apply(waves, srs, drawn, ops, folders, device)
    from augment_jobs.samples import cpu_pool

    step = CPU_MICRO
    parts = list(cpu_pool().map(lambda s: _apply(waves[s:s + step], srs[s:s + step], drawn[s:s + step], ops, folders,
                                                 device), range(0, len(waves), step)))
    return [w for p in parts for w in p[0]], [c for p in parts for c in p[1]], [n for p in parts for n in p[2]]


def _apply(waves: list[np.ndarray], srs: list[int], drawn: list[list[dict[str, Any] | None]], ops: Sequence[Any],
           folders: dict[int, Path], device: str) -> tuple[list[np.ndarray], list[int], list[int]]:
    import torch

    p = Packed([torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)).to(device) for w in waves])
    ctx = _Ctx(list(srs), folders)
    run: list[dict[int, dict[str, Any]]] = []  # pending spectral ops, fused into one FFT per clip
    for k, op in enumerate(ops):
        ds = {i: drawn[i][k] for i in range(len(p)) if drawn[i][k] is not None}
        if op.op in SPECTRAL_OPS:
            run.append(ds)
            continue
        if run:
            _spectral(p, run, ctx)
            run = []
        if not ds:
            continue
        if op.op == "gain":
            _gain(p, ds)
        elif op.op == "noise":
            _noise(p, ds, ctx)
        elif op.op == "background":
            _background(p, ds, ctx, k)
        elif op.op == "time_shift":
            _time_shift(p, ds)
        elif op.op == "time_mask":
            _time_mask(p, ds)
        elif op.op == "speed":
            _speed(p, ds, ctx)
        elif op.op == "pitch_shift":
            _pitch_shift(p, ds, ctx)
        elif op.op == "reverb":
            _reverb(p, ds, ctx, k)
        else:  # a new op declared in augment_jobs.audio but not implemented here
            raise NotImplementedError(op.op)
    if run:
        _spectral(p, run, ctx)
    # counted over the padded rows at once: padding is zero, so it adds nothing to either count
    # (one reduction each in the usual case: nothing non-finite, no row past full scale)
    x = p.x
    rows = x.shape[0]
    bad = np.zeros(rows, np.int64)
    if not bool(torch.isfinite(x).all()):
        bad = (~torch.isfinite(x)).sum(dim=1).cpu().numpy()
        x = torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    over = np.zeros(rows, np.int64)
    loud = np.flatnonzero((x.abs().amax(dim=1) > 1.0).cpu().numpy()) if x.shape[1] else []
    if len(loud):
        idx = torch.as_tensor(loud, device=x.device)
        over[loud] = (x[idx].abs() > 1.0).sum(dim=1).cpu().numpy()
    x = x.clamp_(-1.0, 1.0).cpu().numpy()
    return ([x[p.rows[i], :p.n[i]].copy() for i in range(len(p))],
            [int(over[p.rows[i]].sum()) for i in range(len(p))], [int(bad[p.rows[i]].sum()) for i in range(len(p))])


def device() -> str:
    """CUDA when present, CPU otherwise: the same code runs on both."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def op_folders(params: AudioPolicyParams, ctx: AugmentContext) -> dict[int, Path]:
    """The resolved folder of every op that reads one (background, reverb with a folder)."""
    return {k: ctx.cfg.resolve_path(op.folder) for k, op in enumerate(params.ops) if getattr(op, "folder", None)}


def run_policy(batch: AudioBatch, params: AudioPolicyParams, ctx: AugmentContext) -> AudioBatch:
    """The `audio_policy` method: draw per clip (from its own generator), apply batched."""
    from augment_jobs.audio import folder_clips
    from augment_jobs.audio.batch import AudioBatch

    folders = op_folders(params, ctx)
    clips = {k: folder_clips(f) for k, f in folders.items()}
    drawn, seeds = [], []
    for key, copy in zip(batch.keys, batch.copies, strict=True):
        seeds.append(derive_seed(ctx.cfg.seed, ctx.ds, ctx.step, key, copy))
        drawn.append(draw(params.ops, ctx.rng(key, copy), clips))
    out, clipped, nonfinite = apply(batch.waves, batch.sample_rates, drawn, params.ops, folders, device())
    recorded = [{"step": ctx.step, "copy": c, "ops": [d for d in dr if d is not None]}
                for c, dr in zip(batch.copies, drawn, strict=True)]
    return AudioBatch(waves=out, sample_rates=list(batch.sample_rates), keys=list(batch.keys), copies=list(batch.copies),
                      labels=list(batch.labels), params=recorded, seeds=seeds, clipped=clipped, nonfinite=nonfinite)


# --- segments ------------------------------------------------------------------------------------
def move_segments(segments: list[list[float]], ops: list[dict[str, Any]], duration_s: float) -> list[list[float]]:
    """Labelled spans [[start_s, end_s], ...] of a source clip, moved as the drawn ops move time:
    `speed` scales them by 1/factor, `time_shift` shifts them (a span wrapped by rollover splits
    in two, one cut at the edge is clipped; one pushed out entirely is dropped). Every other op
    keeps time as it is."""
    segs = [list(s) for s in segments]
    dur = duration_s
    for d in ops:
        if d["op"] == "speed":
            segs = [[a / d["factor"], b / d["factor"]] for a, b in segs]
            dur = dur / d["factor"]
        elif d["op"] == "time_shift":
            s = d["fraction"] * dur
            moved = []
            for a, b in segs:
                a, b = a + s, b + s
                if d["rollover"]:
                    if a >= dur or b <= 0:
                        a, b = a % dur, (b % dur) or dur
                        moved.append([a, b])
                    elif b > dur:
                        moved += [[a, dur], [0.0, b - dur]]
                    elif a < 0:
                        moved += [[a + dur, dur], [0.0, b]]
                    else:
                        moved.append([a, b])
                elif b > 0 and a < dur:
                    moved.append([max(a, 0.0), min(b, dur)])
            segs = moved
    return [[round(a, 4), round(b, 4)] for a, b in segs if b > a]

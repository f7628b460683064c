"""What an audio run shows: a spectrogram grid (originals beside their augmented copies) for MLflow
and the HTML report, a few playable clips in the report, and the per-class feature distributions
(duration, loudness, spectral centroid) real vs augmented."""

from __future__ import annotations

import io
import json
import os
from typing import Any

import numpy as np

from augment_jobs.samples import iter_tar

PLAYABLE = 6  # clips embedded in the report (originals and copies), each at most PLAY_SECONDS
PLAY_SECONDS = 4.0


def _groups(tar_uris: list[str], rows: int) -> list[list[tuple[dict[str, Any], bytes]]]:
    """Up to `rows` originals, each with its copies, one per label first (rare classes are what an
    operator wants to see)."""
    groups: dict[str, list[tuple[dict[str, Any], bytes]]] = {}
    for uri in tar_uris:
        for _, parts in iter_tar(uri):
            if "flac" not in parts:
                continue
            rec = json.loads(parts.get("json", b"{}"))
            key = str(rec.get("source_key"))
            if key in groups or len(groups) < 40 * rows:  # bound memory: enough groups to choose from
                groups.setdefault(key, []).append((rec, parts["flac"]))
    complete = [g for g in groups.values() if any(r.get("synthetic") for r, _ in g)
                and any(not r.get("synthetic") for r, _ in g)]
    chosen: list[list[tuple[dict[str, Any], bytes]]] = []
    for g in complete:
        if str(g[0][0].get("label")) not in {str(c[0][0].get("label")) for c in chosen}:
            chosen.append(g)
    chosen += [g for g in complete if g not in chosen]
    return [sorted(g, key=lambda rb: bool(rb[0].get("synthetic"))) for g in chosen[:rows]]


def _log_spectrogram(wave: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    """dB magnitude of the mono mix, 32 ms Hann windows (scipy), and the clip's duration."""
    from scipy.signal import spectrogram

    mono = wave.mean(axis=0)
    nper = max(16, min(len(mono), int(sr * 0.032)))
    _, _, s = spectrogram(mono, fs=sr, window="hann", nperseg=nper, noverlap=nper * 3 // 4, mode="magnitude")
    return 20 * np.log10(np.maximum(s, 1e-6)), len(mono) / sr


def spectrogram_grid(tar_uris: list[str], path: str, rows: int = 4, copies: int = 3) -> bool:
    """The spectrogram figure as a PNG file; False when there is nothing to show."""
    fig = spectrogram_figure(tar_uris, rows, copies)
    if fig is None:
        return False
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    return True


def spectrogram_figure(tar_uris: list[str], rows: int = 4, copies: int = 3) -> Any:
    """Each original's spectrogram beside up to `copies` of its copies', captioned with the ops
    drawn (a matplotlib Figure), or None when no original has a copy."""
    from matplotlib.figure import Figure

    from augment_jobs.audio.io import read_flac

    chosen = _groups(tar_uris, rows)
    if not chosen:
        return None
    cols = min(copies + 1, max(len(g) for g in chosen))
    fig = Figure(figsize=(3.2 * cols, 2.3 * len(chosen)), dpi=90)
    axes = fig.subplots(len(chosen), cols, squeeze=False)
    for r, group in enumerate(chosen):
        for c in range(cols):
            ax = axes[r][c]
            if c >= len(group):
                ax.set_visible(False)
                continue
            rec, data = group[c]
            wave, sr = read_flac(data)
            spec, dur = _log_spectrogram(wave, sr)
            ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", vmin=-100, vmax=0,
                      extent=(0, dur, 0, sr / 2000))
            ops = " ".join(o.get("op", "?") for o in (rec.get("params") or {}).get("ops", []))
            title = (f"real {rec.get('label')} · {sr // 1000} kHz" if not rec.get("synthetic")
                     else f"augmented: {ops or 'no op fired'}")
            ax.set_title(title[:44], fontsize=7)
            ax.tick_params(labelsize=6)
            if c == 0:
                ax.set_ylabel("kHz", fontsize=7)
    fig.tight_layout()
    return fig


def _wav_bytes(wave: np.ndarray, sr: int) -> bytes:
    """A short 16-bit WAV for the report's audio players (browsers play WAV everywhere; FLAC not)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, wave[:, : int(PLAY_SECONDS * sr)].T, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def report_parts(g: Any) -> dict[str, Any]:
    """The report's audio parts: the spectrogram grid, playable clips, feature distributions."""
    from augment_jobs.audio.io import read_flac
    from augment_jobs.audio.meta import FEATURES
    from augment_jobs.evaluation.report import AudioSample
    from augment_jobs.store import join

    uris = [join(g.plan.data_uri, f["path"]) for s in g.shards for f in s.files]
    out: dict[str, Any] = {"spectrograms": spectrogram_figure(uris) if uris else None}
    clips = []
    for group in _groups(uris, 3):
        for rec, data in group[:2]:
            wave, sr = read_flac(data)
            kind = "augmented" if rec.get("synthetic") else "real"
            ops = ", ".join(o.get("op", "?") for o in (rec.get("params") or {}).get("ops", []))
            clips.append(AudioSample(_wav_bytes(wave, sr), f"{kind} {rec.get('label')} · {rec.get('source_key')}"
                                     + (f" · {ops}" if ops else ""), bool(rec.get("synthetic"))))
    out["audio"] = clips[:PLAYABLE]
    f = g.frame
    if len(f):
        renamed = f.rename(columns={"label": g.cfg.label or "label"})
        cols = [*FEATURES, g.cfg.label or "label"]
        syn = renamed["synthetic"].astype(bool)
        out["real"], out["synthetic"] = renamed.loc[~syn, cols], renamed.loc[syn, cols]
    return out

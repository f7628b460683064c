"""Audio: no NaN/inf, clipping share, loudness and duration per class, feature similarity per class,
corrupt input share (docs/gate.md, audio). They read the per-sample metadata the audio handler
stages (`augment_jobs.audio.meta`): features of each published clip, before FLAC quantisation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from augment_jobs.checks import CheckResult, GateInput

if TYPE_CHECKING:
    import pandas as pd


def _sides(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    syn = frame["synthetic"].astype(bool)
    return frame[~syn], frame[syn]


def finite(g: GateInput) -> list[CheckResult]:
    """No NaN or inf sample in any augmented clip (counted before encoding)."""
    bad = g.frame.loc[g.frame["nonfinite"] > 0]
    return [CheckResult("audio.finite", bad.empty,
                        "no NaN or inf samples" if bad.empty else
                        f"{len(bad)} clips with NaN/inf samples, e.g. {bad['key'].tolist()[:5]}",
                        observed=int(bad["nonfinite"].sum()))]


def clipping(g: GateInput) -> list[CheckResult]:
    """`quality.audio.max_clipped_share`: samples of augmented clips beyond full scale (clamped)."""
    _, syn = _sides(g.frame)
    total = float((syn["frames"] * syn["channels"]).sum())
    share = float(syn["clipped"].sum()) / total if total else 0.0
    limit = g.cfg.quality.audio.max_clipped_share
    worst = syn.sort_values("clipped_share", ascending=False).head(3)
    detail = f"{share:.3%} of augmented samples clipped (limit {limit:.3%})"
    if share > limit:
        detail += f"; most clipped: {', '.join(f'{k} {s:.1%}' for k, s in zip(worst['key'], worst['clipped_share'], strict=True))}"
    return [CheckResult("audio.clipping", share <= limit, detail, observed=round(share, 6))]


def loudness_duration(g: GateInput) -> list[CheckResult]:
    """Per class, the median loudness (RMS dBFS) and duration of augmented clips against the real
    ones: `quality.audio.max_loudness_change_db` and `max_duration_change` (a relative change)."""
    real, syn = _sides(g.frame)
    conf = g.cfg.quality.audio
    loud, dur = {}, {}
    for cls, s in syn.groupby("label"):
        r = real[real["label"] == cls]
        if r.empty or s.empty:
            continue
        loud[str(cls)] = round(float(s["rms_dbfs"].median() - r["rms_dbfs"].median()), 3)
        base = float(r["duration_s"].median())
        dur[str(cls)] = round(float(s["duration_s"].median()) / base - 1, 4) if base > 0 else 0.0
    bad_loud = {c: v for c, v in loud.items() if abs(v) > conf.max_loudness_change_db}
    bad_dur = {c: v for c, v in dur.items() if abs(v) > conf.max_duration_change}
    return [
        CheckResult("audio.loudness", not bad_loud,
                    (f"median loudness change per class within ±{conf.max_loudness_change_db} dB"
                     if not bad_loud else f"classes {sorted(bad_loud)} changed by {bad_loud} dB "
                     f"(limit ±{conf.max_loudness_change_db} dB)"), observed=loud),
        CheckResult("audio.duration", not bad_dur,
                    (f"median duration change per class within ±{conf.max_duration_change:.0%}"
                     if not bad_dur else f"classes {sorted(bad_dur)} changed by {bad_dur} "
                     f"(limit ±{conf.max_duration_change:.0%})"), observed=dur),
    ]


def similarity(g: GateInput) -> list[CheckResult]:
    """Per class and feature (duration, RMS dBFS, spectral centroid), the KS statistic of augmented
    vs real clips within `quality.similarity.max_ks`; classes with fewer than `min_rows` real or
    augmented clips are not compared."""
    from scipy.stats import ks_2samp

    from augment_jobs.audio.meta import FEATURES

    real, syn = _sides(g.frame)
    conf = g.cfg.quality.similarity
    scores: dict[str, dict[str, float]] = {}
    for cls, s in syn.groupby("label"):
        r = real[real["label"] == cls]
        if len(r) < conf.min_rows or len(s) < conf.min_rows:
            continue
        scores[str(cls)] = {f: round(float(ks_2samp(r[f].to_numpy(float), s[f].to_numpy(float), method="asymp").statistic), 4)
                            for f in FEATURES}
    bad = [(c, f, v) for c, fs in scores.items() for f, v in fs.items() if v > conf.max_ks]
    detail = (f"KS of {', '.join(FEATURES)} within {conf.max_ks} for {len(scores)} class(es)" if not bad else
              f"{len(bad)} over the limit {conf.max_ks}: " + ", ".join(f"{c}/{f} {v}" for c, f, v in bad[:5]))
    return [CheckResult("audio.similarity", not bad, detail, observed=scores)]


def corrupt_share(g: GateInput) -> list[CheckResult]:
    """`source.max_corrupt_share`: unreadable, truncated, empty or non-audio inputs rejected."""
    from augment_jobs.samples import corrupt_share as share

    return share(g, "audio.corrupt_share")


CHECKS = (finite, clipping, loudness_duration, similarity, corrupt_share)

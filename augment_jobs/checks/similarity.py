"""Per-class similarity of synthetic to real rows: KS for numeric columns, TVD for categorical ones."""

from __future__ import annotations

from typing import Any

from augment_jobs.checks import CheckResult, GateInput
from augment_jobs.frames import feature_columns, hooks_for


def similarity(g: GateInput) -> list[CheckResult]:
    """Per class, per column: KS (numeric) or total variation distance (categorical), real vs synthetic."""
    import numpy as np
    import pandas as pd

    cfg, frame = g.cfg, g.frame
    hooks = hooks_for(cfg.modality)
    cols = hooks.compare_columns(cfg, frame) if hooks.compare_columns else feature_columns(frame, cfg)
    sim = cfg.quality.similarity
    synth_mask = frame["_synthetic"].to_numpy()
    if not synth_mask.any():
        return [CheckResult("similarity", True, "no synthetic rows to compare")]
    labels = frame[cfg.label].astype(str) if cfg.label and cfg.label in frame.columns else pd.Series("all", index=frame.index)
    worst: list[tuple[float, str]] = []
    scores: dict[str, float] = {}
    failures = []
    for cls in sorted(labels.unique()):
        in_cls = (labels == cls).to_numpy()
        real, syn = frame[in_cls & ~synth_mask], frame[in_cls & synth_mask]
        if len(real) < sim.min_rows or len(syn) < sim.min_rows:
            continue
        for col in cols:
            r, s = real[col].dropna(), syn[col].dropna()
            if len(r) == 0 or len(s) == 0:
                continue
            # The limit never goes below the sampling noise of the two sample sizes, so small
            # classes are not failed for randomness alone (KS: the 1% critical value).
            noise = np.sqrt((len(r) + len(s)) / (len(r) * len(s)))
            if pd.api.types.is_datetime64_any_dtype(r) or pd.api.types.is_timedelta64_dtype(r):
                r, s = r.astype("int64"), s.astype("int64")  # time is ordered: compare as numbers, not text
            if pd.api.types.is_numeric_dtype(r) and not pd.api.types.is_bool_dtype(r):
                stat, kind = _ks(r.to_numpy(np.float64), s.to_numpy(np.float64)), "ks"
                limit = max(sim.max_ks, 1.63 * noise)
            else:
                p = r.astype(str).value_counts(normalize=True)
                q = s.astype(str).value_counts(normalize=True)
                stat = 0.5 * float(p.subtract(q, fill_value=0).abs().sum())
                limit, kind = max(sim.max_tvd, 0.5 * np.sqrt(len(p.index.union(q.index))) * noise), "tvd"
            scores[f"{kind}.{cls}.{col}"] = round(stat, 4)
            worst.append((stat / limit, f"{kind}({col}|{cls})={stat:.3f}"))
            if stat > limit:
                failures.append(f"{kind}({col}|{cls})={stat:.3f} > {limit:.3f}")
    if not scores:
        return [CheckResult("similarity", True, f"no class has {sim.min_rows}+ real and synthetic rows to compare")]
    worst.sort(reverse=True)
    detail = ("; ".join(failures[:5]) + (f" and {len(failures) - 5} more" if len(failures) > 5 else "")) if failures \
        else f"{len(scores)} comparisons within limits; worst {worst[0][1]}"
    return [CheckResult("similarity", not failures, detail, scores)]


def _ks(a: Any, b: Any) -> float:
    """Two-sample Kolmogorov-Smirnov statistic (vectorised, no scipy dependency)."""
    import numpy as np

    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))

"""Per-class similarity of synthetic to real rows: KS for numeric columns, TVD for categorical ones."""

from __future__ import annotations

from augment_jobs.checks import CheckResult, GateInput
from augment_jobs.evaluation.distances import difference
from augment_jobs.modality import hooks_for
from augment_jobs.schema import feature_columns


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
            kind, stat = difference(r, s)  # time is ordered: compared as numbers, not text
            if kind == "ks":
                limit = max(sim.max_ks, 1.63 * noise)
            else:
                values = len(pd.Index(r.astype(str).unique()).union(pd.Index(s.astype(str).unique())))
                limit = max(sim.max_tvd, 0.5 * np.sqrt(values) * noise)
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

"""Per-class similarity of synthetic to real rows: KS for numeric columns, TVD for categorical ones."""

from __future__ import annotations

from typing import TYPE_CHECKING

from augment_jobs.checks import CheckResult, GateInput
from augment_jobs.evaluation.distances import difference
from augment_jobs.modality import hooks_for
from augment_jobs.schema import feature_columns

if TYPE_CHECKING:
    import pandas as pd


#: a synthetic value repeated on at least this share of a class's rows ...
COLLAPSE_SHARE = 0.05
#: ... and this many times more often than in its real rows (or than once, when real rows never have it)
COLLAPSE_RATIO = 5.0
#: judged only where the real side can show it: enough real rows of the class, a column of many
#: values (a few-valued column repeats its values by nature), and enough repeats to be no fluke
COLLAPSE_MIN_REAL, COLLAPSE_MIN_DISTINCT, COLLAPSE_MIN_REPEATS = 100, 20, 20


def repeated_value(real: pd.Series, synthetic: pd.Series) -> str | None:
    """Mode collapse: the synthetic value repeated far more often than in the real rows, as a reason
    naming the value (None when there is none). KS can miss it when the value sits mid-distribution."""
    import pandas as pd

    if synthetic.empty or len(real) < COLLAPSE_MIN_REAL or real.nunique() <= COLLAPSE_MIN_DISTINCT:
        return None
    if synthetic.dtype.kind in "iufb" and real.dtype.kind in "iufb":
        # numbers counted as numbers: formatting a million floats as text took seconds
        counts = synthetic.value_counts(dropna=False)
        top = counts.index[0]
        real_n = int(real.isna().sum() if pd.isna(top) else (real == top).sum())
        value = str(top)
    else:
        counts = synthetic.astype(str).value_counts()
        value = str(counts.index[0])
        real_n = int((real.astype(str) == value).sum())
    n = int(counts.iloc[0])
    share = n / len(synthetic)
    real_share = max(real_n, 1) / len(real)
    if n >= COLLAPSE_MIN_REPEATS and share >= COLLAPSE_SHARE and share > COLLAPSE_RATIO * real_share:
        return (f"value {value} on {n} of {len(synthetic)} synthetic rows ({share:.1%}) vs {real_n} of {len(real)} "
                f"real ({real_n / len(real):.1%}): mode collapse, try another method or more epochs")
    return None


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
            collapsed = repeated_value(r, s)
            if collapsed:
                failures.append(f"{col}|{cls}: {collapsed}")
    if not scores:
        return [CheckResult("similarity", True, f"no class has {sim.min_rows}+ real and synthetic rows to compare")]
    worst.sort(reverse=True)
    detail = ("; ".join(failures[:5]) + (f" and {len(failures) - 5} more" if len(failures) > 5 else "")) if failures \
        else f"{len(scores)} comparisons within limits; worst {worst[0][1]}"
    return [CheckResult("similarity", not failures, detail, scores)]

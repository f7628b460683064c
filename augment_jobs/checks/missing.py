"""Missing values: the output adds no NaN/inf where the source had none."""

from __future__ import annotations

from augment_jobs.checks import CheckResult, GateInput
from augment_jobs.frames import PLATFORM_COLUMNS


def no_new_nan(g: GateInput) -> list[CheckResult]:
    """No NaN/inf in a column where the source had none."""
    import numpy as np

    cfg, source, out = g.cfg, g.source, g.frame

    bad = []
    for col in out.columns:
        if col in PLATFORM_COLUMNS or col == cfg.source.id_column:
            continue
        s, o = source[col], out[col]
        if o.dtype.kind == "f":
            src_bad = bool((~np.isfinite(s.to_numpy())).any())
            out_bad = int((~np.isfinite(o.to_numpy())).sum())
        else:
            src_bad, out_bad = bool(s.isna().any()), int(o.isna().sum())
        if out_bad and not src_bad:
            bad.append(f"{col} ({out_bad} rows)")
    return [CheckResult("no_new_nan_or_inf", not bad, "none introduced" if not bad else "NaN/inf introduced in " + ", ".join(bad))]

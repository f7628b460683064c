"""Missing values: synthetic rows are not more often missing than real ones, column by column."""

from __future__ import annotations

from typing import TYPE_CHECKING

from augment_jobs.checks import CheckResult, GateInput
from augment_jobs.schema import PLATFORM_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

#: smallest excess of the synthetic missing share over the real one that fails a column
MIN_EXCESS = 0.05


def missing_share(g: GateInput) -> list[CheckResult]:
    """Per column, the share of missing (NaN/null/inf) values in synthetic rows does not exceed the real
    rows' share: never where the source had none, and elsewhere by no more than sampling noise
    (at least 5 points). Fewer missing values than the source is fine (e.g. SMOTE skipping them)."""
    import numpy as np

    cfg, frame = g.cfg, g.frame
    synth = frame["_synthetic"].to_numpy(bool)
    real, syn = frame[~synth], frame[synth]
    if not len(syn) or not len(real):
        return [CheckResult("missing_share", True, "no synthetic rows to compare")]
    shares: dict[str, dict[str, float]] = {}
    bad = []
    roles = set(cfg.role_columns())  # null on synthetic rows by design (docs/config.md, "Column roles")
    for col in frame.columns:
        if col in PLATFORM_COLUMNS or col in (cfg.source.id_column, cfg.label) or col in roles:
            continue
        r, s = _missing(real[col]), _missing(syn[col])
        p_r, p_s = float(r.mean()), float(s.mean())
        shares[str(col)] = {"real": round(p_r, 4), "synthetic": round(p_s, 4)}
        if p_r == 0:
            if p_s > 0:
                bad.append(f"{col}: {int(s.sum())} synthetic values missing where the source has none")
            continue
        p = (p_r * len(real) + p_s * len(syn)) / (len(real) + len(syn))
        limit = max(MIN_EXCESS, 2.58 * float(np.sqrt(p * (1 - p) * (1 / len(real) + 1 / len(syn)))))
        if p_s - p_r > limit:
            bad.append(f"{col}: {p_s:.1%} of synthetic values missing vs {p_r:.1%} of real")
    detail = "; ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "") if bad else \
        f"{len(shares)} columns: synthetic rows no more often missing than real ones"
    return [CheckResult("missing_share", not bad, detail, shares)]


def _missing(s: pd.Series) -> pd.Series:
    """Missing as a user sees it: null, NaN, or an infinite float."""
    import numpy as np

    out = s.isna()
    if s.dtype.kind == "f":
        out |= ~np.isfinite(s.to_numpy(dtype=float, na_value=np.nan))
    return out

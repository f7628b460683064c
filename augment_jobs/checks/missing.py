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
    """Per column, and per class when there is a label, the share of missing (NaN/null/inf) values in
    synthetic rows does not exceed the real rows' share of the same class: never where the class's
    real rows have none, and elsewhere by no more than sampling noise (at least 5 points). Fewer
    missing values than the source is fine (e.g. SMOTE skipping them). Per class, because methods
    oversample classes: a class whose real rows are often missing a value is compared with itself,
    not with the whole table."""
    cfg, frame = g.cfg, g.frame
    synth = frame["_synthetic"].to_numpy(bool)
    real, syn = frame[~synth], frame[synth]
    if not len(syn) or not len(real):
        return [CheckResult("missing_share", True, "no synthetic rows to compare")]
    roles = set(cfg.role_columns())  # null on synthetic rows by design (docs/config.md, "Column roles")
    columns = [c for c in frame.columns
               if c not in PLATFORM_COLUMNS and c not in (cfg.source.id_column, cfg.label) and c not in roles]
    if cfg.label and cfg.label in frame.columns:
        keys_r, keys_s = real[cfg.label].astype(str), syn[cfg.label].astype(str)
        groups = [(k, real[keys_r.to_numpy() == k], syn[keys_s.to_numpy() == k]) for k in sorted(set(keys_s))]
    else:
        groups = [(None, real, syn)]
    shares: dict[str, dict[str, float]] = {}
    bad = []
    for col in columns:
        shares[str(col)] = {"real": round(float(_missing(real[col]).mean()), 4),
                            "synthetic": round(float(_missing(syn[col]).mean()), 4)}
        for key, r_rows, s_rows in groups:
            if not len(r_rows) or not len(s_rows):
                continue
            of = f" of class {key!r}" if key is not None else ""
            why = _excess(_missing(r_rows[col]), _missing(s_rows[col]), of)
            if why:
                bad.append(f"{col}: {why}")
    detail = "; ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "") if bad else \
        f"{len(shares)} columns: synthetic rows no more often missing than real ones of their class"
    return [CheckResult("missing_share", not bad, detail, shares)]


def _excess(r: pd.Series, s: pd.Series, of: str) -> str | None:
    """Why synthetic rows `s` are more often missing than real rows `r` (None when they are not)."""
    import numpy as np

    p_r, p_s = float(r.mean()), float(s.mean())
    if p_r == 0:
        return f"{int(s.sum())} synthetic values{of} missing where the source{of} has none" if p_s > 0 else None
    p = (p_r * len(r) + p_s * len(s)) / (len(r) + len(s))
    limit = max(MIN_EXCESS, 2.58 * float(np.sqrt(p * (1 - p) * (1 / len(r) + 1 / len(s)))))
    if p_s - p_r > limit:
        return f"{p_s:.1%} of synthetic values{of} missing vs {p_r:.1%} of real"
    return None


def _missing(s: pd.Series) -> pd.Series:
    """Missing as a user sees it: null, NaN, or an infinite float."""
    import numpy as np

    out = s.isna()
    if s.dtype.kind == "f":
        out |= ~np.isfinite(s.to_numpy(dtype=float, na_value=np.nan))
    return out

"""Business constraints (ranges, inequalities, fixed combinations) held by every published row."""

from __future__ import annotations

from augment_jobs.checks import CheckResult, GateInput


def constraints_held(g: GateInput) -> list[CheckResult]:
    """Every published row satisfies every configured constraint."""
    from augment_jobs.tabular.constraints import violations

    cfg, source_df, out_df = g.cfg, g.source, g.frame
    if not cfg.constraints:
        return [CheckResult("constraints_held", True, "no constraints configured", {})]
    masks = violations(out_df, cfg.constraints, reference=source_df)
    counts = {name: int(m.sum()) for name, m in masks.items()}
    bad = {name: n for name, n in counts.items() if n}
    if bad:
        detail = "; ".join(f"{name} broken by {n} of {len(out_df)} rows" for name, n in bad.items())
    else:
        detail = f"{len(counts)} constraints held by all {len(out_df)} rows"
    return [CheckResult("constraints_held", not bad, detail, counts)]

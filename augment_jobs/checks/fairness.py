"""Bias audit and the differential-privacy budget: figures in the manifest, gates when limits are set."""

from __future__ import annotations

from augment_jobs.checks import CheckResult, GateInput


def fairness(g: GateInput) -> list[CheckResult]:
    """One result per group column of `quality.fairness`; fails when a class's gap between the
    column's groups moved by more than `max_disparity_change`."""
    conf = g.cfg.quality.fairness
    if conf is None:
        return []
    out = []
    limit = conf.max_disparity_change
    for col, f in g.fairness.items():
        if "change" not in f:
            lo_hi = f["synthetic_share_range"]
            span = f"{lo_hi[0]:.1%} to {lo_hi[1]:.1%}" if lo_hi else "n/a"
            out.append(CheckResult(f"fairness.{col}", True, f"synthetic share per group of {col!r}: {span} "
                                   "(no label: disparity not measured)", {"groups": len(f["groups"])}))
            continue
        change = f["change"]
        passed = limit is None or abs(change) <= limit + 1e-12
        apart = " vs ".join(repr(v) for v in f["groups_apart"])
        bound = f"limit quality.fairness.max_disparity_change = {limit:g}" if limit is not None else \
            "not gated (quality.fairness.max_disparity_change)"
        detail = (f"group {col!r}: the gap in class {f['change_class']!r} between groups {apart} moved "
                  f"{change:+.3f} (disparity {f['disparity_before']:.3f} before → {f['disparity_after']:.3f} after; {bound})")
        out.append(CheckResult(f"fairness.{col}", passed, detail,
                               {"disparity_before": f["disparity_before"], "disparity_after": f["disparity_after"],
                                "change": change}))
    return out


def dp_budget(g: GateInput) -> list[CheckResult]:
    """`limits.max_epsilon` on the epsilon the differentially private steps spent (none ran: no result)."""
    from augment_jobs.privacy_dp import check_max_epsilon

    spent = g.privacy.get("epsilon") if g.privacy else None
    if spent is None and g.cfg.limits.max_epsilon is None:
        return []
    passed, detail = check_max_epsilon(spent, g.cfg.limits.max_epsilon)
    return [CheckResult("privacy_epsilon", passed, detail, {"epsilon": spent} if spent is not None else None)]

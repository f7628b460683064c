"""Shares and counts: synthetic share, label set, row limit."""

from __future__ import annotations

from augment_jobs.checks import CheckResult, GateInput


def synthetic_share(g: GateInput) -> list[CheckResult]:
    """`limits.max_synthetic_ratio`: synthetic rows / all published rows."""
    after = sum(c["after"] for c in g.counts.values())
    synthetic = sum(c["synthetic"] for c in g.counts.values())
    share = synthetic / after if after else 0.0
    limit = g.cfg.limits.max_synthetic_ratio
    return [CheckResult(
        "synthetic_share", share <= limit + 1e-12,
        f"{synthetic} of {after} published rows are synthetic ({share:.1%}; limit {limit:.0%})",
        round(share, 6),
    )]


def row_limit(g: GateInput) -> list[CheckResult]:
    """`limits.max_rows`: a guard against a runaway augmentation (only when configured)."""
    if g.cfg.limits.max_rows is None:
        return []
    after = sum(c["after"] for c in g.counts.values())
    return [CheckResult("max_rows", after <= g.cfg.limits.max_rows, f"{after} rows (limit {g.cfg.limits.max_rows})", after)]


def skipped_share(g: GateInput) -> list[CheckResult]:
    """`limits.max_skipped_share`: items a method could not use (published as real) / source items."""
    before = sum(c["before"] for c in g.counts.values())
    skipped = sum(g.skipped.values())
    share = skipped / before if before else 0.0
    limit = g.cfg.limits.max_skipped_share
    worst = max(g.skipped.items(), key=lambda kv: kv[1]) if g.skipped else None
    reason = f"; most: {worst[1]} × {worst[0]}" if worst else ""
    return [CheckResult(
        "skipped_share", share <= limit + 1e-12,
        f"{skipped} of {before} source items not augmented ({share:.1%}; limit {limit:.0%}){reason}",
        {"share": round(share, 6), "by_reason": g.skipped},
    )]


def label_set(g: GateInput) -> list[CheckResult]:
    """No class appears or disappears."""
    before = {k for k, c in g.counts.items() if c["before"] > 0}
    after = {k for k, c in g.counts.items() if c["after"] > 0}
    added, lost = sorted(after - before), sorted(before - after)
    ok = not added and not lost
    detail = "label set unchanged" if ok else f"labels added {added}, lost {lost}"
    return [CheckResult("label_set_unchanged", ok, detail, sorted(after))]

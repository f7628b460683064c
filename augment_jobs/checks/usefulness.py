"""Does it help, does it leak: efficacy on the leak-free holdout, and the privacy of synthetic rows."""

from __future__ import annotations

from augment_jobs.checks import CheckResult, GateInput


def efficacy(g: GateInput) -> list[CheckResult]:
    """Reported when `quality.efficacy` is set (it needs a split); gates on `min_uplift` when set."""
    e = g.efficacy
    conf = g.cfg.quality.efficacy
    if not e or conf is None:
        return []
    if e.get("skipped_reason"):
        return [CheckResult("efficacy", True, f"not measured: {e['skipped_reason']}", {"skipped": True})]
    limit = conf.min_uplift
    passed = limit is None or e["uplift"] >= limit
    bound = f"limit quality.efficacy.min_uplift = {limit:g}" if limit is not None else "not gated (quality.efficacy.min_uplift)"
    detail = (f"{e['metric']} on the holdout with {e['model']}: {e['baseline']:.3f} real only → "
              f"{e['augmented']:.3f} with synthetic rows (uplift {e['uplift']:+.3f}; {bound})")
    observed = {"baseline": e["baseline"], "augmented": e["augmented"], "uplift": e["uplift"]}
    cal = e.get("calibration") or {}
    for side in ("baseline", "augmented"):
        if side in cal:
            observed[f"brier_{side}"] = cal[side]["brier"]
        tail = [r[side] for r in (e.get("per_class_recall") or {}).values() if r["tail"]]
        if tail:  # the worst recall on the long tail: what the augmentation is for
            observed[f"tail_recall_{side}"] = min(tail)
    return [CheckResult("efficacy", passed, detail, observed)]


def privacy(g: GateInput) -> list[CheckResult]:
    """Always reported for frame modalities; `quality.privacy.max_exact_copies` / `max_close_share` gate."""
    from augment_jobs.evaluation.privacy import check_privacy

    p = g.privacy
    if "exact_copies" not in p:  # nothing to compare (a DP step's budget alone is `dp_budget`'s)
        return []
    limits = g.cfg.quality.privacy
    gated = check_privacy(p, limits.max_exact_copies, limits.max_close_share)
    figures = {"exact_copies": p["exact_copies"], "close_share": p["close_share"]}
    if not gated:
        close = f"{p['close_share']:.1%}" if p["close_share"] is not None else "n/a"
        return [CheckResult("privacy", True, f"{p['exact_copies']} exact copies of a train row, {close} closer than "
                            f"the {p['baseline']} baseline's 5th percentile (not gated: quality.privacy)", figures)]
    return [CheckResult(name, ok, detail, figures) for name, ok, detail in gated]

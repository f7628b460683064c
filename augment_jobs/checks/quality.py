"""The SDMetrics quality score (column shapes and column-pair trends) of SDV methods' output."""

from __future__ import annotations

from augment_jobs.checks import CheckResult, GateInput


def quality_score(g: GateInput) -> list[CheckResult]:
    """Reported whenever an SDV method scored its output; gates when `quality.min_score` is set.
    The score is the worst class's, so one badly modelled class cannot hide behind the others."""
    q = g.quality
    if not q:
        return []
    limit = g.cfg.quality.min_score
    worst = ", ".join(f"{w['column']} {w['score']:.2f} ({w['class']})" for w in q["worst_columns"])
    bound = f"; min {limit}" if limit is not None else " (not gated: set quality.min_score)"
    detail = f"SDMetrics quality {q['score']:.3f} in class {q['worst_class']!r}{bound}; worst columns: {worst}"
    if q.get("candidates"):  # method: auto
        detail += "; auto chose " + ", ".join(f"{c['chosen']} ({cls})" for cls, c in q["candidates"].items())
    passed = limit is None or q["score"] >= limit
    return [CheckResult("quality_score", passed, detail, {"score": q["score"], "worst_columns": q["worst_columns"]})]

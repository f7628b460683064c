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


def derived_held(g: GateInput) -> list[CheckResult]:
    """Every published row's derived columns equal their expressions (docs/config.md, "Column roles")."""
    from augment_jobs.tabular.columns import derived_mismatches

    derived = g.cfg.derived_columns()
    if not derived:
        return []
    bad = derived_mismatches(g.frame, g.cfg)
    n = len(g.frame)
    broken = {name: k for name, k in bad.items() if k}
    if broken:
        detail = "; ".join(f"columns.{name} differs from {derived[name]} on {k} of {n} rows" for name, k in broken.items())
        detail += ": fix the expression or the source rows"
    else:
        detail = f"{len(derived)} derived columns hold on all {n} rows"
    return [CheckResult("derived_held", not broken, detail, bad)]


def identifier_columns(g: GateInput) -> list[CheckResult]:
    """A warning (never a failure) for modelled columns that look like identifiers, naming the key
    that would exempt them: the platform never changes silently what is modelled."""
    from augment_jobs.tabular.columns import looks_like_id

    real = g.source
    found = {}
    for name in g.cfg.modelled_columns([c for c in real.columns if not str(c).startswith("_")]):
        why = looks_like_id(name, real[name])
        if why:
            found[name] = why
    if not found:
        return []
    detail = "warning: " + "; ".join(
        f"column {name!r} is modelled but looks like an identifier ({why}): set columns: {{{name}: {{role: id}}}} "
        f"to exempt it" for name, why in found.items())
    return [CheckResult("identifier_columns", True, detail, sorted(found))]


def neighbour_recall(g: GateInput) -> list[CheckResult]:
    """With `neighbours: approximate`, every search's measured recall@k is at least its step's
    `min_recall` (docs/gate.md); nothing to check when every search was exact."""
    r = g.recall
    if not r:
        return []
    low = [s for s in r["searches"] if s["recall"] < s["min_recall"]]
    worst = min(r["searches"], key=lambda s: s["recall"])
    if low:
        s = min(low, key=lambda s: s["recall"])
        where = f"augment[{s['step']}] {s['method']} {s['search']}" + (f" class {s['class']}" if s["class"] else "")
        detail = (f"approximate neighbours' recall {s['recall']:.4f} < min_recall {s['min_recall']} ({where}, "
                  f"recall@{s['k']} on {s['sample']} rows): raise ef_search / nprobe, or set neighbours: exact")
    else:
        detail = (f"approximate neighbours' recall {worst['recall']:.4f} >= min_recall {worst['min_recall']} "
                  f"over {len(r['searches'])} searches")
    return [CheckResult("neighbour_recall", not low, detail, {"recall": worst["recall"], "searches": len(r["searches"])})]

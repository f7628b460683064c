"""Bias audit of an augmented dataset (docs/gate.md, `quality.fairness`).

For each group column and each of its values (a group): the label distribution of the real rows
(before augmenting) and of all published rows (after), and the synthetic share of the group.
The gap of a class is the difference between the highest and the lowest share of that class among
the groups (demographic-parity difference); a group column's disparity is its largest gap over the
classes, and its `change` the largest move of a class's gap through augmenting (signed: + means
the groups are further apart after), which `max_disparity_change` gates. Without a label, only the synthetic shares are reported.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

MISSING = "(missing)"


def _key(s: pd.Series) -> pd.Series:
    """Group and class values compared as text (a value read back from Parquet as int matches a str)."""
    return s.astype(object).where(s.notna(), MISSING).astype(str)


def _disparity(shares: dict[str, dict[str, float]], classes: list[str]) -> tuple[float, str | None, list[str]]:
    """(largest gap, the class, [group with the highest share, group with the lowest])."""
    best, cls_at, pair = 0.0, None, []
    for c in classes:
        values = {g: s.get(c, 0.0) for g, s in shares.items()}
        if len(values) < 2:
            continue
        hi, lo = max(values, key=values.get), min(values, key=values.get)  # type: ignore[arg-type]
        gap = values[hi] - values[lo]
        if gap > best + 1e-12:
            best, cls_at, pair = gap, c, [hi, lo]
    return best, cls_at, pair


def fairness(real: pd.DataFrame, published: pd.DataFrame, groups: list[str], label: str | None,
             min_rows: int = 10) -> dict[str, Any]:
    """Per group column: `{disparity_before, disparity_after, change, change_class, groups_apart,
    synthetic_share_range, groups: {value: {rows_before, rows_after, synthetic, synthetic_share,
    labels_before, labels_after, compared}}}`.

    `real` are the real rows (before augmenting), `published` every row (real + synthetic, with
    `_synthetic`). Groups with fewer than `min_rows` real rows are listed but not compared.
    A group column missing from the rows is a ValueError naming it.
    """
    out: dict[str, Any] = {}
    synthetic = published["_synthetic"].to_numpy(bool)
    for col in groups:
        if col not in published.columns:
            raise ValueError(f"quality.fairness.groups: column {col!r} is not in the source; "
                             f"columns: {', '.join(c for c in published.columns if not str(c).startswith('_'))}")
        g_real, g_all = _key(real[col]), _key(published[col])
        y_real = _key(real[label]) if label else None
        y_all = _key(published[label]) if label else None
        classes = sorted(set(y_all)) if y_all is not None else []
        per: dict[str, Any] = {}
        before: dict[str, dict[str, float]] = {}
        after: dict[str, dict[str, float]] = {}
        for value in sorted(set(g_all)):
            in_real, in_all = (g_real == value).to_numpy(), (g_all == value).to_numpy()
            n_real, n_all = int(in_real.sum()), int(in_all.sum())
            n_syn = int((in_all & synthetic).sum())
            entry: dict[str, Any] = {"rows_before": n_real, "rows_after": n_all, "synthetic": n_syn,
                                     "synthetic_share": round(n_syn / n_all, 6) if n_all else 0.0,
                                     "compared": n_real >= min_rows}
            if y_real is not None and y_all is not None:
                b = y_real[in_real].value_counts(normalize=True) if n_real else pd.Series(dtype=float)
                a = y_all[in_all].value_counts(normalize=True)
                entry["labels_before"] = {c: round(float(b.get(c, 0.0)), 6) for c in classes}
                entry["labels_after"] = {c: round(float(a.get(c, 0.0)), 6) for c in classes}
                if entry["compared"]:
                    before[value], after[value] = entry["labels_before"], entry["labels_after"]
            per[value] = entry
        result: dict[str, Any] = {"groups": per, "synthetic_share_range": _range(per)}
        if label:
            d_before, _, _ = _disparity(before, classes)
            d_after, _, _ = _disparity(after, classes)
            # per class, how far the gap between groups moved; the largest move is the change gated
            gaps = {c: (_disparity({g: s for g, s in before.items()}, [c])[0],
                        _disparity({g: s for g, s in after.items()}, [c])) for c in classes}
            worst = max(gaps, key=lambda c: (abs(gaps[c][1][0] - gaps[c][0]), c)) if gaps else None
            change = gaps[worst][1][0] - gaps[worst][0] if worst is not None else 0.0
            result.update(disparity_before=round(d_before, 6), disparity_after=round(d_after, 6),
                          change=round(change, 6), change_class=worst,
                          groups_apart=gaps[worst][1][2] if worst is not None else [])
        out[col] = result
    return out


def _range(per: dict[str, Any]) -> list[float]:
    shares = [e["synthetic_share"] for e in per.values() if e["compared"]]
    return [min(shares), max(shares)] if shares else []

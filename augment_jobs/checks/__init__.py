"""Gate checks, one module per concern (docs/gate.md).

Every check is a small function `check(g: GateInput) -> list[CheckResult]`. The gate stage runs
`COMMON` for every dataset, then the checks its modality registered (`ModalitySpec.checks`), then
the dataset's Great Expectations suite (`run_checks`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from augment_jobs.contract import CheckResult

if TYPE_CHECKING:
    import pandas as pd

    from augment_jobs.config import DatasetConfig
    from augment_jobs.modality import RunPlan, ShardResult

__all__ = ["COMMON", "FRAME", "Check", "CheckResult", "GateInput", "merge_counts", "run_checks", "summarize"]


@dataclass(frozen=True)
class GateInput:
    """What a check may read: the config, the run plan, the augmented shards and the output table."""

    cfg: DatasetConfig
    plan: RunPlan
    shards: list[ShardResult]
    frame: pd.DataFrame  # the staged output (frame modalities) or per-sample metadata (images)

    @cached_property
    def counts(self) -> dict[str, dict[str, int]]:
        """Per class: {before, after, synthetic}, summed over shards."""
        return merge_counts(self.shards)

    @cached_property
    def skipped(self) -> dict[str, int]:
        """Items published as real, not augmented, by reason, summed over shards."""
        out: dict[str, int] = {}
        for s in self.shards:
            for reason, n in s.skipped.items():
                out[reason] = out.get(reason, 0) + n
        return dict(sorted(out.items()))

    @cached_property
    def quality(self) -> dict[str, Any]:
        """SDMetrics quality of SDV methods' output: `{score (worst class), worst_columns, by_class}`,
        plus `candidates` per class after `method: auto`; {} when no method reported one (docs/gate.md)."""
        by_class: dict[str, dict[str, Any]] = {}
        for s in self.shards:
            by_class.update(s.extra.get("quality", {}))
        scored = {c: q for c, q in by_class.items() if q.get("score") is not None}
        if not scored:
            return {}
        worst_cls = min(scored, key=lambda c: scored[c]["score"])
        columns = sorted(((col, s, c) for c, q in scored.items() for col, s in q.get("worst_columns", [])),
                         key=lambda t: t[1])[:3]
        out = {"score": scored[worst_cls]["score"], "worst_class": worst_cls,
               "worst_columns": [{"column": col, "score": s, "class": c} for col, s, c in columns],
               "by_class": dict(sorted(by_class.items()))}
        # `method: auto`: per class, the candidate chosen and every candidate's score and fit seconds
        candidates = {c: {"chosen": q["chosen"], "holdout_rows": q.get("holdout_rows"), "candidates": q["candidates"]}
                      for c, q in sorted(by_class.items()) if q.get("candidates")}
        if candidates:
            out["candidates"] = candidates
        return out

    @cached_property
    def sides(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
        """(real train rows, synthetic rows, holdout rows or None without a split)."""
        f = self.frame
        synthetic = f["_synthetic"].to_numpy(bool)
        if "_split" not in f.columns:
            return f[~synthetic], f[synthetic], None
        held = f["_split"].to_numpy() == "holdout"
        return f[~synthetic & ~held], f[synthetic], f[held]

    @cached_property
    def efficacy(self) -> dict[str, Any]:
        """Same model on train rows vs train + synthetic rows, scored on the holdout ({} if not asked)."""
        conf = self.cfg.quality.efficacy
        if conf is None or not self.cfg.label or "_split" not in self.frame.columns:
            return {}
        train, synthetic, holdout = self.sides
        if holdout is None:
            return {}
        from augment_jobs.evaluation.efficacy import efficacy

        roles = self.cfg.role_columns()  # ids, names and ignored columns are not what a model should learn
        return efficacy(*(f.drop(columns=roles, errors="ignore") for f in (train, synthetic, holdout)), self.cfg.label,
                        model=conf.model, metric=conf.metric, text_column=self.cfg.text_column,
                        steps=[s.method for s in self.cfg.augment])

    @cached_property
    def fairness(self) -> dict[str, Any]:
        """The bias audit per group column of `quality.fairness` ({} when not asked); a group column
        missing from the source is an InputError naming it."""
        conf = self.cfg.quality.fairness
        if conf is None or "_synthetic" not in self.frame.columns:
            return {}
        from augment_jobs.errors import InputError
        from augment_jobs.evaluation.fairness import fairness

        try:
            return fairness(self.source, self.frame, conf.groups, self.cfg.label, min_rows=conf.min_rows)
        except ValueError as e:
            raise InputError(f"{self.cfg.config_path or self.cfg.dataset}: {e}; nothing published") from None

    @cached_property
    def dp(self) -> dict[str, Any]:
        """The budget differentially private steps spent ({} when none ran): each shard's records
        (`ShardResult.extra["dp"]`: one {step, epsilon, delta, partition} per fit) composed."""
        from augment_jobs.privacy_dp import epsilon_spent

        records = [r for s in self.shards for r in s.extra.get("dp", [])]
        return epsilon_spent(records) if records else {}

    @cached_property
    def recall(self) -> dict[str, Any]:
        """Approximate neighbours' recall@k ({} when every search was exact): `{recall (the worst
        search's), min_recall (its gate), searches}` from the shards' records (`ctx.recall`)."""
        searches = [r for s in self.shards for r in s.extra.get("recall", [])]
        if not searches:
            return {}
        worst = min(searches, key=lambda r: (r["recall"] - r["min_recall"], r["recall"]))
        return {"recall": worst["recall"], "min_recall": worst["min_recall"], "searches": searches}

    @cached_property
    def privacy(self) -> dict[str, Any]:
        """Distance to closest record of synthetic rows vs the holdout's, and exact copies ({} if none:
        no synthetic rows, or not a table of rows, as an image run's metadata); with a differentially
        private step also its `epsilon`, `delta` and the records (`dp`)."""
        dcr = self._distance_privacy
        return {**dcr, **self.dp} if self.dp else dcr

    @cached_property
    def _distance_privacy(self) -> dict[str, Any]:
        if "_synthetic" not in self.frame.columns:
            return {}
        train, synthetic, holdout = self.sides
        if not len(synthetic) or not len(train):
            return {}
        from augment_jobs.evaluation.privacy import privacy
        from augment_jobs.modality import hooks_for
        from augment_jobs.schema import feature_columns

        hooks = hooks_for(self.cfg.modality)
        columns = hooks.compare_columns(self.cfg, self.frame) if hooks.compare_columns else feature_columns(self.frame, self.cfg)
        if not columns and self.cfg.text_column:
            columns = [self.cfg.text_column]  # free text: exact copies only, as categories
        if not columns:
            return {}
        result = privacy(train, synthetic, holdout, label=self.cfg.label, columns=columns, seed=self.cfg.seed)
        result.pop("seconds", None)  # the only figure that varies run to run
        return result

    @cached_property
    def source(self) -> pd.DataFrame:
        """The real (not synthetic) rows of the output table."""
        return self.frame[~self.frame["_synthetic"].astype(bool)]


Check = Callable[[GateInput], list[CheckResult]]


def merge_counts(shards: list[ShardResult]) -> dict[str, dict[str, int]]:
    """Per class: {before, after, synthetic}, summed over shards."""
    counts: dict[str, dict[str, int]] = {}
    for s in shards:
        for cls, c in s.counts.items():
            acc = counts.setdefault(cls, {"before": 0, "after": 0, "synthetic": 0})
            for k in acc:
                acc[k] += c.get(k, 0)
    return dict(sorted(counts.items()))


def run_checks(g: GateInput, modality_checks: tuple[Check, ...]) -> list[CheckResult]:
    """The gate's checks in report order: the common ones, the modality's, then the GX suite."""
    from augment_jobs.checks.suite import run_suite

    return [r for check in (*COMMON, *modality_checks, run_suite) for r in check(g)]


def summarize(checks: list[CheckResult]) -> str:
    """One line naming the failed checks and why."""
    failed = [c for c in checks if not c.passed]
    if not failed:
        return f"all {len(checks)} checks passed"
    parts = [f"{c.name} ({c.detail})" for c in failed[:3]]
    more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
    return f"{len(failed)} of {len(checks)} checks failed: " + "; ".join(parts) + more


def _common() -> tuple[Check, ...]:
    from augment_jobs.checks import share

    return share.synthetic_share, share.label_set, share.row_limit, share.skipped_share


def _frame() -> tuple[Check, ...]:
    from augment_jobs.checks import fairness, missing, quality, similarity, usefulness

    return (missing.missing_share, similarity.similarity, quality.quality_score, usefulness.efficacy,
            usefulness.privacy, fairness.dp_budget, fairness.fairness)


COMMON: tuple[Check, ...] = _common()
#: checks every frame modality (tabular, text, time series) registers besides its own
FRAME: tuple[Check, ...] = _frame()

"""`method: auto`: per class, the SDV candidate that scores best on held-out real rows of the class.

Per class with new rows: a seeded `holdout` share of its real rows is set aside; each candidate
(the platform's tuned `gaussian_copula`, `tvae` and `ctgan` with epochs from the class size and
early stopping on a validation slice) is fitted on the other rows, in order (within
`max_fit_seconds` for all of them when that is set); each one's draw is scored against the held-out rows with
SDMetrics quality. The class's rows are drawn from the best one.

With `refit` (the default) the winner is then fitted again on all of the class's rows, as
scikit-learn's searches refit their best estimator (a neural winner for the epochs early stopping
kept), and the class's rows are drawn from that fit; the held-out score stays the class's recorded
quality (a conservative figure for the refit, which learns from more rows). With `refit: false` the winner draws
as it was fitted: the recorded score is then of the very model that drew the rows, and no second fit
is paid for, at the price of the held-out share of rows.

Deterministic for a seed by default: no clock bounds the fit (each neural candidate trains its
schedule from the class size, with early stopping). A `max_fit_seconds` budget is opt-in: a
candidate it stops (or leaves unfitted) depends on the machine's speed, and a note says so. TabularARGN is not a candidate: see docs/config.md.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from augment_jobs.errors import InputError
from augment_jobs.tabular.method import register_tabular
from augment_jobs.tabular.methods.sdv import (
    Fitted,
    SdvMethod,
    class_rows,
    draw_class,
    fit_candidate,
    metric_part,
    quality_metadata,
    record_kinds,
    record_quality,
    save_synthesizer,
)
from augment_jobs.tabular.params import AutoParams, CtganParams, GaussianCopulaParams, SdvParams, TvaeParams
from augment_jobs.tabular.values import show

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from augment_jobs.tabular.plan import Step

#: rows drawn from each candidate to score it
DRAW_ROWS = 1000
#: a class needs this many held-out rows to score candidates on
MIN_HOLDOUT = 2
#: smaller classes get the first candidate fitted on all their rows: too few to hold any out
MIN_CONTEST_ROWS = 10


def candidate_params(name: str, params: AutoParams) -> SdvParams:
    """The params a candidate is fitted with: auto's SDV params, plus its own (`epochs` for the
    neural ones, `default_distribution` for the copula)."""
    common = {k: v for k, v in params.model_dump().items() if k in SdvParams.model_fields}
    if name == "gaussian_copula":
        return GaussianCopulaParams.model_validate({**common, "default_distribution": params.default_distribution})
    model = CtganParams if name == "ctgan" else TvaeParams
    return model.model_validate({**common, "epochs": params.epochs})


@register_tabular
class Auto(SdvMethod):
    """The best of gaussian_copula, TVAE and CTGAN per class, by SDMetrics quality on held-out rows."""

    name = "auto"
    params = AutoParams
    example: ClassVar[dict[str, Any]] = {"candidates": ["gaussian_copula", "tvae"], "epochs": 2}

    def fit(self, step: Step, learn: pa.Table, targets: dict[Any, int]) -> dict[Any, int]:
        ctx = step.ctx
        kinds: list[str] = []
        scores: list[float] = []
        for i, c in enumerate(step.classes):
            c["slot"] = i
            fitted, score = self._choose(step, class_rows(step, learn, c["value"]), c["value"])
            step.save_object(f"synthesizer-{i}.pkl", fitted.staged())
            save_synthesizer(fitted.synth, ctx, c["value"])
            c["learn"] = len(fitted.rows)
            kinds += [p.treatment for p in fitted.plans.values()]
            scores.append(score)
        record_kinds(ctx, kinds)
        if scores:
            ctx.metrics["quality.score"] = min(scores)
        return dict(targets)

    def _choose(self, step: Step, rows: pd.DataFrame, cls: Any) -> tuple[Fitted, float]:
        """Fit every candidate on the class's rows less a held-out slice; the best, and its score."""
        import numpy as np

        from augment_jobs.frames import encode_datetimes
        from augment_jobs.tabular.quality_score import quality_score

        params, ctx, method = step.params, step.ctx, step.method
        n = len(rows)
        if n < 2:
            raise InputError(f"auto: no candidate could fit class {show(cls)} of column {step.label!r}: {n} of its "
                             f"rows hold the constraints (a model needs 2+): fix the rows or the constraints")
        if n < MIN_CONTEST_ROWS:
            return self._too_small(step, rows, cls)
        k = max(MIN_HOLDOUT, round(n * params.holdout))
        order = ctx.rng(method, "holdout", str(cls)).permutation(n)
        fit_rows = rows.iloc[np.sort(order[k:])].reset_index(drop=True)
        held = rows.iloc[np.sort(order[:k])].reset_index(drop=True)
        encode_datetimes(held)  # compared as the models see them: datetimes as float nanoseconds
        start = time.monotonic()
        results: list[dict[str, Any]] = []
        best: tuple[float, str, Fitted, dict[str, Any]] | None = None
        for j, name in enumerate(params.candidates):
            deadline = None  # no clock budget (the default): every candidate runs its own schedule
            if params.max_fit_seconds is not None:
                left = params.max_fit_seconds - (time.monotonic() - start)
                if left <= 0:
                    results.append({"method": name, "score": None, "fit_seconds": 0.0,
                                    "error": "not fitted: max_fit_seconds spent by the candidates before it"})
                    continue
                # the candidates not fitted yet share what is left of the budget
                deadline = time.monotonic() + left / (len(params.candidates) - j)
            try:
                fitted = fit_candidate(step, fit_rows, cls, name, candidate_params(name, params), deadline=deadline,
                                       save=False)
                draw = draw_class(fitted.synth, DRAW_ROWS, ctx.seed32(method, "candidate-draw", name, str(cls)),
                                  fitted.plans, fitted.rows)
                # sdtypes from the source's types, not the candidate's treatment: a numeric column a
                # small class has few values of is still judged as numbers (as SDMetrics users see it)
                q = quality_score(held, draw, seed=ctx.seed32(method, "quality", str(cls)))
            except Exception as e:  # noqa: BLE001  (a candidate that cannot fit is recorded; the others go on)
                results.append({"method": name, "score": None, "fit_seconds": round(time.monotonic() - start, 3),
                                "error": f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"})
                continue
            entry: dict[str, Any] = {"method": name, "score": q["score"], "column_shapes": q["column_shapes"],
                                     "column_pair_trends": q["column_pair_trends"], "fit_seconds": fitted.seconds}
            if fitted.watch is not None:
                entry.update(epochs=fitted.watch.epochs_run, stopped=fitted.watch.stopped)
            results.append(entry)
            score = q["score"] if q["score"] is not None else -1.0
            if best is None or score > best[0]:  # ties go to the earlier candidate
                best = (score, name, fitted, q)
        if best is None:
            why = "; ".join(f"{r['method']}: {r['error']}" for r in results)
            raise InputError(f"auto: no candidate could fit class {show(cls)} of column {step.label!r} "
                             f"({n} rows): {why}")
        score, chosen, fitted, q = best
        if params.refit:
            fitted = self._refit(step, rows, cls, chosen, fitted)
        self._record(step, cls, chosen, results, q, n, k)
        return fitted, score

    @staticmethod
    def _refit(step: Step, rows: pd.DataFrame, cls: Any, name: str, candidate: Fitted) -> Fitted:
        """The winner fitted again on all of the class's rows, as sklearn's search refits its best
        estimator; a neural winner for the epochs early stopping kept, without a validation slice,
        so the refit is as deterministic as the contest."""
        cp = candidate_params(name, step.params)
        if candidate.watch is not None and candidate.watch.best_epoch:
            cp = cp.model_copy(update={"epochs": candidate.watch.best_epoch, "early_stopping": False})
        fitted = fit_candidate(step, rows, cls, name, cp, save=False)
        step.ctx.notes.append(f"auto: class {show(cls)}: {name} refitted on all {len(rows)} rows "
                              f"({fitted.seconds:.1f} s; params.refit)")
        return fitted

    def _too_small(self, step: Step, rows: pd.DataFrame, cls: Any) -> tuple[Fitted, float]:
        """A class too small to hold rows out: the first candidate that fits, on all its rows, scored
        on them (as the other SDV methods score)."""
        from augment_jobs.tabular.quality_score import quality_score

        params, ctx, method = step.params, step.ctx, step.method
        errors = []
        for name in params.candidates:
            t0 = time.monotonic()
            try:
                fitted = fit_candidate(step, rows, cls, name, candidate_params(name, params), save=False)
            except Exception as e:  # noqa: BLE001  (the next candidate is tried)
                errors.append(f"{name}: {type(e).__name__}: {' '.join(str(e).split())[:300]}")
                continue
            draw = draw_class(fitted.synth, DRAW_ROWS, ctx.seed32(method, "candidate-draw", name, str(cls)),
                              fitted.plans, fitted.rows)
            q = quality_score(fitted.rows, draw, quality_metadata(fitted.plans), seed=ctx.seed32(method, "quality", str(cls)))
            ctx.notes.append(f"auto: class {show(cls)} has {len(rows)} rows, too few to hold any out to score "
                             f"candidates ({MIN_CONTEST_ROWS}+ needed): {name} fitted on all of them")
            result = {"method": name, "score": q["score"], "fit_seconds": round(time.monotonic() - t0, 3),
                      "scored_on": "fitted rows"}
            record_quality({**q, "chosen": name, "holdout_rows": 0, "candidates": [result]}, cls, ctx,
                           f"auto ({name}, on its fitted rows)")
            return fitted, float(q["score"] or 0.0)
        raise InputError(f"auto: no candidate could fit class {show(cls)} of column {step.label!r} "
                         f"({len(rows)} rows): " + "; ".join(errors))

    @staticmethod
    def _record(step: Step, cls: Any, chosen: str, results: list[dict[str, Any]], q: dict[str, Any], n: int,
                k: int) -> None:
        """The choice and every candidate's score and fit seconds: notes, metrics (MLflow) and
        `ctx.quality` (the gate report's and manifest's `quality.candidates`, the HTML report)."""
        ctx, key = step.ctx, metric_part(cls)
        for r in results:
            if r.get("score") is not None:
                ctx.metrics[f"auto.{key}.{r['method']}.score"] = r["score"]
            ctx.metrics[f"auto.{key}.{r['method']}.fit_seconds"] = r["fit_seconds"]
        ctx.metrics[f"auto.{key}.chosen.{chosen}"] = 1.0
        parts = []
        for r in results:
            if "error" in r:
                parts.append(f"{r['method']} failed ({r['error']})")
                continue
            extra = f", {r['epochs']} epochs" + (f", stopped {r['stopped']}" if r.get("stopped") else "") \
                if "epochs" in r else ""
            parts.append(f"{r['method']} {r['score']} ({r['fit_seconds']:.1f} s{extra})")
        ctx.notes.append(f"auto: class {show(cls)}: chose {chosen} by SDMetrics quality on {k} held-out of {n} rows; "
                         "candidates: " + ", ".join(parts))
        if any(r.get("stopped") == "budget" or "max_fit_seconds" in r.get("error", "") for r in results):
            ctx.notes.append(f"auto: class {show(cls)}: params.max_fit_seconds bound the fit, so the rows depend on "
                             "the machine's speed: raise it for byte-identical reruns")
        record_quality({**q, "chosen": chosen, "holdout_rows": k, "candidates": results},
                       cls, ctx, f"auto ({chosen}, on held-out rows)")

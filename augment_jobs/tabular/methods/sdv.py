"""SDV 2.0 synthesizers: gaussian_copula, ctgan, tvae.

One synthesizer per class (fitted on that class's real rows) reaches each class's target count;
`num_rows` extra rows are split across classes by a multinomial draw on the real class shares, i.e.
unconditional samples from the per-class mixture. The config's constraints go in through `sdv.cag`.
Rows drawn from a model have no parents (`_source_ids` is empty); the fitted model is the lineage.

Each class's columns get a treatment first (`sdv_columns`: categorical for few-valued columns, point
masses plus a continuous part for zero-inflated ones, the best-fitting marginal for the copula), and
each class's output is scored with SDMetrics' QualityReport (`quality_score`): both land in the
step's notes (one line per class naming every column's treatment) and metrics (`columns.<kind>`
counts, `quality.score` of the weakest class, `quality.<class>.*`).
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from augment_jobs.errors import InputError
from augment_jobs.sampling import class_targets
from augment_jobs.tabular.method import Drawn, TabularMethod, register_tabular
from augment_jobs.tabular.params import CtganParams, GaussianCopulaParams, SdvParams, TvaeParams
from augment_jobs.tabular.sdv_columns import ColumnPlan, distributions
from augment_jobs.tabular.values import show

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from augment_jobs.config import DatasetConfig
    from augment_jobs.registry import AugmentContext
    from augment_jobs.tabular.plan import Step
    from augment_jobs.tabular.sdv_training import Watch

TABLE = "data"
#: the methods trained by epochs (batch size, epochs and early stopping from `sdv_training`)
NEURAL = ("ctgan", "tvae")


class SdvMethod(TabularMethod):
    """One SDV synthesizer per class with new rows, fitted on its rows (or a seeded sample of
    `max_fit_rows`), the config's constraints enforced through `sdv.cag`."""

    lineage = False
    skips_unlabelled = False

    def targets(self, step: Step) -> dict[Any, int]:
        return model_targets(step)

    def learning_rows(self, step: Step, targets: dict[Any, int]) -> dict[Any, np.ndarray | None]:
        import numpy as np

        params, method = step.params, step.method
        rows: dict[Any, np.ndarray | None] = {}
        for cls in targets:
            n = step.counts[cls]
            if n < params.min_class_rows:
                raise InputError(
                    f"{method}: class {show(cls)} of column {step.label!r} has {n} rows; fitting its model needs "
                    f"{params.min_class_rows}+: add rows or leave the class out of sampling_strategy"
                )
            rows[cls] = None
            if params.max_fit_rows and n > params.max_fit_rows:
                # a seeded draw over the class's rows in source order
                rows[cls] = np.sort(step.ctx.rng(method, "fit_rows", str(cls)).choice(n, size=params.max_fit_rows,
                                                                                      replace=False))
                step.ctx.notes.append(f"{method}: class {show(cls)} fitted on {params.max_fit_rows} of its rows "
                                      "(params.max_fit_rows)")
        return rows

    def fit(self, step: Step, learn: pa.Table, targets: dict[Any, int]) -> dict[Any, int]:
        method, params, ctx = step.method, step.params, step.ctx
        scores: list[float] = []
        kinds: list[str] = []
        for i, c in enumerate(step.classes):
            c["slot"] = i
            rows = class_rows(step, learn, c["value"])
            fitted = fit_candidate(step, rows, c["value"], method, params)
            kinds += [p.treatment for p in fitted.plans.values()]
            # the drawer decodes its draws against the fitted rows (bounded by max_fit_rows)
            step.save_object(f"synthesizer-{i}.pkl", fitted.staged())
            c["learn"] = len(rows)
            if params.quality_rows:  # scored on a draw of its own (the output is drawn block by block)
                q_rows = draw_class(fitted.synth, min(params.quality_rows, c["synthetic"]),
                                    ctx.seed32(method, "quality-draw", str(c["value"])), fitted.plans, fitted.rows)
                scores.append(_score(fitted.rows, q_rows, fitted.plans, c["value"], ctx, method, params.quality_rows))
        record_kinds(ctx, kinds)
        if scores:
            ctx.metrics["quality.score"] = min(scores)  # the weakest class: what a min_score gate needs
        return dict(targets)

    def drawer(self, step: Step) -> SdvDrawer:
        return SdvDrawer(step)


class SdvDrawer:
    """Rows from a class's fitted synthesizer, the draw fixed by the block's seed."""

    def __init__(self, step: Step) -> None:
        self.step = step
        self._fitted: dict[int, Any] = {}

    def draw(self, class_index: int, start: int, n: int, rng: np.random.Generator, seed: int,
             redraw: int = 0) -> Drawn:
        import numpy as np
        import pyarrow as pa

        from augment_jobs.frames import decode_datetimes

        c = self.step.classes[class_index]
        if c["slot"] not in self._fitted:
            # (synthesizer, column plans, fitted rows, datetime columns encoded for it)
            self._fitted[c["slot"]] = self.step.load_object(f"synthesizer-{c['slot']}.pkl")
        synth, plans, rows, encoded = self._fitted[c["slot"]]
        df = draw_class(synth, n, seed, plans, rows)
        decode_datetimes(df, encoded)
        if len(df) != n:
            raise RuntimeError(f"{self.step.method}: class {c['key']}: SDV returned {len(df)} of {n} rows requested")
        cols: dict[str, Any] = {}
        for name in plans:
            s = df[name]
            cols[name] = s.to_numpy(np.float64) if s.dtype.kind == "f" else pa.array(s, from_pandas=True)
        src = pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], pa.string()))
        return Drawn(cols, src, pa.nulls(n, pa.string()))


@register_tabular
class GaussianCopula(SdvMethod):
    """SDV GaussianCopulaSynthesizer per class: marginals plus a Gaussian copula of their correlations."""

    name = "gaussian_copula"
    params = GaussianCopulaParams


@register_tabular
class Ctgan(SdvMethod):
    """SDV CTGANSynthesizer per class: a conditional GAN (CPU here; slow, keep epochs modest)."""

    name = "ctgan"
    params = CtganParams
    example: ClassVar[dict[str, Any]] = {"epochs": 2, "batch_size": 50}


@register_tabular
class Tvae(SdvMethod):
    """SDV TVAESynthesizer per class: a variational autoencoder for tables."""

    name = "tvae"
    params = TvaeParams
    example: ClassVar[dict[str, Any]] = {"epochs": 2, "batch_size": 50}


def model_targets(step: Step) -> dict[Any, int]:
    """Rows to draw per class for a model fitted per class: `sampling_strategy` targets plus each
    class's share of `num_rows` (params of SDV methods and `dp_synth`)."""
    from augment_jobs.tabular.plan import by_class_sizes

    values = list(step.counts)
    return by_class_sizes(values, [step.counts[v] for v in values], step.params.sampling_strategy,
                          lambda y: _plan(y, step.params, step.ctx, step.method))


def class_rows(step: Step, learn: pa.Table, cls: Any) -> pd.DataFrame:
    """One class's feature rows a synthesizer may fit on (`_holding`), datetimes as pandas datetimes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    mine = pc.equal(learn.column(step.label), pa.scalar(cls).cast(learn.schema.field(step.label).type))
    return _holding(learn.filter(mine).select(list(step.features)).to_pandas(date_as_object=False), step, cls)


def record_kinds(ctx: AugmentContext, kinds: list[str]) -> None:
    """`columns.<treatment>` metrics: how many class columns got each treatment."""
    for kind in sorted(set(kinds)):
        ctx.metrics[f"columns.{kind}"] = float(kinds.count(kind))


@dataclass
class Fitted:
    """One class's fitted synthesizer with what drawing from it needs."""

    synth: Any
    plans: dict[str, ColumnPlan]
    rows: pd.DataFrame  # the class's rows it was planned on, datetimes as float ns (decoding reads them)
    encoded: dict[str, Any]  # datetime columns encoded for the model (`frames.encode_datetimes`)
    watch: Watch | None = None
    seconds: float = 0.0

    def staged(self) -> tuple[Any, dict[str, ColumnPlan], pd.DataFrame, dict[str, Any]]:
        """What `SdvDrawer` loads: (synthesizer, plans, rows, encoded datetimes)."""
        return self.synth, self.plans, self.rows, self.encoded


def fit_candidate(step: Step, rows: pd.DataFrame, cls: Any, method: str, params: SdvParams, *,
                  deadline: float | None = None, save: bool = True) -> Fitted:
    """Plan the class's columns and fit `method` on `rows`; CTGAN and TVAE train on a seeded slice
    of them and stop early on the rest (`sdv_training`), or by `deadline` (time.monotonic)."""
    import time

    from augment_jobs.frames import encode_datetimes
    from augment_jobs.tabular.sdv_training import Watch, validation_split

    ctx = step.ctx
    t0 = time.perf_counter()
    rows = rows.copy()
    encoded = encode_datetimes(rows)  # the model sees datetimes as float nanoseconds
    features = list(step.features)
    plans = _column_plans(rows, features, params, step.cfg, method)
    if params.column_treatment == "auto":
        ctx.notes.append(f"{method}: class {show(cls)} columns: " + ", ".join(p.describe() for p in plans.values()))
    watch, train = None, rows
    if method in NEURAL:
        split = validation_split(len(rows), ctx.rng(method, "validation", str(cls))) if params.stops_early() else None
        validation = None
        if split is not None:
            train, validation = rows.iloc[split[0]].reset_index(drop=True), rows.iloc[split[1]].reset_index(drop=True)
        batch, epochs = schedule(method, params, len(train))
        if validation is not None or deadline is not None:
            watch = Watch(epochs, validation=validation, deadline=deadline)
    synth = fit_class(train, cls, plans, step.cfg.constraints, maker(method, params), ctx, method, watch=watch,
                      save=save)
    if method in NEURAL:
        how = watch.describe() if watch is not None else f"{epochs} epochs"
        ctx.notes.append(f"{method}: class {show(cls)} trained on {len(train)} rows in batches of {batch}: {how}")
    return Fitted(synth, plans, rows, encoded, watch, round(time.perf_counter() - t0, 3))


def _holding(rows: pd.DataFrame, step: Step, cls: Any) -> pd.DataFrame:
    """The rows a synthesizer may fit on: those holding the constraints SDV enforces (SDV refuses to
    fit on rows breaking them); the others are left out of the fit, with a note."""
    import numpy as np

    from augment_jobs.tabular.constraints import sdv_enforced, violations

    enforced = sdv_enforced(step.cfg.constraints)
    if not enforced or not len(rows):
        return rows
    bad = np.zeros(len(rows), dtype=bool)
    for mask in violations(rows.assign(_synthetic=False), enforced).values():
        bad |= mask.to_numpy()
    if bad.any():
        step.ctx.notes.append(f"{step.method}: class {show(cls)}: {int(bad.sum())} of {len(rows)} rows break the "
                              "constraints and are left out of its fit")
    return rows[~bad].reset_index(drop=True)


def maker(method: str, params: Any) -> Any:
    """`make(metadata, n_rows, plans)` building the method's unfitted SDV synthesizer."""

    def make(metadata: Any, n_rows: int, plans: dict[str, ColumnPlan]) -> Any:
        from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer, TVAESynthesizer

        common = {"enforce_min_max_values": params.enforce_min_max_values, "enforce_rounding": params.enforce_rounding}
        if method == "gaussian_copula":
            default = "truncnorm" if params.default_distribution == "auto" else params.default_distribution
            return GaussianCopulaSynthesizer(metadata, **common, default_distribution=default,
                                             numerical_distributions=distributions(plans) or None)
        batch, epochs = schedule(method, params, n_rows)
        if method == "ctgan":
            return CTGANSynthesizer(metadata, **common, epochs=epochs, batch_size=batch, pac=params.pac,
                                    embedding_dim=params.embedding_dim, verbose=False, enable_gpu=_gpu())
        return TVAESynthesizer(metadata, **common, epochs=epochs, batch_size=batch,
                               embedding_dim=params.embedding_dim, verbose=False, enable_gpu=_gpu())

    return make


def _gpu() -> bool:
    # CPU unless a CUDA device is present; results differ between the two, so CPU workers and GPU
    # workers should not both serve one dataset.
    import torch

    return bool(torch.cuda.is_available())


def schedule(method: str, params: Any, n_rows: int) -> tuple[int, int]:
    """(batch size, epochs) of a CTGAN or TVAE fit on `n_rows`: the params', or from the class size."""
    from augment_jobs.tabular.sdv_training import batch_size, epochs_for

    batch = batch_size(params.batch_size, n_rows, params.pac if method == "ctgan" else 2)
    return batch, params.epochs or epochs_for(n_rows, batch)


def _column_plans(rows: pd.DataFrame, features: list[str], params: SdvParams, cfg: DatasetConfig,
                  method: str) -> dict[str, ColumnPlan]:
    """The class's column treatment (`sdv_columns`), or SDV's plain one when treatment is off."""
    import pandas as pd

    from augment_jobs.tabular.sdv_columns import plan_columns

    fixed = {c for con in cfg.constraints if con.type == "fixed_combinations" for c in con.columns}
    constrained = {getattr(con, a) for con in cfg.constraints for a in ("column", "low", "high")
                   if isinstance(getattr(con, a, None), str)}
    if params.column_treatment == "auto":
        copula = method == "gaussian_copula" and getattr(params, "default_distribution", None) == "auto"
        default = getattr(params, "default_distribution", "truncnorm")
        return plan_columns(rows, features, constrained=constrained, fixed=fixed, choose_marginal=copula,
                            default_distribution="truncnorm" if default == "auto" else default)
    plans = {}
    for col in features:
        s = rows[col]
        if col in fixed or not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s)):
            sdtype = "categorical"
        elif pd.api.types.is_bool_dtype(s):
            sdtype = "boolean"
        else:
            sdtype = "datetime" if pd.api.types.is_datetime64_any_dtype(s) else "numerical"
        plans[col] = ColumnPlan(col, "sdv", sdtype)
    return plans


def _score(rows: pd.DataFrame, sample: pd.DataFrame, plans: dict[str, ColumnPlan], cls: Any, ctx: AugmentContext,
           method: str, max_rows: int) -> float:
    """SDMetrics quality of one class's sample into metrics (`quality.<class>.*`) and notes."""
    from augment_jobs.tabular.quality_score import quality_score

    q = quality_score(rows, sample, quality_metadata(plans), max_rows=max_rows, seed=ctx.seed32(method, "quality", str(cls)))
    return record_quality(q, cls, ctx, method)


def quality_metadata(plans: dict[str, ColumnPlan]) -> dict[str, Any]:
    """SDMetrics' single-table metadata for a class's modelled columns."""
    return {"columns": {c: {"sdtype": "categorical" if p.treatment == "categorical" else p.sdtype}
                        for c, p in plans.items()}}


def record_quality(q: dict[str, Any], cls: Any, ctx: AugmentContext, method: str) -> float:
    """A class's quality report into metrics (`quality.<class>.*`), `ctx.quality` and a note; its score."""
    key = metric_part(cls)
    for part in ("score", "column_shapes", "column_pair_trends"):
        if q[part] is not None:
            ctx.metrics[f"quality.{key}.{part}"] = q[part]
    ctx.quality[str(cls)] = q
    worst = ", ".join(f"{c} {s:.2f}" for c, s in q["worst_columns"])
    ctx.notes.append(f"{method}: class {show(cls)} quality {q['score']} (shapes {q['column_shapes']}, "
                     f"pair trends {q['column_pair_trends']}); worst columns: {worst}")
    return float(q["score"]) if q["score"] is not None else 0.0


def metric_part(value: Any) -> str:
    """A class value as a metric-name part (MLflow allows letters, digits, _ - . / and space)."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(value.item() if hasattr(value, "item") else value))


def _plan(y: np.ndarray, params: SdvParams, ctx: AugmentContext, method: str) -> dict[Any, int]:
    """Rows to draw per class: the sampling_strategy targets plus this class's share of num_rows."""
    import pandas as pd

    counts = class_targets(params.sampling_strategy, y, method=method, label=ctx.cfg.label)
    if params.num_rows:
        classes = list(pd.unique(y))
        shares = pd.Series(y).value_counts(normalize=True).reindex(classes).to_numpy()
        extra = ctx.rng(method, "num_rows").multinomial(params.num_rows, shares)
        for cls, n in zip(classes, extra.tolist(), strict=True):
            if n:
                counts[cls] = counts.get(cls, 0) + int(n)
    # Stable class order: by the label's text, so the output does not depend on row order.
    return {c: counts[c] for c in sorted(counts, key=str)}


def _metadata(plans: dict[str, ColumnPlan]) -> Any:
    """Explicit sdtypes: SDV would otherwise detect PII-like columns and replace them with fakes."""
    from sdv.metadata import Metadata

    from augment_jobs.tabular.sdv_columns import metadata_columns

    return Metadata.load_from_dict({"tables": {TABLE: {"columns": metadata_columns(plans)}}})


def fit_class(rows: pd.DataFrame, cls: Any, plans: dict[str, ColumnPlan], constraints: list[Any], make: Any,
              ctx: AugmentContext, method: str, *, watch: Watch | None = None, save: bool = True) -> Any:
    """One synthesizer fitted on a class's encoded rows, seeded from (seed, ds, step, class), staged
    for MLflow unless `save` is off; `watch` stops a CTGAN/TVAE fit early (`sdv_training`)."""
    import random
    import warnings

    import numpy as np
    import torch

    from augment_jobs.tabular.constraints import sdv_constraints, sdv_enforced
    from augment_jobs.tabular.sdv_columns import encode
    from augment_jobs.tabular.sdv_training import watching

    seed = ctx.seed32(method, str(cls))
    synth = make(_metadata(plans), len(rows), plans)
    if constraints:
        synth.add_constraints(sdv_constraints(sdv_enforced(constraints)))
    data = encode(rows, plans, ctx.rng(method, "encode", str(cls)))
    if method == "gaussian_copula":
        _order_categories(synth, data, plans)
    if watch is not None and watch.validation is not None:
        watch.validation = encode(watch.validation, plans, ctx.rng(method, "encode-validation", str(cls)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # column-order and sdtype notices, not actionable here
        # CTGAN/TVAE and RDT read global generators: seed them right before use.
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        # One thread: these small networks gain little from more on a shared CPU, and the sums then
        # add up in the same order on every machine.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with watching(watch, synth):
                synth.fit({TABLE: data})
        finally:
            torch.set_num_threads(threads)
    if save:
        save_synthesizer(synth, ctx, cls)
    return synth


def _order_categories(synth: Any, data: pd.DataFrame, plans: dict[str, ColumnPlan]) -> None:
    """The copula's numeric categorical columns encoded in value order (`sdv_columns.ordered_encoders`)."""
    import warnings

    from augment_jobs.tabular.sdv_columns import ordered_encoders

    encoders = ordered_encoders(plans, data)
    if not encoders:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        synth.auto_assign_transformers({TABLE: data})
        synth.update_transformers(encoders)


def draw_class(synth: Any, n: int, seed: int, plans: dict[str, ColumnPlan], rows: pd.DataFrame) -> pd.DataFrame:
    """`n` decoded rows from a fitted synthesizer, the draw fixed by `seed`; `rows` are the fitted rows."""
    import warnings

    from augment_jobs.tabular.sdv_columns import decode

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # sample() reseeds from SDV's fixed seed unless one is set; set ours so the draw depends on
        # the date and step too. (`_set_random_state` is private: pinned to sdv==2.0.0.)
        synth._set_random_state(seed)
        # SDV draws a tqdm bar on stderr when constraints are set (tqdm reads TQDM_DISABLE only when it
        # is first imported); the stage reports progress itself, so the bar goes nowhere.
        with contextlib.redirect_stderr(io.StringIO()):
            sample = synth.sample(n)
    sample = sample[TABLE] if isinstance(sample, dict) else sample
    return decode(sample.reset_index(drop=True), plans, rows)


def save_synthesizer(synth: Any, ctx: AugmentContext, cls: Any) -> None:
    """Stage a class's fitted synthesizer for MLflow (skipped when the run stages no artifacts)."""
    if ctx.artifact_uri is None:
        return
    name = f"synthesizer-{ctx.step}-{cls}.pkl"
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, name)
        synth.save(path)
        with open(path, "rb") as f:
            ctx.save_artifact(name, f.read())

"""SDV 2.0 synthesizers: gaussian_copula, ctgan, tvae.

One synthesizer per class (fitted on that class's real rows) reaches each class's target count;
`num_rows` extra rows are split across classes by a multinomial draw on the real class shares, i.e.
unconditional samples from the per-class mixture. The config's constraints go in through `sdv.cag`.
Rows drawn from a model have no parents (`_source_ids` is empty); the fitted model is the lineage.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from augment_jobs.errors import InputError
from augment_jobs.frames import feature_columns, synthetic_rows
from augment_jobs.registry import register
from augment_jobs.sampling import class_targets
from augment_jobs.tabular._common import append, labels, show, synthetic_ids
from augment_jobs.tabular.constraints import check_columns, drop_violations
from augment_jobs.tabular.params import CtganParams, GaussianCopulaParams, SdvParams, TvaeParams

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from augment_jobs.config import DatasetConfig
    from augment_jobs.registry import AugmentContext

TABLE = "data"


@register("gaussian_copula", modality="tabular", params=GaussianCopulaParams)
def gaussian_copula(df: pd.DataFrame, params: GaussianCopulaParams, ctx: AugmentContext) -> pd.DataFrame:
    """SDV GaussianCopulaSynthesizer per class: marginals plus a Gaussian copula of their correlations."""
    return _run(df, params, ctx, "gaussian_copula", maker("gaussian_copula", params))


@register("ctgan", modality="tabular", params=CtganParams, example={"epochs": 2, "batch_size": 50})
def ctgan(df: pd.DataFrame, params: CtganParams, ctx: AugmentContext) -> pd.DataFrame:
    """SDV CTGANSynthesizer per class: a conditional GAN (CPU here; slow, keep epochs modest)."""
    return _run(df, params, ctx, "ctgan", maker("ctgan", params))


@register("tvae", modality="tabular", params=TvaeParams, example={"epochs": 2, "batch_size": 50})
def tvae(df: pd.DataFrame, params: TvaeParams, ctx: AugmentContext) -> pd.DataFrame:
    """SDV TVAESynthesizer per class: a variational autoencoder for tables."""
    return _run(df, params, ctx, "tvae", maker("tvae", params))


def maker(method: str, params: Any) -> Any:
    """`make(metadata, n_rows)` building the method's unfitted SDV synthesizer."""

    def make(metadata: Any, n_rows: int) -> Any:
        from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer, TVAESynthesizer

        common = {"enforce_min_max_values": params.enforce_min_max_values, "enforce_rounding": params.enforce_rounding}
        if method == "gaussian_copula":
            return GaussianCopulaSynthesizer(metadata, **common, default_distribution=params.default_distribution)
        if method == "ctgan":
            return CTGANSynthesizer(
                metadata, **common, epochs=params.epochs, batch_size=_batch_size(params.batch_size, n_rows, params.pac),
                pac=params.pac, embedding_dim=params.embedding_dim, verbose=False, enable_gpu=_gpu(),
            )
        return TVAESynthesizer(
            metadata, **common, epochs=params.epochs, batch_size=_batch_size(params.batch_size, n_rows, 2),
            embedding_dim=params.embedding_dim, verbose=False, enable_gpu=_gpu(),
        )

    return make


def _gpu() -> bool:
    # CPU unless a CUDA device is present; results differ between the two, so CPU workers and GPU
    # workers should not both serve one dataset.
    import torch

    return bool(torch.cuda.is_available())


def _batch_size(wanted: int, n_rows: int, multiple: int) -> int:
    """CTGAN needs batch_size % pac == 0 (TVAE an even one); small classes get smaller batches."""
    size = min(wanted, max(n_rows, multiple))
    return max(multiple, size - size % multiple)


def _run(df: pd.DataFrame, params: SdvParams, ctx: AugmentContext, method: str, make: Any) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    cfg = ctx.cfg
    y = labels(df, ctx, method)
    features = feature_columns(df, cfg)
    if not features:
        raise InputError(f"{method}: no feature columns besides the label {cfg.label!r}; nothing to model")
    check_columns(df, cfg.constraints)
    counts = _plan(y, params, ctx, method)
    if not counts:
        ctx.notes.append(f"{method}: sampling_strategy and num_rows ask for no new rows")
        return df

    real = df[~df["_synthetic"].to_numpy(bool)]
    metadata = _metadata(df, features, cfg)
    constraints = cfg.constraints
    parts = []
    for cls, n in counts.items():
        rows = df.loc[y == cls, features].reset_index(drop=True)
        if len(rows) < params.min_class_rows:
            raise InputError(
                f"{method}: class {show(cls)} of column {cfg.label!r} has {len(rows)} rows; fitting its model needs "
                f"{params.min_class_rows}+: add rows or leave the class out of sampling_strategy"
            )
        if params.max_fit_rows and len(rows) > params.max_fit_rows:
            rows = fit_sample(rows, params.max_fit_rows, ctx.rng(method, "fit_rows", str(cls)))
            ctx.notes.append(f"{method}: class {show(cls)} fitted on {len(rows)} of its rows (params.max_fit_rows)")
        sample = _fit_sample(rows, n, cls, metadata, constraints, make, ctx, method)
        sample[cfg.label] = np.repeat(np.asarray([cls], dtype=object), len(sample))
        parts.append(sample)
    values = pd.concat(parts, ignore_index=True)
    # SDV holds the constraints by construction; this catches anything it let through.
    values = drop_violations(values, constraints, real, ctx, method).reset_index(drop=True)
    out = synthetic_rows(
        df, values, method=method, ids=synthetic_ids(ctx, method, len(values)), source_ids=[[] for _ in range(len(values))]
    )
    ctx.metrics[f"{method}_rows_added"] = float(len(out))
    return append(df, out)


def fit_sample(rows: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """`n` of `rows`, drawn without replacement, kept in their source order."""
    import numpy as np

    keep = np.sort(rng.choice(len(rows), size=n, replace=False))
    return rows.iloc[keep].reset_index(drop=True)


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


def _metadata(df: pd.DataFrame, features: list[str], cfg: DatasetConfig) -> Any:
    """Explicit sdtypes: SDV would otherwise detect PII-like columns and replace them with fakes."""
    import pandas as pd
    from sdv.metadata import Metadata

    fixed = {c for con in cfg.constraints if con.type == "fixed_combinations" for c in con.columns}
    columns: dict[str, dict[str, Any]] = {}
    for col in features:
        s = df[col]
        if col in fixed:
            columns[col] = {"sdtype": "categorical"}  # cag.FixedCombinations needs categorical columns
        elif pd.api.types.is_bool_dtype(s):
            columns[col] = {"sdtype": "boolean"}
        elif pd.api.types.is_datetime64_any_dtype(s):
            columns[col] = {"sdtype": "datetime"}
        elif pd.api.types.is_numeric_dtype(s):
            columns[col] = {"sdtype": "numerical"}
        else:
            columns[col] = {"sdtype": "categorical"}
    return Metadata.load_from_dict({"tables": {TABLE: {"columns": columns}}})


def _fit_sample(rows: pd.DataFrame, n: int, cls: Any, metadata: Any, constraints: list[Any], make: Any,
                ctx: AugmentContext, method: str) -> pd.DataFrame:
    """Fit one synthesizer on a class's rows, seeded from (seed, ds, step, class); draw n rows."""
    synth = fit_synthesizer(rows, cls, metadata, constraints, make, ctx, method)
    sample = draw(synth, n, ctx.seed32(method, str(cls)))
    if len(sample) != n:
        ctx.notes.append(f"{method}: class {show(cls)}: SDV returned {len(sample)} of {n} rows requested")
    return sample


def fit_synthesizer(rows: pd.DataFrame, cls: Any, metadata: Any, constraints: list[Any], make: Any,
                    ctx: AugmentContext, method: str) -> Any:
    """One synthesizer fitted on a class's rows, seeded from (seed, ds, step, class), staged for MLflow."""
    import random
    import warnings

    import numpy as np
    import torch

    from augment_jobs.tabular.constraints import sdv_constraints

    seed = ctx.seed32(method, str(cls))
    synth = make(metadata, len(rows))
    if constraints:
        synth.add_constraints(sdv_constraints(constraints))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # column-order and sdtype notices, not actionable here
        # CTGAN/TVAE and RDT read global generators: seed them right before use.
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        synth.fit({TABLE: rows})
    _save(synth, ctx, f"synthesizer-{ctx.step}-{cls}.pkl")
    return synth


def draw(synth: Any, n: int, seed: int) -> pd.DataFrame:
    """`n` rows from a fitted synthesizer, the draw fixed by `seed`."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # sample() reseeds from SDV's fixed seed unless one is set; set ours so the draw depends on
        # the date and step too. (`_set_random_state` is private: pinned to sdv==2.0.0.)
        synth._set_random_state(seed)
        # SDV draws a tqdm bar when constraints are set; the stage reports progress itself
        os.environ["TQDM_DISABLE"] = "1"
        try:
            sample = synth.sample(n)
        finally:
            os.environ.pop("TQDM_DISABLE", None)
    sample = sample[TABLE] if isinstance(sample, dict) else sample
    return sample.reset_index(drop=True)


def _save(synth: Any, ctx: AugmentContext, name: str) -> None:
    """Stage the fitted synthesizer for MLflow (skipped when the run stages no artifacts)."""
    if ctx.artifact_uri is None:
        return
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, name)
        synth.save(path)
        with open(path, "rb") as f:
            ctx.save_artifact(name, f.read())

"""The SMOTE family from imbalanced-learn 0.14: smote, smotenc, borderline_smote, adasyn.

Every synthetic row records its two parents (the rows it interpolates) in `_source_ids` and its
interpolation step in `_params`. Rows breaking a configured constraint are dropped and counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from augment_jobs.errors import InputError
from augment_jobs.frames import feature_columns, synthetic_rows
from augment_jobs.registry import register
from augment_jobs.sampling import class_targets
from augment_jobs.tabular._common import (
    append,
    labels,
    no_gc,
    numeric_matrix,
    show,
    synthetic_ids,
    to_frame,
)
from augment_jobs.tabular.constraints import check_columns, drop_violations
from augment_jobs.tabular.params import AdasynParams, BorderlineSmoteParams, SmoteNCParams, SmoteParams

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from augment_jobs.registry import AugmentContext

NUMERIC_HINT = "smote, borderline_smote and adasyn need numeric features: use smotenc with categorical_features: [{col}]"


@register("smote", modality="tabular", params=SmoteParams)
def smote(df: pd.DataFrame, params: SmoteParams, ctx: AugmentContext) -> pd.DataFrame:
    """SMOTE: interpolate between a minority row and one of its k nearest same-class neighbours."""
    from augment_jobs.tabular._samplers import RecordingSMOTE

    return _run(df, params, ctx, "smote", lambda k, _m, t: RecordingSMOTE(
        sampling_strategy=t, random_state=ctx.seed32("smote"), k_neighbors=k))


@register("borderline_smote", modality="tabular", params=BorderlineSmoteParams)
def borderline_smote(df: pd.DataFrame, params: BorderlineSmoteParams, ctx: AugmentContext) -> pd.DataFrame:
    """Borderline-SMOTE: interpolate only from minority rows near the class border ("in danger")."""
    from augment_jobs.tabular._samplers import RecordingBorderlineSMOTE

    return _run(df, params, ctx, "borderline_smote", lambda k, m, t: RecordingBorderlineSMOTE(
        sampling_strategy=t, random_state=ctx.seed32("borderline_smote"),
        k_neighbors=k, m_neighbors=m, kind=params.kind))


@register("adasyn", modality="tabular", params=AdasynParams)
def adasyn(df: pd.DataFrame, params: AdasynParams, ctx: AugmentContext) -> pd.DataFrame:
    """ADASYN: like SMOTE, with more samples from minority rows surrounded by other classes."""
    from augment_jobs.tabular._samplers import RecordingADASYN

    return _run(df, params, ctx, "adasyn", lambda k, _m, t: RecordingADASYN(
        sampling_strategy=t, random_state=ctx.seed32("adasyn"), n_neighbors=k))


@register("smotenc", modality="tabular", params=SmoteNCParams, example={"categorical_features": ["region"]})
def smotenc(df: pd.DataFrame, params: SmoteNCParams, ctx: AugmentContext) -> pd.DataFrame:
    """SMOTE-NC: SMOTE on numeric features; categorical ones take their neighbours' majority value."""
    from augment_jobs.tabular._samplers import RecordingSMOTENC

    return _run(df, params, ctx, "smotenc", lambda k, _m, t: RecordingSMOTENC(
        categorical_features=list(params.categorical_features), sampling_strategy=t,
        random_state=ctx.seed32("smotenc"), k_neighbors=k))


def _run(df: pd.DataFrame, params: Any, ctx: AugmentContext, method: str, make: Any) -> pd.DataFrame:
    import numpy as np

    cfg = ctx.cfg
    whole = df
    features = feature_columns(df, cfg)
    empty = [c for c in features if df[c].isna().all()]
    if empty:  # no value to interpolate: synthetic rows get it missing, as every real row has it
        ctx.notes.append(f"{method}: column(s) {', '.join(map(repr, empty))} entirely missing: left out of the interpolation")
        features = [c for c in features if c not in empty]
    df = _learning_rows(df, features, params.missing, ctx, method)
    y = labels(df, ctx, method)
    check_columns(df, cfg.constraints)
    categorical: list[str] = list(getattr(params, "categorical_features", []))
    for col in categorical:
        if col not in features:
            where = "is the label or id column" if col in df.columns else "is not a column of the data"
            raise InputError(
                f"{method}: categorical_features names {col!r}, which {where}; feature columns: {', '.join(features)}"
            )
    numeric = [c for c in features if c not in categorical]
    if not numeric:
        raise InputError(f"{method}: every feature is categorical; SMOTE-NC needs a numeric one: use gaussian_copula or ctgan")
    hint = ("add it to categorical_features" if categorical else NUMERIC_HINT).format(col=_first_non_numeric(df, numeric))
    X = numeric_matrix(df, numeric, method, hint=hint)
    if categorical:
        from augment_jobs.tabular._common import check_no_nan

        check_no_nan(df, categorical, method)

    targets = class_targets(params.sampling_strategy, y, method=method, label=cfg.label)
    if not targets:
        ctx.notes.append(f"{method}: sampling_strategy asks for no new rows")
        return df
    k = params.n_neighbors if method == "adasyn" else params.k_neighbors
    k = _adapt_k(y, targets, k, method, ctx)
    m = getattr(params, "m_neighbors", 10)
    if m + 1 > len(y):
        m = len(y) - 1
        ctx.notes.append(f"{method}: m_neighbors lowered to {m} (only {len(y)} rows)")
    # Targets are computed above (to validate and adapt k first) and handed over as final class sizes.
    sampler = make(k, m, {c: int(np.count_nonzero(y == c)) + n for c, n in targets.items()})

    try:
        if categorical:
            import pandas as pd

            Xdf = pd.DataFrame(X, columns=numeric, copy=False)
            for col in categorical:
                Xdf[col] = df[col].to_numpy()
            X_out, y_out = sampler.fit_resample(Xdf, y)
            X_out, y_out = X_out.iloc[len(df):], y_out[len(df):]
            values_num = X_out[numeric].to_numpy(np.float64)
        else:
            X_out, y_out = sampler.fit_resample(X, y)
            if method == "borderline_smote":  # its output still starts with the input rows
                X_out, y_out = X_out[len(df):], y_out[len(df):]
            values_num = X_out
    except RuntimeError as e:  # ADASYN: a class whose neighbourhoods hold no other class
        raise InputError(f"{method}: {e}; use smote for this data") from None

    base, partner = sampler.parents(y)
    steps = _steps(X, values_num, base, partner)
    values = to_frame(values_num, numeric, df)
    for col in categorical:
        values[col] = X_out[col].to_numpy()
    values[cfg.label] = y_out
    _note_shortfall(targets, y_out, method, ctx)

    keep = drop_violations(values, cfg.constraints, df[~df["_synthetic"].to_numpy(bool)], ctx, method)
    if len(keep) != len(values):
        pos = keep.index.to_numpy()
        values, base, partner, steps = keep.reset_index(drop=True), base[pos], partner[pos], steps[pos]
    ids = df["_id"].to_numpy()
    with no_gc():
        src = [[a, b] for a, b in zip(ids[base].tolist(), ids[partner].tolist(), strict=True)]
        out = synthetic_rows(whole, values, method=method, ids=synthetic_ids(ctx, method, len(values)), source_ids=src)
        # Same text json.dumps(..., sort_keys=True) writes, built without a dict per row (1M-row inputs).
        out["_params"] = [f'{{"step": {s!r}}}' for s in np.round(steps, 6).tolist()]
    ctx.metrics[f"{method}_rows_added"] = float(len(out))
    return append(whole, out)


def _learning_rows(df: pd.DataFrame, features: list[str], missing: str, ctx: AugmentContext, method: str) -> pd.DataFrame:
    """The rows SMOTE learns from. A row with a missing label is never used; a row with a missing
    feature is left out (`missing: skip`, counted per column) or has it filled (`impute_median`:
    the column's median, or its most frequent value when not numeric). Published rows are untouched."""
    import pandas as pd

    label = ctx.cfg.label
    no_label = df[label].isna()
    ctx.skip(f"row with a missing label {label!r}", int(no_label.sum()))
    rows = df[~no_label]
    gaps = rows[features].isna()
    if not gaps.to_numpy().any():
        return rows if no_label.any() else df
    if missing == "skip":
        first = gaps.idxmax(axis=1)[gaps.any(axis=1)]  # each row counted once, under its first gap
        for col, n in first.value_counts(sort=False).items():
            ctx.skip(f"row with a missing value in {col!r} (params.missing: skip)", int(n))
        return rows[~gaps.any(axis=1)]
    rows = rows.copy()
    for col in gaps.columns[gaps.any(axis=0)]:
        s = rows[col]
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        fill = s.median() if numeric else s.mode(dropna=True).iloc[0]
        rows[col] = s.fillna(fill)
        ctx.notes.append(f"{method}: {int(gaps[col].sum())} missing values in {col!r} filled with {fill!r} to interpolate")
    return rows


def _first_non_numeric(df: pd.DataFrame, columns: list[str]) -> str:
    import pandas as pd

    for col in columns:
        s = df[col]
        if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s)):
            return col
    return ""


def _adapt_k(y: np.ndarray, targets: dict[Any, int], k: int, method: str, ctx: AugmentContext) -> int:
    """A class with n rows has n-1 neighbours: lower k to fit, or fail on a single-row class."""
    import numpy as np

    sizes = {c: int(np.count_nonzero(y == c)) for c in targets}
    smallest = min(sizes, key=lambda c: (sizes[c], str(c)))
    n = sizes[smallest]
    if n < 2:
        raise InputError(
            f"{method}: class {show(smallest)} of column {ctx.cfg.label!r} has a single row; interpolation needs 2+ "
            "rows per oversampled class: add rows or leave the class out of sampling_strategy"
        )
    if n - 1 < k:
        ctx.notes.append(f"{method}: class {show(smallest)} has {n} rows, so k_neighbors lowered from {k} to {n - 1}")
        k = n - 1
    ctx.metrics[f"{method}_k_neighbors"] = float(k)
    return k


def _steps(X: np.ndarray, new: np.ndarray, base: np.ndarray, partner: np.ndarray) -> np.ndarray:
    """Each new row's position t on its segment: new = base + t * (partner - base)."""
    import numpy as np

    if len(base) == 0:
        return np.empty(0)
    a = X[base]
    d = X[partner]
    d -= a
    num = np.einsum("ij,ij->i", new - a, d)
    den = np.einsum("ij,ij->i", d, d)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)
    return t


def _note_shortfall(targets: dict[Any, int], y_out: np.ndarray, method: str, ctx: AugmentContext) -> None:
    import numpy as np

    short = 0
    for cls, want in targets.items():
        got = int(np.count_nonzero(y_out == cls))
        if got < want:
            short += want - got
            ctx.notes.append(
                f"{method}: class {show(cls)} got {got} of {want} synthetic rows (no rows near the class border); "
                "use smote to reach the target"
            )
    if short:
        ctx.metrics[f"{method}_shortfall_rows"] = float(short)

"""`ts_policy`: per-series time-series augmentation (jitter, scaling, magnitude warp, time warp,
window slice), applied in the listed order to make each copy.

Lineage and ids: augmented series get new ids `<sid>~aug<step>.<k>`; each augmented row keeps the
original timestamp of the source row at the same position and `_source_ids = [that row's _id]`
(the value may come from neighbouring points after a warp or slice; the whole series' rows are
recoverable from the series id). `_params` holds the drawn params of the copy (the same for every
row of the series), including the rng key that replays the jitter noise.

Randomness: `ctx.rng("ts_policy", <series id>, <copy>)` per copy, so the output does not depend on
row order, the other series or the batch. Copies of equal-length series are stacked into one
(B, T, V) array and every op runs on the whole batch (see `ops.py`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from augment_jobs.errors import InputError
from augment_jobs.registry import AugmentContext, MethodParams, register
from augment_jobs.sampling import Copies, copies_for

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

METHOD = "ts_policy"
MIN_POINTS = 3
#: points a series needs per op: a spread (std) needs two, a warp curve or a window three
OP_MIN_POINTS = {"jitter": 2, "scaling": 2, "magnitude_warp": 3, "time_warp": 3, "window_slice": 3}


class _Op(MethodParams):
    p: float = Field(1.0, ge=0, le=1)  # probability that a copy gets this op


class Jitter(_Op):
    op: Literal["jitter"]
    sigma: float = Field(0.03, ge=0)  # fraction of each series' (column's) std


class Scaling(_Op):
    op: Literal["scaling"]
    sigma: float = Field(0.1, ge=0)  # factor ~ N(1, sigma) per series and column


class MagnitudeWarp(_Op):
    op: Literal["magnitude_warp"]
    sigma: float = Field(0.2, ge=0)
    knots: int = Field(4, ge=1, le=64)


class TimeWarp(_Op):
    op: Literal["time_warp"]
    sigma: float = Field(0.2, ge=0, le=1)
    knots: int = Field(4, ge=1, le=64)


class WindowSlice(_Op):
    op: Literal["window_slice"]
    ratio: float = Field(0.9, gt=0, le=1)  # window length as a share of the series
    size: int | None = Field(None, ge=2)  # or a fixed window length in points (overrides ratio)


Op = Annotated[Jitter | Scaling | MagnitudeWarp | TimeWarp | WindowSlice, Field(discriminator="op")]


class TsPolicyParams(MethodParams):
    """Params of `ts_policy` (docs/config.md)."""

    copies: Copies = 1
    ops: list[Op] = Field(min_length=1)


# --- drawing ---------------------------------------------------------------------------------------
def draw(ops: list[Any], rng: np.random.Generator, t: int, v: int) -> tuple[list[Any], list[dict[str, Any]]]:
    """Draw one copy's params for every op: (arrays for the kernels, a JSON-able record)."""
    import numpy as np

    arrays: list[Any] = []
    record: list[dict[str, Any]] = []
    for op in ops:
        on = bool(rng.random() < op.p)
        rec: dict[str, Any] = {"op": op.op, "applied": on}
        if op.op == "jitter":
            noise = rng.standard_normal((t, v))
            arrays.append((noise, op.sigma if on else 0.0))
            rec["sigma"] = op.sigma
        elif op.op == "scaling":
            f = rng.normal(1.0, op.sigma, v) if on else np.ones(v)
            arrays.append(f)
            rec["factor"] = np.round(f, 6).tolist()
        elif op.op == "magnitude_warp":
            k = rng.normal(1.0, op.sigma, (op.knots + 2, v)) if on else np.ones((op.knots + 2, v))
            arrays.append(k)
            rec["knot_values"] = np.round(k, 6).tolist()
        elif op.op == "time_warp":
            k = rng.normal(1.0, op.sigma, op.knots + 2) if on else np.ones(op.knots + 2)
            arrays.append(k)
            rec["knot_speeds"] = np.round(k, 6).tolist()
        else:  # window_slice
            length = window_length(op, t) if on else t
            start = int(rng.integers(0, t - length + 1))
            arrays.append((start, length))
            rec.update(start=start, length=length)
        record.append(rec)
    return arrays, record


def window_length(op: WindowSlice, t: int) -> int:
    return op.size if op.size is not None else max(2, round(op.ratio * t))


def apply(x: np.ndarray, ops: list[Any], drawn: list[list[Any]], std: np.ndarray,
          irregular: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Apply the ops in order to a batch x (B, T, V); drawn[b][i] are copy b's arrays for op i.

    Returns the values and which points each copy keeps (B, T). On a series with irregular times
    `window_slice` is a crop: the window's points keep their own times and values, and the points
    outside it are dropped (stretching the window back onto the source's uneven timestamps would
    move values in time: on Theoph a dose-time concentration of 0.74 became 2.9)."""
    import numpy as np

    from augment_jobs.timeseries import ops as K

    keep = np.ones(x.shape[:2], dtype=bool)
    crop = np.zeros(len(x), dtype=bool) if irregular is None else np.asarray(irregular, dtype=bool)
    for i, op in enumerate(ops):
        if op.op == "window_slice" and crop.any():
            pos = np.arange(x.shape[1])
            for b in np.flatnonzero(crop):
                # the window in the points the copy still has (a second crop narrows the first)
                start, length = drawn[b][i]
                have = np.flatnonzero(keep[b])
                lo = min(int(start), max(len(have) - int(length), 0))
                window = have[lo:lo + int(length)]
                keep[b] &= np.isin(pos, window)
            if crop.all():
                continue
            stretched = x[~crop]
            col = [d[i] for b, d in enumerate(drawn) if not crop[b]]
            x = x.copy()
            x[~crop] = K.window_slice(stretched, np.array([c[0] for c in col], float),
                                      np.array([c[1] for c in col], float))
            continue
        col = [d[i] for d in drawn]
        if op.op == "jitter":
            x = K.jitter(x, np.stack([c[0] for c in col]), np.array([c[1] for c in col]), std)
        elif op.op == "scaling":
            x = K.scaling(x, np.stack(col))
        elif op.op == "magnitude_warp":
            x = K.magnitude_warp(x, np.stack(col))
        elif op.op == "time_warp":
            x = K.time_warp(x, np.stack(col))
        else:
            x = K.window_slice(x, np.array([c[0] for c in col], float), np.array([c[1] for c in col], float))
    return x, keep


# --- the method ------------------------------------------------------------------------------------
def _clip_to_bounds(out: np.ndarray, vcols: list[str], ctx: AugmentContext, clipped: dict[str, int]) -> None:
    """Clip augmented values (B, T, V) into `quality.value_bounds` in place, counting per column: the
    ops' output holds the bounds the gate checks (jitter must not make a concentration negative)."""
    import numpy as np

    for v, col in enumerate(vcols):
        if col not in ctx.cfg.quality.value_bounds:
            continue
        low, high = ctx.cfg.quality.value_bounds[col]
        x = out[:, :, v]
        lo = -np.inf if low is None else low
        hi = np.inf if high is None else high
        with np.errstate(invalid="ignore"):
            n = int(np.count_nonzero((x < lo) | (x > hi)))
        if n:
            out[:, :, v] = np.clip(x, lo, hi)
            clipped[col] = clipped.get(col, 0) + n


def _irregular(times: pd.Series, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per series: whether its time steps differ (beyond float noise), as on a sampling schedule."""
    import numpy as np
    import pandas as pd

    t = times.to_numpy()
    if pd.api.types.is_datetime64_any_dtype(times):
        t = times.astype("int64").to_numpy()
    elif not pd.api.types.is_numeric_dtype(times):
        return np.zeros(len(starts), dtype=bool)  # no arithmetic on the times: treated as regular
    t = t.astype(np.float64)
    out = np.zeros(len(starts), dtype=bool)
    for j, (s, n) in enumerate(zip(starts, lengths, strict=True)):
        if n > 2:
            d = np.diff(t[s:s + n])
            out[j] = not np.allclose(d, d[0], rtol=1e-6, atol=0.0)
    return out


def _copies_per_series(params: TsPolicyParams, ctx: AugmentContext, labels: list[Any] | None, n: int) -> list[int]:
    if isinstance(params.copies, int):
        return [params.copies] * n
    if labels is None:
        raise InputError("ts_policy copies.per_class needs a label; set `label:` in the config or give copies: <int>")
    missing = sorted({str(k) for k in params.copies.per_class} - {str(x) for x in labels})
    if missing:
        ctx.notes.append(f"ts_policy: per_class names classes with no series in this source: {missing}")
    return [copies_for(params.copies, lab) for lab in labels]


def min_points(params: TsPolicyParams) -> tuple[int, str]:
    """The fewest points a series needs for the configured ops, and the op that needs them."""
    need, op_name = 0, params.ops[0].op
    for op in params.ops:
        n = OP_MIN_POINTS.get(op.op, MIN_POINTS)
        if op.op == "window_slice" and op.size is not None:
            n = max(n, op.size)
        if n > need:
            need, op_name = n, op.op
    return need, op_name


def _fill_gaps(vals: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Each series' missing values linearly interpolated (held flat at the ends), column by column."""
    import numpy as np

    out = vals.copy()
    for s, n in zip(starts, lengths, strict=True):
        block = out[s:s + n]
        t = np.arange(n)
        for j in range(block.shape[1]):
            ok = ~np.isnan(block[:, j])
            if ok.any() and not ok.all():
                block[:, j] = np.interp(t, t[ok], block[ok, j])
    return out


def _skip_unusable(ctx: AugmentContext, params: TsPolicyParams, vals: np.ndarray, starts: np.ndarray,
                   lengths: np.ndarray, copies: list[int], vcols: list[str]) -> list[int]:
    """Series too short for the ops, or with no value at all in a value column, are published as
    real, not augmented."""
    import numpy as np

    need, op_name = min_points(params)
    wanted = np.asarray(copies) > 0
    short = wanted & (lengths < need)
    ctx.skip(f"series shorter than the {need} points {op_name} needs", int(short.sum()))
    present = ~np.isnan(vals)
    for j, col in enumerate(vcols):
        # a series with no value in this column (and not already skipped): nothing to fill gaps from
        empty = np.add.reduceat(present[:, j].astype(np.int64), starts) == 0 if len(starts) else np.zeros(0, bool)
        bad = wanted & ~short & empty
        ctx.skip(f"series with no values in {col!r}", int(bad.sum()))
        short |= bad
    return [0 if s else c for s, c in zip(short, copies, strict=True)]


@register(METHOD, modality="timeseries", params=TsPolicyParams, example={
    "copies": 1, "ops": [{"op": "jitter", "sigma": 0.03}, {"op": "magnitude_warp", "sigma": 0.2, "knots": 4}]})
def ts_policy(df: pd.DataFrame, params: TsPolicyParams, ctx: AugmentContext) -> pd.DataFrame:
    """Per-series jitter, scaling, magnitude warp, time warp and window slicing (vectorised)."""
    import numpy as np
    import pandas as pd

    from augment_jobs.frames import synthetic_rows

    s = ctx.cfg.series
    assert s is not None  # guaranteed by the config model for timeseries
    idc, tc, vcols = s.id_column, s.time_column, list(s.value_columns)
    real = df[~df["_synthetic"].astype(bool)]
    real = real.sort_values([idc, tc], kind="stable")  # canonical order: output independent of input order
    sids = real[idc].astype(str).to_numpy()
    starts = np.flatnonzero(np.r_[True, sids[1:] != sids[:-1]])
    lengths = np.diff(np.r_[starts, len(sids)])
    series_ids = sids[starts].tolist()
    labels = real[ctx.cfg.label].to_numpy()[starts].tolist() if ctx.cfg.label in real.columns else None
    copies = _copies_per_series(params, ctx, labels, len(starts))

    vals = real[vcols].to_numpy(dtype=float)
    copies = _skip_unusable(ctx, params, vals, starts, lengths, copies, vcols)
    # Gaps: the ops run on the series with its gaps linearly filled, and each copy has them back where
    # the source had them (missing values stay missing, at the same time steps).
    gaps = np.isnan(vals)
    if gaps.any():
        vals = _fill_gaps(vals, starts, lengths)
    row_ids = real["_id"].astype(str).to_numpy()
    irregular = _irregular(real[tc], starts, lengths)
    # Samples in canonical order (series, copy); each group of equal length is one batch.
    results: dict[tuple[int, int], np.ndarray] = {}
    kept: dict[tuple[int, int], np.ndarray] = {}  # each copy's points, as positions in its series
    clipped: dict[str, int] = {}
    records: dict[tuple[int, int], str] = {}
    for t in np.unique(lengths):
        js = np.flatnonzero((lengths == t) & (np.asarray(copies) > 0))
        if not len(js):
            continue
        idx = starts[js][:, None] + np.arange(t)
        block = vals[idx]  # (n_series, T, V)
        std = block.std(axis=1)
        keys, drawn, src = [], [], []
        for n, j in enumerate(js):
            for k in range(copies[j]):
                arrays, rec = draw(params.ops, ctx.rng(METHOD, series_ids[j], k), int(t), len(vcols))
                for r in rec:
                    if r["op"] == "window_slice":
                        r["mode"] = "crop" if irregular[j] else "stretch"
                keys.append((int(j), k))
                drawn.append(arrays)
                src.append(n)
                records[(int(j), k)] = json.dumps(
                    {"copy": k, "series": series_ids[j], "rng_key": [METHOD, series_ids[j], k], "ops": rec}, sort_keys=True
                )
        src_arr = np.asarray(src)
        out, keep = apply(block[src_arr], params.ops, drawn, std[src_arr], irregular[js][src_arr])
        _clip_to_bounds(out, vcols, ctx, clipped)
        for b, key in enumerate(keys):
            if gaps.any():
                out[b][gaps[idx[src_arr[b]]]] = np.nan
            kept[key] = np.flatnonzero(keep[b])
            results[key] = out[b][kept[key]]
    ctx.metrics["ts_policy.synthetic_series"] = ctx.metrics.get("ts_policy.synthetic_series", 0) + len(results)
    for col, n in clipped.items():
        ctx.metrics[f"ts_policy.clipped_values.{col}"] = ctx.metrics.get(f"ts_policy.clipped_values.{col}", 0) + n
        low, high = ctx.cfg.quality.value_bounds[col]
        ctx.notes.append(f"{METHOD}: {n} augmented values of {col!r} clipped into quality.value_bounds [{low}, {high}]")
    if not results:
        return df

    order = sorted(results)
    sizes = [len(kept[key]) for key in order]
    rows = np.concatenate([starts[key[0]] + kept[key] for key in order])
    values = real.iloc[rows].copy()
    values[vcols] = np.concatenate([results[key] for key in order])
    suffix = np.concatenate([np.full(n, f"~aug{ctx.step}.{k}") for (_, k), n in zip(order, sizes, strict=True)])
    new_sids = [f"{series_ids[j]}~aug{ctx.step}.{k}" for j, k in order]
    values[idc] = np.repeat(np.asarray(new_sids, dtype=object), sizes)
    src_rows = row_ids[rows]
    ids = np.char.add(src_rows.astype(str), suffix).tolist()
    id_col = ctx.cfg.source.id_column
    if id_col and id_col in values.columns and id_col not in (idc, tc):
        values[id_col] = ids
    new = synthetic_rows(
        template=df, values=values, method=METHOD, ids=ids, source_ids=src_rows.reshape(-1, 1).tolist(), params=None,
    )
    # One JSON record per series copy, repeated over its rows (dumping it per row is needlessly slow).
    drawn_params = np.repeat(np.asarray([records[key] for key in order], dtype=object), sizes)
    # `_params` is all-None on real rows; pandas checks such a column value by value when
    # concatenating, so it is joined separately (a 2x speed-up on a million rows).
    out = pd.concat([df.drop(columns="_params"), new.drop(columns="_params")], ignore_index=True)
    out.insert(df.columns.get_loc("_params"), "_params", np.concatenate([df["_params"].to_numpy(dtype=object), drawn_params]))
    return out

"""Pass 1 and the fit of the streamed tabular path (`augment_jobs.tabular.scale`), run once at snapshot.

Reads only the label (and id) columns of every part, then the rows a method learns from: whole
oversampled classes for the SMOTE family, a seeded per-class sample of at most `max_fit_rows` rows
for SDV. Stages the state, the learning rows, the neighbours or the fitted synthesizers.
"""

from __future__ import annotations

import base64
import pickle
from typing import TYPE_CHECKING, Any

from augment_jobs.errors import InputError
from augment_jobs.tabular.scale import (
    ALL_CLASS,
    SDV_METHODS,
    Part,
    State,
    _open,
    class_key,
    json_value,
    rows_per_task,
    save_arrays,
    save_state,
    state_uri,
)

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from augment_jobs.config import DatasetConfig
    from augment_jobs.modality import RunPlan
    from augment_jobs.registry import AugmentContext

LEARN = "learn.parquet"


def prepare(cfg: DatasetConfig, plan: RunPlan, parts: list[Part], schema: pa.Schema) -> None:
    """Stage everything the augment tasks need (see the module docstring)."""
    import math

    from augment_jobs.registry import AugmentContext, get_method
    from augment_jobs.store import join

    step = cfg.augment[0]
    method = step.method
    params = get_method(method).parse_params(step.params)
    ctx = AugmentContext(cfg=cfg, ds=plan.ds, step=0, artifact_uri=join(plan.staging_uri, "artifacts"))
    label = cfg.label
    where = cfg.config_path or cfg.dataset
    if label not in schema.names:
        cols = ", ".join(n for n in schema.names if not n.startswith("_"))
        raise InputError(f"{where}: label column {label!r} not found in the source; available columns: {cols}")
    total = sum(p.rows for p in parts)
    if total == 0:
        raise InputError(f"{plan.source_uri}: the source partition has no rows; check the upstream export for {plan.ds}")

    values, counts, null_label = _label_counts(parts, label)
    id_top = _check_ids(cfg, parts, schema)
    if len(values) < 2:
        from augment_jobs.tabular._common import show

        only = f"only {show(values[0])}" if len(values) else "no values"
        raise InputError(
            f"{where}: label column {label!r} has {only}; oversampling needs 2+ classes: check the source "
            f"partition or the label setting"
        )
    features = [n for n in schema.names if n not in (label, cfg.source.id_column)]
    if not features:
        raise InputError(f"{method}: no feature columns besides the label {label!r}; nothing to model")
    split = None
    if cfg.split is not None:  # from here on, counts are train rows: methods see those only, as in memory
        from augment_jobs.tabular.scale_split import plan_split

        split, counts, null_label = plan_split(cfg, parts, schema, values)
    if method in SDV_METHODS:
        if null_label:
            raise InputError(f"{method}: label column {label!r} has {null_label} missing values; drop or fill them")
        from augment_jobs.tabular.sdv_methods import _plan

        targets = _by_class_sizes(values, counts, params.sampling_strategy, lambda y: _plan(y, params, ctx, method))
    else:
        from augment_jobs.sampling import class_targets

        ctx.skip(f"row with a missing label {label!r}", null_label)
        targets = _by_class_sizes(values, counts, params.sampling_strategy, lambda y: class_targets(
            params.sampling_strategy, y, method=method, label=label))
    # Output order of the synthetic rows: by the label's text, so it does not depend on row order.
    order = sorted(targets, key=str)
    sizes = dict(zip(values, counts, strict=True))
    classes = [{"key": class_key(c), "value": json_value(c), "count": int(sizes[c]), "synthetic": int(targets[c])}
               for c in order]
    rest = sorted((c for c in sizes if c not in targets), key=str)
    classes += [{"key": class_key(c), "value": json_value(c), "count": int(sizes[c]), "synthetic": 0} for c in rest]
    if not targets:
        ctx.notes.append(f"{method}: sampling_strategy asks for no new rows")

    state = State(
        method=method, parts=[vars(p) for p in parts], schema=_output_schema(schema, split is not None), n_real=total,
        classes=classes, features=features, categorical=list(getattr(params, "categorical_features", [])),
        k=0, dictionary=[], id_top=id_top, tasks=max(1, math.ceil(total / rows_per_task(cfg))),
        rows_per_file=cfg.publish.rows_per_file, null_label=null_label, split=split,
    )
    if targets:
        if method in SDV_METHODS:
            _fit_sdv(cfg, plan, params, ctx, state, targets)
        else:
            _fit_smote(cfg, plan, params, ctx, state, targets, schema)
    from augment_jobs.tabular.scale_write import dictionary_columns

    state.dictionary = dictionary_columns(cfg, state)
    state.notes, state.skipped, state.metrics = ctx.notes, ctx.skipped, ctx.metrics
    state.metrics["stream_tasks"] = float(state.tasks)
    save_state(plan, state)


def _column(parts: list[Part], name: str) -> np.ndarray:
    """One column of every part as a numpy array (object for strings), in source order."""
    import numpy as np
    import pyarrow as pa

    chunks = []
    for p in parts:
        if p.rows:
            chunks.append(_open(p.read_uri).read(columns=[name]).column(0).combine_chunks())
    if not chunks:
        return np.array([])
    arr = pa.concat_arrays([c.cast(chunks[0].type) for c in chunks]) if len(chunks) > 1 else chunks[0]
    return arr.to_numpy(zero_copy_only=False)


def _label_counts(parts: list[Part], label: str) -> tuple[list[Any], list[int], int]:
    """Class values (sorted), their row counts and the missing labels, one part at a time."""
    import pyarrow.compute as pc

    sizes: dict[Any, int] = {}
    null = 0
    for p in parts:
        if not p.rows:
            continue
        col = _open(p.read_uri).read(columns=[label]).column(0)
        null += col.null_count
        for item in pc.value_counts(col.drop_null()).to_pylist():
            sizes[item["values"]] = sizes.get(item["values"], 0) + item["counts"]
    values = sorted(sizes)
    return values, [sizes[v] for v in values], null


def _by_class_sizes(values: list[Any], counts: list[int], strategy: Any, targets: Any) -> dict[Any, int]:
    """`targets(y)` for a label array with these class sizes. imbalanced-learn's sampling logic
    takes an array; int16 class codes keep it small (a {class: target} strategy names classes by
    value, so it gets the values themselves)."""
    import numpy as np

    if isinstance(strategy, dict) or len(values) > 30_000:
        return targets(np.repeat(np.array(values, dtype=object if isinstance(values[0], str) else None), counts))
    out = targets(np.repeat(np.arange(len(values), dtype=np.int16), counts))
    return {values[int(code)]: n for code, n in out.items()}


def _select_classes(label: str, classes: list[Any]) -> Any:
    """`select` for `gather`: the rows of these classes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def select(col: pa.ChunkedArray) -> np.ndarray:
        return pc.is_in(col, value_set=pa.array(classes).cast(col.type)).fill_null(False).to_numpy(zero_copy_only=False)

    return select


def _select_ranks(value: Any, ranks: np.ndarray) -> Any:
    """`select` for `gather`: the rows of one class whose rank within the class (in source order)
    is in sorted `ranks`; parts must come in order."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    seen = [0]

    def select(col: pa.ChunkedArray) -> np.ndarray:
        mine = pc.equal(col, pa.scalar(value).cast(col.type)).fill_null(False).to_numpy(zero_copy_only=False)
        local = np.flatnonzero(mine)
        r = seen[0] + np.arange(len(local))
        seen[0] += len(local)
        hit = np.searchsorted(ranks, r)
        keep = local[(hit < len(ranks)) & (ranks[np.minimum(hit, len(ranks) - 1)] == r)]
        out = np.zeros(len(col), dtype=bool)
        out[keep] = True
        return out

    return select


def _select_positions(positions: np.ndarray) -> Any:
    """`select` for `gather`: the rows at these sorted source positions; parts must come in order."""
    import numpy as np

    seen = [0]

    def select(col: pa.ChunkedArray) -> np.ndarray:
        lo, seen[0] = seen[0], seen[0] + len(col)
        out = np.zeros(len(col), dtype=bool)
        out[positions[np.searchsorted(positions, lo):np.searchsorted(positions, seen[0])] - lo] = True
        return out

    return select


def _is_null(a: np.ndarray) -> np.ndarray:
    import pandas as pd

    return pd.isna(a)


def _check_ids(cfg: DatasetConfig, parts: list[Part], schema: pa.Schema) -> int | None:
    """Ids unique over the whole source (InputError naming a duplicate); the largest integer id."""
    import numpy as np
    import pyarrow as pa

    col = cfg.source.id_column
    if not col:
        return None
    if col not in schema.names:
        raise InputError(f"{parts[0].uri}: id column {col!r} not found; columns: {schema.names}")
    ids = _column(parts, col)
    keys = ids.astype(str) if ids.dtype == object else ids
    uniq, first, n = np.unique(keys, return_index=True, return_counts=True)
    if (n > 1).any():
        raise InputError(
            f"{parts[0].uri.rsplit('/', 1)[0]}: id column {col!r} has duplicate value {str(uniq[n > 1][0])!r}; ids must be unique"
        )
    del first
    if pa.types.is_integer(schema.field(col).type):
        real = ids[~_is_null(ids)]
        return int(real.max()) if len(real) else 0
    return None


def _output_schema(schema: pa.Schema, split: bool = False) -> str:
    import pyarrow as pa

    from augment_jobs.frames import platform_types

    out = pa.schema([*schema, *(pa.field(n, t) for n, t in platform_types().items() if split or n != "_split")])
    return base64.b64encode(out.serialize().to_pybytes()).decode()


def gather(cfg: DatasetConfig, parts: list[Part], select: Any, columns: list[str],
           split: dict[str, Any] | None = None) -> pa.Table:
    """The rows `select(label column of a part)` marks, with `_id`, read part by part, row group by
    row group (only the label column of one part and the selected rows are ever in memory). With
    `split` (`State.split`), `select` sees the train rows only."""
    import numpy as np
    import pyarrow as pa

    from augment_jobs.tabular.scale_write import real_ids

    tables = []
    if cfg.source.id_column and cfg.source.id_column not in columns:
        columns = [*columns, cfg.source.id_column]  # the ids are made from it
    for p in parts:
        if not p.rows:
            continue
        f = _open(p.read_uri)
        labels = f.read(columns=[cfg.label]).column(0)
        if split is None:
            m = select(labels)
        else:
            from augment_jobs.tabular.scale_split import train_select

            m = train_select(cfg, split, p, labels, select)
        if not m.any():
            continue
        start = 0
        for g in range(f.metadata.num_row_groups):
            n = f.metadata.row_group(g).num_rows
            sel = np.flatnonzero(m[start:start + n])
            if len(sel):
                t = f.read_row_group(g, columns=columns).take(pa.array(sel))
                t = t.append_column("_id", real_ids(cfg, p, t, start + sel))
                tables.append(t)
            start += n
    return pa.concat_tables(tables, promote_options="permissive")


def _fit_smote(cfg: DatasetConfig, plan: RunPlan, params: Any, ctx: AugmentContext, state: State,
               targets: dict[Any, int], schema: pa.Schema) -> None:
    """Learning rows = the oversampled classes (plus the smallest class for SMOTE-NC's scale);
    same-class neighbours exactly as imbalanced-learn finds them."""
    import numpy as np
    import pyarrow as pa
    from sklearn.neighbors import NearestNeighbors

    from augment_jobs.tabular.smote import NUMERIC_HINT, _adapt_k

    method, label = state.method, cfg.label
    categorical = state.categorical
    for col in categorical:
        if col not in state.features:
            where = "is the label or id column" if col in schema.names else "is not a column of the data"
            raise InputError(
                f"{method}: categorical_features names {col!r}, which {where}; feature columns: {', '.join(state.features)}"
            )
    numeric = [c for c in state.features if c not in categorical]
    if not numeric:
        raise InputError(f"{method}: every feature is categorical; SMOTE-NC needs a numeric one: use gaussian_copula or ctgan")
    for col in numeric:
        t = schema.field(col).type
        if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_null(t)):
            hint = "add it to categorical_features" if categorical else NUMERIC_HINT.format(col=col)
            raise InputError(f"{method}: column {col!r} is not numeric (type {t}); {hint}")
    minority = min((c for c in state.classes), key=lambda c: (c["count"], c["key"]))
    learn_classes = [c["value"] for c in state.classes if c["synthetic"]]
    if categorical and minority["value"] not in learn_classes:
        learn_classes.append(minority["value"])
    table = gather(cfg, [Part(**p) for p in state.parts], _select_classes(label, learn_classes), [*state.features, label],
                   split=state.split)
    # Arrow columns, no pandas frame: at 20M source rows the learning rows are 400k.
    missing = {c: table.column(c).is_null(nan_is_null=True).to_numpy(zero_copy_only=False) for c in state.features}
    # Entirely missing columns: nothing to interpolate; synthetic rows get them missing, as the real ones.
    empty = [c for c in state.features if missing[c].all()]
    if empty:
        ctx.notes.append(f"{method}: column(s) {', '.join(map(repr, empty))} entirely missing: left out of the interpolation")
    numeric = [c for c in numeric if c not in empty]
    used = [c for c in state.features if c not in empty]
    first = np.full(table.num_rows, -1)
    for j, col in enumerate(used):  # each row counted once, under its first gap
        first[missing[col] & (first < 0)] = j
    del missing
    if (first >= 0).any():
        for j, n in enumerate(np.bincount(first[first >= 0], minlength=len(used)).tolist()):
            if n:
                ctx.skip(f"row with a missing value in {used[j]!r} (params.missing: skip)", n)
        table = table.filter(pa.array(first < 0))
    table = table.select([*used, label, "_id"])
    y_learn = table.column(label).to_numpy()
    k = params.n_neighbors if method == "adasyn" else params.k_neighbors
    k = _adapt_k(y_learn, {c: n for c, n in targets.items()}, k, method, ctx)
    state.k = k
    X = np.empty((table.num_rows, len(numeric)))
    for j, col in enumerate(numeric):
        X[:, j] = table.column(col).to_numpy()
    state.features = used
    state.metrics[f"{method}_learning_rows"] = float(table.num_rows)
    if method in ALL_CLASS:  # neighbourhoods over every class, the table streamed in chunks
        from augment_jobs.tabular.scale_nn import fit_all_class

        arrays, extra = fit_all_class(cfg, params, ctx, state, table, X, numeric, k)
        if extra is not None:  # borderline-2's partners of other classes, after the learning rows
            table = pa.concat_tables([table, extra], promote_options="permissive")
        _write_table(state_uri(plan, LEARN), table)
        save_arrays(plan, "neighbours.npz", arrays)
        return
    _write_table(state_uri(plan, LEARN), table)
    scale = None
    if categorical:
        # SMOTE-NC (imbalanced-learn): one-hot categories scaled by half the median of the smallest
        # class's numeric standard deviations, appended to the numeric features for the search.
        small = X[y_learn == minority["value"]]
        scale = float(np.median(np.sqrt(small.var(axis=0)))) / 2
        ctx.metrics[f"{method}_median_std"] = scale * 2
    arrays: dict[str, np.ndarray] = {}
    for i, c in enumerate(state.classes):
        if not c["synthetic"]:
            continue
        rows = np.flatnonzero(y_learn == c["value"])
        Xc = X if len(rows) == len(X) else X[rows]
        if categorical:
            onehot = []
            for col in categorical:
                _, codes = np.unique(table.column(col).take(pa.array(rows)).to_numpy(zero_copy_only=False).astype(str),
                                     return_inverse=True)
                onehot.append(np.eye(codes.max() + 1)[codes] * scale)
            Xc = np.hstack([Xc, *onehot])
        nn = NearestNeighbors(n_neighbors=k + 1).fit(Xc)
        # learning positions of the rows samples start from and of their k partners
        arrays[f"base_{i}"] = rows.astype(np.int64)
        arrays[f"nns_{i}"] = rows[nn.kneighbors(Xc, return_distance=False)[:, 1:]].astype(np.int64)
        c["learn"] = len(rows)
        del Xc, nn
    save_arrays(plan, "neighbours.npz", arrays)


def _write_table(uri: str, table: pa.Table) -> None:
    from augment_jobs.tabular.scale import parquet_writer

    with parquet_writer(uri, table.schema) as writer:
        writer.write_table(table)


def _fit_sdv(cfg: DatasetConfig, plan: RunPlan, params: Any, ctx: AugmentContext, state: State,
             targets: dict[Any, int]) -> None:
    """One synthesizer per class with new rows, on all its rows or a seeded sample of `max_fit_rows`."""
    import numpy as np

    from augment_jobs.frames import encode_datetimes
    from augment_jobs.store import store_for
    from augment_jobs.tabular._common import show
    from augment_jobs.tabular.sdv_methods import _column_plans, _score, draw_class, fit_class, maker

    method, label = state.method, cfg.label
    parts = [Part(**p) for p in state.parts]
    make = maker(method, params)
    scores: list[float] = []
    for i, c in enumerate(state.classes):
        if not c["synthetic"]:
            continue
        n = c["count"]
        if n < params.min_class_rows:
            raise InputError(
                f"{method}: class {show(c['value'])} of column {label!r} has {n} rows; fitting its model needs "
                f"{params.min_class_rows}+: add rows or leave the class out of sampling_strategy"
            )
        ranks = np.arange(n)
        if params.max_fit_rows and n > params.max_fit_rows:
            # the same rows the in-memory path picks: a draw over the class's rows in source order
            ranks = np.sort(ctx.rng(method, "fit_rows", str(c["value"])).choice(n, size=params.max_fit_rows, replace=False))
            ctx.notes.append(f"{method}: class {show(c['value'])} fitted on {len(ranks)} of its rows (params.max_fit_rows)")
        rows = gather(cfg, parts, _select_ranks(c["value"], ranks), state.features,
                      split=state.split).select(state.features).to_pandas()
        encoded = encode_datetimes(rows)  # as in memory: the model sees datetimes as float nanoseconds
        plans = _column_plans(rows, state.features, params, cfg, method)
        if params.column_treatment == "auto":
            ctx.notes.append(f"{method}: class {show(c['value'])} columns: " + ", ".join(p.describe() for p in plans.values()))
        synth = fit_class(rows, c["value"], plans, [], make, ctx, method)
        # the tasks decode their draws against the fitted rows (bounded by max_fit_rows)
        uri = state_uri(plan, f"synthesizer-{i}.pkl")
        store_for(uri).write_bytes(uri, pickle.dumps((synth, plans, rows, encoded)))
        c["learn"] = len(rows)
        if params.quality_rows:  # scored on a draw of its own (the output is drawn block by block by the tasks)
            q_rows = draw_class(synth, min(params.quality_rows, c["synthetic"]),
                                ctx.seed32(method, "quality-draw", str(c["value"])), plans, rows)
            scores.append(_score(rows, q_rows, plans, c["value"], ctx, method, params.quality_rows))
    if scores:
        ctx.metrics["quality.score"] = min(scores)  # the weakest class, as the in-memory path reports it
    state.quality = {k: {**q, "method": method} for k, q in ctx.quality.items()}

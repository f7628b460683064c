"""The SMOTE family on the tabular engine: smote, smotenc, borderline_smote, adasyn.

Neighbours and interpolation are imbalanced-learn 0.14's (its samplers are the reference the tests
check these against): same-class neighbours as `NearestNeighbors(k + 1)` finds them
(`neighbours.exact_nearest`: a duplicated row's partners are its other copies), a uniform
(base row, neighbour) pair and a uniform step per synthetic row; SMOTE-NC's categories by majority
vote of the base row's neighbours; Borderline-SMOTE's rows "in danger" and ADASYN's density ratios
from the all-class search of `augment_jobs.tabular.neighbours`. Every synthetic row records its two
parents in `_source_ids` and its step in `_params`. Dates and times interpolate in their own unit
and keep their type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from augment_jobs.errors import InputError
from augment_jobs.tabular.method import Drawn, TabularMethod, register_tabular
from augment_jobs.tabular.params import AdasynParams, BorderlineSmoteParams, SmoteNCParams, SmoteParams

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from augment_jobs.tabular.plan import Step

NUMERIC_HINT = "smote, borderline_smote and adasyn need numeric features: use smotenc with categorical_features: [{col}]"
LEARN = "learn.parquet"
NEIGHBOURS = "neighbours.npz"


class SmoteFamily(TabularMethod):
    """Shared hooks of the family; subclasses name the method and its neighbourhoods."""

    #: whether neighbourhoods span every class (Borderline-SMOTE, ADASYN: the whole table is searched)
    all_class: ClassVar[bool] = False
    searches = True

    def k(self, params: Any) -> int:
        return params.k_neighbors

    def targets(self, step: Step) -> dict[Any, int]:
        from augment_jobs.sampling import class_targets
        from augment_jobs.tabular.plan import by_class_sizes

        values = list(step.counts)
        strategy = step.params.sampling_strategy
        return by_class_sizes(values, [step.counts[v] for v in values], strategy, lambda y: class_targets(
            strategy, y, method=step.method, label=step.label))

    def learning_rows(self, step: Step, targets: dict[Any, int]) -> dict[Any, np.ndarray | None]:
        rows: dict[Any, np.ndarray | None] = dict.fromkeys(targets)
        if getattr(step.params, "categorical_features", None):  # SMOTE-NC scales by the smallest class
            rows.setdefault(min(step.counts, key=lambda c: (step.counts[c], str(c))), None)
        return rows

    def fit(self, step: Step, learn: pa.Table, targets: dict[Any, int]) -> dict[Any, int]:
        import numpy as np
        import pyarrow as pa

        from augment_jobs.tabular.neighbours import same_class
        from augment_jobs.tabular.values import as_numbers, whole_days

        method, label, params, ctx = step.method, step.label, step.params, step.ctx
        categorical = list(getattr(params, "categorical_features", []))
        _check_types(step, categorical)
        numeric = [c for c in step.features if c not in categorical]
        learn = _learning_rows(step, learn, targets)
        empty = [c for c in step.features if learn.num_rows and learn.column(c).null_count == learn.num_rows]
        if empty:  # nothing to interpolate: synthetic rows get it missing, as every real row has it
            ctx.notes.append(f"{method}: column(s) {', '.join(map(repr, empty))} entirely missing: left out of the interpolation")
        numeric = [c for c in numeric if c not in empty]
        used = [c for c in step.features if c not in empty]
        learn = learn.select([*used, label, "_id"])
        y = learn.column(label).to_numpy(zero_copy_only=False)
        k = _adapt_k(step, y, targets, self.k(params))
        X = np.empty((learn.num_rows, len(numeric)))
        for j, col in enumerate(numeric):
            X[:, j] = as_numbers(learn.column(col))
        step.fit.update(features=used, numeric=numeric, categorical=categorical, k=k,
                        days=[c for c in numeric if whole_days(learn.column(c))])
        ctx.metrics[f"{method}_learning_rows"] = float(learn.num_rows)
        for i, c in enumerate(step.classes):
            c["slot"] = i
        final = dict(targets)
        if self.all_class:  # neighbourhoods over every class, the table streamed in chunks
            from augment_jobs.tabular.neighbours import fit_all_class

            arrays, extra, short = fit_all_class(step, learn, X, numeric, k)
            if extra is not None:  # borderline-2's partners of other classes, after the learning rows
                learn = pa.concat_tables([learn, extra.select(learn.column_names)], promote_options="permissive")
            for cls, want in short.items():
                final[cls] = 0
                ctx.notes.append(f"{method}: class {_show(cls)} got 0 of {want} synthetic rows (no rows near the class "
                                 "border); use smote to reach the target")
            if short:
                ctx.metrics[f"{method}_shortfall_rows"] = float(sum(short.values()))
            step.save_table(LEARN, learn)
            step.save_arrays(NEIGHBOURS, arrays)
            return final
        step.save_table(LEARN, learn)
        scale = None
        if categorical:
            # SMOTE-NC (imbalanced-learn): one-hot categories scaled by half the median of the smallest
            # class's numeric standard deviations, appended to the numeric features for the search.
            smallest = min(step.counts, key=lambda c: (step.counts[c], str(c)))
            small = X[y == smallest]
            scale = float(np.median(np.sqrt(small.var(axis=0)))) / 2
            ctx.metrics[f"{method}_median_std"] = scale * 2
        arrays: dict[str, np.ndarray] = {}
        for i, c in enumerate(step.classes):
            rows = np.flatnonzero(y == _value(y, c["value"]))
            Xc = X if len(rows) == len(X) else X[rows]
            if categorical:
                onehot = []
                for col in categorical:
                    _, codes = np.unique(learn.column(col).take(pa.array(rows)).to_numpy(zero_copy_only=False).astype(str),
                                         return_inverse=True)
                    onehot.append(np.eye(codes.max() + 1)[codes] * scale)
                Xc = np.hstack([Xc, *onehot])
            # learning positions of the rows samples start from and of their k partners
            arrays[f"base_{i}"] = rows.astype(np.int64)
            arrays[f"nns_{i}"] = rows[same_class(step, Xc, k, cls=c["key"])].astype(np.int64)
            c["learn"] = len(rows)
            del Xc
        step.save_arrays(NEIGHBOURS, arrays)
        return final

    def drawer(self, step: Step) -> SmoteDrawer:
        return SmoteDrawer(step)


class SmoteDrawer:
    """Draws as imbalanced-learn makes them: a uniform (base row, neighbour) pair (ADASYN: the base
    row fixed by its share, a uniform neighbour), a uniform step (Borderline-SMOTE-2: times a uniform
    in [0, 0.5) towards a partner of another class)."""

    def __init__(self, step: Step) -> None:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        from augment_jobs.tabular.values import as_numbers

        self.step, self.fit = step, step.fit
        # Column by column from the store: at 20M source rows the learning rows are 400k, and only X,
        # not the file's bytes and its table besides, should stay in memory.
        learn = step.open_table(LEARN)
        numeric, categorical = self.fit["numeric"], self.fit["categorical"]
        self.X = np.empty((learn.metadata.num_rows, len(numeric)), order="F")  # a feature's gathers are contiguous
        for j, c in enumerate(numeric):
            self.X[:, j] = as_numbers(learn.read(columns=[c]).column(0))
        table = learn.read(columns=[*categorical, "_id"])
        self.codes, self.cats = {}, {}
        for name in categorical:
            col = pc.cast(table.column(name), pa.string()).combine_chunks()
            self.cats[name] = pc.unique(col).sort()
            self.codes[name] = pc.index_in(col, value_set=self.cats[name]).to_numpy(zero_copy_only=False)
        self.ids = table.column("_id").combine_chunks()
        self.arrays = step.load_arrays(NEIGHBOURS)

    def draw(self, class_index: int, start: int, n: int, rng: np.random.Generator, seed: int,
             redraw: int = 0) -> Drawn:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        slot = self.step.classes[class_index]["slot"]
        a = self.arrays
        nns, bases = a[f"nns_{slot}"], a[f"base_{slot}"]  # learning positions
        k = nns.shape[1]
        if f"cum_{slot}" in a:  # ADASYN: synthetic row g belongs to the base row whose share covers g
            base = np.minimum(np.searchsorted(a[f"cum_{slot}"], start + np.arange(n), side="right"), len(bases) - 1)
            col = rng.integers(0, k, size=n)
        else:
            idx = rng.integers(0, len(bases) * k, size=n)
            base, col = idx // k, idx % k
        steps = rng.random(n)
        if f"cross_{slot}" in a:
            half = 0.5 * rng.random(n)
            steps = np.where(a[f"cross_{slot}"][base, col], steps * half, steps)
        gb, gp = bases[base], nns[base, col]
        cols: dict[str, Any] = {}
        days = set(self.fit["days"])
        schema = self.step.state.arrow_schema()
        from augment_jobs.tabular.values import typed

        for j, name in enumerate(self.fit["numeric"]):  # a column at a time: no (n, features) temporaries
            x = self.X[gb, j]
            cols[name] = typed(x + steps * (self.X[gp, j] - x), schema.field(name).type, days=name in days)
        for name in self.fit["categorical"]:
            codes, cats = self.codes[name], self.cats[name]
            votes = codes[nns[base]]  # (n, k): each base row's neighbours' categories
            score = np.zeros((n, len(cats)))
            for c in range(len(cats)):
                score[:, c] = (votes == c).sum(axis=1)
            score += 0.5 * rng.random((n, len(cats)))  # ties: a uniform pick among the most frequent
            cols[name] = cats.take(pa.array(score.argmax(axis=1)))
        pair = np.empty(2 * n, dtype=np.int64)
        pair[0::2], pair[1::2] = gb, gp
        src = pa.ListArray.from_arrays(pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32)), self.ids.take(pair))
        # `{"step": t}` built by Arrow (shortest round-trip text of t rounded to 6 places), no Python string per row
        text = pc.cast(pa.array(np.round(steps, 6)), pa.string())
        return Drawn(cols, src, pc.binary_join_element_wise('{"step": ', text, "}", ""))


@register_tabular
class Smote(SmoteFamily):
    """SMOTE: interpolate between a minority row and one of its k nearest same-class neighbours."""

    name = "smote"
    params = SmoteParams


@register_tabular
class SmoteNC(SmoteFamily):
    """SMOTE-NC: SMOTE on numeric features; categorical ones take their neighbours' majority value."""

    name = "smotenc"
    params = SmoteNCParams
    example: ClassVar[dict[str, Any]] = {"categorical_features": ["region"]}


@register_tabular
class BorderlineSmote(SmoteFamily):
    """Borderline-SMOTE: interpolate only from minority rows near the class border ("in danger")."""

    name = "borderline_smote"
    params = BorderlineSmoteParams
    all_class = True


@register_tabular
class Adasyn(SmoteFamily):
    """ADASYN: like SMOTE, with more samples from minority rows surrounded by other classes."""

    name = "adasyn"
    params = AdasynParams
    all_class = True

    def k(self, params: Any) -> int:
        return params.n_neighbors


def _show(value: Any) -> str:
    from augment_jobs.tabular.values import show

    return show(value)


def _value(y: np.ndarray, value: Any) -> Any:
    """A class value (JSON form, as the state keeps it) in the learning labels' own type."""
    import numpy as np

    if y.dtype.kind in "iub":
        return np.asarray(value).astype(y.dtype)
    if y.dtype.kind == "f":
        return float(value)
    return value


def _check_types(step: Step, categorical: list[str]) -> None:
    """InputError naming a categorical feature that is no feature, or a numeric one of another type."""
    import pyarrow as pa

    method = step.method
    for col in categorical:
        if col not in step.features:
            where = "is the label or id column" if col in step.schema.names else "is not a column of the data"
            raise InputError(
                f"{method}: categorical_features names {col!r}, which {where}; feature columns: {', '.join(step.features)}"
            )
    numeric = [c for c in step.features if c not in categorical]
    if not numeric:
        raise InputError(f"{method}: every feature is categorical; SMOTE-NC needs a numeric one: use gaussian_copula or ctgan")
    bad = {}
    for col in numeric:
        t = step.schema.field(col).type
        if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_null(t)
                or pa.types.is_temporal(t)):  # dates and times interpolate in their own unit
            bad[col] = t
    if bad:  # every such column in one line, so one fix covers them all
        names = f"[{', '.join(bad)}]"
        hint = f"add them to categorical_features: {names}" if categorical else NUMERIC_HINT.format(col=", ".join(bad))
        what = ", ".join(f"{c!r} ({t})" for c, t in bad.items())
        raise InputError(f"{method}: {len(bad)} feature column(s) are not numeric: {what}; {hint}")


def _learning_rows(step: Step, learn: pa.Table, targets: dict[Any, int]) -> pa.Table:
    """The rows interpolated from: a row with a missing feature is left out (`missing: skip`,
    counted per column, for the oversampled classes) or has it filled (`impute_median`: the column's
    median over every labelled train row, or its most frequent value when not numeric)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    method, ctx, label = step.method, step.ctx, step.label
    features = [c for c in step.features if learn.num_rows and learn.column(c).null_count < learn.num_rows]
    if step.params.missing == "category":  # SMOTE-NC: a missing category is a value of its own
        features = [c for c in features if c not in step.params.categorical_features]
    missing = {c: learn.column(c).is_null(nan_is_null=True).to_numpy(zero_copy_only=False) for c in features}
    if not any(m.any() for m in missing.values()):
        return learn
    if step.params.missing == "impute_median":
        for col, m in missing.items():
            if not m.any():
                continue
            whole = step.column(col)
            kind = learn.schema.field(col).type
            if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_temporal(kind):
                from augment_jobs.tabular.values import as_numbers, typed

                fill_value = float(np.nanmedian(as_numbers(whole)))
                fill = typed(np.array([fill_value]), kind)[0]
            else:
                fill = pc.mode(whole.drop_null(), n=1)[0][0]
            i = learn.column_names.index(col)
            filled = pc.if_else(pa.array(m), pa.scalar(fill.as_py(), kind), learn.column(col).cast(kind))
            learn = learn.set_column(i, col, filled)
            ctx.notes.append(f"{method}: {int(m.sum())} missing values in {col!r} filled with {fill.as_py()!r} to interpolate")
        return learn
    first = np.full(learn.num_rows, -1)
    for j, col in enumerate(features):  # each row counted once, under its first gap
        first[missing[col] & (first < 0)] = j
    oversampled = pc.is_in(learn.column(label), value_set=pa.array(list(targets)).cast(learn.schema.field(label).type))
    counted = (first >= 0) & oversampled.to_numpy(zero_copy_only=False)
    for j, n in enumerate(np.bincount(first[counted], minlength=len(features)).tolist()):
        if n:
            ctx.skip(f"row with a missing value in {features[j]!r} (params.missing: {step.params.missing})", n)
    return learn.filter(pa.array(first < 0))


def _adapt_k(step: Step, y: np.ndarray, targets: dict[Any, int], k: int) -> int:
    """A class with n rows has n-1 neighbours: lower k to fit, or fail on a single-row class."""
    import numpy as np

    sizes = {c: int(np.count_nonzero(y == _value(y, c))) for c in targets}
    smallest = min(sizes, key=lambda c: (sizes[c], str(c)))
    n = sizes[smallest]
    if n < 2:
        raise InputError(
            f"{step.method}: class {_show(smallest)} of column {step.label!r} has "
            f"{'a single usable row' if n == 1 else f'{n} usable rows'}; interpolation "
            "needs 2+ rows per oversampled class: add rows, set params.missing: impute_median, or leave the class "
            "out of sampling_strategy"
        )
    if n - 1 < k:
        step.ctx.notes.append(f"{step.method}: class {_show(smallest)} has {n} rows, so k_neighbors lowered from {k} to {n - 1}")
        k = n - 1
    step.ctx.metrics[f"{step.method}_k_neighbors"] = float(k)
    return k

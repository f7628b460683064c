"""Pass 1 of the tabular engine (`augment_jobs.tabular.engine`), run once at snapshot.

Reads only the label (and id) columns of every part for the counts and stages that state; the fit
stage (`augment_jobs.tabular.fit`) then runs the steps (`run_steps`): per augment step the rows its
method learns from and its fit, staged for the augment tasks. The method hooks
(`augment_jobs.tabular.method`) get a `Step`: the run's facts and a small staging API.
"""

from __future__ import annotations

import base64
import pickle
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from augment_jobs.errors import InputError
from augment_jobs.tabular.engine import (
    Part,
    State,
    class_key,
    json_value,
    load_arrays,
    open_parquet,
    rows_per_task,
    save_arrays,
    save_state,
    state_uri,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    import pyarrow as pa

    from augment_jobs.config import DatasetConfig
    from augment_jobs.modality import RunPlan
    from augment_jobs.registry import AugmentContext, MethodParams


@dataclass
class Step:
    """What a method's hooks see of one augment step, and where they stage what they learn."""

    cfg: DatasetConfig
    plan: RunPlan
    index: int
    method: str
    params: MethodParams
    ctx: AugmentContext
    state: State
    schema: pa.Schema  # the source's Arrow schema
    counts: dict[Any, int]  # rows per class before this step (real train rows plus earlier steps' rows)
    #: the method's own small facts, kept in the state (features used, k, ...): read back by its drawer
    fit: dict[str, Any] = field(default_factory=dict)
    #: answers the neighbour searches (`augment_jobs.tabular.fit.Searcher`); None: in process
    searcher: Any = None

    @property
    def label(self) -> str:
        return self.cfg.label  # type: ignore[return-value]

    @property
    def features(self) -> list[str]:
        """Every source column but the label and the id column."""
        return list(self.state.features)

    @property
    def parts(self) -> list[Part]:
        return [Part(**p) for p in self.state.parts]

    @property
    def classes(self) -> list[dict[str, Any]]:
        """This step's classes in output order ({key, value, count, synthetic}); set after `targets`."""
        return self.state.steps[self.index]["classes"]

    @property
    def n_real(self) -> int:
        return self.state.n_real

    def _name(self, name: str) -> str:
        return f"step{self.index}-{name}"

    def save_table(self, name: str, table: pa.Table) -> None:
        write_table(state_uri(self.plan, self._name(name)), table)

    def open_table(self, name: str) -> Any:
        """A staged table as a `pyarrow.parquet.ParquetFile` (read column by column to bound memory)."""
        return open_parquet(state_uri(self.plan, self._name(name)))

    def save_arrays(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        save_arrays(self.plan, self._name(name), arrays)

    def load_arrays(self, name: str) -> dict[str, np.ndarray]:
        return load_arrays(self.plan, self._name(name))

    def save_object(self, name: str, obj: Any) -> None:
        from augment_jobs.store import store_for

        uri = state_uri(self.plan, self._name(name))
        store_for(uri).write_bytes(uri, pickle.dumps(obj))

    def load_object(self, name: str) -> Any:
        from augment_jobs.store import store_for

        uri = state_uri(self.plan, self._name(name))
        return pickle.loads(store_for(uri).read_bytes(uri))

    def gather(self, select: Any, columns: list[str]) -> pa.Table:
        """Real train rows that `select(label column of a part)` marks (see `gather`), with `_id`."""
        return gather(self.cfg, self.parts, select, columns, split=self.state.split)

    def column(self, name: str) -> pa.ChunkedArray:
        """One column over every real train row with a label (e.g. for a median)."""
        return self.gather(_labelled, [name]).column(name)


def prepare(cfg: DatasetConfig, plan: RunPlan, parts: list[Part], schema: pa.Schema) -> None:
    """Pass 1 (see the module docstring), then the fit stage's plan (`fit.plan_fits`)."""
    import math

    from augment_jobs.tabular.engine import check_source

    label = cfg.label
    where = cfg.config_path or cfg.dataset
    check_source(cfg, schema)
    total = sum(p.rows for p in parts)
    if total == 0:
        raise InputError(f"{plan.source_uri}: the source partition has no rows; check the upstream export for {plan.ds}")
    values, counts, null_label = label_counts(parts, label)
    id_top = _check_ids(cfg, parts, schema)
    if len(values) < 2:
        from augment_jobs.tabular.values import show

        only = f"only {show(values[0])}" if len(values) else "no values"
        raise InputError(
            f"{where}: label column {label!r} has {only}; oversampling needs 2+ classes: check the source "
            f"partition or the label setting"
        )
    features = cfg.modelled_columns(schema.names)
    if not features:
        raise InputError(f"{cfg.augment[0].method}: no feature columns besides the label {label!r}; nothing to model")
    split = None
    if cfg.split is not None:  # from here on, counts are train rows: methods see those only
        from augment_jobs.tabular.split import plan_split

        split, counts, null_label = plan_split(cfg, parts, schema, values)
    state = State(
        parts=[vars(p) for p in parts], schema=_output_schema(schema, split is not None), n_real=total,
        classes=[{"key": class_key(v), "value": json_value(v), "count": int(n)} for v, n in zip(values, counts, strict=True)],
        steps=[], features=features, id_top=id_top, tasks=max(1, math.ceil(total / rows_per_task(cfg))),
        rows_per_file=cfg.publish.rows_per_file, null_label=null_label, split=split,
        fresh=_fresh_starts(cfg, parts, schema), whole=_whole_floats(parts, schema, features),
    )
    if cfg.columns:
        from augment_jobs.tabular.columns import role_notes

        state.notes += role_notes(cfg, schema, state.fresh)
    if any(c.type == "fixed_combinations" for c in cfg.constraints):
        _stage_references(cfg, plan, parts)
    from augment_jobs.tabular.engine import encode_schema
    from augment_jobs.tabular.fit import plan_fits

    state.source_schema = encode_schema(schema)
    state.fit_blocks = state.tasks  # the fit is mapped as widely as the augment tasks
    plan_fits(cfg, plan, state)
    save_state(plan, state, PASS1)


#: pass 1's state, before any fit: what the fit stage starts from (a retried fit starts afresh)
PASS1 = "pass1.json"


def run_steps(cfg: DatasetConfig, plan: RunPlan, state: State, searcher: Any,
              stop: Callable[[int], bool] | None = None) -> None:
    """Every augment step's targets, learning rows and fit, in order, on `state` (a step learns from
    the earlier steps' rows); `searcher` answers the neighbour searches (`fit.Searcher`). Planning
    (`stop`): ends before the first step i with `stop(i)` true."""
    from augment_jobs.registry import AugmentContext, get_method
    from augment_jobs.store import join
    from augment_jobs.tabular.engine import decode_schema
    from augment_jobs.tabular.method import tabular_method

    where = cfg.config_path or cfg.dataset
    schema = decode_schema(state.source_schema)
    values = [c["value"] for c in state.classes]
    sizes = {c["value"]: c["count"] for c in state.classes}
    for i, conf in enumerate(cfg.augment):
        if stop is not None and stop(i):
            return
        method = tabular_method(conf.method)
        params = get_method(conf.method).parse_params(conf.params, where=f"{where}: augment[{i}].params")
        ctx = AugmentContext(cfg=cfg, ds=plan.ds, step=i, artifact_uri=join(plan.staging_uri, "artifacts"))
        step = Step(cfg, plan, i, conf.method, params, ctx, state, schema, dict(sizes), searcher=searcher)
        state.steps.append({"method": conf.method, "classes": [], "fit": step.fit, "report": {}})
        _run_step(step, method, values, state.null_label, planning=stop is not None)
        for c in step.classes:
            sizes[_value_of(values, c["key"])] += c["synthetic"]
        state.notes += [f"augment[{i}] {conf.method}: {n}" for n in ctx.notes]
        for reason, n in ctx.skipped.items():
            key = f"{conf.method}: {reason}"
            state.skipped[key] = state.skipped.get(key, 0) + n
        state.metrics.update({f"step{i}_{k}": v for k, v in ctx.metrics.items()})
        state.quality.update({k: {**q, "method": conf.method} for k, q in ctx.quality.items()})
        state.steps[i]["report"] = {"notes": ctx.notes, "skipped": ctx.skipped, "metrics": ctx.metrics, "dp": ctx.dp,
                                 "recall": ctx.recall}
    from augment_jobs.tabular.write import dictionary_columns

    state.dictionary = dictionary_columns(cfg, state)
    state.metrics["stream_tasks"] = float(state.tasks)
    state.metrics["fit_blocks"] = float(state.fit_blocks)


def _value_of(values: list[Any], key: str) -> Any:
    return next(v for v in values if class_key(v) == key)


def _run_step(step: Step, method: Any, values: list[Any], null_label: int, planning: bool = False) -> None:
    """Targets, learning rows, fit and (with constraints, unless planning) the block sizes of one step."""
    import numpy as np

    from augment_jobs.tabular.values import show

    label = step.label
    targets = {c: n for c, n in method.targets(step).items() if n > 0}
    if null_label and step.index == 0:
        if not method.skips_unlabelled:
            raise InputError(f"{step.method}: label column {label!r} has {null_label} missing values; drop or fill them")
        step.ctx.skip(f"row with a missing label {label!r}", null_label)
    if not targets:
        step.ctx.notes.append(f"{step.method}: sampling_strategy asks for no new rows")
        step.state.steps[step.index]["classes"] = []
        return
    # Output order of the synthetic rows: by the label's text, so it does not depend on row order.
    step.state.steps[step.index]["classes"] = [
        {"key": class_key(c), "value": json_value(c), "count": int(step.counts[c]), "synthetic": int(targets[c]),
         "blocks": None} for c in sorted(targets, key=str)]
    rows = method.learning_rows(step, targets)
    learn = _learning_table(step, rows)
    final = method.fit(step, learn, targets)
    for c in step.classes:
        c["synthetic"] = int(final.get(_value_of(values, c["key"]), 0))
    step.state.steps[step.index]["classes"] = [c for c in step.classes if c["synthetic"] > 0]
    if step.cfg.constraints and step.classes and not planning:
        from augment_jobs.tabular.write import Generator

        gen = Generator(step.cfg, step.plan, step.state, step.state.arrow_schema())
        for i, c in enumerate(step.classes):
            want = c["synthetic"]
            c["blocks"] = gen.block_sizes(step.index, i)
            got = int(np.sum(c["blocks"]))
            c["synthetic"] = got
            if got < want:
                step.ctx.notes.append(
                    f"{step.method}: class {show(c['value'])} got {got} of {want} synthetic rows: the other draws broke "
                    f"constraints after {gen.max_redraws} redraws; check the constraints against the data")
        for name, n in gen.dropped.items():
            step.ctx.notes.append(f"{step.method}: {n} draws breaking {name} were redrawn")
        step.ctx.metrics["constraint_redrawn_rows"] = float(sum(gen.dropped.values()))
        step.state.steps[step.index]["classes"] = [c for c in step.classes if c["synthetic"] > 0]


def _learning_table(step: Step, rows: dict[Any, np.ndarray | None]) -> pa.Table:
    """The rows the method asked for (features, label, `_id`): real train rows of those classes (all,
    or the ranks given), then the synthetic rows earlier steps made of them."""
    import pyarrow as pa

    columns = [*step.features, step.label]
    whole = [c for c, r in rows.items() if r is None]
    tables = []
    if whole:
        tables.append(step.gather(select_classes(step.label, whole), columns))
    for c, ranks in rows.items():
        if ranks is not None:
            tables.append(step.gather(select_ranks(c, ranks), columns))
    if step.index:
        from augment_jobs.tabular.write import Generator

        gen = Generator(step.cfg, step.plan, step.state, step.state.arrow_schema())
        keys = {class_key(c) for c in rows}
        for j in range(step.index):
            for i, c in enumerate(step.state.steps[j]["classes"]):
                if c["key"] in keys:
                    tables.append(gen.step_rows(j, i).select([*columns, "_id"]))
    tables = [t.select([*columns, "_id"]) for t in tables]
    return pa.concat_tables(tables, promote_options="permissive") if tables else pa.schema([]).empty_table()


def _stage_references(cfg: DatasetConfig, plan: RunPlan, parts: list[Part]) -> None:
    """Per fixed_combinations constraint, the combinations the real rows hold (what draws are judged by)."""
    import pyarrow as pa

    from augment_jobs.tabular.constraints import constraint_name

    for c in cfg.constraints:
        if c.type != "fixed_combinations":
            continue
        table = gather(cfg, parts, _all, list(c.columns))
        ref = table.select(list(c.columns)).to_pandas().astype(str).drop_duplicates().reset_index(drop=True)
        write_table(state_uri(plan, f"reference-{_safe(constraint_name(c))}.parquet"),
                     pa.Table.from_pandas(ref, preserve_index=False))


def _safe(name: str) -> str:
    import hashlib

    return hashlib.sha256(name.encode()).hexdigest()[:12]


def reference(plan: RunPlan, name: str) -> Any:
    """The staged combinations of one fixed_combinations constraint, as a frame."""
    return open_parquet(state_uri(plan, f"reference-{_safe(name)}.parquet")).read().to_pandas()


def _all(col: Any) -> np.ndarray:
    import numpy as np

    return np.ones(len(col), dtype=bool)


def _labelled(col: Any) -> np.ndarray:
    return col.is_valid().to_numpy(zero_copy_only=False)


def _column(parts: list[Part], name: str) -> np.ndarray:
    """One column of every part as a numpy array (object for strings), in source order."""
    import numpy as np
    import pyarrow as pa

    chunks = []
    for p in parts:
        if p.rows:
            chunks.append(open_parquet(p.read_uri).read(columns=[name]).column(0).combine_chunks())
    if not chunks:
        return np.array([])
    arr = pa.concat_arrays([c.cast(chunks[0].type) for c in chunks]) if len(chunks) > 1 else chunks[0]
    return arr.to_numpy(zero_copy_only=False)


def label_counts(parts: list[Part], label: str) -> tuple[list[Any], list[int], int]:
    """Class values (sorted), their row counts and the missing labels, one part at a time."""
    import pyarrow.compute as pc

    sizes: dict[Any, int] = {}
    null = 0
    for p in parts:
        if not p.rows:
            continue
        col = open_parquet(p.read_uri).read(columns=[label]).column(0)
        null += col.null_count
        for item in pc.value_counts(col.drop_null()).to_pylist():
            sizes[item["values"]] = sizes.get(item["values"], 0) + item["counts"]
    values = sorted(sizes)
    return values, [sizes[v] for v in values], null


def by_class_sizes(values: list[Any], counts: list[int], strategy: Any, targets: Any) -> dict[Any, int]:
    """`targets(y)` for a label array with these class sizes. imbalanced-learn's sampling logic
    takes an array; int16 class codes keep it small (a {class: target} strategy names classes by
    value, so it gets the values themselves)."""
    import numpy as np

    if isinstance(strategy, dict) or len(values) > 30_000:
        return targets(np.repeat(np.array(values, dtype=object if isinstance(values[0], str) else None), counts))
    out = targets(np.repeat(np.arange(len(values), dtype=np.int16), counts))
    return {values[int(code)]: n for code, n in out.items()}


def select_classes(label: str, classes: list[Any]) -> Any:
    """`select` for `gather`: the rows of these classes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def select(col: pa.ChunkedArray) -> np.ndarray:
        return pc.is_in(col, value_set=pa.array(classes).cast(col.type)).fill_null(False).to_numpy(zero_copy_only=False)

    return select


def select_ranks(value: Any, ranks: np.ndarray) -> Any:
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


def select_positions(positions: np.ndarray) -> Any:
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
    uniq, n = np.unique(keys, return_counts=True)
    if (n > 1).any():
        raise InputError(
            f"{parts[0].uri.rsplit('/', 1)[0]}: id column {col!r} has duplicate value {str(uniq[n > 1][0])!r}; ids must be unique"
        )
    if pa.types.is_integer(schema.field(col).type):
        real = ids[~_is_null(ids)]
        return int(real.max()) if len(real) else 0
    return None


def _fresh_starts(cfg: DatasetConfig, parts: list[Part], schema: pa.Schema) -> dict[str, Any]:
    """Per `role: id` column (and `pii` column that cannot be null), where its fresh values start."""
    from augment_jobs.tabular.columns import fresh_start

    out = {}
    for name, spec in cfg.columns.items():
        if spec.role == "id" or (spec.role == "pii" and not schema.field(name).nullable):
            out[name] = fresh_start(name, _column(parts, name), schema.field(name).type)
    return out


def _whole_floats(parts: list[Part], schema: pa.Schema, features: list[str]) -> list[str]:
    """Float features holding only whole numbers (ints made float by a NaN): their synthetic values
    are rounded, as int columns' are. Read in batches (a whole column of a 50M-row source is 400 MB,
    and its checks as much again), and a column leaves at its first fraction, so a table of measured
    floats costs one batch."""
    import numpy as np
    import pyarrow as pa

    left = [n for n in features if pa.types.is_floating(schema.field(n).type)]
    finite = dict.fromkeys(left, False)  # a column of NaNs only is not whole
    for p in parts:
        if not left:
            break
        if not p.rows:
            continue
        for batch in open_parquet(p.read_uri).iter_batches(batch_size=1 << 16, columns=left):
            for name in list(left):
                v = batch.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
                v = v[np.isfinite(v)]
                finite[name] = finite[name] or bool(len(v))
                if not bool(np.all(v == np.round(v))):
                    left.remove(name)
            if not left:
                break
    return [n for n in left if finite[n]]


def _output_schema(schema: pa.Schema, split: bool = False) -> str:
    import pyarrow as pa

    from augment_jobs.schema import platform_types

    out = pa.schema([*schema, *(pa.field(n, t) for n, t in platform_types().items() if split or n != "_split")])
    return base64.b64encode(out.serialize().to_pybytes()).decode()


def gather(cfg: DatasetConfig, parts: list[Part], select: Any, columns: list[str],
           split: dict[str, Any] | None = None) -> pa.Table:
    """The rows `select(label column of a part)` marks, with `_id`, read part by part, row group by
    row group (only the label column of one part and the selected rows are ever in memory). With
    `split` (`State.split`), `select` sees the train rows only."""
    import numpy as np
    import pyarrow as pa

    from augment_jobs.tabular.write import real_ids

    tables = []
    if cfg.source.id_column and cfg.source.id_column not in columns:
        columns = [*columns, cfg.source.id_column]  # the ids are made from it
    for p in parts:
        if not p.rows:
            continue
        f = open_parquet(p.read_uri)
        labels = f.read(columns=[cfg.label]).column(0)
        if split is None:
            m = select(labels)
        else:
            from augment_jobs.tabular.split import train_select

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


def write_table(uri: str, table: pa.Table) -> None:
    from augment_jobs.tabular.engine import parquet_writer

    with parquet_writer(uri, table.schema) as writer:
        writer.write_table(table)



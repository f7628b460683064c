"""Pass 2 of the tabular engine (`augment_jobs.tabular.engine`): one mapped augment task.

Task i writes output files `State.files_of(i)`. Real rows go from the source row groups to the file
as Arrow columns (platform columns built vectorised, source types kept); synthetic rows are made in
blocks of `GEN_BLOCK` per class whose draws depend only on (seed, date, step, class, block).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from augment_jobs.modality import ShardResult
from augment_jobs.rng import rng_for, seed32
from augment_jobs.tabular.engine import (
    GATE_SAMPLE_ROWS,
    GEN_BLOCK,
    Part,
    State,
    open_parquet,
    parquet_writer,
    state_uri,
)

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from augment_jobs.config import DatasetConfig
    from augment_jobs.modality import RunPlan


def real_ids(cfg: DatasetConfig, part: Part, table: pa.Table, rows: np.ndarray) -> pa.Array:
    """`_id` of real rows: the id column as text, else `<file name>#<row number in the file>`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if cfg.source.id_column:
        return pc.cast(table.column(cfg.source.id_column), pa.string()).combine_chunks()
    name = part.uri.rsplit("/", 1)[-1]
    return pc.binary_join_element_wise(f"{name}#", pc.cast(pa.array(rows, pa.int64()), pa.string()), "")


def real_rows(cfg: DatasetConfig, state: State, schema: pa.Schema, lo: int, hi: int) -> pa.Table:
    """Source rows [lo, hi) of the whole partition with the platform columns, in the output schema."""
    import numpy as np
    import pyarrow as pa

    source = pa.schema([f for f in schema if f.name not in _PLATFORM])
    pieces = []
    for p in (Part(**d) for d in state.parts):
        a, b = max(lo, p.offset) - p.offset, min(hi, p.offset + p.rows) - p.offset
        if a >= b:
            continue
        t = _read_rows(p, source.names, a, b)
        t = pa.table([_cast(t.column(fl.name), fl.type) for fl in source], schema=source)
        ids = real_ids(cfg, p, t, np.arange(a, b))
        n = b - a
        pieces.append(_with_platform(t, schema, ids, synthetic=False, method="source",
                                     source_ids=pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32)), ids),
                                     params=pa.nulls(n, pa.string()), split=_split_of(cfg, state, t, ids)))
    return pa.concat_tables(pieces) if pieces else schema.empty_table()


def _read_rows(part: Part, columns: list[str], a: int, b: int) -> pa.Table:
    """Rows [a, b) of one source file, decoded batch by batch from the row groups holding them (a
    file written as one huge row group never sits in memory whole)."""
    import pyarrow as pa

    f = open_parquet(part.read_uri)
    start, groups, first = 0, [], None
    for g in range(f.metadata.num_row_groups):
        n = f.metadata.row_group(g).num_rows
        if start < b and start + n > a:
            groups.append(g)
            first = start if first is None else first
        start += n
    pos, batches = first, []
    for batch in f.iter_batches(batch_size=64 * 1024, row_groups=groups, columns=columns):
        lo, hi = max(a, pos), min(b, pos + batch.num_rows)
        if lo < hi:
            batches.append(batch.slice(lo - pos, hi - lo))
        pos += batch.num_rows
        if pos >= b:
            break
    return pa.Table.from_batches(batches, schema=batches[0].schema)


_PLATFORM = ("_id", "_synthetic", "_source_ids", "_method", "_params", "_split")


def _split_of(cfg: DatasetConfig, state: State, t: pa.Table, ids: pa.Array) -> pa.Array | None:
    """`_split` of real rows, when a split is configured (augment_jobs/tabular/split.py)."""
    if state.split is None:
        return None
    from augment_jobs.tabular.split import split_column

    return split_column(cfg, state.split, t, ids)


def _cast(col: Any, kind: pa.DataType) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    if col.type == kind:
        return col
    if pa.types.is_null(col.type):
        return pa.nulls(len(col), kind)
    return pc.cast(col, kind, safe=False)


def _with_platform(t: pa.Table, schema: pa.Schema, ids: Any, *, synthetic: bool, method: str, source_ids: Any,
                   params: Any, split: Any = None) -> pa.Table:
    import pyarrow as pa

    n = t.num_rows
    cols = {
        "_id": ids, "_synthetic": pa.repeat(pa.scalar(synthetic), n), "_source_ids": source_ids,
        "_method": pa.repeat(pa.scalar(method), n), "_params": params, "_split": split,
    }
    return pa.table([t.column(f.name) if f.name not in cols else cols[f.name] for f in schema], schema=schema)


class Generator:
    """Synthetic rows by block, for one task (blocks are cached: a file boundary splits one).

    Block b of class i of step s holds that class's synthetic rows [b·GEN_BLOCK, (b+1)·GEN_BLOCK),
    drawn by the step's method from a generator keyed by (seed, date, step, method, class, b). With
    constraints, draws breaking one are replaced by redraws keyed by the round as well, and
    `State.steps[s].classes[i].blocks` says how many rows each block keeps (pass 1 counted them with
    `block_sizes`), so every task cuts the files the same way."""

    #: redraw rounds for draws breaking a constraint, before a block is left short
    max_redraws = 8

    def __init__(self, cfg: DatasetConfig, plan: RunPlan, state: State, schema: pa.Schema) -> None:
        self.cfg, self.plan, self.state, self.schema = cfg, plan, state, schema
        self._cache: dict[tuple[int, int, int], pa.Table] = {}
        self._drawers: dict[int, Any] = {}
        self._references: dict[str, Any] = {}
        from augment_jobs.tabular.columns import Filler

        self._filler = Filler(cfg, state.fresh)  # derived columns and fresh ids of unmodelled columns
        #: draws breaking each constraint, redrawn (pass 1's sizing reports them)
        self.dropped: dict[str, int] = {}

    # --- what tasks and pass 1 ask for ----------------------------------------------------------
    def rows(self, s0: int, s1: int) -> pa.Table:
        """Synthetic rows [s0, s1) in output order (steps in order, classes in each step's order)."""
        import numpy as np
        import pyarrow as pa

        pieces, start = [], 0
        for s, step in enumerate(self.state.steps):
            step_start = start
            for i, c in enumerate(step["classes"]):
                n = c["synthetic"]
                a, b = max(s0, start) - start, min(s1, start + n) - start
                if a < b:
                    t = self._class_rows(s, i, a, b)
                    g = np.arange(start + a, start + b, dtype=np.int64)
                    pieces.append(self._numbered(t, s, step["method"], g - step_start, g))
                start += n
        return pa.concat_tables(pieces) if pieces else self.schema.empty_table()

    def step_rows(self, s: int, i: int) -> pa.Table:
        """Every synthetic row of class i of step s (pass 1: what a later step learns from)."""
        import numpy as np

        step_start = sum(c["synthetic"] for st in self.state.steps[:s] for c in st["classes"])
        offset = step_start + sum(c["synthetic"] for c in self.state.steps[s]["classes"][:i])
        n = self.state.steps[s]["classes"][i]["synthetic"]
        g = np.arange(offset, offset + n, dtype=np.int64)
        return self._numbered(self._class_rows(s, i, 0, n), s, self.state.steps[s]["method"], g - step_start, g)

    def block_sizes(self, s: int, i: int) -> list[int]:
        """Rows each block of class i of step s keeps after its redraws (pass 1, with constraints)."""
        c = self.state.steps[s]["classes"][i]
        sizes = []
        for blk in range(max(1, -(-c["synthetic"] // GEN_BLOCK))):
            sizes.append(self._block(s, i, blk).num_rows)
            self._cache.clear()
        return sizes

    # --- blocks -----------------------------------------------------------------------------------
    def _class_rows(self, s: int, i: int, a: int, b: int) -> pa.Table:
        """Rows [a, b) of class i of step s, from its blocks."""
        import pyarrow as pa

        pieces, start = [], 0
        for blk, n in enumerate(self._sizes(s, i)):
            lo, hi = max(a, start), min(b, start + n)
            if lo < hi:
                pieces.append(self._block(s, i, blk).slice(lo - start, hi - lo))
            start += n
            if start >= b:
                break
        return pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]

    def _sizes(self, s: int, i: int) -> list[int]:
        c = self.state.steps[s]["classes"][i]
        if c.get("blocks") is not None:
            return list(c["blocks"])
        n = c["synthetic"]
        return [min(GEN_BLOCK, n - b * GEN_BLOCK) for b in range(-(-n // GEN_BLOCK))]

    def _block(self, s: int, i: int, blk: int) -> pa.Table:
        key = (s, i, blk)
        if key not in self._cache:
            self._cache = {k: v for k, v in self._cache.items() if k[:2] == (s, i) and k[2] == blk - 1}
            c = self.state.steps[s]["classes"][i]
            sizes = c.get("blocks")
            want = sizes[blk] if sizes is not None else min(GEN_BLOCK, c["synthetic"] - blk * GEN_BLOCK)
            table = self._draw(s, i, blk, want, ())
            if self.cfg.constraints:
                table = self._hold_constraints(s, i, blk, want, table)
            self._cache[key] = table
        return self._cache[key]

    def _draw(self, s: int, i: int, blk: int, n: int, extra: tuple[Any, ...]) -> pa.Table:
        """n draws of the method as a table in the output schema (platform columns set by `_numbered`)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        from augment_jobs.tabular.values import typed

        step = self.state.steps[s]
        c = step["classes"][i]
        keys = (self.cfg.seed, self.plan.ds, s, step["method"], c["key"], "block", blk, *extra)
        redraw = extra[1] if extra else 0
        drawn = self._drawer(s).draw(i, blk * GEN_BLOCK, n, rng_for(*keys), seed32(*keys), redraw)
        cols = []
        for f in self.schema:
            if f.name in drawn.columns:
                col = drawn.columns[f.name]
                cols.append(_cast(col, f.type) if isinstance(col, (pa.Array, pa.ChunkedArray)) else typed(col, f.type))
            elif f.name == self.cfg.label:
                cols.append(_cast(pa.repeat(pa.scalar(c["value"]), n), f.type))
            elif f.name == "_source_ids":
                cols.append(drawn.source_ids)
            elif f.name == "_params":
                cols.append(drawn.params)
            else:  # columns a method leaves out (entirely missing ones, roles) stay null
                cols.append(pa.nulls(n, f.type))
        table = pa.table(cols, schema=self.schema)
        for name in self.state.whole:  # whole numbers stored as float stay whole
            i = self.schema.get_field_index(name)
            table = table.set_column(i, self.schema.field(i), pc.round(table.column(i)))
        return self._filler.derive(table)

    def _hold_constraints(self, s: int, i: int, blk: int, want: int, table: pa.Table) -> pa.Table:
        """The block's draws that hold every constraint, topped up by redraw rounds to `want` rows."""
        import numpy as np
        import pyarrow as pa

        kept, short, rnd = [], want, 0
        while True:
            ok = self._holds(table)
            good = table.filter(pa.array(ok)) if not ok.all() else table
            kept.append(good.slice(0, short))
            short -= min(short, good.num_rows)
            if short == 0 or rnd == self.max_redraws:
                break
            rnd += 1
            # ask for more than is missing, by the share that held: most blocks need one round
            rate = max(float(np.mean(ok)) if len(ok) else 0.0, 0.05)
            table = self._draw(s, i, blk, int(short / rate) + 16, ("redraw", rnd))
        return pa.concat_tables(kept) if len(kept) > 1 else kept[0]

    def _holds(self, table: pa.Table) -> np.ndarray:
        """Rows holding every constraint (the others counted by constraint in `dropped`)."""
        import numpy as np

        from augment_jobs.tabular.constraints import constraint_columns, constraint_name, violations

        cols = sorted({c for con in self.cfg.constraints for c in constraint_columns(con)})
        frame = table.select(cols).to_pandas(date_as_object=False)
        ok = np.ones(table.num_rows, dtype=bool)
        for con in self.cfg.constraints:
            name = constraint_name(con)
            ref = None
            if con.type == "fixed_combinations":
                if name not in self._references:
                    from augment_jobs.tabular.plan import reference

                    self._references[name] = reference(self.plan, name)
                ref = self._references[name]
            bad = violations(frame, [con], reference=ref)[name].to_numpy()
            self.dropped[name] = self.dropped.get(name, 0) + int(bad.sum())
            ok &= ~bad
        return ok

    def _drawer(self, s: int) -> Any:
        if s not in self._drawers:
            from augment_jobs.registry import AugmentContext, get_method
            from augment_jobs.tabular.method import tabular_method
            from augment_jobs.tabular.plan import Step

            conf = self.cfg.augment[s]
            params = get_method(conf.method).parse_params(conf.params)
            ctx = AugmentContext(cfg=self.cfg, ds=self.plan.ds, step=s)
            step = Step(self.cfg, self.plan, s, conf.method, params, ctx, self.state, self.schema, {},
                        fit=self.state.steps[s]["fit"])
            self._drawers[s] = tabular_method(conf.method).drawer(step)
        return self._drawers[s]

    def _numbered(self, t: pa.Table, s: int, method: str, local: np.ndarray, g: np.ndarray) -> pa.Table:
        """Platform columns of synthetic rows: `_id` `syn-<step>-<method>-<position in the step>`, the
        id column (a new integer above the source's largest, or the `_id`), fresh values of `role: id`
        columns, `_synthetic`, `_method`, `_split` (train)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        n = t.num_rows
        ids = pc.binary_join_element_wise(f"syn-{s}-{method}-", pc.utf8_lpad(pc.cast(pa.array(local), pa.string()), 7, "0"), "")
        cols: dict[str, Any] = {"_id": ids, "_synthetic": pa.repeat(pa.scalar(True), n),
                                "_method": pa.repeat(pa.scalar(method), n), "_split": pa.repeat(pa.scalar("train"), n)}
        id_col = self.cfg.source.id_column
        if id_col:
            kind = self.schema.field(id_col).type
            cols[id_col] = pa.array(self.state.id_top + 1 + g, kind) if pa.types.is_integer(kind) else ids.cast(kind)
        cols.update(self._filler.fresh_columns(self.schema, g))
        return pa.table([cols[f.name] if f.name in cols else t.column(f.name) for f in self.schema], schema=self.schema)


def dictionary_columns(cfg: DatasetConfig, state: State) -> list[str]:
    """Dictionary-encoded columns, decided once for all files from the first 10,000 output rows."""
    head = real_rows(cfg, state, state.arrow_schema(), 0, min(state.n_real, 10_000))
    from augment_jobs.schema import low_cardinality

    return [c for c in head.column_names if low_cardinality(head.column(c))]


def augment_task(cfg: DatasetConfig, plan: RunPlan, state: State, shard: int) -> ShardResult:
    """Write this task's output files, its share of the gate's sample, its exact counts, and per file
    the suite's results to merge (`augment_jobs.checks.suite_parts`)."""
    import time

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from augment_jobs.store import join, store_for

    t0 = time.perf_counter()
    schema = state.arrow_schema()
    gen = Generator(cfg, plan, state, schema)
    result = ShardResult(shard=shard)
    counts: dict[str, dict[str, int]] = {}
    samples = []
    keys = pa.array([c["value"] for c in state.classes]).cast(schema.field(cfg.label).type)
    p_real = np.array([min(1.0, GATE_SAMPLE_ROWS / max(c["count"], 1)) for c in state.classes] +
                      [min(1.0, GATE_SAMPLE_ROWS / max(state.null_label, 1))])
    made: dict[str, int] = {}
    for step in state.steps:
        for c in step["classes"]:
            made[c["key"]] = made.get(c["key"], 0) + c["synthetic"]
    p_syn = np.array([min(1.0, GATE_SAMPLE_ROWS / max(made.get(c["key"], 0), 1)) for c in state.classes] + [0.0])
    null_key = "None" if pa.types.is_string(keys.type) else "nan"
    from augment_jobs.checks.suite_parts import PartSuite

    suite = PartSuite.for_run(cfg, schema)  # the GX suite, validated part by part (docs/gate.md)
    suite_files = []
    R = state.rows_per_file
    for j in state.files_of(shard):
        lo, hi = j * R, min((j + 1) * R, state.n_total)
        name = f"part-{j:06d}.parquet"
        uri = join(plan.data_uri, name)
        # One row group at a time through one writer: the same bytes as writing the file's table
        # with this row_group_size, with only one row group in memory; hashed as it is written.
        with (store_for(uri).open_digesting(uri) as out,
              parquet_writer(out, schema, write_statistics=True, use_dictionary=state.dictionary) as writer):
            for r0 in range(lo, hi, ROW_GROUP):
                r1 = min(r0 + ROW_GROUP, hi)
                table = _rows(cfg, state, schema, gen, r0, r1)
                writer.write_table(table, row_group_size=ROW_GROUP)
                _count(table, cfg, state, keys, null_key, counts)
                if suite is not None:
                    suite.add(table)
                # the gate's sample: per-row draws fixed by the row's position in the output
                cls = pc.index_in(table.column(cfg.label), value_set=keys).fill_null(len(state.classes)).to_numpy()
                syn = table.column("_synthetic").to_numpy(zero_copy_only=False)
                keep = _uniforms(cfg, plan, r0, r1) < np.where(syn, p_syn[cls], p_real[cls])
                if keep.any():
                    samples.append(table.drop_columns(["_source_ids"]).filter(pa.array(keep)))
                del table
        result.files.append({"path": name, "rows": hi - lo, **out.digest()})
        if suite is not None:
            suite_files.append({"file": j, "expectations": suite.types, "results": suite.file_records()})
    if suite is not None:
        result.extra["suite"] = suite_files
    if samples:
        name = f"gate-sample-{shard:05d}.parquet"
        from augment_jobs.tabular.plan import write_table

        write_table(state_uri(plan, name), pa.concat_tables(samples))
        result.extra["gate_sample"] = name
    result.counts = dict(sorted(counts.items()))
    if shard == 0:  # what pass 1 found is reported once
        result.notes = [*(state.split or {}).get("notes", []), *state.notes]
        result.skipped = dict(state.skipped)
        result.metrics.update(state.metrics)
        for s, step in enumerate(state.steps):
            result.metrics[f"step{s}_{step['method']}_rows_added"] = float(sum(c["synthetic"] for c in step["classes"]))
        if state.quality:
            result.extra["quality"] = state.quality
        dp = [r for step in state.steps for r in step["report"].get("dp", [])]
        if dp:  # the budget differentially private fits spent, composed by the gate
            result.extra["dp"] = dp
        recall = [r for step in state.steps for r in step["report"].get("recall", [])]
        if recall:  # approximate neighbours' measured recall, gated and recorded by the gate
            result.extra["recall"] = recall
    result.metrics["write_seconds"] = round(time.perf_counter() - t0, 3)
    return result


ROW_GROUP = 128 * 1024  # rows per Parquet row group, as the frame modalities write them


def _rows(cfg: DatasetConfig, state: State, schema: pa.Schema, gen: Generator, lo: int, hi: int) -> pa.Table:
    """Output rows [lo, hi): real rows first, then synthetic ones."""
    import pyarrow as pa

    pieces = []
    if lo < state.n_real:
        pieces.append(real_rows(cfg, state, schema, lo, min(hi, state.n_real)))
    if hi > state.n_real:
        pieces.append(gen.rows(max(lo, state.n_real) - state.n_real, hi - state.n_real))
    return pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]


def _count(table: pa.Table, cfg: DatasetConfig, state: State, keys: pa.Array, null_key: str,
           counts: dict[str, dict[str, int]]) -> None:
    """Add a table's rows to the per-class {before, after, synthetic} counts."""
    import numpy as np
    import pyarrow.compute as pc

    cls = pc.index_in(table.column(cfg.label), value_set=keys).fill_null(len(state.classes)).to_numpy()
    syn = table.column("_synthetic").to_numpy(zero_copy_only=False)
    for is_syn in (False, True):
        found = np.bincount(cls[syn == is_syn], minlength=len(state.classes) + 1)
        for i, n in enumerate(found.tolist()):
            if n:
                key = state.classes[i]["key"] if i < len(state.classes) else null_key
                acc = counts.setdefault(key, {"before": 0, "after": 0, "synthetic": 0})
                acc["after"] += n
                acc["synthetic" if is_syn else "before"] += n


def _uniforms(cfg: DatasetConfig, plan: RunPlan, lo: int, hi: int) -> np.ndarray:
    """One uniform per output row [lo, hi), from blocks keyed by position only."""
    import numpy as np

    out = []
    for blk in range(lo // GEN_BLOCK, (hi - 1) // GEN_BLOCK + 1):
        u = rng_for(cfg.seed, plan.ds, 0, "gate-sample", blk).random(GEN_BLOCK)
        a, b = max(lo, blk * GEN_BLOCK) - blk * GEN_BLOCK, min(hi, (blk + 1) * GEN_BLOCK) - blk * GEN_BLOCK
        out.append(u[a:b])
    return np.concatenate(out)

"""Pass 2 of the streamed tabular path (`augment_jobs.tabular.scale`): one mapped augment task.

Task i writes output files `State.files_of(i)`. Real rows go from the source row groups to the file
as Arrow columns (platform columns built vectorised, source types kept); synthetic rows are made in
blocks of `GEN_BLOCK` per class whose draws depend only on (seed, date, step, class, block).
"""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING, Any

from augment_jobs.modality import ShardResult
from augment_jobs.rng import rng_for, seed32
from augment_jobs.tabular.scale import (
    GATE_SAMPLE_ROWS,
    GEN_BLOCK,
    SDV_METHODS,
    Part,
    State,
    _open,
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

    f = _open(part.read_uri)
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
    """`_split` of real rows, when a split is configured (augment_jobs/tabular/scale_split.py)."""
    if state.split is None:
        return None
    from augment_jobs.tabular.scale_split import split_column

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
    """Synthetic rows by block, for one task (blocks are cached: a file boundary splits one)."""

    def __init__(self, cfg: DatasetConfig, plan: RunPlan, state: State, schema: pa.Schema) -> None:
        self.cfg, self.plan, self.state, self.schema = cfg, plan, state, schema
        self._cache: dict[tuple[int, int], pa.Table] = {}
        self._fitted: dict[int, Any] = {}
        self._learn: Any = None

    def rows(self, s0: int, s1: int) -> pa.Table:
        """Synthetic rows [s0, s1) in output order (classes in `state.classes` order)."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        pieces, start = [], 0
        for i, c in enumerate(self.state.classes):
            n = c["synthetic"]
            a, b = max(s0, start) - start, min(s1, start + n) - start
            start += n
            for blk in range(a // GEN_BLOCK, (b - 1) // GEN_BLOCK + 1) if a < b else ():
                t = self._block(i, blk)
                lo = max(a, blk * GEN_BLOCK) - blk * GEN_BLOCK
                hi = min(b, (blk + 1) * GEN_BLOCK) - blk * GEN_BLOCK
                pieces.append(t.slice(lo, hi - lo))
        t = pa.concat_tables(pieces)
        g = np.arange(s0, s1, dtype=np.int64)
        prefix = f"syn-0-{self.state.method}-"
        ids = pc.binary_join_element_wise(prefix, pc.utf8_lpad(pc.cast(pa.array(g), pa.string()), 7, "0"), "")
        id_col = self.cfg.source.id_column
        cols = {"_id": ids}
        if id_col:
            kind = self.schema.field(id_col).type
            cols[id_col] = pa.array(self.state.id_top + 1 + g, kind) if pa.types.is_integer(kind) else ids.cast(kind)
        return pa.table([cols[f.name] if f.name in cols else t.column(f.name) for f in self.schema], schema=self.schema)

    def _block(self, i: int, blk: int) -> pa.Table:
        key = (i, blk)
        if key not in self._cache:
            self._cache = {k: v for k, v in self._cache.items() if k[0] == i and k[1] == blk - 1}
            c = self.state.classes[i]
            n = min(GEN_BLOCK, c["synthetic"] - blk * GEN_BLOCK)
            make = self._sdv_block if self.state.method in SDV_METHODS else self._smote_block
            self._cache[key] = make(i, blk, n)
        return self._cache[key]

    def _rng(self, i: int, blk: int) -> np.random.Generator:
        return rng_for(self.cfg.seed, self.plan.ds, 0, self.state.method, self.state.classes[i]["key"], "block", blk)

    def _smote_block(self, i: int, blk: int, n: int) -> pa.Table:
        """SMOTE-family draws as imbalanced-learn makes them: a uniform (base row, neighbour) pair (ADASYN:
        the base row fixed by its share, a uniform neighbour), a uniform step (Borderline-SMOTE-2: times
        a uniform in [0, 0.5) towards a partner of another class)."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        learn, arrays = self._learning()
        nns, bases = arrays[f"nns_{i}"], arrays[f"base_{i}"]  # learning positions (scale_fit, scale_nn)
        k = nns.shape[1]
        rng = self._rng(i, blk)
        if f"cum_{i}" in arrays:  # ADASYN: synthetic row g belongs to the base row whose share covers g
            base = np.searchsorted(arrays[f"cum_{i}"], blk * GEN_BLOCK + np.arange(n), side="right")
            col = rng.integers(0, k, size=n)
        else:
            idx = rng.integers(0, len(bases) * k, size=n)
            base, col = idx // k, idx % k
        steps = rng.random(n)
        if f"cross_{i}" in arrays:
            half = 0.5 * rng.random(n)
            steps = np.where(arrays[f"cross_{i}"][base, col], steps * half, steps)
        gb, gp = bases[base], nns[base, col]  # positions in the learning table
        X = learn["X"]  # column-major: one feature's gathers are contiguous
        cols: dict[str, Any] = {}
        numeric = [c for c in self.state.features if c not in self.state.categorical]
        for j, name in enumerate(numeric):  # a column at a time: no (n, features) temporaries
            a = X[gb, j]
            cols[name] = _typed(a + steps * (X[gp, j] - a), self.schema.field(name).type)
        for name in self.state.categorical:
            codes, cats = learn["codes"][name], learn["cats"][name]
            votes = codes[nns[base]]  # (n, k): each base row's neighbours' categories
            score = np.zeros((n, len(cats)))
            for c in range(len(cats)):
                score[:, c] = (votes == c).sum(axis=1)
            score += 0.5 * rng.random((n, len(cats)))  # ties: a uniform pick among the most frequent
            cols[name] = _cast(cats.take(pa.array(score.argmax(axis=1))), self.schema.field(name).type)
        label = self.cfg.label
        cols[label] = _cast(pa.repeat(pa.scalar(self.state.classes[i]["value"]), n), self.schema.field(label).type)
        pair = np.empty(2 * n, dtype=np.int64)
        pair[0::2], pair[1::2] = gb, gp
        src = pa.ListArray.from_arrays(pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32)), learn["ids"].take(pair))
        # `{"step": t}` built by Arrow (shortest round-trip text of t rounded to 6 places), no Python string per row
        text = pc.cast(pa.array(np.round(steps, 6)), pa.string())
        params = pc.binary_join_element_wise('{"step": ', text, "}", "")
        return self._table(cols, n, src, params)

    def _sdv_block(self, i: int, blk: int, n: int) -> pa.Table:
        import numpy as np
        import pyarrow as pa

        from augment_jobs.frames import decode_datetimes
        from augment_jobs.store import store_for
        from augment_jobs.tabular.sdv_methods import draw_class

        if i not in self._fitted:
            uri = state_uri(self.plan, f"synthesizer-{i}.pkl")
            # (synthesizer, column plans, fitted rows, datetime columns encoded for it)
            self._fitted[i] = pickle.loads(store_for(uri).read_bytes(uri))
        c = self.state.classes[i]
        synth, plans, rows, encoded = self._fitted[i]
        df = draw_class(synth, n, seed32(self.cfg.seed, self.plan.ds, 0, self.state.method, c["key"], "block", blk),
                        plans, rows)
        decode_datetimes(df, encoded)
        if len(df) != n:
            raise RuntimeError(f"{self.state.method}: class {c['key']}: SDV returned {len(df)} of {n} rows requested")
        cols: dict[str, Any] = {}
        for name in self.state.features:
            kind = self.schema.field(name).type
            s = df[name]
            if pa.types.is_integer(kind) and s.dtype.kind == "f":
                cols[name] = _typed(s.to_numpy(np.float64), kind)
            else:
                cols[name] = _cast(pa.array(s, from_pandas=True), kind)
        label = self.cfg.label
        cols[label] = _cast(pa.repeat(pa.scalar(c["value"]), n), self.schema.field(label).type)
        src = pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], pa.string()))
        return self._table(cols, n, src, pa.nulls(n, pa.string()))

    def _table(self, cols: dict[str, Any], n: int, src: Any, params: Any) -> pa.Table:
        import pyarrow as pa

        out = []
        for f in self.schema:
            if f.name in cols:
                out.append(cols[f.name])
            elif f.name == "_synthetic":
                out.append(pa.repeat(pa.scalar(True), n))
            elif f.name == "_source_ids":
                out.append(src)
            elif f.name == "_method":
                out.append(pa.repeat(pa.scalar(self.state.method), n))
            elif f.name == "_params":
                out.append(params)
            elif f.name == "_split":  # synthetic rows are train
                out.append(pa.repeat(pa.scalar("train"), n))
            else:  # `_id` and the id column are numbered by `rows`; left-out (all-missing) columns stay null
                out.append(pa.nulls(n, f.type))
        return pa.table(out, schema=self.schema)

    def _learning(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        if self._learn is None:
            import numpy as np
            import pyarrow as pa
            import pyarrow.compute as pc

            from augment_jobs.tabular.scale import _open, load_arrays
            from augment_jobs.tabular.scale_fit import LEARN

            # Column by column from the store: at 20M source rows the learning rows are 400k, and
            # only X, not the file's bytes and its table besides, should stay in memory.
            learn_file = _open(state_uri(self.plan, LEARN))
            numeric = [c for c in self.state.features if c not in self.state.categorical]
            X = np.empty((learn_file.metadata.num_rows, len(numeric)), order="F")
            for j, c in enumerate(numeric):
                X[:, j] = learn_file.read(columns=[c]).column(0).to_numpy()
            table = learn_file.read(columns=[*self.state.categorical, "_id"])
            codes, cats = {}, {}
            for name in self.state.categorical:
                col = pc.cast(table.column(name), pa.string()).combine_chunks()
                cats[name] = pc.unique(col).sort()
                codes[name] = pc.index_in(col, value_set=cats[name]).to_numpy(zero_copy_only=False)
                cats[name] = _cast(cats[name], self.schema.field(name).type) if not pa.types.is_string(
                    self.schema.field(name).type) else cats[name]
            ids = table.column("_id").combine_chunks()
            self._learn = ({"X": X, "codes": codes, "cats": cats, "ids": ids}, load_arrays(self.plan, "neighbours.npz"))
        return self._learn


def _typed(v: np.ndarray, kind: pa.DataType) -> pa.Array:
    """Interpolated floats in a column's source type: integers rounded, never truncated; bools at 0.5."""
    import numpy as np
    import pyarrow as pa

    if pa.types.is_boolean(kind):
        return pa.array(v >= 0.5)
    if pa.types.is_integer(kind):
        return pa.array(np.rint(v)).cast(kind, safe=False)
    return pa.array(v).cast(kind, safe=False)


def _low_cardinality(table: pa.Table, name: str, sample: int = 10_000) -> bool:
    from augment_jobs.frames import _low_cardinality as low

    return low(table.column(name), sample)


def dictionary_columns(cfg: DatasetConfig, state: State) -> list[str]:
    """Dictionary-encoded columns, decided once for all files from the first 10,000 output rows."""
    head = real_rows(cfg, state, state.arrow_schema(), 0, min(state.n_real, 10_000))
    return [c for c in head.column_names if _low_cardinality(head, c)]


def augment_task(cfg: DatasetConfig, plan: RunPlan, state: State, shard: int) -> ShardResult:
    """Write this task's output files, its share of the gate's sample, its exact counts, and per file
    the suite's results to merge (`augment_jobs.checks.suite_parts`)."""
    import time

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from augment_jobs.store import join

    t0 = time.perf_counter()
    schema = state.arrow_schema()
    gen = Generator(cfg, plan, state, schema)
    result = ShardResult(shard=shard)
    counts: dict[str, dict[str, int]] = {}
    samples = []
    keys = pa.array([c["value"] for c in state.classes]).cast(schema.field(cfg.label).type)
    p_real = np.array([min(1.0, GATE_SAMPLE_ROWS / max(c["count"], 1)) for c in state.classes] +
                      [min(1.0, GATE_SAMPLE_ROWS / max(state.null_label, 1))])
    p_syn = np.array([min(1.0, GATE_SAMPLE_ROWS / max(c["synthetic"], 1)) for c in state.classes] + [0.0])
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
        # with this row_group_size, with only one row group in memory.
        with parquet_writer(uri, schema, write_statistics=True, use_dictionary=state.dictionary) as writer:
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
        result.files.append({"path": name, "rows": hi - lo})
        if suite is not None:
            suite_files.append({"file": j, "expectations": suite.types, "results": suite.file_records()})
    if suite is not None:
        result.extra["suite"] = suite_files
    if samples:
        name = f"gate-sample-{shard:05d}.parquet"
        from augment_jobs.tabular.scale_fit import _write_table

        _write_table(state_uri(plan, name), pa.concat_tables(samples))
        result.extra["gate_sample"] = name
    result.counts = dict(sorted(counts.items()))
    if shard == 0:  # what pass 1 found is reported once
        result.notes = [*(state.split or {}).get("notes", []), *(f"augment[0] {state.method}: {n}" for n in state.notes)]
        result.skipped = {f"{state.method}: {k}": v for k, v in state.skipped.items()}
        result.metrics.update({f"step0_{k}": v for k, v in state.metrics.items()})
        if state.quality:
            result.extra["quality"] = state.quality
    result.metrics[f"step0_{state.method}_rows_added"] = float(sum(c["synthetic"] for c in counts.values()))
    result.metrics["write_seconds"] = round(time.perf_counter() - t0, 3)
    return result


ROW_GROUP = 128 * 1024  # rows per Parquet row group, as the in-memory path writes them


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

"""The one tabular engine: every table, small or huge, through the same two passes (docs/config.md,
"The tabular engine").

- snapshot (`TabularHandler.prepare_run`, once): row counts and the schema from the Parquet footers
  (a CSV or JSONL source: from a first read of every part, then each part converted to a staged
  Parquet file, `sources`); the label column of every part (per-class counts, hence the targets);
  with `split`, the holdout rule (`split`); and the plan of the fit stage's neighbour searches
  (`fit.plan_fits`). All of it is staged under `_staging/<version>/tabular/`.
- fit (mapped over query blocks, then `fit_merge` once; `fit`): per augment step its method's hooks
  (`augment_jobs.tabular.method`): the rows it learns from, the fit (its planned searches answered
  block by block), and with constraints the exact size of every block of draws (`plan.run_steps`).
- augment (mapped over `plan.shards`, `write`): task i writes a fixed range of output files. Output
  file j holds rows [j·R, (j+1)·R) of "real rows in source order, then each step's synthetic rows by
  class" (R = `publish.rows_per_file`); the draws of block b of a class depend only on (seed, date,
  step, method, class, b), so the bytes do not depend on the table's size or the number of tasks.

A table of 300 rows is one part and one task; `source.rows_per_task` only sets the parallelism.
The gate reads a per-class sample of at most `GATE_SAMPLE_ROWS` real and synthetic rows (every row
of a smaller class), picked by per-row draws keyed by the row's position; its counts are exact.
"""

from __future__ import annotations

import io
import json
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from augment_jobs.errors import ConfigError, InputError
from augment_jobs.frames import FrameHandler, unify_schema
from augment_jobs.modality import RunPlan, ShardResult

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from augment_jobs.config import DatasetConfig
    from augment_jobs.registry import AugmentContext
    from augment_jobs.store import DigestingStream, ObjectInfo

#: source rows per augment task when `source.rows_per_task` is unset (only sets the parallelism)
DEFAULT_ROWS_PER_TASK = 1_000_000
#: synthetic rows per random block (fixed: the draws must not depend on any tunable size)
GEN_BLOCK = 65_536
#: real and synthetic rows per class the gate's sample aims at
GATE_SAMPLE_ROWS = 50_000
#: source formats the engine reads (CSV and JSONL through staged Parquet copies, `sources`)
SOURCE_FORMATS = ("parquet", "csv", "jsonl")
STATE = "tabular"


# --- the memory plan -------------------------------------------------------------------------------
GB = 1024**3
#: resident size of a worker process with pandas, pyarrow, sklearn and GX imported
BASELINE_BYTES = int(0.6 * GB)
#: peak / fitted rows' float64 bytes of an SDV fit (RDT transforms, copula); measured: 15x on 1M x 2 floats
SDV_FIT_FACTOR = 16
#: peak / output file bytes of an augment task (file being built, its Arrow copy, writer buffers)
STREAM_FACTOR = 4
#: snapshot bytes per source row of a `split` (a uint64 hash and a class code per row, sorted
#: by class and hash); measured: 174 MB on 8M rows
SPLIT_ROW_BYTES = 24


def worker_budget() -> int:
    """Bytes a worker may use: `AUGMENT_WORKER_MEMORY_GB` (default 4)."""
    return int(float(os.environ.get("AUGMENT_WORKER_MEMORY_GB", "4")) * GB)


def row_bytes(schema: pa.Schema) -> int:
    """Estimated in-memory bytes of one row: fixed widths, 48 for a string (a Python object in pandas)."""
    import pyarrow as pa

    total = 0
    for f in schema:
        t = f.type
        if pa.types.is_boolean(t):
            total += 1
        elif pa.types.is_dictionary(t):
            total += 8
        else:
            try:
                total += max(t.bit_width // 8, 1)
            except ValueError:
                total += 48
    return total


def check_memory(cfg: DatasetConfig, rows: int, schema: pa.Schema) -> None:
    """ConfigError (one line naming the key to set) when a stage's estimated peak exceeds the worker."""
    budget = worker_budget()
    where = cfg.config_path or cfg.dataset
    gb = f"{budget / GB:g} GB worker budget (AUGMENT_WORKER_MEMORY_GB)"
    from augment_jobs.registry import get_method

    for i, step in enumerate(cfg.augment):
        if "max_fit_rows" not in get_method(step.method).params_model.model_fields:
            continue  # a method that fits a model on its rows bounds them with max_fit_rows
        bound = step.params.get("max_fit_rows")
        fit_rows = min(rows, int(bound)) if bound else rows
        need = BASELINE_BYTES + fit_rows * 8 * len(schema) * SDV_FIT_FACTOR  # SDV models every column as float64
        if need > budget:
            hint = "set it lower" if bound else f"set augment[{i}].params.max_fit_rows"
            raise ConfigError(
                f"{where}: {step.method} would fit on up to {fit_rows:,} rows (~{need / GB:.1f} GB), over the {gb}: "
                f"{hint} (e.g. 200000) to fit on a seeded per-class sample"
            )
    if getattr(cfg, "split", None) is not None:
        need = BASELINE_BYTES + rows * SPLIT_ROW_BYTES
        if need > budget:
            raise ConfigError(
                f"{where}: split over {rows:,} rows needs ~{need / GB:.1f} GB at snapshot (a hash per row), over the "
                f"{gb}: raise AUGMENT_WORKER_MEMORY_GB or cut the partition"
            )
    need = BASELINE_BYTES + min(rows, cfg.publish.rows_per_file) * (row_bytes(schema) + 64) * STREAM_FACTOR
    if need > budget:
        raise ConfigError(
            f"{where}: one output file of {cfg.publish.rows_per_file:,} rows needs ~{need / GB:.1f} GB to build, "
            f"over the {gb}: lower publish.rows_per_file"
        )


@dataclass
class Part:
    """One source file: its URI, rows, the global position of its first row, and for a CSV or JSONL
    source its staged Parquet copy (`sources.stage`; None for a part without rows)."""

    uri: str
    rows: int
    offset: int
    staged: str | None = None

    @property
    def read_uri(self) -> str:
        """The Parquet file holding the part's rows."""
        return self.staged or self.uri


def read_parts(cfg: DatasetConfig, objects: list[ObjectInfo] | list[dict[str, Any]],
               staging_uri: str | None = None) -> tuple[list[Part], pa.Schema]:
    """Row counts and the partition's one schema: from the Parquet footers, or for a CSV or JSONL
    source from a first read of every part (`sources.scan`, recorded under `staging_uri`);
    InputError naming a file that cannot be read, or both files and the column when two disagree."""
    import pyarrow as pa

    from augment_jobs.frames import check_format, unreadable

    listed = [dict(obj) if isinstance(obj, dict) else {"uri": obj.uri, "etag": obj.etag, "size": obj.size}
              for obj in objects]
    if cfg.source.format != "parquet":
        from augment_jobs.tabular.sources import scan

        assert staging_uri is not None, "a CSV or JSONL source is read through the run's staging area"
        for obj in listed:
            check_format(obj["uri"], cfg.source.format)
        found = scan(cfg, listed, staging_uri)
    else:
        found = []
        for obj in listed:
            try:
                md = open_parquet(obj["uri"]).metadata
            except (pa.ArrowInvalid, OSError) as e:
                check_format(obj["uri"], "parquet")  # text under format: parquet says what it is
                raise unreadable(obj["uri"], "parquet", e) from None
            found.append((md.num_rows, md.schema.to_arrow_schema()))
    parts, schema, first, offset = [], None, "", 0
    for obj, (rows, file_schema) in zip(listed, found, strict=True):
        uri = obj["uri"]
        if rows or file_schema.names:  # an empty JSONL file has no columns: it adds no rows and no schema
            schema = unify_schema(schema, first, file_schema.empty_table(), uri)
            first = first or uri
        parts.append(Part(uri, rows, offset))
        offset += rows
    if schema is None:
        raise InputError(f"{listed[0]['uri'].rsplit('/', 1)[0]}: the source partition has no rows; check the upstream export")
    return parts, schema.remove_metadata()


def open_parquet(uri: str) -> Any:
    import pyarrow.parquet as pq

    from augment_jobs.store import store_for

    store = store_for(uri)
    fs, _ = store.arrow_fs()
    return pq.ParquetFile(store.arrow_path(uri), filesystem=fs)


def parquet_writer(where: str | DigestingStream, schema: pa.Schema, **options: Any) -> Any:
    """A zstd Parquet writer at a store URI (a local store gets the parent folders made), or into an
    open stream (`Store.open_digesting`, which the caller closes)."""
    import os

    import pyarrow.parquet as pq

    from augment_jobs.store import store_for

    if not isinstance(where, str):
        return pq.ParquetWriter(where, schema, compression="zstd", **options)
    store = store_for(where)
    if store.local_path(where):
        os.makedirs(os.path.dirname(store.local_path(where)), exist_ok=True)
    fs, _ = store.arrow_fs()
    return pq.ParquetWriter(store.arrow_path(where), schema, filesystem=fs, compression="zstd", **options)


def rows_per_task(cfg: DatasetConfig) -> int:
    return cfg.source.rows_per_task or DEFAULT_ROWS_PER_TASK


def check_source(cfg: DatasetConfig, schema: pa.Schema) -> None:
    """InputError when the source lacks the label, the id column is not an integer or string, or a
    constraint names a missing column."""
    import pyarrow as pa

    from augment_jobs.tabular.constraints import check_columns

    where = cfg.config_path or cfg.dataset
    if cfg.label not in schema.names:
        cols = ", ".join(n for n in schema.names if not n.startswith("_"))
        raise InputError(f"{where}: label column {cfg.label!r} not found in the source; available columns: {cols}")
    idc = cfg.source.id_column
    if idc and idc in schema.names:
        t = schema.field(idc).type
        if not (pa.types.is_integer(t) or pa.types.is_string(t) or pa.types.is_large_string(t)):
            raise InputError(f"{where}: id column {idc!r} is {t}; ids must be integers or strings")
    check_columns(schema.names, cfg.constraints, where=f"{where}: constraints")
    if cfg.columns:
        from augment_jobs.tabular.columns import check_source as check_roles

        check_roles(cfg, schema, where)


# --- the handler ------------------------------------------------------------------------------------
class TabularHandler(FrameHandler):
    """The tabular modality's handler: the two passes of the module docstring, for every table."""

    def shard_sources(self, cfg: DatasetConfig, objects: list[ObjectInfo], staging_uri: str | None = None) -> list[list[int]]:
        if staging_uri is None and cfg.source.format != "parquet":
            return [list(range(len(objects)))]  # published already: nothing will run, no need to read a CSV source
        parts, schema = read_parts(cfg, objects, staging_uri)
        total = sum(p.rows for p in parts)
        check_source(cfg, schema)
        check_memory(cfg, total, schema)
        tasks = max(1, math.ceil(total / rows_per_task(cfg)))
        out = []
        for i in range(tasks):
            lo, hi = i * total // tasks, (i + 1) * total // tasks
            out.append([n for n, p in enumerate(parts) if p.offset < hi and p.offset + p.rows > lo] or [0])
        return out

    def prepare_run(self, cfg: DatasetConfig, plan: RunPlan) -> None:
        """Pass 1 and the fits, once per run (the snapshot stage)."""
        from augment_jobs.tabular import plan as pass1

        parts, schema = read_parts(cfg, plan.source, plan.staging_uri)
        if cfg.source.format != "parquet":
            from augment_jobs.tabular.sources import stage

            stage(cfg, parts, plan.staging_uri)
        pass1.prepare(cfg, plan, parts, schema)

    def fit_blocks(self, plan: RunPlan) -> int:
        """Query blocks of the fit stage (one mapped fit task each)."""
        return _pass1(plan).fit_blocks

    def fit_block(self, cfg: DatasetConfig, plan: RunPlan, block: int) -> None:
        """The fit stage, one query block of the planned neighbour searches (`fit.fit_block`)."""
        from augment_jobs.tabular import fit

        fit.fit_block(cfg, plan, _pass1(plan), block)

    def finish_fit(self, cfg: DatasetConfig, plan: RunPlan) -> None:
        """The fits, the blocks' answers merged, staged as the state the augment tasks read."""
        from augment_jobs.tabular import fit

        save_state(plan, fit.finish(cfg, plan, _pass1(plan)))

    def augment_shard(self, cfg: DatasetConfig, plan: RunPlan, shard: int) -> ShardResult:
        from augment_jobs.tabular import write

        state = load_state(plan)
        if state is None:
            raise RuntimeError(f"{plan.staging_uri}: no staged tabular state; rerun the snapshot and fit stages")
        return write.augment_task(cfg, plan, state, shard)

    def gate_frame(self, cfg: DatasetConfig, plan: RunPlan, shards: list[ShardResult]) -> pd.DataFrame:
        import pandas as pd
        import pyarrow.parquet as pq

        from augment_jobs.store import join, store_for

        state = load_state(plan)
        assert state is not None, "the snapshot stage stages the state"
        store = store_for(plan.staging_uri)
        fs, _ = store.arrow_fs()
        tables = [
            pq.read_table(store.arrow_path(join(plan.staging_uri, STATE, s.extra["gate_sample"])), filesystem=fs).to_pandas()
            for s in shards if s.extra.get("gate_sample")
        ]
        if not tables:
            return state.arrow_schema().empty_table().drop_columns(["_source_ids"]).to_pandas()
        return pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]


def _pass1(plan: RunPlan) -> State:
    from augment_jobs.tabular.plan import PASS1

    state = load_state(plan, PASS1)
    if state is None:
        raise RuntimeError(f"{plan.staging_uri}: no staged tabular pass 1; rerun the snapshot stage")
    return state


def run_frame(df: pd.DataFrame, cfg: DatasetConfig, ds: str, *, ctx: AugmentContext | None = None,
              tasks: int = 1) -> pd.DataFrame:
    """A frame's source columns through the engine, in a temporary local store: the output rows as
    a frame (real rows first). What a tabular method does when called on a frame (the method-contract
    tests); `ctx` gets the step's notes, skips, metrics and quality; `tasks` > 1 cuts the source into that
    many parts and tasks."""
    import tempfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    from augment_jobs.modality import RunPlan
    from augment_jobs.store import ObjectInfo

    source = df[[c for c in df.columns if not str(c).startswith("_")]]
    with tempfile.TemporaryDirectory() as tmp:
        objects = []
        table = pa.Table.from_pandas(source, preserve_index=False).replace_schema_metadata(None)
        cut = [i * len(source) // tasks for i in range(tasks + 1)]
        for i in range(tasks):
            path = os.path.join(tmp, "src", f"part-{i}.parquet")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            pq.write_table(table.slice(cut[i], cut[i + 1] - cut[i]), path)
            objects.append(ObjectInfo(uri=path, etag=str(i), size=os.path.getsize(path)))
        run_cfg = cfg.model_copy(update={"source": cfg.source.model_copy(update={
            "format": "parquet", "rows_per_task": max(1, math.ceil(len(source) / tasks))})})
        handler = TabularHandler()
        staging = os.path.join(tmp, "staging")
        plan = RunPlan(dataset=cfg.dataset, ds=ds, version="frame", fingerprint="frame", modality="tabular",
                       config_path="", config_sha256="", platform_version="", seed=cfg.seed,
                       source_uri=os.path.join(tmp, "src"), source=[vars(o) for o in objects], shards=[],
                       publish_uri=os.path.join(tmp, "out"), staging_uri=staging)
        plan.shards = handler.shard_sources(run_cfg, objects, staging)
        handler.prepare_run(run_cfg, plan)
        for block in range(handler.fit_blocks(plan)):
            handler.fit_block(run_cfg, plan, block)
        handler.finish_fit(run_cfg, plan)
        results = [handler.augment_shard(run_cfg, plan, i) for i in range(len(plan.shards))]
        if ctx is not None:
            if ctx.artifact_uri is not None and os.path.isdir(os.path.join(staging, "artifacts")):
                for name in sorted(os.listdir(os.path.join(staging, "artifacts"))):
                    with open(os.path.join(staging, "artifacts", name), "rb") as f:
                        ctx.save_artifact(name, f.read())
            state = load_state(plan)
            report = state.steps[0]["report"]  # type: ignore[union-attr]
            ctx.quality.update(state.quality)  # type: ignore[union-attr]
            ctx.notes += report["notes"]
            ctx.metrics.update(report["metrics"])
            ctx.recall += report.get("recall", [])
            for reason, n in report["skipped"].items():
                ctx.skip(reason, n)
        files = [os.path.join(plan.data_uri, f["path"]) for r in results for f in r.files]
        out = pa.concat_tables([pq.read_table(f) for f in files]).to_pandas()
    if "_id" in df.columns and not cfg.source.id_column:  # the frame's own row ids, not the temporary files'
        given = dict(zip([f"part-{i}.parquet#{r}" for i in range(tasks) for r in range(cut[i + 1] - cut[i])],
                         df["_id"].astype(str), strict=True))
        out["_id"] = [given.get(k, k) for k in out["_id"]]
        out["_source_ids"] = [[given.get(k, k) for k in v] for v in out["_source_ids"]]
    return out


# --- staged state -----------------------------------------------------------------------------------
@dataclass
class State:
    """What pass 1 and the fits leave for the augment tasks (`_staging/<version>/tabular/state.json`).

    `classes`: the real rows per class ({key, value, count}, train rows with a split). `steps`: per
    augment step {method, classes: [{key, value, count, synthetic, blocks}], fit: {...}}, its classes
    in output order; `blocks` lists each block's rows when constraints can drop draws (None: full
    blocks of `GEN_BLOCK`); `fit` holds the method's own small facts (features, k, ...)."""

    parts: list[dict[str, Any]]
    schema: str  # the output schema, Arrow IPC, base64
    n_real: int
    classes: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    features: list[str]
    id_top: int | None
    tasks: int
    rows_per_file: int
    dictionary: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    null_label: int = 0
    quality: dict[str, Any] = field(default_factory=dict)  # SDV: per-class SDMetrics quality, for the gate
    split: dict[str, Any] | None = None  # `split` configured: the holdout rule (augment_jobs/tabular/split.py)
    #: `role: id` columns: where their fresh values start (augment_jobs/tabular/columns.py)
    fresh: dict[str, Any] = field(default_factory=dict)
    #: float features whose real values are all whole numbers (integers read as float for their NaNs)
    whole: list[str] = field(default_factory=list)
    source_schema: str = ""  # the source's schema, Arrow IPC, base64 (what the methods' hooks see)
    fit_blocks: int = 1  # query blocks of the fit stage's searches (`fit.block_range`)

    @property
    def n_syn(self) -> int:
        return sum(c["synthetic"] for s in self.steps for c in s["classes"])

    @property
    def n_total(self) -> int:
        return self.n_real + self.n_syn

    @property
    def n_files(self) -> int:
        return max(1, math.ceil(self.n_total / self.rows_per_file))

    def files_of(self, task: int) -> range:
        """Output files task `task` writes: a contiguous range, the same cut for any bytes."""
        return range(task * self.n_files // self.tasks, (task + 1) * self.n_files // self.tasks)

    def arrow_schema(self) -> pa.Schema:
        return decode_schema(self.schema)


def encode_schema(schema: pa.Schema) -> str:
    """An Arrow schema as text (IPC, base64) for the staged JSON."""
    import base64

    return base64.b64encode(schema.serialize().to_pybytes()).decode()


def decode_schema(text: str) -> pa.Schema:
    import base64

    import pyarrow as pa

    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


def state_uri(plan: RunPlan, name: str = "state.json") -> str:
    from augment_jobs.store import join

    return join(plan.staging_uri, STATE, name)


def load_state(plan: RunPlan, name: str = "state.json") -> State | None:
    """The staged state (`name`: pass 1's, `plan.PASS1`, before the fit stage), or None."""
    from augment_jobs.store import store_for

    uri = state_uri(plan, name)
    try:
        return State(**store_for(uri).read_json(uri))
    except FileNotFoundError:
        return None


def save_state(plan: RunPlan, state: State, name: str = "state.json") -> None:
    from dataclasses import asdict

    from augment_jobs.store import store_for

    uri = state_uri(plan, name)
    store_for(uri).write_json(uri, asdict(state))


def save_arrays(plan: RunPlan, name: str, arrays: dict[str, np.ndarray], *, narrow: bool = True) -> None:
    """Stage arrays as one `.npz`, streamed to the store (a copy of every array in memory otherwise).
    `narrow`: int64 row positions below 2**31 stored as int32, half the neighbours' memory in every
    task; off where the exact dtypes matter (a fit block must merge into one process's answer)."""
    import numpy as np

    from augment_jobs.store import store_for

    if narrow:
        arrays = {k: v.astype(np.int32) if v.dtype == np.int64 and (not v.size or np.abs(v).max() < 2**31) else v
                  for k, v in arrays.items()}
    uri = state_uri(plan, name)
    with store_for(uri).writing(uri) as out:
        np.savez(out, **arrays)


def load_arrays(plan: RunPlan, name: str) -> dict[str, np.ndarray]:
    import numpy as np

    from augment_jobs.store import store_for

    uri = state_uri(plan, name)
    with np.load(io.BytesIO(store_for(uri).read_bytes(uri)), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def class_key(value: Any) -> str:
    """A class as the manifest counts name it (str of the value, as the pandas path writes it)."""
    return str(value)


def json_value(value: Any) -> Any:
    return json.loads(json.dumps(value.item() if hasattr(value, "item") else value, default=str))

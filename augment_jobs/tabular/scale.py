"""Tabular at scale: real rows streamed as Arrow batches, only the learning rows in memory.

A tabular run streams (docs/config.md, "Tabular at scale") when its one augment step is a streamed
method (`smote`, `smotenc`, `borderline_smote`, `adasyn`, `gaussian_copula`, `ctgan`, `tvae`) on a
Parquet, CSV or JSONL source without constraints, and either `source.rows_per_task` is set or the
source has more than `DEFAULT_ROWS_PER_TASK` rows. Otherwise the whole partition goes through pandas in one task
(`FrameHandler`), as for small tables.

Streaming is two passes, with the stages unchanged:

- snapshot (`TabularHandler.prepare_run`, once): row counts and the schema from the Parquet
  footers (a CSV or JSONL source: from a first read of every part, then each part converted to a
  staged Parquet file, `scale_source`); the label column of every part (per-class counts, hence
  the targets); the learning rows (the oversampled classes for the SMOTE family, a seeded
  per-class sample of at most `max_fit_rows` rows for SDV); the fit (same-class neighbours as
  imbalanced-learn computes them; for Borderline-SMOTE and ADASYN also each learning row's nearest
  rows of any class, found by streaming the whole table in chunks, `scale_nn`; or one synthesizer
  per class). With `split`, the holdout rule too: counts, targets and learning rows are train rows
  only, as in memory (`scale_split`). All of it is staged under `_staging/<version>/tabular/`.
- augment (mapped over `plan.shards`): task i writes a fixed range of output files. Output file j
  holds rows [j·R, (j+1)·R) of "real rows in source order, then synthetic rows by class" (R =
  `publish.rows_per_file`); the random draws of synthetic row g depend only on (seed, date, step,
  class, g // GEN_BLOCK), so the bytes do not depend on the number of tasks.

The gate reads a bounded per-class sample of real and synthetic rows, picked by each task with
per-row draws that also depend only on the row's position; its counts are the tasks' exact counts.
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
    from augment_jobs.store import ObjectInfo

#: source rows per augment task when `source.rows_per_task` is unset (a 4 GB worker streams any
#: number of them; this only sets the parallelism); larger sources stream, smaller run in pandas
DEFAULT_ROWS_PER_TASK = 1_000_000
#: synthetic rows per random block (fixed: the draws must not depend on any tunable size)
GEN_BLOCK = 65_536
#: real and synthetic rows per class the gate's sample aims at
GATE_SAMPLE_ROWS = 50_000
#: SMOTE-family methods whose neighbourhoods span every class (`augment_jobs.tabular.scale_nn`)
ALL_CLASS = ("borderline_smote", "adasyn")
SMOTE_FAMILY = ("smote", "smotenc", *ALL_CLASS)
SDV_METHODS = ("gaussian_copula", "ctgan", "tvae")
STREAMED = (*SMOTE_FAMILY, *SDV_METHODS)
#: source formats the streamed path reads (CSV and JSONL through staged Parquet copies, `scale_source`)
STREAMED_FORMATS = ("parquet", "csv", "jsonl")
STATE = "tabular"


# --- the memory plan -------------------------------------------------------------------------------
GB = 1024**3
#: resident size of a worker process with pandas, pyarrow, sklearn and GX imported
BASELINE_BYTES = int(0.6 * GB)
#: peak / table bytes of the in-memory path (frame, feature matrix, output frame, Arrow copy);
#: measured: 1.62 GB peak on a 1M x 21 float table (168 MB)
IN_MEMORY_FACTOR = 7
#: peak / fitted rows' float64 bytes of an SDV fit (RDT transforms, copula); measured: 15x on 1M x 2 floats
SDV_FIT_FACTOR = 16
#: peak / output file bytes of a streamed task (file being built, its Arrow copy, writer buffers)
STREAM_FACTOR = 4
#: snapshot bytes per source row of a streamed `split` (a uint64 hash and a class code per row, sorted
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


def check_memory(cfg: DatasetConfig, rows: int, schema: pa.Schema, streams: bool) -> None:
    """ConfigError (one line naming the key to set) when a stage's estimated peak exceeds the worker."""
    budget, width = worker_budget(), row_bytes(schema)
    where = cfg.config_path or cfg.dataset
    step = cfg.augment[0]
    gb = f"{budget / GB:g} GB worker budget (AUGMENT_WORKER_MEMORY_GB)"
    if step.method in SDV_METHODS and len(cfg.augment) == 1:
        bound = step.params.get("max_fit_rows")
        fit_rows = min(rows, int(bound)) if bound else rows
        need = BASELINE_BYTES + fit_rows * 8 * len(schema) * SDV_FIT_FACTOR  # SDV models every column as float64
        if need > budget:
            hint = "set it lower" if bound else "set augment[0].params.max_fit_rows"
            raise ConfigError(
                f"{where}: {step.method} would fit on up to {fit_rows:,} rows (~{need / GB:.1f} GB), over the {gb}: "
                f"{hint} (e.g. 200000) to fit on a seeded per-class sample"
            )
    if streams and getattr(cfg, "split", None) is not None:
        need = BASELINE_BYTES + rows * SPLIT_ROW_BYTES
        if need > budget:
            raise ConfigError(
                f"{where}: split over {rows:,} rows needs ~{need / GB:.1f} GB at snapshot (a hash per row), over the "
                f"{gb}: raise AUGMENT_WORKER_MEMORY_GB or cut the partition"
            )
    if streams:
        need = BASELINE_BYTES + min(rows, cfg.publish.rows_per_file) * (width + 64) * STREAM_FACTOR
        if need > budget:
            raise ConfigError(
                f"{where}: one output file of {cfg.publish.rows_per_file:,} rows needs ~{need / GB:.1f} GB to build, "
                f"over the {gb}: lower publish.rows_per_file"
            )
        return
    need = BASELINE_BYTES + rows * (width + 64) * IN_MEMORY_FACTOR
    if need > budget:
        why = stream_blocker(cfg, schema)
        fix = f"it cannot stream because {why}" if why else "set source.rows_per_task (e.g. 1000000) to stream it"
        raise ConfigError(
            f"{where}: {step.method} on {rows:,} rows in one task needs ~{need / GB:.1f} GB, over the {gb}: {fix}"
        )


# --- which runs stream ------------------------------------------------------------------------------
def stream_blocker(cfg: DatasetConfig, schema: pa.Schema | None = None) -> str | None:
    """Why this config cannot take the streamed path (None: it can)."""
    import pyarrow as pa

    from augment_jobs.registry import get_method

    if cfg.source.format not in STREAMED_FORMATS:
        return f"source.format is not {', '.join(STREAMED_FORMATS)}"
    if len(cfg.augment) != 1:
        return "it has more than one augment step"
    step = cfg.augment[0]
    if step.method not in STREAMED:
        return f"{step.method} has no streamed path (use {', '.join(STREAMED)})"
    if cfg.constraints:
        return "constraints are configured"
    params = get_method(step.method).parse_params(step.params)
    if getattr(params, "missing", "skip") != "skip":
        return "params.missing is impute_median"
    if schema is not None:
        if cfg.source.id_column and cfg.source.id_column in schema.names:
            t = schema.field(cfg.source.id_column).type
            if not (pa.types.is_integer(t) or pa.types.is_string(t) or pa.types.is_large_string(t)):
                return f"id column {cfg.source.id_column!r} is {t}, not an integer or string"
        if step.method in SMOTE_FAMILY:
            for f in schema:
                if pa.types.is_temporal(f.type) and f.name not in (cfg.label, cfg.source.id_column):
                    return f"column {f.name!r} is a date/time"
    return None


@dataclass
class Part:
    """One source file: its URI, rows, the global position of its first row, and for a CSV or JSONL
    source its staged Parquet copy (`scale_source.stage`; None for a part without rows)."""

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
    source from a first read of every part (`scale_source.scan`, recorded under `staging_uri`);
    InputError naming a file that cannot be read, or both files and the column when two disagree."""
    import pyarrow as pa

    from augment_jobs.frames import unreadable

    listed = [dict(obj) if isinstance(obj, dict) else {"uri": obj.uri, "etag": obj.etag, "size": obj.size}
              for obj in objects]
    if cfg.source.format != "parquet":
        from augment_jobs.tabular.scale_source import scan

        assert staging_uri is not None, "a CSV or JSONL source is read through the run's staging area"
        found = scan(cfg, listed, staging_uri)
    else:
        found = []
        for obj in listed:
            try:
                md = _open(obj["uri"]).metadata
            except (pa.ArrowInvalid, OSError) as e:
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


def _open(uri: str) -> Any:
    import pyarrow.parquet as pq

    from augment_jobs.store import store_for

    store = store_for(uri)
    fs, _ = store.arrow_fs()
    return pq.ParquetFile(store.arrow_path(uri), filesystem=fs)


def parquet_writer(uri: str, schema: pa.Schema, **options: Any) -> Any:
    """A zstd Parquet writer at a store URI (a local store gets the parent folders made)."""
    import os

    import pyarrow.parquet as pq

    from augment_jobs.store import store_for

    store = store_for(uri)
    if store.local_path(uri):
        os.makedirs(os.path.dirname(store.local_path(uri)), exist_ok=True)
    fs, _ = store.arrow_fs()
    return pq.ParquetWriter(store.arrow_path(uri), schema, filesystem=fs, compression="zstd", **options)


def rows_per_task(cfg: DatasetConfig) -> int:
    return cfg.source.rows_per_task or DEFAULT_ROWS_PER_TASK


def streams(cfg: DatasetConfig, rows: int, schema: pa.Schema) -> bool:
    """Whether this run takes the streamed path (fixed by the config and the source alone, never by
    the worker's memory, so the bytes published do not depend on where it runs)."""
    if stream_blocker(cfg, schema) is not None:
        return False
    return cfg.source.rows_per_task is not None or rows > DEFAULT_ROWS_PER_TASK


# --- the handler ------------------------------------------------------------------------------------
class TabularHandler(FrameHandler):
    """`FrameHandler` for small tables; the streamed two-pass path for large ones (module docstring)."""

    def shard_sources(self, cfg: DatasetConfig, objects: list[ObjectInfo], staging_uri: str | None = None) -> list[list[int]]:
        if cfg.source.format != "parquet" and (staging_uri is None or stream_blocker(cfg) is not None):
            return super().shard_sources(cfg, objects)  # nothing will stream: no need to read a CSV or JSONL source
        parts, schema = read_parts(cfg, objects, staging_uri)
        total = sum(p.rows for p in parts)
        stream = streams(cfg, total, schema)
        check_memory(cfg, total, schema, stream)
        if not stream:
            return super().shard_sources(cfg, objects)
        tasks = max(1, math.ceil(total / rows_per_task(cfg)))
        out = []
        for i in range(tasks):
            lo, hi = i * total // tasks, (i + 1) * total // tasks
            out.append([n for n, p in enumerate(parts) if p.offset < hi and p.offset + p.rows > lo] or [0])
        return out

    def prepare_run(self, cfg: DatasetConfig, plan: RunPlan) -> None:
        """Pass 1 and the fit, once per run (the snapshot stage); a no-op for runs that do not stream."""
        if cfg.source.format != "parquet" and stream_blocker(cfg) is not None:
            return
        parts, schema = read_parts(cfg, plan.source, plan.staging_uri)
        if not streams(cfg, sum(p.rows for p in parts), schema):
            return
        from augment_jobs.tabular import scale_fit

        if cfg.source.format != "parquet":
            from augment_jobs.tabular.scale_source import stage

            stage(cfg, parts, plan.staging_uri)

        scale_fit.prepare(cfg, plan, parts, schema)

    def augment_shard(self, cfg: DatasetConfig, plan: RunPlan, shard: int) -> ShardResult:
        state = load_state(plan)
        if state is None:
            return super().augment_shard(cfg, plan, shard)
        from augment_jobs.tabular import scale_write

        return scale_write.augment_task(cfg, plan, state, shard)

    def gate_frame(self, cfg: DatasetConfig, plan: RunPlan, shards: list[ShardResult]) -> pd.DataFrame:
        state = load_state(plan)
        if state is None:
            return super().gate_frame(cfg, plan, shards)
        import pandas as pd
        import pyarrow.parquet as pq

        from augment_jobs.store import join, store_for

        store = store_for(plan.staging_uri)
        fs, _ = store.arrow_fs()
        tables = [
            pq.read_table(store.arrow_path(join(plan.staging_uri, STATE, s.extra["gate_sample"])), filesystem=fs).to_pandas()
            for s in shards if s.extra.get("gate_sample")
        ]
        if not tables:
            return state.arrow_schema().empty_table().drop_columns(["_source_ids"]).to_pandas()
        return pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]


# --- staged state -----------------------------------------------------------------------------------
@dataclass
class State:
    """What pass 1 and the fit leave for the augment tasks (`_staging/<version>/tabular/state.json`)."""

    method: str
    parts: list[dict[str, Any]]
    schema: str  # the output schema, Arrow IPC, base64
    n_real: int
    classes: list[dict[str, Any]]  # per class in output order: {key, value, count, synthetic}
    features: list[str]
    categorical: list[str]
    k: int
    dictionary: list[str]
    id_top: int | None
    tasks: int
    rows_per_file: int
    notes: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    null_label: int = 0
    quality: dict[str, Any] = field(default_factory=dict)  # SDV: per-class SDMetrics quality, for the gate
    split: dict[str, Any] | None = None  # `split` configured: the holdout rule (augment_jobs/tabular/scale_split.py)

    @property
    def n_syn(self) -> int:
        return sum(c["synthetic"] for c in self.classes)

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


def load_state(plan: RunPlan) -> State | None:
    from augment_jobs.store import store_for

    uri = state_uri(plan)
    try:
        return State(**store_for(uri).read_json(uri))
    except FileNotFoundError:
        return None


def save_state(plan: RunPlan, state: State) -> None:
    from dataclasses import asdict

    from augment_jobs.store import store_for

    uri = state_uri(plan)
    store_for(uri).write_json(uri, asdict(state))


def save_arrays(plan: RunPlan, name: str, arrays: dict[str, np.ndarray]) -> None:
    import numpy as np

    from augment_jobs.store import store_for

    # Row positions fit int32 below 2**31 learning rows: half the neighbours' memory in every task.
    small = {k: v.astype(np.int32) if v.dtype == np.int64 and (not v.size or np.abs(v).max() < 2**31) else v
             for k, v in arrays.items()}
    buf = io.BytesIO()
    np.savez(buf, **small)
    uri = state_uri(plan, name)
    store_for(uri).write_bytes(uri, buf.getvalue())


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

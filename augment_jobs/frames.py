"""The shared pipeline for frame modalities (tabular, text, time series).

Source files → one pandas frame with the platform columns → the config's steps (registered
methods) → Parquet parts in staging. Modality specifics come from `FrameHooks` registered by the
modality package: `prepare` validates and normalises the loaded source (raise InputError naming the
column), `checks` adds platform gate checks, `compare_columns` chooses the columns the similarity
check compares.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

from augment_jobs.errors import InputError
from augment_jobs.modality import FrameHooks, Handler, ModalitySpec, RunPlan, ShardResult, hooks_for
from augment_jobs.schema import PLATFORM_COLUMNS, id_columns, low_cardinality, platform_types

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from augment_jobs.checks import Check, GateInput
    from augment_jobs.config import DatasetConfig
    from augment_jobs.contract import Manifest
    from augment_jobs.modality import ProbeItem

def frame_modality(
    name: str, *, requires: tuple[str, str], checks: tuple[Check, ...], hooks: FrameHooks,
    demo_writers: dict[str, str], example: str, report_parts: str = "augment_jobs.frames:report_parts",
    handler: str = "augment_jobs.frames:FrameHandler", validate_config: Callable[[DatasetConfig], None] | None = None,
) -> ModalitySpec:
    """The ModalitySpec of a frame modality: read Parquet/CSV/JSONL, publish Parquet, run the shared
    frame checks then `checks`; `requires` = (config key it needs, the one-line message when missing);
    `handler` = "module:Class" of a `FrameHandler` subclass when the modality needs its own;
    `validate_config` = the modality's own config checks (ValueError with one line)."""
    from augment_jobs.checks import FRAME

    key, message = requires

    def validate(cfg: DatasetConfig) -> None:
        if getattr(cfg, key) in (None, ""):
            raise ValueError(message)
        if validate_config is not None:
            validate_config(cfg)

    return ModalitySpec(
        name=name, handler=handler, source_formats=("parquet", "csv", "jsonl"),
        publish_format="parquet", checks=(*FRAME, *checks), frame_hooks=hooks, validate_config=validate,
        demo_writers=demo_writers, example=example, probe="augment_jobs.frames:probe", report_parts=report_parts,
    )


def report_parts(g: GateInput) -> dict[str, Any]:
    """The real (train) and synthetic rows the report plots, column by column and per class."""
    train, synthetic, _ = g.sides
    # an identity (or a name, or an ignored column) is not a distribution
    ids = [*([g.cfg.source.id_column] if g.cfg.source.id_column else []), *g.cfg.role_columns()]
    return {"real": train.drop(columns=ids, errors="ignore"), "synthetic": synthetic.drop(columns=ids, errors="ignore")}


def example_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Source rows with the platform columns, as `load_frame` hands them to methods (contract tests)."""
    df = df.reset_index(drop=True)
    df["_id"] = [f"example.parquet#{i}" for i in range(len(df))]
    df["_synthetic"] = False
    df["_source_ids"] = None
    df["_method"] = "source"
    df["_params"] = None
    return df


def probe(out: pd.DataFrame, cfg: DatasetConfig) -> list[ProbeItem]:
    """One ProbeItem per row of a method's output (contract tests)."""
    from augment_jobs.modality import ProbeItem

    label = out[cfg.label].astype(str) if cfg.label and cfg.label in out.columns else [None] * len(out)
    return [
        ProbeItem(str(k), bool(s), tuple(map(str, src)) if hasattr(src, "__len__") else (str(k),), lab, m)
        for k, s, src, lab, m in zip(out["_id"], out["_synthetic"], out["_source_ids"], label, out["_method"], strict=True)
    ]


def synthetic_rows(
    template: pd.DataFrame, values: pd.DataFrame, *, method: str, ids: list[str], source_ids: list[list[str]],
    params: list[dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """Build synthetic rows with platform columns, columns ordered and typed like `template`."""
    import pandas as pd

    out = values.copy()
    out["_id"] = ids
    out["_synthetic"] = True
    out["_source_ids"] = source_ids
    out["_method"] = method
    out["_params"] = [json.dumps(p, sort_keys=True) for p in params] if params is not None else None
    out = out.reindex(columns=template.columns)
    for col in template.columns:
        if col in PLATFORM_COLUMNS:
            continue
        dtype = template[col].dtype
        with contextlib.suppress(TypeError, ValueError):
            if dtype.kind in "iu" and out[col].dtype.kind == "f":
                out[col] = out[col].round()  # interpolated integers: round, never truncate
            out[col] = out[col].astype(dtype)
    return pd.DataFrame(out).reset_index(drop=True)


def read_source(obj_uri: str, cfg: DatasetConfig) -> pa.Table:
    """Read one source file (parquet | csv | jsonl) through the store; InputError on unreadable data."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    from augment_jobs.store import store_for

    store = store_for(obj_uri)
    fs, _ = store.arrow_fs()
    path = store.arrow_path(obj_uri)
    fmt = cfg.source.format
    try:
        if fmt == "parquet":
            table = pq.read_table(path, filesystem=fs)
        elif fmt == "csv":
            with fs.open_input_stream(path) as f:
                table = pacsv.read_csv(f, parse_options=pacsv.ParseOptions(delimiter=cfg.source.csv_delimiter))
        else:
            with fs.open_input_stream(path) as f:
                data = f.read()
            # an empty file is a part without rows (Arrow's reader refuses it), as a header-only CSV is
            table = pajson.read_json(pa.BufferReader(data)) if data and not data.isspace() else pa.table({})
    except (pa.ArrowInvalid, OSError) as e:
        raise unreadable(obj_uri, fmt, e) from None
    if fmt == "csv":
        check_csv_columns(obj_uri, table.column_names, cfg)
    return table


def unreadable(uri: str, fmt: str, error: Exception) -> InputError:
    """The InputError for a source file its format's reader rejects (first line of the reader's message)."""
    msg = str(error).strip().splitlines()[0]
    return InputError(f"{uri}: not a readable {fmt} file ({msg}); re-export it or remove it from the partition")


def check_format(uri: str, fmt: str) -> None:
    """InputError when a source file's first bytes say it is not `fmt` (a Parquet file named `.csv`,
    text under `format: parquet`), naming what was found and the setting to change."""
    found = sniff_format(uri)
    if found is not None and found != fmt:
        raise InputError(f"{uri}: source.format is {fmt} but the file is {found}: set source.format: {found}, "
                         f"or re-export the file as {fmt}")


def sniff_format(uri: str) -> str | None:
    """`parquet`, `jsonl` or `csv` from a file's first bytes (None: cannot tell, e.g. compressed)."""
    from augment_jobs.store import store_for

    store = store_for(uri)
    fs, _ = store.arrow_fs()
    with fs.open_input_file(store.arrow_path(uri)) as f:
        head = f.read(4096)
    if head[:4] == b"PAR1":
        return "parquet"
    if head[:2] == b"\x1f\x8b" or not head:
        return None  # gzip (a compressed CSV or JSONL) or empty: the readers decide
    if b"\x00" in head:
        return None  # binary but not Parquet: the readers say what is wrong
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff").lstrip()
    return "jsonl" if text.startswith(("{", "[")) else "csv"


def check_csv_columns(uri: str, names: list[str], cfg: DatasetConfig) -> None:
    """InputError when a CSV header parsed into one column that is not the label: a wrong delimiter."""
    if len(names) == 1 and cfg.label and cfg.label not in names:
        raise InputError(
            f"{uri}: CSV parsed into a single column {names[0]!r}; the delimiter is probably not "
            f"{cfg.source.csv_delimiter!r}: set source.csv_delimiter"
        )


def unify_schema(schema: pa.Schema | None, first_uri: str, table: pa.Table, uri: str) -> pa.Schema:
    """The partition's schema so far, widened by one more file; InputError naming both files and the
    column when a column is missing from one or has incompatible types."""
    import pyarrow as pa

    if schema is None:
        return table.schema
    if set(table.schema.names) != set(schema.names):
        missing = sorted(set(schema.names) - set(table.schema.names))
        extra = sorted(set(table.schema.names) - set(schema.names))
        what = f"lacks column {missing[0]!r}" if missing else f"has an extra column {extra[0]!r}"
        raise InputError(f"{uri}: {what} that {first_uri} has not; all files of a partition need one schema")
    fields = []
    for field in schema:
        other = table.schema.field(field.name).type
        if other == field.type or pa.types.is_null(other):
            fields.append(field)
            continue
        if pa.types.is_null(field.type):
            fields.append(pa.field(field.name, other))
            continue
        try:
            fields.append(pa.unify_schemas([pa.schema([field]), pa.schema([pa.field(field.name, other)])],
                                           promote_options="permissive").field(0))
        except (pa.ArrowInvalid, pa.ArrowTypeError, NotImplementedError):
            raise InputError(
                f"{uri}: column {field.name!r} is {other} but {field.type} in {first_uri}; "
                "all files of a partition need one schema"
            ) from None
        widened_to_text = pa.types.is_string(fields[-1].type) or pa.types.is_large_string(fields[-1].type)
        if widened_to_text and not (pa.types.is_string(other) or pa.types.is_large_string(other)):
            raise InputError(
                    f"{uri}: column {field.name!r} is {other} but {field.type} in {first_uri}; "
                    "all files of a partition need one schema"
                )
    return pa.schema(fields)


def load_frame(cfg: DatasetConfig, plan: RunPlan, shard: int) -> tuple[pd.DataFrame, pa.Schema]:
    """The shard's source files as one frame with the platform columns, ids from `source.id_column`
    or `<file name>#<row number>`; and the source's Arrow schema, which the published files keep."""
    import pandas as pd

    parts = []
    schema = None
    first = ""
    for obj in plan.shard_objects(shard):
        table = read_source(obj.uri, cfg)
        if not table.num_columns and not table.num_rows:  # an empty JSONL file: no rows, no schema
            continue
        schema = unify_schema(schema, first, table, obj.uri)
        first = first or obj.uri
        df = table.to_pandas()
        name = obj.uri.rsplit("/", 1)[-1]
        if cfg.source.id_column:
            if cfg.source.id_column not in df.columns:
                raise InputError(f"{obj.uri}: id column {cfg.source.id_column!r} not found; columns: {list(df.columns)}")
            df["_id"] = df[cfg.source.id_column].astype(str)
        else:
            df["_id"] = pd.Index(range(len(df))).astype(str).map(f"{name}#".__add__)
        parts.append(df)
    if schema is None:
        raise InputError(f"{plan.source_uri}: the source partition has no rows; check the upstream export for {plan.ds}")
    columns = schema.names
    parts = [p for p in parts if len(p)] or parts[:1]  # a part without rows (a header-only CSV: null columns) adds no dtype
    frame = pd.concat([p[[*columns, "_id"]] for p in parts], ignore_index=True) if len(parts) > 1 else parts[0]
    if len(frame) == 0:
        raise InputError(f"{plan.source_uri}: the source partition has no rows; check the upstream export for {plan.ds}")
    dup = frame["_id"].duplicated()
    if dup.any():
        raise InputError(
            f"{plan.source_uri}: id column {cfg.source.id_column!r} has duplicate value "
            f"{frame['_id'][dup].iloc[0]!r}; ids must be unique"
        )
    if cfg.label and cfg.label not in frame.columns:
        raise InputError(
            f"{plan.source_uri}: label column {cfg.label!r} not found; columns: {', '.join(map(str, columns or []))}"
        )
    frame["_synthetic"] = False
    frame["_source_ids"] = None  # a real row's lineage is itself: written as [_id] (see _source_ids_array)
    frame["_method"] = "source"
    frame["_params"] = None
    return frame, schema


def encode_datetimes(df: pd.DataFrame) -> dict[str, Any]:
    """Datetime columns become int64 nanoseconds so every method can interpolate them."""
    import pandas as pd

    encoded = {}
    for col in df.columns:
        if col not in PLATFORM_COLUMNS and pd.api.types.is_datetime64_any_dtype(df[col]):
            s = df[col]
            whole_days = bool(((s.dropna() - s.dropna().dt.normalize()) == pd.Timedelta(0)).all())
            encoded[col] = (s.dtype, whole_days)
            # nanoseconds whatever the unit (Arrow's timestamp[ms] arrives as datetime64[ms])
            ns = s.dt.tz_convert(None) if getattr(s.dt, "tz", None) is not None else s
            df[col] = ns.astype("datetime64[ns]").astype("int64").astype("float64").where(s.notna())
    return encoded


def decode_datetimes(df: pd.DataFrame, encoded: dict[str, Any]) -> None:
    import pandas as pd

    for col, (dtype, whole_days) in encoded.items():
        values = pd.to_datetime(df[col].round(), unit="ns")
        tz = getattr(dtype, "tz", None)
        if tz is not None:  # encoded as UTC nanoseconds
            values = values.dt.tz_localize("UTC").dt.tz_convert(tz)
        if whole_days:
            values = values.dt.floor("D")
        df[col] = values.astype(dtype)


class FrameHandler(Handler):
    """Tabular, text and time series: load → registered methods → Parquet parts."""

    file_kind = "parquet"

    def augment_shard(self, cfg: DatasetConfig, plan: RunPlan, shard: int) -> ShardResult:
        import time

        import pandas as pd

        from augment_jobs.registry import AugmentContext, get_method
        from augment_jobs.store import join

        hooks = hooks_for(cfg.modality)
        t0 = time.perf_counter()
        df, schema = load_frame(cfg, plan, shard)
        if hooks.prepare:
            df = hooks.prepare(df, cfg)
        before = _class_counts(df, cfg)
        encoded = encode_datetimes(df)
        t_load = time.perf_counter() - t0
        result = ShardResult(shard=shard)
        real = df
        if cfg.split is not None:  # methods see train rows only: no synthetic row derives from a holdout row
            real = assign_split(df, cfg, result.notes)
            df = real[real["_split"].to_numpy() == "train"]
        for i, step in enumerate(cfg.augment):
            spec = get_method(step.method)
            ctx = AugmentContext(cfg=cfg, ds=plan.ds, step=i, artifact_uri=join(plan.staging_uri, "artifacts"))
            t = time.perf_counter()
            n = len(df)
            df = spec(df, spec.parse_params(step.params), ctx)
            result.metrics[f"step{i}_{step.method}_seconds"] = round(time.perf_counter() - t, 3)
            result.metrics[f"step{i}_{step.method}_rows_added"] = len(df) - n
            result.metrics.update({f"step{i}_{k}": v for k, v in ctx.metrics.items()})
            result.notes += [f"augment[{i}] {step.method}: {note}" for note in ctx.notes]
            for cls, q in ctx.quality.items():
                result.extra.setdefault("quality", {})[cls] = {**q, "method": step.method}
            for reason, n in ctx.skipped.items():
                key = f"{step.method}: {reason}"
                result.skipped[key] = result.skipped.get(key, 0) + n
        if cfg.split is not None:  # every real row (holdout too, in source order), then the synthetic rows
            synthetic = df[df["_synthetic"].to_numpy(bool)].assign(_split="train")
            df = pd.concat([real, synthetic], ignore_index=True) if len(synthetic) else real.reset_index(drop=True)
        decode_datetimes(df, encoded)
        t_write = time.perf_counter()
        result.files = self._write(cfg, plan, shard, df, schema)
        result.metrics.update(load_seconds=round(t_load, 3), write_seconds=round(time.perf_counter() - t_write, 3))
        after = _class_counts(df, cfg)
        synth = _class_counts(df[df["_synthetic"]], cfg)
        result.counts = {
            k: {"before": before.get(k, 0), "after": after.get(k, 0), "synthetic": synth.get(k, 0)}
            for k in sorted(set(before) | set(after))
        }
        return result

    def _write(self, cfg: DatasetConfig, plan: RunPlan, shard: int, df: pd.DataFrame, schema: pa.Schema
               ) -> list[dict[str, Any]]:
        """Deterministic Parquet parts: fixed row groups, no writer timestamps; every source column
        keeps its Arrow type (docs/manifest.md, "Published rows")."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from augment_jobs.store import join, store_for

        store = store_for(plan.data_uri)
        position = list(df.columns).index("_source_ids")
        plain = df.drop(columns=["_source_ids"])
        for col in id_columns(cfg):
            if col in plain.columns and plain[col].dtype == object:  # methods write string ids: one type for Arrow
                plain[col] = plain[col].astype("string")
        table = pa.Table.from_pandas(plain, preserve_index=False)
        table = table.add_column(position, "_source_ids", _source_ids_array(df))
        # The Arrow types are the contract: drop pandas' metadata, which would restore the in-memory dtypes.
        table = _platform_types(keep_source_types(table, schema, id_columns(cfg))).replace_schema_metadata(None)
        # Dictionary-encoding high-cardinality columns (floats, ids) costs 5x the write time for
        # nothing: only low-cardinality columns get it.
        dictionary = [c for c in table.column_names if low_cardinality(table.column(c))]
        files = []
        step = cfg.publish.rows_per_file
        for n, start in enumerate(range(0, max(len(df), 1), step)):
            name = f"part-{shard:05d}-{n:05d}.parquet"
            with store.open_digesting(join(plan.data_uri, name)) as out:  # hashed as written
                pq.write_table(table.slice(start, step), out, row_group_size=128 * 1024, compression="zstd",
                               write_statistics=True, use_dictionary=dictionary)
            files.append({"path": name, "rows": min(step, len(df) - start), **out.digest()})
        return files

    def gate_frame(self, cfg: DatasetConfig, plan: RunPlan, shards: list[ShardResult]) -> pd.DataFrame:
        import pandas as pd
        import pyarrow.parquet as pq

        from augment_jobs.store import join, store_for

        store = store_for(plan.data_uri)
        fs, _ = store.arrow_fs()
        columns = None
        if not hooks_for(cfg.modality).gate_reads_lineage:
            first = shards[0].files[0]["path"]
            names = pq.read_schema(store.arrow_path(join(plan.data_uri, first)), filesystem=fs).names
            columns = [c for c in names if c != "_source_ids"]
        tables = [
            pq.read_table(store.arrow_path(join(plan.data_uri, f["path"])), filesystem=fs, columns=columns).to_pandas()
            for s in shards for f in s.files
        ]
        return pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]

    def lineage(self, manifest: Manifest, version_uri: str, key: str) -> dict[str, Any]:
        import pyarrow.dataset as pads

        from augment_jobs.errors import NotFound
        from augment_jobs.store import join, store_for

        store = store_for(version_uri)
        fs, _ = store.arrow_fs()
        paths = [store.arrow_path(join(version_uri, f["path"])) for f in manifest.files]
        dataset = pads.dataset(paths, filesystem=fs, format="parquet")
        rows = dataset.to_table(filter=pads.field("_id") == key).to_pylist()
        if not rows:
            raise NotFound(f"{version_uri}: no row with _id {key!r}; list ids with open_dataset(...).to_pandas()['_id']")
        row = rows[0]
        parent_ids = list(row["_source_ids"] or [])
        parents = dataset.to_table(filter=pads.field("_id").isin(parent_ids)).to_pylist() if parent_ids else []
        by_name = {s.uri.rsplit("/", 1)[-1]: s for s in manifest.source}

        def origin(pid: str) -> dict[str, Any]:
            name, _, rownum = pid.rpartition("#")
            src = by_name.get(name)
            return {"id": pid, "source_object": src.uri if src else None, "row": int(rownum) if src and rownum.isdigit() else None}

        values = {k: v for k, v in row.items() if not k.startswith("_")}

        return {
            "key": key,
            "synthetic": bool(row["_synthetic"]),
            "method": row["_method"],
            "method_params": manifest.step_params(row["_method"]),
            "drawn_params": json.loads(row["_params"]) if row.get("_params") else None,
            "values": values,
            "parents": [origin(p) for p in parent_ids],
            "parent_values": [{k: v for k, v in p.items() if not k.startswith("_") or k == "_id"} for p in parents],
            "note": None if parent_ids or not row["_synthetic"] else
            "drawn from a fitted generative model: its lineage is the model logged in the MLflow run",
        }


def _platform_types(table: pa.Table) -> pa.Table:
    """The platform columns in their documented types, whatever pandas inferred: an all-null
    `_params` (rows that draw none) is a string column."""
    for name, kind in platform_types().items():
        if name in table.column_names and table.schema.field(name).type != kind:
            i = table.column_names.index(name)
            table = table.set_column(i, name, table.column(i).cast(kind))
    return table


def keep_source_types(table: pa.Table, schema: pa.Schema, ids: list[str]) -> pa.Table:
    """Cast every source column back to its source type (pandas widens ints with nulls to floats,
    methods may write ids as strings). In an identity column a synthetic row gets a value of the
    column's type: its own identity string in a string column, a new integer above the source's
    largest in an integer column (numbered in output order), null otherwise."""
    import pyarrow as pa
    import pyarrow.compute as pc

    synthetic = table.column("_synthetic").to_numpy(zero_copy_only=False)
    for field in schema:
        if field.name not in table.column_names:
            continue
        i = table.column_names.index(field.name)
        col = table.column(i)
        if field.name in ids and synthetic.any():
            col = _synthetic_ids(col, table.column("_id"), synthetic, field.type)
        if col.type != field.type:
            try:
                col = pc.cast(col, field.type, safe=False) if not pa.types.is_null(field.type) else col
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise InputError(
                    f"column {field.name!r}: the output cannot keep the source type {field.type} "
                    f"({str(e).splitlines()[0]}); check the method's params for this column"
                ) from None
        table = table.set_column(i, field.name, col)
    return table


def _synthetic_ids(col: pa.ChunkedArray, ids: pa.ChunkedArray, synthetic: np.ndarray, kind: pa.DataType) -> pa.Array:
    """An identity column with the synthetic rows' values replaced as `keep_source_types` says."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    values = col.to_pandas().astype(object).to_numpy()
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        written = values[synthetic]
        own = ids.to_numpy(zero_copy_only=False)[synthetic]
        values[synthetic] = [w if isinstance(w, str) else o for w, o in zip(written, own, strict=True)]
        return pa.array(values, type=kind, from_pandas=True)
    if pa.types.is_integer(kind):
        real = pd.to_numeric(pd.Series(values[~synthetic]), errors="coerce")
        top = int(real.max()) if real.notna().any() else 0
        written = pd.Series(values[synthetic])
        keys = written.where(written.notna(), pd.Series(ids.to_numpy(zero_copy_only=False)[synthetic]))
        codes, _ = pd.factorize(keys.astype(str))
        out = pd.array(values, dtype=object)
        out[np.flatnonzero(synthetic)] = (top + 1 + codes).tolist()
        return pa.array(pd.to_numeric(pd.Series(out), errors="coerce").astype("Int64"), type=kind)
    values[synthetic] = None
    return pa.array(values, type=kind, from_pandas=True) if not pa.types.is_null(kind) else pa.nulls(len(values))


def _source_ids_array(df: pd.DataFrame) -> Any:
    """`_source_ids` as an Arrow list<string> column: `[_id]` for rows whose lineage is themselves
    (held as None in memory: a million one-element Python lists cost seconds and memory)."""
    import itertools

    import numpy as np
    import pandas as pd
    import pyarrow as pa

    ids = df["_id"].to_numpy(object)
    src = df["_source_ids"].to_numpy(object)
    own = pd.isna(src)
    lengths = np.ones(len(df), np.int64)
    given = np.flatnonzero(~own)
    lengths[given] = [len(v) for v in src[given]]
    offsets = np.zeros(len(df) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = np.empty(offsets[-1], object)
    values[offsets[:-1][own]] = ids[own]
    values[np.repeat(~own, lengths)] = [str(v) for v in itertools.chain.from_iterable(src[given])]
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(values, pa.string()))


def unit_column(cfg: DatasetConfig) -> str:
    """The column naming one item: `_id` (a row), or what the modality counts (a series' id)."""
    hooks = hooks_for(cfg.modality)
    return hooks.unit_column(cfg) if hooks.unit_column else "_id"


def assign_split(df: pd.DataFrame, cfg: DatasetConfig, notes: list[str]) -> pd.DataFrame:
    """`df` with `_split` ("train" | "holdout"): a stratified share of items (rows, or series) by a
    hash of the item's id and the seed (augment_jobs/evaluation/split.py)."""
    from augment_jobs.evaluation.split import assign_split as split

    assert cfg.split is not None
    labels = df[cfg.label] if cfg.label and cfg.label in df.columns else None
    sides, split_notes = split(df[unit_column(cfg)], labels, cfg.split.holdout, cfg.seed)
    notes += split_notes  # each reads "split: class ..."
    return df.assign(_split=sides)


def _class_counts(df: pd.DataFrame, cfg: DatasetConfig) -> dict[str, int]:
    """Rows (or the units a modality counts, e.g. series) per class; {"all": n} without a label."""
    key = unit_column(cfg)
    units = df if key == "_id" else df.drop_duplicates(key)
    if not (cfg.label and cfg.label in units.columns):
        return {"all": len(units)}
    counts: dict[str, int] = {}
    for k, v in units[cfg.label].value_counts(dropna=False).items():  # count first, stringify the few keys after
        counts[str(k)] = counts.get(str(k), 0) + int(v)
    return dict(sorted(counts.items()))

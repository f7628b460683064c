"""CSV and JSONL sources on the tabular engine (`augment_jobs.tabular.engine`).

Pass 1 (`scan`, when the snapshot plans the tasks): every part read once, block by block, for its row
count and the Arrow types `augment_jobs.frames.read_source` gives the whole file. Pass 2 (`stage`,
in `prepare_run`, once per run): every part converted to a Parquet file in the run's
staging area, `_staging/<version>/tabular/source/`, which mapped augment tasks on any worker read
from the store as they read a Parquet source. Both passes hold one block (and one row group being
written) at a time, whatever the file's size; `tabular/source.json` records their results, so a
retried snapshot does not redo them. Compressed files (`.gz`, ...) are read as `read_source` reads
them.

Types. Arrow's CSV reader gives a column the first type of its inference order (`csv_order()`, then
string, then binary) that converts every value of the file, but its streaming reader decides from
the first block alone and stops at the first later value that does not fit. So pass 1 reads every
value as bytes and keeps, per column, the types that convert every block so far (each block tested
with Arrow's own CSV converter); pass 2 reads with the first type left. Arrow's JSON reader infers
each block and promotes across blocks (null to anything, int64 to float64, a timestamp to string,
lists and structs member by member); pass 1 merges the blocks' types the same way, pass 2 reads
each block with the merged schema.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from augment_jobs.errors import InputError
from augment_jobs.frames import check_csv_columns, unreadable

if TYPE_CHECKING:
    import pyarrow as pa

    from augment_jobs.config import DatasetConfig
    from augment_jobs.tabular.engine import Part

#: bytes read at a time (the CSV reader's block; a JSONL block of whole lines); no output depends on it
BLOCK_BYTES = 1 << 20
#: rows per row group of a staged file
ROW_GROUP = 128 * 1024
INDEX = "source.json"


def csv_order() -> tuple[pa.DataType, ...]:
    """The typed kinds of Arrow's CSV inference, in its order (string, then binary, come after)."""
    import pyarrow as pa

    return (pa.null(), pa.int64(), pa.bool_(), pa.date32(), pa.time32("s"), pa.timestamp("s"), pa.timestamp("ns"),
            pa.timestamp("s", "UTC"), pa.timestamp("ns", "UTC"), pa.float64())


# --- the two passes ------------------------------------------------------------------------------
def scan(cfg: DatasetConfig, objects: list[dict[str, Any]], staging_uri: str) -> list[tuple[int, pa.Schema]]:
    """Rows and Arrow schema of every part (pass 1), as recorded in the staging area or read now."""
    from augment_jobs.tabular.engine import decode_schema, encode_schema

    index = _read_index(staging_uri)
    if index is None or index["objects"] != objects:
        read = _scan_csv if cfg.source.format == "csv" else _scan_jsonl
        found = [read(cfg, o["uri"]) for o in objects]
        index = {"objects": objects, "parts": [{"rows": r, "schema": encode_schema(s)} for r, s in found], "staged": None}
        _write_index(staging_uri, index)
    return [(p["rows"], decode_schema(p["schema"])) for p in index["parts"]]


def stage(cfg: DatasetConfig, parts: list[Part], staging_uri: str) -> None:
    """Convert every part with rows to Parquet in the staging area (pass 2), once; sets `Part.staged`
    (a part without rows is never read)."""
    from augment_jobs.store import join
    from augment_jobs.tabular.engine import STATE, decode_schema

    index = _read_index(staging_uri)
    assert index is not None, "scan() records the parts before they are staged"
    staged = [join(staging_uri, STATE, "source", f"{n:05d}.parquet") if p.rows else None for n, p in enumerate(parts)]
    if index["staged"] != staged:
        for p, dest, entry in zip(parts, staged, index["parts"], strict=True):
            if dest is not None:
                schema = decode_schema(entry["schema"])
                batches = _csv_batches(cfg, p.uri, schema) if cfg.source.format == "csv" else _jsonl_batches(p.uri, schema)
                _write_parquet(dest, schema, batches)
        _write_index(staging_uri, {**index, "staged": staged})
    for p, dest in zip(parts, staged, strict=True):
        p.staged = dest


def _read_index(staging_uri: str) -> dict[str, Any] | None:
    from augment_jobs.store import join, store_for
    from augment_jobs.tabular.engine import STATE

    uri = join(staging_uri, STATE, INDEX)
    try:
        return store_for(uri).read_json(uri)
    except FileNotFoundError:
        return None


def _write_index(staging_uri: str, index: dict[str, Any]) -> None:
    from augment_jobs.store import join, store_for
    from augment_jobs.tabular.engine import STATE

    uri = join(staging_uri, STATE, INDEX)
    store_for(uri).write_json(uri, index)


def _open_stream(uri: str) -> Any:
    """The file as `read_source` opens it (decompressed by its extension)."""
    from augment_jobs.store import store_for

    store = store_for(uri)
    fs, _ = store.arrow_fs()
    return fs.open_input_stream(store.arrow_path(uri))


def _write_parquet(dest: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> None:
    """Batches to one Parquet file in row groups of ROW_GROUP rows (the bytes do not depend on BLOCK_BYTES)."""
    import pyarrow as pa

    from augment_jobs.tabular.engine import parquet_writer

    with parquet_writer(dest, schema) as writer:
        pending: list[pa.RecordBatch] = []
        rows = 0
        for batch in batches:
            pending.append(batch)
            rows += batch.num_rows
            if rows >= ROW_GROUP:
                table = pa.Table.from_batches(pending, schema=schema)
                while table.num_rows >= ROW_GROUP:
                    writer.write_table(table.slice(0, ROW_GROUP), row_group_size=ROW_GROUP)
                    table = table.slice(ROW_GROUP)
                pending, rows = table.to_batches(), table.num_rows
        if rows:
            writer.write_table(pa.Table.from_batches(pending, schema=schema), row_group_size=ROW_GROUP)


# --- CSV -----------------------------------------------------------------------------------------
def _scan_csv(cfg: DatasetConfig, uri: str) -> tuple[int, pa.Schema]:
    """Rows and whole-file column types of one CSV file, one block in memory at a time."""
    import pyarrow as pa

    with _csv_reader(cfg, uri, None) as reader:
        names = reader.schema.names
    check_csv_columns(uri, names, cfg)
    order = csv_order()
    alive = [list(range(len(order))) for _ in names]  # per column: the typed kinds converting every block so far
    text = [True] * len(names)  # per column: every value valid UTF-8
    rows = 0
    with _csv_reader(cfg, uri, dict.fromkeys(names, pa.binary())) as reader:
        for batch in reader:
            rows += batch.num_rows
            for i, col in enumerate(batch.columns):
                if alive[i] and len(col):
                    quoted = _as_csv(col)
                    alive[i] = [k for k in alive[i] if _converts(quoted, order[k])]
                if not alive[i] and text[i]:  # a block a typed kind converts is ASCII
                    text[i] = _utf8(col)
    types = [order[a[0]] if a else pa.string() if t else pa.binary() for a, t in zip(alive, text, strict=True)]
    return rows, pa.schema(list(zip(names, types, strict=True)))


def _csv_batches(cfg: DatasetConfig, uri: str, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    with _csv_reader(cfg, uri, dict(zip(schema.names, schema.types, strict=True))) as reader:
        yield from reader


@contextlib.contextmanager
def _csv_reader(cfg: DatasetConfig, uri: str, types: dict[str, pa.DataType] | None) -> Iterator[Any]:
    """Arrow's streaming CSV reader on one file, with `read_source`'s options (and `types`); a row
    with the wrong number of fields is an InputError naming its line, any other failure one naming the file."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    bad: list[Any] = []

    def invalid(row: Any) -> str:
        bad.append(row)
        return "error"

    try:
        with _open_stream(uri) as f:
            yield pacsv.open_csv(
                f, read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES, use_threads=False),  # serial: rows are numbered
                parse_options=pacsv.ParseOptions(delimiter=cfg.source.csv_delimiter, invalid_row_handler=invalid),
                convert_options=pacsv.ConvertOptions(column_types=types or {}),
            )
    except (pa.ArrowInvalid, OSError) as e:
        if bad:
            row = bad[0]
            line = _physical_line(cfg, uri, row.number)
            where = f"line {line}" if line else f"row {row.number}"
            raise InputError(
                f"{uri}: {where} has {row.actual_columns} fields where the header has {row.expected_columns}; "
                f"fix the row (quote a value holding {cfg.source.csv_delimiter!r}) or remove it"
            ) from None
        raise unreadable(uri, "csv", e) from None


def _physical_line(cfg: DatasetConfig, uri: str, number: int | None) -> int | None:
    """The file line ending Arrow's row `number` (rows counted from the header, blank lines not)."""
    import csv
    import io

    if not number:
        return None
    with _open_stream(uri) as f:
        reader = csv.reader(io.TextIOWrapper(io.BufferedReader(f), encoding="utf-8", errors="replace", newline=""),
                            delimiter=cfg.source.csv_delimiter)
        seen = 0
        with contextlib.suppress(csv.Error):
            for record in reader:
                seen += bool(record)
                if seen == number:
                    return reader.line_num
    return None


def _as_csv(col: pa.Array) -> pa.Buffer:
    """Raw field values as a one-column CSV, each quoted (Arrow converts quoted values as unquoted ones)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    escaped = pc.replace_substring(col, '"', '""')
    quoted = pc.binary_join_element_wise(pa.scalar(b""), escaped, pa.scalar(b""), pa.scalar(b'"'))
    lines = pa.ListArray.from_arrays(pa.array([0, len(quoted)], pa.int32()), quoted)
    return pc.binary_join(lines, pa.scalar(b"\n"))[0].as_buffer()


def _converts(data: pa.Buffer, kind: pa.DataType) -> bool:
    """Whether Arrow's CSV converter takes every value of a one-column CSV as `kind`."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        pacsv.read_csv(
            pa.BufferReader(data), read_options=pacsv.ReadOptions(column_names=["v"], use_threads=False),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={"v": kind}),
        )
    except pa.ArrowInvalid:
        return False
    return True


def _utf8(col: pa.Array) -> bool:
    import pyarrow as pa

    try:
        col.cast(pa.string())
    except pa.ArrowInvalid:
        return False
    return True


# --- JSONL ---------------------------------------------------------------------------------------
def _scan_jsonl(cfg: DatasetConfig, uri: str) -> tuple[int, pa.Schema]:
    """Rows and whole-file types of one JSONL file, one block in memory at a time."""
    import pyarrow as pa

    schema, rows = None, 0
    for line, block in _jsonl_blocks(uri):
        t = _read_block(uri, line, block, known=schema)
        rows += t.num_rows
        if schema is None:
            schema = t.schema
            continue
        try:
            schema = pa.schema(_merge_fields(list(schema), list(t.schema), ""))
        except _Clash as c:
            raise _clash_error(uri, line, block, c.path, c.before) from None
    return rows, schema if schema is not None else pa.schema([])


def _jsonl_batches(uri: str, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    for line, block in _jsonl_blocks(uri):
        yield from _read_block(uri, line, block, schema).to_batches()


def _jsonl_blocks(uri: str) -> Iterator[tuple[int, bytes]]:
    """Blocks of whole lines (about BLOCK_BYTES each) with the number of each block's first line."""
    with _open_stream(uri) as f:
        carry, line = b"", 1
        while True:
            chunk = f.read(BLOCK_BYTES)
            data = carry + chunk
            if not chunk:
                if data.strip():
                    yield line, data
                return
            cut = data.rfind(b"\n") + 1
            if not cut:  # one line longer than a block: read on
                carry = data
                continue
            block, carry = data[:cut], data[cut:]
            yield line, block
            line += block.count(b"\n")


def _read_block(uri: str, line: int, block: bytes, schema: pa.Schema | None = None,
                known: pa.Schema | None = None) -> pa.Table:
    """One block with Arrow's JSON reader (inferring, or with `schema`); InputError naming the bad
    line (`known`: the types of the lines before the block)."""
    import pyarrow as pa
    import pyarrow.json as pajson

    parse = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error") if schema else None
    try:
        return pajson.read_json(pa.BufferReader(block), read_options=pajson.ReadOptions(block_size=len(block) + 1),
                                parse_options=parse)
    except pa.ArrowInvalid as e:
        raise _bad_block(uri, line, block, e, known or schema) from None


def _bad_block(uri: str, first: int, block: bytes, error: Exception, known: pa.Schema | None) -> InputError:
    """The line of a block Arrow's JSON reader rejects: invalid JSON, not an object, or a type change."""
    for n, text in enumerate(block.split(b"\n")):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except ValueError as e:
            why = str(e).splitlines()[0]
            return InputError(f"{uri}: line {first + n} is not valid JSON ({why}); fix the line or remove it")
        if not isinstance(value, dict):
            return InputError(f"{uri}: line {first + n} is a JSON {_kind(value)}, not an object; each line must be one row")
    m = re.search(r"Column\((/[^)]*)\) changed from (\w+)", str(error))
    if m:
        return _clash_error(uri, first, block, m.group(1), _kind_at(known, m.group(1)) or m.group(2))
    return unreadable(uri, "jsonl", error)


class _Clash(Exception):
    def __init__(self, path: str, before: str) -> None:
        self.path, self.before = path, before


def _merge_fields(old: list[pa.Field], new: list[pa.Field], path: str) -> list[pa.Field]:
    """Two blocks' fields as Arrow's JSON reader promotes them across a file: old fields in order,
    then the new ones; raises _Clash on a type it cannot promote."""
    import pyarrow as pa

    by_name = {f.name: f for f in new}
    out = []
    for f in old:
        other = by_name.pop(f.name, None)
        out.append(f if other is None else pa.field(f.name, _merge_type(f.type, other.type, f"{path}/{f.name}")))
    return out + [f for f in new if f.name in by_name]


def _merge_type(a: pa.DataType, b: pa.DataType, path: str) -> pa.DataType:
    import pyarrow as pa

    t = pa.types
    if a == b or t.is_null(b):
        return a
    if t.is_null(a):
        return b
    if {a, b} == {pa.int64(), pa.float64()}:
        return pa.float64()
    if (t.is_timestamp(a) and t.is_string(b)) or (t.is_string(a) and t.is_timestamp(b)):
        return pa.string()
    if t.is_list(a) and t.is_list(b):
        return pa.list_(pa.field(a.value_field.name, _merge_type(a.value_type, b.value_type, f"{path}/[]")))
    if t.is_struct(a) and t.is_struct(b):
        return pa.struct(_merge_fields(list(a), list(b), path))
    raise _Clash(path, _kind_of_type(a))


def _kind_at(schema: pa.Schema | None, path: str) -> str | None:
    """The JSON kind the lines so far give the column at `path` (None: unknown, or only nulls)."""
    import pyarrow as pa

    fields = list(schema) if schema is not None else []
    kind = None
    for key in path.strip("/").split("/"):
        found = next((f for f in fields if f.name == key), None)
        if found is None or pa.types.is_null(found.type):
            return None
        kind = found.type
        fields = list(kind) if pa.types.is_struct(kind) else []
    return _kind_of_type(kind) if kind is not None else None


def _kind(value: Any) -> str | None:
    """A JSON value's kind, as Arrow's messages name it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def _kind_of_type(kind: pa.DataType) -> str:
    import pyarrow as pa

    t = pa.types
    if t.is_boolean(kind):
        return "boolean"
    if t.is_integer(kind) or t.is_floating(kind):
        return "number"
    if t.is_list(kind):
        return "array"
    if t.is_struct(kind):
        return "object"
    return "string"


def _clash_error(uri: str, first: int, block: bytes, path: str, before: str | None) -> InputError:
    """A column whose JSON type changes: the first line of `block` where it does (after `before`)."""
    keys = path.strip("/").split("/")
    name = ".".join(keys)
    for n, text in enumerate(block.split(b"\n")):
        value: Any = json.loads(text) if text.strip() else None
        for k in keys:
            value = value.get(k) if isinstance(value, dict) else None
        kind = _kind(value)
        if kind is None:
            continue
        if before is None:
            before = kind
        elif kind != before:
            return InputError(
                f"{uri}: line {first + n}: column {name!r} holds a JSON {kind} where earlier lines hold a JSON {before}; "
                "give every value of a column one JSON type"
            )
    return InputError(f"{uri}: column {name!r} changes JSON type near line {first}; give every value of a column one JSON type")

"""Column roles and derived columns (`columns:` in the config, docs/config.md "Column roles").

One place for what the engine does with a column it does not model:

- `role: id`: synthetic rows get fresh values (integers above the source's largest, or text with a
  prefix no real value starts with), so a real id never appears on a synthetic row;
- `role: pii`: null on synthetic rows (fresh values like an id where the column cannot be null);
- `role: ignore`: null on synthetic rows;
- `derived: "<expr>"`: a DuckDB SQL expression over the row's modelled columns, computed for
  synthetic rows after each draw, in the source column's type; the gate checks it on every row.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from augment_jobs.errors import InputError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from augment_jobs.config import DatasetConfig

#: names that read as identifiers (`id`, `patient_id`, `ID`, `id_code`, `subjectId`)
ID_NAME = re.compile(r"(^id$|_id$|^id_|[a-z]Id$)", re.IGNORECASE)


def _connect() -> Any:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 1")  # one thread: rows come back in input order, and the run stays light
    return con


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0]


def validate_config(cfg: DatasetConfig) -> None:
    """Config time (`augment check`): every derived expression parses (ValueError naming the key)."""
    import duckdb

    con = _connect()
    for name, expr in cfg.derived_columns().items():
        try:
            con.execute(f"SELECT ({expr}) FROM (SELECT 1) AS t LIMIT 0")
        except duckdb.ParserException as e:
            raise ValueError(f"columns.{name}.derived: {expr!r} is not a DuckDB SQL expression ({_first_line(e)}); "
                             f"fix its syntax") from None
        except duckdb.Error:
            pass  # unknown columns: checked against the source's columns (check_source)


def check_source(cfg: DatasetConfig, schema: pa.Schema, where: str) -> None:
    """InputError when a role or derived column is not in the source, an id role column cannot take
    fresh values, or a derived expression names a column that is not modelled."""
    import duckdb
    import pyarrow as pa

    names = [n for n in schema.names if not n.startswith("_")]
    for name, spec in cfg.columns.items():
        if name not in schema.names:
            raise InputError(f"{where}: columns.{name}: the source has no column {name!r}; "
                             f"columns: {', '.join(names)}")
        if spec.role == "id":
            t = schema.field(name).type
            if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_string(t) or pa.types.is_large_string(t)):
                raise InputError(f"{where}: columns.{name}: role id needs integer, float or string values, not {t}; "
                                 f"use role: ignore or pii")
    derived = cfg.derived_columns()
    if not derived:
        return
    inputs = [*cfg.modelled_columns(schema.names), cfg.label]
    con = _connect()
    con.register("t", pa.schema([schema.field(n) for n in inputs]).empty_table())
    for name, expr in derived.items():
        try:
            con.execute(f"SELECT ({expr}) FROM t LIMIT 0")
        except duckdb.Error as e:
            raise InputError(f"{where}: columns.{name}.derived: {expr!r} fails on the source ({_first_line(e)}); "
                             f"it may use the modelled columns: {', '.join(inputs)}") from None


def compute(table: pa.Table, derived: dict[str, str], con: Any = None) -> dict[str, pa.Array]:
    """The derived columns of these rows (DuckDB types; the caller casts to the source's)."""
    if not derived or not table.num_rows:
        import pyarrow as pa

        return {n: pa.nulls(table.num_rows) for n in derived}
    con = con or _connect()
    con.register("_rows", table)
    try:
        sql = ", ".join(f"({expr}) AS \"{i}\"" for i, expr in enumerate(derived.values()))
        out = con.sql(f"SELECT {sql} FROM _rows").to_arrow_table()
    finally:
        con.unregister("_rows")
    return {n: out.column(i).combine_chunks() for i, n in enumerate(derived)}


class Filler:
    """Fills the unmodelled columns of drawn synthetic rows: derived ones from the drawn columns, and
    fresh values for `id` (and non-nullable `pii`) columns from each row's position."""

    def __init__(self, cfg: DatasetConfig, fresh: dict[str, Any]) -> None:
        self.derived = cfg.derived_columns()
        self.fresh = fresh
        self._con = _connect() if self.derived else None

    def derive(self, table: pa.Table) -> pa.Table:
        """`table` (in the output schema) with its derived columns computed, in their source types."""
        if not self.derived:
            return table
        from augment_jobs.tabular.write import _cast

        cols = compute(table, self.derived, self._con)
        for name, col in cols.items():
            i = table.schema.get_field_index(name)
            table = table.set_column(i, table.schema.field(i), _cast(col, table.schema.field(i).type))
        return table

    def fresh_columns(self, schema: pa.Schema, g: Any) -> dict[str, pa.Array]:
        """Fresh values of the id columns for synthetic rows at global positions `g`."""
        import pyarrow as pa
        import pyarrow.compute as pc

        out = {}
        for name, top in self.fresh.items():
            kind = schema.field(name).type
            if isinstance(top, str):  # a prefix no real value starts with
                out[name] = pc.binary_join_element_wise(top, pc.cast(pa.array(g), pa.string()), "").cast(kind)
            else:
                out[name] = pa.array(top + 1 + g).cast(kind)
        return out


def fresh_start(name: str, values: Any, kind: pa.DataType) -> int | float | str:
    """Where an id column's fresh values start: above the largest real number, or a text prefix that
    no real value starts with (so no fresh value equals a real one)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    real = values[~pd.isna(values)]
    if pa.types.is_integer(kind):
        return int(real.max()) if len(real) else 0
    if pa.types.is_floating(kind):
        return float(np.floor(real.max())) if len(real) else 0.0
    text = pd.Series(real, dtype=object).astype(str)
    prefix, k = f"syn-{name}-", 0
    while text.str.startswith(prefix).any():
        k += 1
        prefix = f"syn{k}-{name}-"
    return prefix


def role_notes(cfg: DatasetConfig, schema: pa.Schema, fresh: dict[str, Any]) -> list[str]:
    """One note per unmodelled column: what synthetic rows get there."""
    notes = []
    for name, spec in cfg.columns.items():
        if spec.derived is not None:
            notes.append(f"columns.{name}: derived from {spec.derived} on synthetic rows")
        elif name in fresh:
            what = "integers" if not isinstance(fresh[name], str) else f"text starting {fresh[name]!r}"
            notes.append(f"columns.{name} ({spec.role}): fresh {what} on synthetic rows, never a real value")
        else:
            notes.append(f"columns.{name} ({spec.role}): null on synthetic rows")
    return notes


def derived_mismatches(frame: pd.DataFrame, cfg: DatasetConfig) -> dict[str, int]:
    """Rows of `frame` whose derived column differs from its expression, per derived column (nulls
    on both sides agree; floats compare within 1e-9 relative)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    derived = cfg.derived_columns()
    if not derived or frame.empty:
        return {n: 0 for n in derived}
    inputs = [c for c in frame.columns if c not in derived and not str(c).startswith("_")]
    table = pa.Table.from_pandas(frame[inputs], preserve_index=False)
    got = compute(table, derived)
    out = {}
    for name, col in got.items():
        want = pd.Series(col.to_pandas(), dtype=object).reset_index(drop=True)
        have = frame[name].reset_index(drop=True)
        both_null = pd.isna(want).to_numpy() & pd.isna(have).to_numpy()
        num_w, num_h = pd.to_numeric(want, errors="coerce"), pd.to_numeric(have, errors="coerce")
        if pd.api.types.is_numeric_dtype(have) and not pd.api.types.is_bool_dtype(have):
            same = np.isclose(num_w.to_numpy(float), num_h.to_numpy(float), rtol=1e-9, atol=0)
        else:
            same = (want.astype(str) == have.astype(str)).to_numpy()
            if pd.api.types.is_datetime64_any_dtype(have):
                same = (pd.to_datetime(want) == have).to_numpy()
        out[name] = int((~(same | both_null)).sum())
    return out


def looks_like_id(name: str, real: pd.Series) -> str | None:
    """Why a modelled column looks like an identifier (unique integers or text, an id-like name), or None."""
    import pandas as pd

    values = real.dropna()
    if ID_NAME.search(str(name)):
        return "its name reads as an identifier"
    integer = pd.api.types.is_integer_dtype(values) or (
        pd.api.types.is_float_dtype(values) and len(values) and bool((values == values.round()).all()))
    text = pd.api.types.is_string_dtype(values) or values.dtype == object
    if len(values) >= 20 and values.is_unique and (integer or text):
        return f"its {len(values)} values are unique {'integers' if integer else 'strings'}"
    return None

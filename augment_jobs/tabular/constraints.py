"""Business constraints (config `constraints`): row checks shared by the methods and the gate, and
their translation into SDV 2.0 constraint-augmented generation (`sdv.cag`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from augment_jobs.config import FixedCombinations, InequalityConstraint, RangeConstraint
from augment_jobs.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from augment_jobs.config import Constraint


def constraint_name(c: Constraint) -> str:
    """A short readable name, e.g. `range(0 <= amount)` or `inequality(opened_at <= closed_at)`."""
    if isinstance(c, RangeConstraint):
        lo = f"{c.low:g} <= " if c.low is not None else ""
        hi = f" <= {c.high:g}" if c.high is not None else ""
        return f"range({lo}{c.column}{hi})"
    if isinstance(c, InequalityConstraint):
        return f"inequality({c.low} {'<' if c.strict else '<='} {c.high})"
    return f"fixed_combinations({', '.join(c.columns)})"


def constraint_columns(c: Constraint) -> list[str]:
    if isinstance(c, RangeConstraint):
        return [c.column]
    if isinstance(c, InequalityConstraint):
        return [c.low, c.high]
    return list(c.columns)


def check_columns(data: pd.DataFrame | list[str], constraints: list[Constraint], where: str = "constraints") -> None:
    """InputError naming the constraint and the column when a constraint names a missing column
    (`data`: a frame or the column names)."""
    names = [str(c) for c in getattr(data, "columns", data)]
    for c in constraints:
        for col in constraint_columns(c):
            if col not in names:
                raise InputError(
                    f"{where}: {constraint_name(c)} names column {col!r}, which the data does not have; "
                    f"columns: {', '.join(n for n in names if not n.startswith('_'))}; fix the config's constraints"
                )


def violations(
    df: pd.DataFrame, constraints: list[Constraint], reference: pd.DataFrame | None = None
) -> dict[str, pd.Series]:
    """{constraint name: boolean mask of rows violating it}, aligned with `df`.

    Missing values never count as violations (the NaN check owns them). Fixed combinations are
    judged against `reference` (the real rows); by default the rows of `df` whose `_synthetic` is
    False, or all of `df` when it has no platform columns.
    """
    import numpy as np
    import pandas as pd

    check_columns(df, constraints)
    out: dict[str, pd.Series] = {}
    for c in constraints:
        if isinstance(c, RangeConstraint):
            x = _as_float(df[c.column])
            bad = np.zeros(len(df), dtype=bool)
            with np.errstate(invalid="ignore"):
                if c.low is not None:
                    bad |= x < c.low
                if c.high is not None:
                    bad |= x > c.high
        elif isinstance(c, InequalityConstraint):
            lo, hi = _as_float(df[c.low]), _as_float(df[c.high])
            with np.errstate(invalid="ignore"):
                bad = (lo >= hi) if c.strict else (lo > hi)
        else:
            ref = reference
            if ref is None:
                ref = df[~df["_synthetic"].astype(bool)] if "_synthetic" in df.columns else df
            check_columns(ref, [c], where="reference data")
            allowed = pd.MultiIndex.from_frame(ref[c.columns].astype(str).drop_duplicates())
            bad = ~pd.MultiIndex.from_frame(df[c.columns].astype(str)).isin(allowed)
        out[constraint_name(c)] = pd.Series(np.asarray(bad, dtype=bool), index=df.index)
    return out


def _as_float(s: pd.Series) -> Any:
    """Numbers and datetimes as float64 (datetimes in ns); NaN/NaT stay NaN."""
    import numpy as np
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(s):
        v = s.to_numpy("datetime64[ns]").view("int64").astype(np.float64)
        v[s.isna().to_numpy()] = np.nan
        return v
    return pd.to_numeric(s, errors="coerce").to_numpy(np.float64)


# --- SDV 2.0 ----------------------------------------------------------------------------------------

def sdv_enforced(constraints: list[Constraint]) -> list[Constraint]:
    """The constraints handed to SDV: each one sharing no column with an earlier one (SDV applies its
    constraints in turn, each on the columns the previous one rewrote, so two on one column fail).
    The engine holds every constraint anyway, by redrawing rows that break one."""
    seen: set[str] = set()
    out = []
    for c in constraints:
        cols = set(constraint_columns(c))
        if not cols & seen:
            out.append(c)
        seen |= cols
    return out


def sdv_constraints(constraints: list[Constraint]) -> list[Any]:
    """The config's constraints as `sdv.cag` objects.

    SDV 2.0 removed ScalarRange/Positive; `cag.Range` is between three columns, so a range against
    constants is a programmable constraint (`ScalarRange`) that reparametrises the column.
    """
    from sdv.cag import FixedCombinations as SdvFixed
    from sdv.cag import Inequality

    from augment_jobs.tabular.sdv_range import ScalarRange

    out: list[Any] = []
    for c in constraints:
        if isinstance(c, RangeConstraint):
            out.append(ScalarRange(c.column, c.low, c.high))
        elif isinstance(c, InequalityConstraint):
            out.append(Inequality(low_column_name=c.low, high_column_name=c.high, strict_boundaries=c.strict))
        elif isinstance(c, FixedCombinations):
            out.append(SdvFixed(column_names=list(c.columns)))
    return out

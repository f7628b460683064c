"""SDMetrics' quality score for synthetic rows: column shapes and column-pair trends.

The figure SDV users know (0-1, higher is closer): `Column Shapes` averages, per column, the KS
complement (numeric) or TV complement (categorical) of real vs synthetic; `Column Pair Trends`
averages how well each pair's correlation (or contingency table) is kept. Both halves run on at
most `max_rows` rows of each side, so the score costs about a second whatever the table size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

#: Rows of each side the report reads; the score's sampling noise at 2000 rows is about 0.01.
MAX_ROWS = 2000
#: Column-pair trends grow with the square of the column count: the first this many columns only.
MAX_COLUMNS = 40


def quality_score(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict[str, Any] | None = None, *,
                  max_rows: int = MAX_ROWS, seed: int = 0) -> dict[str, Any]:
    """SDMetrics QualityReport of `synthetic` against `real`.

    Returns `{score, column_shapes, column_pair_trends, worst_columns}`: `worst_columns` is the
    three `(column, score)` pairs with the lowest column-shape score. `metadata` is SDMetrics'
    single-table form, `{"columns": {name: {"sdtype": ...}}}`; without it, sdtypes follow dtypes.
    """
    import warnings

    import numpy as np

    columns = [c for c in real.columns if c in synthetic.columns][:MAX_COLUMNS]
    meta_cols = (metadata or {}).get("columns") or {}
    columns = [c for c in columns if c in meta_cols] if meta_cols else columns
    meta = {"columns": {c: dict(meta_cols.get(c) or {"sdtype": _sdtype(real[c])}) for c in columns}}
    real_s = _sample(real[columns], max_rows, seed)
    syn_s = _sample(synthetic[columns], max_rows, seed + 1)
    for c in columns:
        # The report compares values of one type: synthetic columns back to the real column's type.
        if meta["columns"][c]["sdtype"] == "categorical":
            real_s[c], syn_s[c] = _as_category(real_s[c]), _as_category(syn_s[c])
        elif meta["columns"][c]["sdtype"] == "numerical":
            real_s[c] = real_s[c].astype("float64")
            syn_s[c] = syn_s[c].astype("float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation and "constant column" notices
        from sdmetrics.reports.single_table import QualityReport

        report = QualityReport()
        report.generate(real_s, syn_s, meta, verbose=False)
        props = report.get_properties().set_index("Property")["Score"]
        shapes = report.get_details("Column Shapes")
    per_column = sorted(
        ((str(r["Column"]), float(r["Score"])) for _, r in shapes.iterrows() if np.isfinite(r["Score"])),
        key=lambda t: (t[1], t[0]),
    )
    return {
        "score": _round(report.get_score()),
        "column_shapes": _round(props.get("Column Shapes")),
        "column_pair_trends": _round(props.get("Column Pair Trends")),
        "worst_columns": [(c, round(s, 4)) for c, s in per_column[:3]],
    }


def _sample(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return (df.sample(n=n, random_state=seed) if len(df) > n else df).reset_index(drop=True).copy()


def _as_category(s: pd.Series) -> pd.Series:
    """Categories compared as text (`1` and `1.0` are one category), missing kept missing."""
    return s.map(lambda v: None if v is None or v != v else (f"{v:g}" if isinstance(v, float) else str(v)))


def _sdtype(s: pd.Series) -> str:
    import pandas as pd

    if pd.api.types.is_bool_dtype(s):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "datetime"
    return "numerical" if pd.api.types.is_numeric_dtype(s) else "categorical"


def _round(v: Any) -> float | None:
    import math

    return None if v is None or not math.isfinite(float(v)) else round(float(v), 4)

"""Frame hooks for text: validate the source; the similarity check compares no column of free text.
The text gate checks are in augment_jobs/text/checks.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from augment_jobs.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from augment_jobs.checks import GateInput
    from augment_jobs.config import DatasetConfig
    from augment_jobs.text.eda import EdaParams


def eda_params(cfg: DatasetConfig) -> list[EdaParams]:
    """Parsed params of every `eda` step of a config."""
    from augment_jobs.registry import get_method

    spec = get_method("eda")
    return [spec.parse_params(s.params, where=f"augment[{i}].params") for i, s in enumerate(cfg.augment) if s.method == "eda"]  # type: ignore[misc]


def prepare(df: pd.DataFrame, cfg: DatasetConfig) -> pd.DataFrame:
    """The text column must exist and hold strings (nulls are handled by the method's on_null)."""
    import pandas as pd

    col = cfg.text_column
    if col not in df.columns:
        raise InputError(
            f"text column {col!r} (text_column) is not in the source; columns: {sorted(map(str, df.columns))}; fix text_column"
        )
    if cfg.label and cfg.label not in df.columns:
        raise InputError(f"label column {cfg.label!r} is not in the source; columns: {sorted(map(str, df.columns))}")
    values = df[col]
    notnull = values.notna()
    is_str = values[notnull].map(lambda x: isinstance(x, str))
    if not is_str.all():
        pos = is_str.index[~is_str.to_numpy()][0]
        x = values.loc[pos]
        rid = df["_id"].loc[pos] if "_id" in df.columns else pos
        raise InputError(f"column {col!r} must hold strings; row {rid} has {type(x).__name__} {x!r}; cast it upstream")
    if any(p.on_null == "error" for p in eda_params(cfg)) and not notnull.all():
        pos = notnull.index[~notnull.to_numpy()][0]
        rid = df["_id"].loc[pos] if "_id" in df.columns else pos
        raise InputError(
            f"column {col!r} has {int((~notnull).sum())} null texts (first: row {rid}); "
            "drop them upstream or set params.on_null: skip"
        )
    return pd.DataFrame(df)


def compare_columns(cfg: DatasetConfig, df: pd.DataFrame) -> list[str]:
    """Free text has no column the KS/TVD check can compare; the label set is checked elsewhere."""
    return []


def report_parts(g: GateInput) -> dict[str, Any]:
    """Before/after pairs: the first augmented copies beside their source texts."""
    from augment_jobs.evaluation.report import TextPair

    col = g.cfg.text_column
    train, synthetic, _ = g.sides
    if not col or col not in synthetic.columns or "_source_ids" not in synthetic.columns:
        return {}
    source = dict(zip(train["_id"].astype(str), train[col], strict=True))
    label = g.cfg.label if g.cfg.label in synthetic.columns else None
    pairs = []
    for _, row in synthetic.head(400).iterrows():
        parents = row["_source_ids"]
        before = source.get(str(parents[0])) if parents is not None and len(parents) else None
        if isinstance(before, str) and isinstance(row[col], str):
            pairs.append(TextPair(before, row[col], str(row[label]) if label else None, row["_method"]))
        if len(pairs) >= 12:
            break
    return {"text_pairs": pairs}

"""Frame hooks for text: validate the source, add the text gate checks.

The shared gate already covers synthetic share, label set, NaN/inf and the GX suite; these checks
add what only text has: protected spans kept, no empty or unchanged copies, lengths in limits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from augment_jobs.errors import InputError
from augment_jobs.modality import CheckResult

if TYPE_CHECKING:
    import pandas as pd

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


def checks(cfg: DatasetConfig, source_df: pd.DataFrame, out_df: pd.DataFrame) -> list[CheckResult]:
    """Protected spans preserved, no empty text, no copy identical to its source, lengths in limits."""
    from augment_jobs.text.tokenize import PROTECTED, Tokenizer

    col = cfg.text_column
    params = eda_params(cfg)
    if not params or col not in out_df.columns:
        return []
    tokenizer = Tokenizer(
        terms=[t for p in params for t in p.protect.terms], patterns=[x for p in params for x in p.protect.patterns]
    )
    max_tokens = max(p.max_tokens for p in params)
    aug = out_df[out_df["_synthetic"].astype(bool) & (out_df["_method"] == "eda")]
    src_text = dict(zip(source_df["_id"].astype(str), source_df[col], strict=True))
    spans_cache: dict[str, list[str]] = {}
    lost, empty, same, long_, orphan = [], [], [], [], []
    for rid, text, parents in zip(aug["_id"], aug[col], aug["_source_ids"], strict=True):
        if not isinstance(text, str) or not text.strip():
            empty.append(rid)
            continue
        parent = str(parents[0]) if len(parents) else None
        src = src_text.get(parent) if parent is not None else None
        if src is None:
            orphan.append(rid)
            continue
        if text == src:
            same.append(rid)
        if parent not in spans_cache:
            t = tokenizer.tokenize(src)
            spans_cache[parent] = [x for x, k in zip(t.toks, t.kinds, strict=True) if k == PROTECTED]
        if any(s not in text for s in spans_cache[parent]):
            lost.append(rid)
        if len(tokenizer.tokenize(text).toks) > max_tokens:
            long_.append(rid)
    n = len(aug)

    def result(name: str, bad: list[str], what: str) -> CheckResult:
        detail = f"{len(bad)} of {n} augmented texts {what}" + (f" (e.g. {bad[0]})" if bad else "")
        return CheckResult(name, not bad, detail, len(bad))

    return [
        result("text.protected_spans_preserved", lost, "lost or altered a protected span"),
        result("text.non_empty", empty, "are empty"),
        result("text.differs_from_source", same, "are identical to their source"),
        result("text.max_tokens", long_, f"exceed max_tokens={max_tokens}"),
        result("text.source_known", orphan, "have no source row in the snapshot"),
    ]


def compare_columns(cfg: DatasetConfig, df: pd.DataFrame) -> list[str]:
    """Free text has no column the KS/TVD check can compare; the label set is checked elsewhere."""
    return []

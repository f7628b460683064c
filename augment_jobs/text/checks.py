"""Text: protected spans kept, no empty or unchanged copies, lengths within max_tokens."""

from __future__ import annotations

from augment_jobs.checks import CheckResult, GateInput


def text_checks(g: GateInput) -> list[CheckResult]:
    """Protected spans preserved, no empty text, no copy identical to its source, lengths in limits."""
    from augment_jobs.text.hooks import eda_params
    from augment_jobs.text.tokenize import PROTECTED, Tokenizer

    cfg, source_df, out_df = g.cfg, g.source, g.frame
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

"""`eda`: Easy Data Augmentation (Wei & Zou, 2019) with a domain thesaurus and protected spans.

Each augmented copy applies, in this order, synonym replacement (thesaurus, multi-word terms, case
kept), random insertion (a synonym of a word in the text, at a whitespace boundary), random swap
and random deletion, each at its rate. Only word tokens are edited: protected terms and pattern
matches are atomic tokens (see `tokenize.py`), so they are never altered, split or moved.

Randomness: one generator per source text, `ctx.rng("eda", <_id>)`, drawn as blocks of uniforms;
copy k uses the stream after copies 0..k-1, so a text's output does not depend on the other rows,
their order or the batch, and asking for more copies keeps the first ones.

`_params` of each augmented row records the copy index and every op with its token positions
(positions index the token list as it was just before that op).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from augment_jobs.errors import InputError
from augment_jobs.registry import AugmentContext, MethodParams, register
from augment_jobs.sampling import SamplingStrategy, class_targets, spread
from augment_jobs.text.tokenize import OTHER, WORD, Tokenizer, Tokens

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from augment_jobs.text.thesaurus import Thesaurus

METHOD = "eda"


class Protect(MethodParams):
    """Spans never altered: literal terms (case-insensitive, whole words) and regex patterns."""

    terms: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)

    @field_validator("patterns")
    @classmethod
    def _compile(cls, v: list[str]) -> list[str]:
        import re

        for p in v:
            try:
                rx = re.compile(p)
            except re.error as e:
                raise ValueError(f"protect pattern {p!r} does not compile: {e}; fix the regex") from None
            if rx.fullmatch(""):
                raise ValueError(f"protect pattern {p!r} matches the empty string; make it match at least one character")
        return v


class EdaParams(MethodParams):
    """Params of `eda` (docs/config.md)."""

    n_aug: int | None = Field(None, ge=0, le=100)
    sampling_strategy: SamplingStrategy | None = None
    thesaurus: str | None = None
    symmetric: bool = True  # a thesaurus group is a synonym set: every member maps to the others
    synonym_rate: float = Field(0.1, ge=0, le=1)
    swap_rate: float = Field(0.05, ge=0, le=1)
    delete_rate: float = Field(0.05, ge=0, le=1)
    insert_rate: float = Field(0.05, ge=0, le=1)
    max_tokens: int = Field(128, ge=1)
    max_tries: int = Field(3, ge=1, le=20)  # redraws when a copy comes out identical to its source
    protect: Protect = Protect()
    on_null: Literal["skip", "error"] = "skip"

    @model_validator(mode="after")
    def _one_count(self) -> EdaParams:
        if self.n_aug is not None and self.sampling_strategy is not None:
            raise ValueError("give n_aug (copies per text) or sampling_strategy (rebalance classes), not both")
        if self.synonym_rate + self.swap_rate + self.delete_rate + self.insert_rate == 0:
            raise ValueError("all rates are 0: set at least one of synonym_rate, swap_rate, delete_rate, insert_rate")
        return self

    def tokenizer(self) -> Tokenizer:
        return Tokenizer(terms=list(self.protect.terms), patterns=list(self.protect.patterns))


# --- randomness ---------------------------------------------------------------------------------
class _Uniforms:
    """Uniform draws from one numpy generator, fetched in blocks (one numpy call per ~64 draws)."""

    __slots__ = ("_rng", "_buf", "_i")

    def __init__(self, rng: np.random.Generator, n: int = 64) -> None:
        self._rng = rng
        self._buf: list[float] = rng.random(n).tolist()
        self._i = 0

    def u(self) -> float:
        if self._i >= len(self._buf):
            self._buf = self._rng.random(64).tolist()
            self._i = 0
        x = self._buf[self._i]
        self._i += 1
        return x

    def below(self, n: int) -> int:
        """Uniform integer in [0, n)."""
        return min(int(self.u() * n), n - 1)


def _count(rate: float, n_words: int) -> int:
    # EDA's rule: at least one edit when the op is on, else rate × words.
    return 0 if rate <= 0 or n_words == 0 else max(1, int(rate * n_words))


def _match_case(src: list[str], repl: tuple[str, ...]) -> list[str]:
    first = src[0]
    out = list(repl)
    if len(first) > 1 and all(w.isupper() for w in src if any(c.isalpha() for c in w)):
        return [w.upper() for w in out]
    if first[:1].isupper():
        out[0] = out[0][:1].upper() + out[0][1:]
    return out


# --- ops ----------------------------------------------------------------------------------------
def _candidates(t: Tokens, th: Thesaurus) -> list[tuple[int, int, str]]:
    """(start, n_tokens, phrase) of every thesaurus phrase made of consecutive word tokens."""
    out = []
    toks, kinds, first = t.toks, t.kinds, th.first_words
    n = len(toks)
    for i in range(n):
        if kinds[i] != WORD:
            continue
        w = toks[i].lower()
        longest = first.get(w)
        if longest is None:
            continue
        for m in range(min(longest, n - i), 0, -1):
            if m == 1:
                if w in th.synonyms:
                    out.append((i, 1, w))
                break
            if all(k == WORD for k in kinds[i : i + m]):
                phrase = " ".join(x.lower() for x in toks[i : i + m])
                if phrase in th.synonyms:
                    out.append((i, m, phrase))
                    break
    return out


def _synonyms(t: Tokens, th: Thesaurus, r: _Uniforms, n: int, max_tokens: int, ops: list[dict[str, Any]]) -> None:
    cands = _candidates(t, th)
    if not cands or n == 0:
        return
    order = sorted(range(len(cands)), key=lambda _: r.u())  # a random permutation
    taken: list[tuple[int, int, list[str]]] = []
    used: set[int] = set()
    length = len(t.toks)
    for ci in order:
        if len(taken) >= n:
            break
        i, m, phrase = cands[ci]
        if any(j in used for j in range(i, i + m)):
            continue
        syns = th.synonyms[phrase]
        repl = _match_case(t.toks[i : i + m], syns[r.below(len(syns))])
        if length - m + len(repl) > max_tokens:
            continue
        length += len(repl) - m
        used.update(range(i, i + m))
        taken.append((i, m, repl))
    # Right to left, so the recorded positions (before this op) stay valid while splicing.
    done: list[dict[str, Any]] = []
    for i, m, repl in sorted(taken, reverse=True):
        done.append({"op": "synonym", "pos": i, "from": " ".join(t.toks[i : i + m]), "to": " ".join(repl)})
        t.toks[i : i + m] = repl
        t.pres[i : i + m] = [t.pres[i]] + [" "] * (len(repl) - 1)
        t.kinds[i : i + m] = [WORD] * len(repl)
    ops.extend(reversed(done))


def _insert(t: Tokens, th: Thesaurus, r: _Uniforms, n: int, max_tokens: int, ops: list[dict[str, Any]]) -> None:
    for _ in range(n):
        cands = _candidates(t, th)
        if not cands:
            return
        i, m, phrase = cands[r.below(len(cands))]
        syns = th.synonyms[phrase]
        words = list(syns[r.below(len(syns))])
        if len(t.toks) + len(words) > max_tokens:
            return
        # Only at whitespace boundaries (or the end), so nothing is glued to a protected span.
        slots = [j for j in range(1, len(t.toks)) if t.pres[j]] + [len(t.toks)]
        j = slots[r.below(len(slots))]
        t.toks[j:j] = words
        t.pres[j:j] = [" "] * len(words)
        t.kinds[j:j] = [WORD] * len(words)
        ops.append({"op": "insert", "pos": j, "token": " ".join(words)})


def _swap(t: Tokens, r: _Uniforms, n: int, ops: list[dict[str, Any]]) -> None:
    words = [i for i, k in enumerate(t.kinds) if k == WORD]
    if len(words) < 2:
        return
    for _ in range(n):
        a = words[r.below(len(words))]
        b = words[r.below(len(words))]
        if a == b or t.toks[a] == t.toks[b]:
            continue
        t.toks[a], t.toks[b] = t.toks[b], t.toks[a]
        ops.append({"op": "swap", "pos": [a, b]})


def _delete(t: Tokens, r: _Uniforms, rate: float, ops: list[dict[str, Any]]) -> None:
    if rate <= 0:
        return
    words = [i for i, k in enumerate(t.kinds) if k == WORD]
    drop = [i for i in words if r.u() < rate]
    if len(drop) == len(words):  # never delete every word (EDA keeps one)
        drop.pop(r.below(len(drop)))
    if not drop:
        return
    for i in reversed(drop):
        # A word glued (no whitespace) to a following word or protected token passes its
        # separator on, so the neighbours are not joined into one.
        if i + 1 < len(t.toks) and not t.pres[i + 1] and t.pres[i] and t.kinds[i + 1] != OTHER:
            t.pres[i + 1] = t.pres[i]
        del t.toks[i], t.pres[i], t.kinds[i]
    ops.append({"op": "delete", "pos": drop})


def augment_tokens(src: Tokens, th: Thesaurus | None, p: EdaParams, r: _Uniforms) -> tuple[Tokens, list[dict[str, Any]]]:
    """One augmented copy of a tokenised text and the ops applied to it."""
    t = src.copy()
    ops: list[dict[str, Any]] = []
    n_words = src.n_words()
    if th is not None and len(th):
        _synonyms(t, th, r, _count(p.synonym_rate, n_words), p.max_tokens, ops)
        _insert(t, th, r, _count(p.insert_rate, n_words), p.max_tokens, ops)
    _swap(t, r, _count(p.swap_rate, n_words), ops)
    _delete(t, r, p.delete_rate, ops)
    if t.pres and src.pres:
        t.pres[0] = src.pres[0]  # a deleted first word does not leave a leading space behind
    return t, ops


# --- copies per text ------------------------------------------------------------------------------
def _copies(ctx: AugmentContext, p: EdaParams, real: pd.DataFrame, ok: list[bool]) -> list[int]:
    """Number of copies for each real row (0 for rows that cannot be augmented)."""
    if p.sampling_strategy is None:
        n = 1 if p.n_aug is None else p.n_aug
        return [n if good else 0 for good in ok]
    label = ctx.cfg.label
    if not label or label not in real.columns:
        raise InputError(f"eda sampling_strategy needs the label column; set `label:` (got {label!r}) in the config")
    labels = real[label].tolist()
    extra = class_targets(p.sampling_strategy, labels, method="eda", label=label)
    out, starved = spread(extra, labels, ok, real["_id"].tolist(), lambda key: ctx.seed32("eda-pick", key))
    ctx.notes += [f"eda: class {cls!r} needs new rows but has no usable text; left as is" for cls in starved]
    return out


# --- the method -----------------------------------------------------------------------------------
def _thesaurus(p: EdaParams, ctx: AugmentContext) -> Thesaurus | None:
    from augment_jobs.text.thesaurus import load_thesaurus

    return load_thesaurus(ctx.cfg.resolve_path(p.thesaurus), symmetric=p.symmetric) if p.thesaurus else None


def _bump(ctx: AugmentContext, key: str, n: int) -> None:
    ctx.metrics[f"eda.{key}"] = ctx.metrics.get(f"eda.{key}", 0) + n


@register(METHOD, modality="text", params=EdaParams, example={"n_aug": 1})
def eda(df: pd.DataFrame, params: EdaParams, ctx: AugmentContext) -> pd.DataFrame:
    """Easy Data Augmentation with a domain thesaurus; protected spans never altered."""
    import pandas as pd

    from augment_jobs.frames import synthetic_rows

    col = ctx.cfg.text_column
    if not col or col not in df.columns:
        raise InputError(f"text column {col!r} (text_column) is not in the source; columns: {sorted(map(str, df.columns))}")
    th = _thesaurus(params, ctx)
    tokenizer = params.tokenizer()
    real = df[~df["_synthetic"].astype(bool)]
    texts = real[col].tolist()
    ids = real["_id"].astype(str).tolist()

    null = [i for i, x in enumerate(texts) if x is None or (isinstance(x, float) and x != x)]
    null_set = set(null)
    if null and params.on_null == "error":
        raise InputError(
            f"column {col!r} has {len(null)} null texts (first: row {ids[null[0]]}); "
            "drop them upstream or set params.on_null: skip"
        )
    bad = next((i for i, x in enumerate(texts) if i not in null_set and not isinstance(x, str)), None)
    if bad is not None:
        raise InputError(f"column {col!r} must hold strings; row {ids[bad]} has {type(texts[bad]).__name__} {texts[bad]!r}")
    toks: list[Tokens | None] = []
    for i, x in enumerate(texts):
        if i in null_set:
            toks.append(None)
            ctx.skip(f"null text in {col!r}")
            continue
        t = tokenizer.tokenize(x)
        if len(t.toks) > params.max_tokens:
            ctx.skip(f"text longer than max_tokens={params.max_tokens}")
            toks.append(None)
        elif t.n_words() == 0:
            ctx.skip("text has no word an op can edit (empty, or only protected spans, URLs, numbers)")
            toks.append(None)
        else:
            toks.append(t)

    copies = _copies(ctx, params, real, [t is not None for t in toks])
    out_pos: list[int] = []
    out_text: list[str] = []
    out_ids: list[str] = []
    out_params: list[dict[str, Any]] = []
    unchanged = 0
    for i, (t, n) in enumerate(zip(toks, copies, strict=True)):
        if n == 0 or t is None:
            continue
        r = _Uniforms(ctx.rng(METHOD, ids[i]), 16 + 4 * len(t.toks))
        src_text = texts[i]
        made = len(out_pos)
        for k in range(n):
            text, ops, tries = "", [], 0
            while tries < params.max_tries:
                tries += 1
                aug, ops = augment_tokens(t, th, params, r)
                text = aug.detok()
                if text != src_text and text.strip():
                    break
            else:
                unchanged += 1
                continue
            out_pos.append(i)
            out_text.append(text)
            out_ids.append(f"{ids[i]}~aug{ctx.step}.{k}")
            out_params.append({"copy": k, "tries": tries, "ops": ops})
        if len(out_pos) == made:
            ctx.skip(f"text unchanged after max_tries={params.max_tries} draws (nothing an op could edit)")
    _bump(ctx, "unchanged_copies_dropped", unchanged)
    _bump(ctx, "synthetic_rows", len(out_text))
    if not out_text:
        return df
    values = real.iloc[out_pos].copy()
    values[col] = out_text
    id_col = ctx.cfg.source.id_column
    if id_col and id_col in values.columns:
        values[id_col] = out_ids  # a synthetic row must not reuse its parent's source id
    new = synthetic_rows(
        template=df, values=values, method=METHOD, ids=out_ids,
        source_ids=[[ids[i]] for i in out_pos], params=out_params,
    )
    return pd.concat([df, new], ignore_index=True)

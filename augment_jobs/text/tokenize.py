"""Tokenisation that keeps protected spans atomic.

A text becomes three parallel lists: token strings, the whitespace before each token, and a kind
(word, protected, other). Joining `pre + token` for every token plus the trailing whitespace gives
the text back exactly, so unchanged parts of an augmented text keep their original spacing.

Protected spans (literal terms and regex patterns) are found first, each pattern with one C-level
`finditer` pass; overlapping matches are merged so the longest union is one token and no op can
split or alter it. The gaps between them are split into words and single punctuation characters by
one precompiled regex, so there is no per-token regex work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

WORD = 0
PROTECTED = 1
OTHER = 2  # punctuation, symbols and digit-only words: kept in place, never edited

# A word is letters/digits with inner apostrophes or hyphens ("don't", "e-mail"); anything else
# that is not whitespace is a one-character token.
_GAP = re.compile(r"(\s*)(?:(\w+(?:['’-]\w+)*)|(\S))")


def term_regex(term: str) -> str:
    """Regex for a literal protected term: case-insensitive, any whitespace between its words,
    and not inside a longer word."""
    words = [re.escape(w) for w in term.split()]
    return r"(?<!\w)(?i:" + r"\s+".join(words) + r")(?!\w)"


@dataclass
class Tokens:
    """One tokenised text; `detok()` gives the text back."""

    toks: list[str]
    pres: list[str]
    kinds: list[int]
    trailing: str = ""

    def detok(self) -> str:
        return "".join([p + t for p, t in zip(self.pres, self.toks, strict=True)]) + self.trailing

    def copy(self) -> Tokens:
        return Tokens(self.toks[:], self.pres[:], self.kinds[:], self.trailing)

    def protected(self) -> list[str]:
        return [t for t, k in zip(self.toks, self.kinds, strict=True) if k == PROTECTED]

    def n_words(self) -> int:
        return self.kinds.count(WORD)


@dataclass
class Tokenizer:
    """Splits texts into tokens; protected `terms` and `patterns` become single atomic tokens."""

    terms: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Terms as one alternation (longest first, so "Pro Max" wins over "Pro"); each user pattern
        # separately, because a regex alternation takes the first alternative that matches, not
        # the longest, and user patterns may carry their own groups and backreferences.
        srcs = []
        if self.terms:
            terms = sorted({t.strip() for t in self.terms if t.strip()}, key=len, reverse=True)
            srcs.append("|".join(term_regex(t) for t in terms))
        srcs.extend(self.patterns)
        self._regexes = [re.compile(s) for s in srcs if s]

    def protected_spans(self, text: str) -> list[tuple[int, int]]:
        """Sorted, merged (start, end) spans of protected text."""
        spans: list[tuple[int, int]] = []
        for rx in self._regexes:
            spans.extend(m.span() for m in rx.finditer(text) if m.end() > m.start())
        if len(spans) < 2:
            return spans
        spans.sort()
        merged = [spans[0]]
        for s, e in spans[1:]:
            ls, le = merged[-1]
            if s < le:  # overlap: one atomic union
                merged[-1] = (ls, max(le, e))
            else:
                merged.append((s, e))
        return merged

    def tokenize(self, text: str) -> Tokens:
        toks: list[str] = []
        pres: list[str] = []
        kinds: list[int] = []
        pos = 0
        for s, e in self.protected_spans(text):
            seg = text[pos:s]
            _split_gap(seg, toks, pres, kinds)
            pres.append(seg[len(seg.rstrip()):])  # whitespace the gap regex left unconsumed
            toks.append(text[s:e])
            kinds.append(PROTECTED)
            pos = e
        seg = text[pos:]
        _split_gap(seg, toks, pres, kinds)
        trailing = seg[len(seg.rstrip()):]
        return Tokens(toks, pres, kinds, trailing)


def _split_gap(seg: str, toks: list[str], pres: list[str], kinds: list[int]) -> None:
    for pre, word, other in _GAP.findall(seg):
        pres.append(pre)
        if word and not word.isdecimal():
            toks.append(word)
            kinds.append(WORD)
        else:
            toks.append(word or other)
            kinds.append(OTHER)


def split_words(phrase: str) -> list[str]:
    """The word/punctuation tokens of a short phrase (a thesaurus entry)."""
    return [w or o for _, w, o in _GAP.findall(phrase)]

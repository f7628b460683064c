"""A leak-free holdout: a deterministic, stratified share of real rows (or series) set aside.

Which rows are held out depends only on (`_id`, seed): each id is hashed with the seed, and within
each class the ids with the smallest hashes are held out. Row order, batch size and the number of
tasks therefore do not change the split (see docs/config.md, `split.holdout`).

The rule is a `HoldoutRule`: fitted on (hash, class) per id, it keeps per class one threshold, and
it is applied to any slice of ids. Text and time series fit and apply it on the whole frame
(`assign_split`); the tabular engine fits it on hashes gathered part by part and applies it in each
task (augment_jobs/tabular/split.py): the same rule, so the same `_split` for the same ids.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

TRAIN = "train"
HOLDOUT = "holdout"


def _hash_key(seed: int) -> str:
    """pandas' row hash takes a 16-character key: derive it from the seed."""
    return hashlib.blake2b(f"split\x1f{seed}".encode(), digest_size=8).hexdigest()


def id_hashes(ids: pd.Series, seed: int) -> np.ndarray:
    """A 64-bit hash per id, keyed by the seed; ids are compared as strings so 7 and "7" agree."""
    as_str = pd.Series(ids, copy=False).astype(str).reset_index(drop=True)
    return pd.util.hash_pandas_object(as_str, index=False, hash_key=_hash_key(seed)).to_numpy()


def class_name(value: object) -> str:
    """A label as it reads in a note: 'a' for text, 9 for a number (not np.int64(9))."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def holdout_count(n: int, holdout: float) -> int:
    """Rows of an n-row class to hold out: round(holdout * n), at least one left for training."""
    if n < 2 or n * holdout < 1:
        return 0
    return min(int(math.floor(n * holdout + 0.5)), n - 1)


@dataclass
class HoldoutRule:
    """Per class: `sizes` ids, `counts` of them held out, and the (hash, id text) of the counts-th
    smallest (`hashes`, `texts`; 0 and "" for a class that holds none out). An id is held out when
    its (hash, id text) is at most its class's threshold: the ids with the smallest hashes, ties
    broken by the id text."""

    holdout: float
    sizes: list[int]
    counts: list[int]
    hashes: list[int]
    texts: list[str]

    @classmethod
    def fit(cls, hashes: np.ndarray, codes: np.ndarray, n_classes: int, holdout: float,
            text_of: Callable[[np.ndarray], Sequence[str]]) -> HoldoutRule:
        """The rule for ids with these `id_hashes` and class codes (0..n_classes-1); `text_of(positions)`
        gives the id texts of a few positions (those tied with a threshold hash)."""
        if not 0.0 < holdout < 1.0:
            raise ValueError(f"split.holdout: {holdout!r} is not between 0 and 1 (exclusive); use e.g. 0.2")
        order = np.lexsort((hashes, codes))  # each class a run of ids ordered by hash
        sizes = np.bincount(codes, minlength=n_classes).tolist() if len(codes) else [0] * n_classes
        rule = cls(holdout, sizes, [], [], [])
        start = 0
        for n in sizes:
            k = holdout_count(n, holdout)
            rule.counts.append(k)
            if k == 0:
                rule.hashes.append(0)
                rule.texts.append("")
                start += n
                continue
            at = start + k - 1
            v = hashes[order[at]]
            lo, hi = at, at + 1  # the ids sharing the threshold hash (one, unless 64-bit hashes collide)
            while lo > start and hashes[order[lo - 1]] == v:
                lo -= 1
            while hi < start + n and hashes[order[hi]] == v:
                hi += 1
            rule.hashes.append(int(v))
            rule.texts.append(sorted(text_of(order[lo:hi]))[at - lo])
            start += n
        return rule

    def is_held(self, hashes: np.ndarray, codes: np.ndarray,
                text_of: Callable[[np.ndarray], Sequence[str]]) -> np.ndarray:
        """Per id (its hash and class code), whether it is held out; `text_of` as for `fit`."""
        has = (np.asarray(self.counts, dtype=np.int64) > 0)[codes]
        limit = np.asarray(self.hashes, dtype=np.uint64)[codes]
        held = has & (hashes < limit)
        tied = np.flatnonzero(has & (hashes == limit))
        if len(tied):
            held[tied] = [t <= self.texts[c] for t, c in zip(text_of(tied), codes[tied].tolist(), strict=True)]
        return held

    def notes(self, classes: Sequence[object], series: bool = False, order: Sequence[int] | None = None) -> list[str]:
        """One note per class too small to hold any out, classes (values, by code) in `order`."""
        out = []
        for c in range(len(self.sizes)) if order is None else order:
            n = self.sizes[c]
            if n and not self.counts[c]:
                unit = "series" if series else ("rows" if n != 1 else "row")
                out.append(f"split: class {class_name(classes[c])} has {n} {unit}, too few to hold out "
                           f"{self.holdout:g} of them; all stay train")
        return out


def assign_split(
    ids: pd.Series, labels: pd.Series | None, holdout: float, seed: int
) -> tuple[np.ndarray, list[str]]:
    """`_split` per row ("train" / "holdout") and one note per class too small to hold any out.

    `ids` may repeat (long-format time series: one row per point, the id is the series id); every
    row of an id gets the same split, and an id's class is its first label. Labels are the
    stratification key; None means one class. Ties between equal hashes fall back to the id text.
    """
    ids = pd.Series(ids).reset_index(drop=True)
    if labels is not None:
        labels = pd.Series(labels).reset_index(drop=True)
        if len(labels) != len(ids):
            raise ValueError(f"split: {len(ids)} ids but {len(labels)} labels; pass one label per row")
    # Work per distinct id, then broadcast back to rows.
    id_codes, uniq = pd.factorize(ids, use_na_sentinel=False)
    first_row = np.unique(id_codes, return_index=True)[1]  # codes are 0..m-1: first row of each id
    if labels is None:
        cls_codes, classes = np.zeros(len(uniq), dtype=np.int64), pd.Index(["(all rows)"])
    else:
        cls_codes, classes = pd.factorize(labels.iloc[first_row].reset_index(drop=True), use_na_sentinel=False)
    hashes = id_hashes(pd.Series(uniq), seed)
    id_text = pd.Series(uniq).astype(str).to_numpy()

    def text_of(positions: np.ndarray) -> list[str]:
        return id_text[positions].tolist()

    rule = HoldoutRule.fit(hashes, cls_codes, len(classes), holdout, text_of)
    held = rule.is_held(hashes, cls_codes, text_of)
    return np.where(held[id_codes], HOLDOUT, TRAIN), rule.notes(classes, series=len(uniq) < len(ids))

"""A leak-free holdout: a deterministic, stratified share of real rows (or series) set aside.

Which rows are held out depends only on (`_id`, seed): each id is hashed with the seed, and within
each class the ids with the smallest hashes are held out. Row order, batch size and the number of
tasks therefore do not change the split (see docs/config.md, `split.holdout`).
"""

from __future__ import annotations

import hashlib
import math

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


def assign_split(
    ids: pd.Series, labels: pd.Series | None, holdout: float, seed: int
) -> tuple[np.ndarray, list[str]]:
    """`_split` per row ("train" / "holdout") and one note per class too small to hold any out.

    `ids` may repeat (long-format time series: one row per point, the id is the series id); every
    row of an id gets the same split, and an id's class is its first label. Labels are the
    stratification key; None means one class. Ties between equal hashes fall back to the id text.
    """
    if not 0.0 < holdout < 1.0:
        raise ValueError(f"split.holdout: {holdout!r} is not between 0 and 1 (exclusive); use e.g. 0.2")
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
    # Sort by (class, hash, id text): each class's ids become a run ordered by hash.
    order = np.lexsort((id_text, hashes, cls_codes))
    sorted_cls = cls_codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_cls[1:] != sorted_cls[:-1]])
    ends = np.r_[starts[1:], len(order)]
    held = np.zeros(len(uniq), dtype=bool)
    notes: list[str] = []
    for s, e in zip(starts, ends, strict=True):
        n, k = e - s, holdout_count(e - s, holdout)
        if k == 0:
            unit = "series" if len(uniq) < len(ids) else ("rows" if n != 1 else "row")
            notes.append(
                f"split: class {class_name(classes[sorted_cls[s]])} has {n} {unit}, too few to hold out "
                f"{holdout:g} of them; all stay train"
            )
            continue
        held[order[s : s + k]] = True
    return np.where(held[id_codes], HOLDOUT, TRAIN), notes

"""Privacy: how close synthetic rows come to real training rows (distance to closest record, DCR).

One mixed-type encoding is fitted on the train rows and applied to every row (see docs/gate.md,
`quality.privacy`):
- numeric (and bool, datetime) columns: minus the train median, divided by the train IQR (the
  standard deviation where the IQR is 0, 1 where both are); a missing value becomes 0 plus a 0/1
  missing-indicator column, for columns with a missing value anywhere;
- categorical columns: one-hot over the train's most frequent categories (the rest share one
  "other" column), scaled by 1/sqrt(2) so a mismatch costs distance 1 whatever the categories.

Per class, each synthetic row's Euclidean distance to the closest train row of its class is its
DCR. The baseline is the same distance for real rows the synthesizer never saw: the holdout, or,
without one, a deterministic sample of train rows measured leave-one-out (their own entry in the
index is skipped), so the sample is held aside for the baseline only. The index holds the distinct
train rows of the class, so a duplicated real row does not pull the leave-one-out threshold to 0.
`close_share` is the share of synthetic rows with a DCR below the 5th percentile of the baseline
DCRs, or that copy a train row exactly (never less than exact copies / synthetic rows). `exact_copies` counts
synthetic rows equal to a train row on the original values (row hashes, confirmed by a join),
over all rows, never sampled.

Nearest neighbours come from faiss (`NearestIndex`): exhaustive search while the work is small, an
inverted file beyond it, whose agreement with exhaustive search is measured on every run.

Bounds (the only sampling): at most `max_query_rows` synthetic rows and `max_baseline_rows` baseline
rows get a DCR (deterministic samples, proportional per class); the train rows are never sampled,
so a DCR is the true distance to the closest train row.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

# Standard error of close_share near 0.05 with 10,000 rows: 0.002.
MAX_QUERY_ROWS = 10_000
MAX_BASELINE_ROWS = 5_000
# Median and IQR per numeric column come from at most this many train rows (a deterministic sample).
SCALE_SAMPLE_ROWS = 200_000
MAX_CATEGORIES = 30
CLOSE_PERCENTILE = 5.0
# Exact search while (reference rows x query rows) stays under this; beyond it an inverted-file
# index scans 2-5% of the reference per query (measured: about 99% of DCRs exact, and each result
# says how many of its DCRs matched an exhaustive search).
EXACT_PAIRS = 300_000_000
MIN_APPROX_ROWS = 10_000
RECALL_CHECK_ROWS = 100


class NearestIndex:
    """Closest reference row per query: faiss IndexFlatL2 (exact) for small work, else IndexIVFFlat.

    Measured on the 2-core machine (benchmarks/README.md): with 100k train rows of width 58, the
    whole check took 57 s with scikit-learn's KDTree (a k-d tree degrades at this width) and 1.7 s
    with this class; at 1M train rows exhaustive search costs about 15 ms per query (minutes for
    15,000 queries), the inverted file about 0.4 ms. Distances of the found neighbours are
    recomputed in float64, so an exact copy reads 0.
    """

    def __init__(self, reference: np.ndarray, n_queries: int, seed: int) -> None:
        import faiss

        self.reference = reference
        n, d = reference.shape
        self.exact = n * n_queries <= EXACT_PAIRS or n < MIN_APPROX_ROWS
        if self.exact:
            self.index = faiss.IndexFlatL2(d)
            self.name = "IndexFlatL2 (exact)"
        else:
            # About sqrt(n) lists, and the 39 training points per list faiss asks for.
            nlist = max(1, min(1024, int(np.sqrt(n)), n // 39))
            quantizer = faiss.IndexFlatL2(d)
            self.index = faiss.IndexIVFFlat(quantizer, d, nlist)
            self.index.cp.seed = seed % (2**31)
            self.index.cp.niter = 10
            rng = np.random.default_rng(seed)
            # faiss asks for 39 training points per list; 40 keeps it quiet.
            sample = reference[np.sort(rng.choice(n, size=min(n, 40 * nlist), replace=False))]
            self.index.train(sample)
            self.index.nprobe = max(16, nlist // 64)
            self.name = f"IndexIVFFlat (nlist={nlist}, nprobe={self.index.nprobe})"
            self._quantizer = quantizer  # faiss does not own it: keep it alive
        self.index.add(reference)

    def query(self, x: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(distances, positions), each (len(x), k); a missing neighbour has position -1."""
        if not len(x):
            return np.empty((0, k)), np.empty((0, k), dtype=np.int64)
        _, ind = self.index.search(np.ascontiguousarray(x, dtype=np.float32), k)
        diff = x[:, None, :].astype(np.float64) - self.reference[np.maximum(ind, 0)].astype(np.float64)
        dist = np.sqrt((diff**2).sum(axis=2))
        return np.where(ind >= 0, dist, np.inf), ind

    def exact_share(self, x: np.ndarray, found: np.ndarray) -> tuple[int, int]:
        """For approximate search: (checked, exact) over a few queries searched exhaustively."""
        if self.exact or not len(x):
            return 0, 0

        m = min(len(x), RECALL_CHECK_ROWS)
        # Probing every list of the inverted file is an exhaustive search, without a second copy.
        nprobe, self.index.nprobe = self.index.nprobe, self.index.nlist
        try:
            _, ind = self.index.search(np.ascontiguousarray(x[:m], dtype=np.float32), 1)
        finally:
            self.index.nprobe = nprobe
        truth = np.sqrt(((x[:m].astype(np.float64) - self.reference[ind[:, 0]].astype(np.float64)) ** 2).sum(axis=1))
        return m, int(np.isclose(found[:m], truth, rtol=1e-5, atol=1e-6).sum())


@dataclass
class RowEncoder:
    """The one encoding for every row, fitted on train rows."""

    numeric: list[str]
    center: np.ndarray
    scale: np.ndarray
    with_missing: list[str]
    categories: dict[str, list[str]]

    @classmethod
    def fit(cls, train: pd.DataFrame, columns: list[str], others: list[pd.DataFrame], seed: int = 0) -> RowEncoder:
        numeric = [c for c in columns if _is_numeric(train[c])]
        center, scale = np.zeros(len(numeric)), np.ones(len(numeric))
        if numeric and len(train):
            rows = _sample(len(train), SCALE_SAMPLE_ROWS, seed, "scale")
            values = np.column_stack([_as_float(train[c])[rows] for c in numeric])
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column: handled below
                q25, median, q75 = np.nanpercentile(values, [25, 50, 75], axis=0)
                center = np.nan_to_num(median)
                std = np.nan_to_num(np.nanstd(values, axis=0))
            iqr = np.nan_to_num(q75 - q25)
            scale = np.where(iqr > 0, iqr, np.where(std > 0, std, 1.0))
        with_missing = [c for c in numeric if any(f[c].isna().any() for f in [train, *others] if c in f)]
        categories = {}
        for c in columns:
            if c not in numeric:
                counts = _as_text(train[c]).value_counts(sort=True)
                # Most frequent first, ties by text: the kept set does not depend on row order.
                ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                categories[c] = [k for k, _ in ranked[:MAX_CATEGORIES]]
        return cls(numeric, center, scale, with_missing, categories)

    @property
    def width(self) -> int:
        return len(self.numeric) + len(self.with_missing) + sum(len(v) + 1 for v in self.categories.values())

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """float32 matrix, one row per row of `frame`."""
        out = np.zeros((len(frame), self.width), dtype=np.float32)
        for j, c in enumerate(self.numeric):
            v = (_as_float(frame[c]) - self.center[j]) / self.scale[j]
            out[:, j] = np.nan_to_num(v, nan=0.0)
        j = len(self.numeric)
        for c in self.with_missing:
            out[:, j] = frame[c].isna().to_numpy()
            j += 1
        w = np.float32(1 / np.sqrt(2))
        for c, cats in self.categories.items():
            codes = pd.Categorical(_as_text(frame[c]), categories=cats).codes.astype(np.int64)
            codes[codes < 0] = len(cats)  # the "other" column
            out[np.arange(len(frame)), j + codes] = w
            j += len(cats) + 1
        return out


def _is_numeric(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s) or pd.api.types.is_datetime64_any_dtype(s))


def _as_float(s: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(s):
        return np.where(s.isna(), np.nan, s.to_numpy("datetime64[ns]").astype(np.int64) / 1e9)
    return pd.to_numeric(s, errors="coerce").astype(float).to_numpy()


def _as_text(s: pd.Series) -> pd.Series:
    """Values as text, missing as "(missing)": categories compare by their text whatever the dtype."""
    if s.dtype == object and pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
        return s.fillna("(missing)") if s.hasnans else s  # already text: skip the per-value map
    return s.astype(object).map(str, na_action="ignore").fillna("(missing)")


def _row_hashes(frame: pd.DataFrame, columns: list[str], numeric: set[str]) -> np.ndarray:
    """A 64-bit hash per row on the original values; numbers as float64 so 1 and 1.0 agree."""
    norm = pd.DataFrame({c: (_as_float(frame[c]) if c in numeric else _as_text(frame[c])) for c in columns})
    return pd.util.hash_pandas_object(norm, index=False).to_numpy()


def count_exact_copies(train: pd.DataFrame, synthetic: pd.DataFrame, columns: list[str], numeric: set[str]) -> np.ndarray:
    """Mask of synthetic rows identical to some train row on `columns` (hash match, then a join)."""
    if not len(synthetic) or not len(train):
        return np.zeros(len(synthetic), dtype=bool)
    syn_h = _row_hashes(synthetic, columns, numeric)
    train_h = np.sort(_row_hashes(train, columns, numeric))
    at = np.minimum(np.searchsorted(train_h, syn_h), len(train_h) - 1)
    candidates = train_h[at] == syn_h
    if not candidates.any():
        return candidates
    # Confirm on values: a 64-bit hash collision must not count as a copy.
    def norm(f: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({c: (_as_float(f[c]) if c in numeric else _as_text(f[c])) for c in columns})
    cand = norm(synthetic.iloc[np.flatnonzero(candidates)]).reset_index(drop=True)
    cand["__row"] = np.flatnonzero(candidates)
    matched = cand.merge(norm(train).drop_duplicates(), on=columns, how="inner")["__row"].unique()
    mask = np.zeros(len(synthetic), dtype=bool)
    mask[matched] = True
    return mask


def _sample(n: int, k: int, seed: int, key: str) -> np.ndarray:
    """k of n positions, deterministic in (seed, key, n), sorted."""
    if k >= n:
        return np.arange(n)
    digest = hashlib.blake2b(f"{seed}\x1f{key}".encode(), digest_size=8).digest()
    rng = np.random.default_rng(int.from_bytes(digest, "little"))
    return np.sort(rng.choice(n, size=k, replace=False))


def _quota(sizes: dict[Any, int], cap: int) -> dict[Any, int]:
    """Rows per class under a total cap: proportional, at least min(size, 200) per class."""
    total = sum(sizes.values())
    if total <= cap:
        return dict(sizes)
    return {k: min(n, max(min(n, 200), int(cap * n / total))) for k, n in sizes.items()}


def privacy(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame | None = None,
    label: str | None = None,
    columns: list[str] | None = None,
    seed: int = 0,
    max_query_rows: int = MAX_QUERY_ROWS,
    max_baseline_rows: int = MAX_BASELINE_ROWS,
) -> dict[str, Any]:
    """DCR of synthetic rows to train rows per class, against the holdout's DCR; exact copies.

    `columns` default: the columns train and synthetic share, except platform columns ("_...")
    and the label (the label is the class; copies are counted within a class).
    Returns {exact_copies, close_share, close_threshold, baseline ("holdout" or "train sample,
    leave-one-out"), index (one line: library, index kind, measured agreement), sampled (row counts
    and bounds), per_class, dcr_quantiles (every 5th percentile, synthetic and baseline), encoding,
    seconds}. Everything but `seconds` is deterministic for the same input and seed.
    """
    t0 = time.perf_counter()
    if columns is None:
        columns = [c for c in train.columns if c in synthetic.columns and c != label and not str(c).startswith("_")]
    if not columns:
        raise ValueError("privacy: train and synthetic rows share no feature columns to compare")
    for name, frame in (("train", train), ("synthetic", synthetic), ("holdout", holdout)):
        if frame is None:
            continue
        missing = [c for c in [*columns, *([label] if label else [])] if c not in frame.columns]
        if missing:
            raise ValueError(f"privacy: the {name} rows lack column(s) {', '.join(map(str, missing))}")
    enc = RowEncoder.fit(train, columns, [f for f in (synthetic, holdout) if f is not None], seed)
    numeric = set(enc.numeric)

    def groups(frame: pd.DataFrame) -> dict[str, np.ndarray]:
        if label is None:
            return {"(all rows)": np.arange(len(frame))}
        keys = _as_text(frame[label]).to_numpy()
        return {k: np.flatnonzero(keys == k) for k in sorted(set(keys))}

    train_g, syn_g = groups(train), groups(synthetic)
    base_source = "holdout" if holdout is not None and len(holdout) else "train sample, leave-one-out"
    base_frame = holdout if base_source == "holdout" else train
    base_g = groups(base_frame)
    syn_quota = _quota({k: len(v) for k, v in syn_g.items()}, max_query_rows)
    # The baseline covers the classes it is compared with: those with synthetic and train rows.
    base_quota = _quota({k: len(v) for k, v in base_g.items() if k in train_g and k in syn_g}, max_baseline_rows)

    syn_dcr: dict[str, np.ndarray] = {}
    syn_copy: dict[str, np.ndarray] = {}  # of the sampled synthetic rows, the exact copies of a train row
    base_dcr: list[np.ndarray] = []
    per_class: dict[str, dict[str, Any]] = {}
    copies = 0
    indexes: set[str] = set()
    recall = [0, 0]  # approximate-search DCRs checked against exhaustive search, and how many agreed
    for cls in sorted(set(syn_g) | set(train_g)):
        t_rows, s_rows = train_g.get(cls, np.empty(0, int)), syn_g.get(cls, np.empty(0, int))
        info: dict[str, Any] = {"train": len(t_rows), "synthetic": len(s_rows), "exact_copies": 0}
        per_class[cls] = info
        if not len(s_rows):
            continue
        copy_mask = count_exact_copies(train.iloc[t_rows], synthetic.iloc[s_rows], columns, numeric)
        info["exact_copies"] = int(copy_mask.sum())
        copies += info["exact_copies"]
        if not len(t_rows):
            info["note"] = "no train rows of this class: no DCR"
            continue
        pick_pos = _sample(len(s_rows), syn_quota[cls], seed, f"syn\x1f{cls}")
        pick = s_rows[pick_pos]
        b_rows = base_g.get(cls, np.empty(0, int))
        # Distinct train rows: a duplicated real row would be its own copy's neighbour at distance 0,
        # and a leave-one-out threshold of 0 sees nothing (docs/gate.md, `quality.privacy`).
        distinct = np.unique(enc.transform(train.iloc[t_rows]), axis=0)
        info["train_distinct"] = len(distinct)
        tree = NearestIndex(distinct, len(pick) + min(len(b_rows), base_quota.get(cls, 0)), seed)
        indexes.add(tree.name)
        x = enc.transform(synthetic.iloc[pick])
        d = tree.query(x)[0][:, 0]
        checked, exact = tree.exact_share(x, d)
        recall[0] += checked
        recall[1] += exact
        syn_dcr[cls] = d
        syn_copy[cls] = copy_mask[pick_pos]
        info["synthetic_sampled"] = len(pick)
        info["dcr_synthetic_median"] = round(float(np.median(d)), 6)
        if base_source == "holdout" and len(b_rows):
            pos = _sample(len(b_rows), base_quota[cls], seed, f"base\x1f{cls}")
            bd = _baseline_dcr(tree, enc.transform(base_frame.iloc[b_rows[pos]]), None)
        elif base_source != "holdout" and len(b_rows):  # leave-one-out over distinct train rows
            pos = _sample(len(distinct), min(base_quota[cls], len(distinct)), seed, f"base\x1f{cls}")
            bd = _baseline_dcr(tree, distinct[pos], pos)
        if len(b_rows) and not len(bd):  # one distinct train row: nothing to leave one out against
            info["note"] = "one distinct train row: no leave-one-out baseline for this class"
        elif len(b_rows):
            base_dcr.append(bd)
            info["baseline_sampled"] = len(pos)
            info["dcr_baseline_median"] = round(float(np.median(bd)), 6)
    syn_all = np.concatenate(list(syn_dcr.values())) if syn_dcr else np.empty(0)
    base_all = np.concatenate(base_dcr) if base_dcr else np.empty(0)
    threshold = float(np.percentile(base_all, CLOSE_PERCENTILE)) if len(base_all) else None
    close_share = None
    if threshold is not None and len(syn_all):
        # an exact copy is close whatever the threshold; the share never reads below the copies' share
        close = np.concatenate([(d < threshold) | syn_copy[c] for c, d in syn_dcr.items()])
        close_share = max(float(close.mean()), copies / len(synthetic))
        for cls, d in syn_dcr.items():
            per_class[cls]["close_share"] = round(float(((d < threshold) | syn_copy[cls]).mean()), 6)
    qs = np.arange(0, 101, 5)
    return {
        "exact_copies": copies,
        "close_share": None if close_share is None else round(close_share, 6),
        "close_threshold": None if threshold is None else round(threshold, 6),
        "baseline": base_source,
        "index": _index_line(indexes, recall),
        "sampled": {
            "synthetic": int(len(syn_all)), "synthetic_total": len(synthetic),
            "baseline": int(len(base_all)), "train": len(train),
            "max_query_rows": max_query_rows, "max_baseline_rows": max_baseline_rows,
        },
        "per_class": per_class,
        "dcr_quantiles": {
            "percentiles": qs.tolist(),
            "synthetic": np.round(np.percentile(syn_all, qs), 6).tolist() if len(syn_all) else [],
            "baseline": np.round(np.percentile(base_all, qs), 6).tolist() if len(base_all) else [],
        },
        "encoding": {"numeric": len(enc.numeric), "missing_indicators": len(enc.with_missing),
                     "categorical": len(enc.categories), "width": enc.width},
        "seconds": round(time.perf_counter() - t0, 3),
    }


def _baseline_dcr(tree: NearestIndex, x: np.ndarray, self_pos: np.ndarray | None) -> np.ndarray:
    """DCR of baseline rows; leave-one-out when they are train rows themselves (self_pos: their
    positions in the index): the nearest neighbour that is not the row itself."""
    if self_pos is None:
        return tree.query(x, k=1)[0][:, 0]
    if tree.reference.shape[0] < 2:
        return np.empty(0)
    dist, ind = tree.query(x, k=2)
    is_self = ind[:, 0] == self_pos
    return np.where(is_self, dist[:, 1], dist[:, 0])


def _index_line(names: set[str], recall: list[int]) -> str:
    import faiss

    line = f"faiss-cpu {faiss.__version__} " + ", ".join(sorted(names)) if names else "none (no DCR measured)"
    if recall[0]:
        line += f"; {recall[1] / recall[0]:.1%} of {recall[0]} approximate DCRs matched exhaustive search"
    return line


def check_privacy(result: dict[str, Any], max_exact_copies: int | None, max_close_share: float | None) -> list[tuple[str, bool, str]]:
    """Gate checks for the limits that are set: (name, passed, one-line detail)."""
    checks: list[tuple[str, bool, str]] = []
    if max_exact_copies is not None:
        n = result["exact_copies"]
        ok = n <= max_exact_copies
        checks.append((
            "privacy_exact_copies", ok,
            f"{n} synthetic row(s) identical to a train row (limit quality.privacy.max_exact_copies = {max_exact_copies})",
        ))
    if max_close_share is not None:
        share = result["close_share"]
        if share is None:
            checks.append(("privacy_close_share", True, "close share not measured: no baseline rows to compare with"))
        else:
            ok = share <= max_close_share
            checks.append((
                "privacy_close_share", ok,
                f"{share:.2%} of synthetic rows closer to a train row than 95% of {result['baseline']} rows "
                f"(limit quality.privacy.max_close_share = {max_close_share:g})",
            ))
    return checks

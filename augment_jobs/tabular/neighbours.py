"""All-class neighbourhoods for Borderline-SMOTE and ADASYN on the tabular engine (`augment_jobs.tabular.engine`).

imbalanced-learn searches the whole table once per oversampled class: `BorderlineSMOTE.nn_m_` (which
rows are "in danger"), borderline-2's `nn_k_` (partners of any class) and `ADASYN.nn_` (the density
ratios). Here only the learning rows (the oversampled classes) are in memory; the whole table is
streamed in chunks of `NN_CHUNK_ROWS` rows and `nearest_rows` keeps each learning row's nearest rows
seen so far. The same-class neighbours are found by `same_class`.

With `neighbours: approximate` both searches run in faiss, float32: `same_class` on an HNSW graph of
the class's rows, `all_class_rows` on an IVF index of the streamed table. Each search measures its
recall@k against the exact search on a seeded sample of its query rows (`_record_recall`). faiss
runs single-threaded here, and rows are added in source order, so the result is the same on every
run and worker.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from augment_jobs.errors import InputError

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from augment_jobs.tabular.engine import Part
    from augment_jobs.tabular.plan import Step

#: source rows per chunk of the all-class search (bounds its memory; the result does not depend on it)
NN_CHUNK_ROWS = 65_536
#: query rows x chunk rows whose distances are computed at once (bounds the tile's memory: 8 bytes each)
TILE = 1 << 21
#: query rows per approximate search whose neighbours are checked against the exact search
RECALL_SAMPLE = 1000
#: HNSW graph degree and build effort (fixed: the graph, hence the neighbours, must not vary)
HNSW_M, HNSW_EF_CONSTRUCTION = 32, 80
#: relative slack when comparing an approximate float32 distance with the exact k-th distance
RECALL_TOL = 1e-5

Chunks = Iterable[tuple["np.ndarray", "np.ndarray", "np.ndarray"]]


@dataclass
class Search:
    """One neighbour search of a step: `same-class` (the n nearest rows of `X`, a class's rows, to
    its rows `queries`) or `all-class` (the n nearest rows of the streamed table, its `numeric`
    features, to the query rows `queries`). Each query row's answer depends on that row alone, so
    the fit stage answers it in blocks of query rows (`augment_jobs.tabular.fit`)."""

    kind: str
    cls: str
    n: int
    queries: np.ndarray
    X: np.ndarray | None = None
    numeric: list[str] = field(default_factory=list)
    #: approximate same-class: the HNSW graph of X, serialized (built once, read by every block)
    index: np.ndarray | None = None

    def key(self, step: Step) -> str:
        """What the answer depends on, hashed: the same key in every process."""
        import hashlib

        import numpy as np

        p = step.params
        h = hashlib.sha256(repr((self.kind, step.index, step.method, self.cls, self.n, self.numeric, p.neighbours,
                                 p.ef_search, p.nprobe)).encode())
        for a in (self.queries, self.X):
            if a is not None:
                h.update(repr((a.dtype.str, a.shape)).encode())
                h.update(memoryview(np.ascontiguousarray(a)).cast("B"))
        return h.hexdigest()[:24]

    def answer(self, step: Step, lo: int = 0, hi: int | None = None) -> dict[str, np.ndarray]:
        """The answer for query rows [lo, hi): `nns` (same-class, positions in X, the row itself
        included) or `pos`, `tag` and `seen` (all-class); approximate: also `d`, squared float32
        distances."""
        hi = len(self.queries) if hi is None else hi
        if self.kind == "same-class":
            assert self.X is not None
            return _same_class_answer(step, self.X, self.n, self.queries[lo:hi], self.index)
        return _all_class_answer(step, self.queries[lo:hi], table_chunks(step, self.numeric), self.n)


def same_class(step: Step, X: np.ndarray, k: int, queries: np.ndarray | None = None, *,
               cls: str = "") -> np.ndarray:
    """Positions in `X` of the k nearest rows of X to each query row (rows `queries` of X, or all),
    the row itself left out: `exact_nearest` (exact: `NearestNeighbors(k + 1).fit(X).kneighbors`'s
    neighbours, equal distances in position order), or faiss HNSW
    (`neighbours: approximate`, its recall recorded under `cls`). Answered by the fit stage's
    blocks where it planned this search (`step.searcher`)."""
    import numpy as np

    q = np.arange(len(X)) if queries is None else np.asarray(queries, dtype=np.int64)
    got = _answer(step, Search("same-class", cls, k + 1, q, X=X))
    nns = got["nns"]
    if "d" in got and len(q):
        sample = _recall_sample(step, len(q), "same-class", cls)
        exact = exact_nearest(X, q[sample], k + 1)[0][:, k]
        _record_recall(step, "same-class", cls, k, got["d"][sample], exact, "hnsw")
    return nns[:, 1:].astype(np.int64)


def all_class_rows(step: Step, queries: np.ndarray, numeric: list[str], n: int
                   ) -> tuple[np.ndarray, np.ndarray, int]:
    """`(pos, tag, rows searched)`: each query row's n nearest rows of the table (its `numeric`
    features), as `nearest_rows` returns them (exact), or from a faiss IVF index of every streamed
    row (`neighbours: approximate`, its recall recorded)."""
    got = _answer(step, Search("all-class", "", n, queries, numeric=list(numeric)))
    if "d" in got and len(queries):
        sample = _recall_sample(step, len(queries), "all-class", "")
        exact = nearest_rows(queries[sample], table_chunks(step, numeric)(), n)[0][:, n - 1]
        _record_recall(step, "all-class", "", n - 1, got["d"][sample], exact, "ivf")
    return got["pos"], got["tag"], int(got["seen"][0])


def _answer(step: Step, search: Search) -> dict[str, np.ndarray]:
    """The search answered by the step's searcher (`fit.Searcher`), or here, in one piece."""
    return search.answer(step) if step.searcher is None else step.searcher.answer(step, search)


def table_chunks(step: Step, numeric: list[str]) -> Callable[[], Chunks]:
    """A function streaming the rows the all-class search covers afresh (`source_chunks`: every
    class, the train rows only with a split), each call counting them in its `seen`."""
    import pyarrow as pa

    label = step.label
    keys = pa.array([c["value"] for c in step.state.classes]).cast(step.schema.field(label).type)
    held, extra = None, []
    if step.state.split:  # the search covers the train rows only
        from functools import partial

        from augment_jobs.tabular.split import held_rows

        held, extra = partial(held_rows, step.cfg, step.state.split), [c for c in [step.cfg.source.id_column] if c]

    def chunks(seen: list[int] | None = None) -> Chunks:
        return source_chunks(step.parts, numeric, label, keys, [0] if seen is None else seen, held=held, extra=extra)

    return chunks


def hnsw_graph(step: Step, X: np.ndarray) -> np.ndarray:
    """The HNSW graph of X (float32), serialized: built on one thread, rows in order, so the same
    graph in every process."""
    import numpy as np

    with _faiss() as faiss:
        index = faiss.IndexHNSWFlat(X.shape[1], HNSW_M)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.add(np.ascontiguousarray(X, dtype=np.float32))
        return faiss.serialize_index(index)


def _same_class_answer(step: Step, X: np.ndarray, n: int, q: np.ndarray,
                       graph: np.ndarray | None = None) -> dict[str, np.ndarray]:
    import numpy as np

    if not len(q):  # an empty query block (a late one)
        empty = {"nns": np.zeros((0, n), dtype=np.int64)}
        return empty if step.params.neighbours == "exact" else {**empty, "d": np.zeros((0, n), dtype=np.float32)}
    if step.params.neighbours == "exact":
        return {"nns": exact_nearest(X, q, n)[1]}
    graph = hnsw_graph(step, X) if graph is None else graph
    with _faiss() as faiss:
        index = faiss.deserialize_index(graph)
        index.hnsw.efSearch = max(step.params.ef_search, n)
        d, nns = index.search(np.ascontiguousarray(X[q], dtype=np.float32), n)
    lost = np.flatnonzero((nns < 0).any(axis=1))
    if len(lost):  # a query the graph walk left short: its exact neighbours
        dist, nns[lost] = exact_nearest(X, q[lost], n)
        d[lost] = dist
    return {"nns": nns.astype(np.int64), "d": d}


def _all_class_answer(step: Step, queries: np.ndarray, chunks: Callable[..., Chunks], n: int) -> dict[str, np.ndarray]:
    import numpy as np

    seen = [0]
    if step.params.neighbours == "exact" or not len(queries):  # (an empty block: no index to build)
        _, pos, tag = nearest_rows(queries, chunks(seen), n)
        out = {"pos": pos, "tag": tag, "seen": np.array([seen[0]])}
        return out if step.params.neighbours == "exact" else {**out, "d": np.zeros((0, n), dtype=np.float32)}
    # About sqrt(rows) lists, trained on a seeded sample of 40 rows per list (what faiss asks for).
    nlist = max(1, min(4096, int(np.sqrt(step.n_real))))
    train_pos = np.sort(_rng(step, "ivf-train").choice(step.n_real, size=min(step.n_real, 40 * nlist), replace=False))
    train = [x[np.isin(p, train_pos)] for x, p, _ in chunks()]
    train_x = np.concatenate(train).astype(np.float32) if train else np.empty((0, queries.shape[1]), np.float32)
    nlist = max(1, min(nlist, len(train_x) // 40))
    with _faiss() as faiss:
        quantizer = faiss.IndexFlatL2(queries.shape[1])
        index = faiss.IndexIVFFlat(quantizer, queries.shape[1], nlist)
        index.cp.niter = 10
        index.train(train_x)
        del train, train_x
        all_pos, all_tag = [], []
        for x, p, t in chunks(seen):
            index.add(np.ascontiguousarray(x, dtype=np.float32))
            all_pos.append(p)
            all_tag.append(t)
        index.nprobe = min(step.params.nprobe, nlist)
        d, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), n)
    all_pos_a, all_tag_a = np.concatenate(all_pos), np.concatenate(all_tag)
    found = ids >= 0
    pos = np.where(found, all_pos_a[np.maximum(ids, 0)], -1)
    tag = np.where(found, all_tag_a[np.maximum(ids, 0)], -1)
    lost = np.flatnonzero((~found).any(axis=1))
    if len(lost):  # the lists probed held fewer than n rows: those queries' exact neighbours
        d[lost], pos[lost], tag[lost] = nearest_rows(queries[lost], chunks(), n)
    return {"pos": pos, "tag": tag, "seen": np.array([seen[0]]), "d": d}


@contextlib.contextmanager
def _faiss() -> Iterator[Any]:
    """faiss on one thread (a fixed order of float32 sums and of graph insertions), then as before."""
    import faiss

    before, blas = faiss.omp_get_max_threads(), faiss.cvar.distance_compute_blas_threshold
    faiss.omp_set_num_threads(1)
    # Distances one query at a time, never by a matrix product over the batch (whose rounding
    # depends on the batch's shape): a query's neighbours must not depend on its query block.
    faiss.cvar.distance_compute_blas_threshold = 2**31 - 1
    try:
        yield faiss
    finally:
        faiss.omp_set_num_threads(before)
        faiss.cvar.distance_compute_blas_threshold = blas


def _rng(step: Step, *keys: object) -> np.random.Generator:
    from augment_jobs.rng import rng_for

    return rng_for(step.cfg.seed, step.plan.ds, step.index, step.method, "neighbours", *keys)


def _recall_sample(step: Step, n: int, search: str, cls: str) -> np.ndarray:
    """Sorted positions of at most `RECALL_SAMPLE` of n query rows, drawn from (seed, date, step, search, class)."""
    import numpy as np

    return np.sort(_rng(step, "recall", search, cls).choice(n, size=min(n, RECALL_SAMPLE), replace=False))


def _record_recall(step: Step, search: str, cls: str, k: int, approx: np.ndarray, exact_kth: np.ndarray,
                   index: str) -> None:
    """recall@k of one approximate search: the share of its k neighbours (squared float32 distances
    `approx`, the row itself in column 0) no farther than the exact k-th neighbour (`exact_kth`,
    squared), so that rows tied at that distance count as found. Kept in the step's metrics and
    in `ctx.recall` (the gate report and the manifest's `recall`)."""
    import numpy as np

    if not len(exact_kth) or k == 0:
        return
    hits = approx[:, 1:k + 1] <= exact_kth[:, None] * (1 + RECALL_TOL) + RECALL_TOL
    recall = float(np.mean(hits))
    params, ctx = step.params, step.ctx
    ctx.recall.append({"step": step.index, "method": step.method, "search": search, "class": cls or None,
                       "index": index, "k": k, "sample": len(exact_kth), "recall": round(recall, 6),
                       "min_recall": params.min_recall})
    key = f"{step.method}_recall"
    ctx.metrics[key] = min(ctx.metrics.get(key, 1.0), round(recall, 6))


def nearest_rows(queries: np.ndarray, chunks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
                 n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each query row's `n` nearest rows over all `chunks`, exactly, one chunk in memory at a time.

    `chunks` yields `(X, pos, tag)`: float64 feature rows, their source positions (increasing within
    and across chunks) and an int carried along (the class code). Returns `(sqdist, pos, tag)`, each
    of shape (len(queries), n) and sorted by (distance, position): a brute-force search over the whole
    table that keeps the lower position among equal distances. A query row that is itself in the
    table finds itself at distance 0 (after any duplicate of it at a lower position). Columns beyond
    the rows seen hold (inf, -1, -1).

    Squared distances are summed feature by feature in column order, as scikit-learn's KD-tree sums
    them, so the result never depends on the chunk size. Per tile of `TILE` (query, row) pairs,
    `|x|^2 - 2x.y + |y|^2` (one matrix product) picks the rows that can beat a query's current
    n-th distance, allowing for its rounding error; only those get the exact distance. Memory: the
    queries, the running top-n, one chunk and one tile.
    """
    import numpy as np

    q = np.ascontiguousarray(queries, dtype=np.float64)
    nq, f = q.shape
    best_d = np.full((nq, n), np.inf)
    best_p = np.full((nq, n), -1, dtype=np.int64)
    best_t = np.full((nq, n), -1, dtype=np.int64)
    if nq == 0 or n == 0:
        return best_d, best_p, best_t
    # Shifted copies for the matrix product only (smaller norms, smaller rounding error).
    shift = q.mean(axis=0)
    qs = q - shift
    qn = np.einsum("ij,ij->i", qs, qs)
    qs *= -2  # exact: the product below is -2x.y
    gamma = _rounding(f, np.float64)
    q_rhs = qn * (1 - 2 * gamma)
    seen = 0
    for x, pos, tag in chunks:
        c = len(x)
        if c == 0:
            continue
        x = np.ascontiguousarray(x, dtype=np.float64)
        xs = x - shift
        x_adj = np.einsum("ij,ij->i", xs, xs) * (1 - 2 * gamma)
        step = max(1, TILE // c)
        for a in range(0, nq, step):
            b = min(nq, a + step)
            h = qs[a:b] @ xs.T  # (B, c): -2x.y + |y|^2 - margin, compared with thr - |x|^2 + margin
            h += x_adj
            thr = best_d[a:b, n - 1].copy()  # inf until n rows are seen
            if seen < n < c:
                # any n rows of this chunk bound the n-th distance from above: the n nearest-looking
                # of its first rows (a sample, not the whole chunk: cheaper, and tight enough)
                pick = np.argpartition(h[:, :max(n, 4096)], n - 1, axis=1)[:, :n]
                rows = np.repeat(np.arange(b - a), n)
                thr = np.minimum(thr, _sq_dist(q[a:b], x, rows, pick.ravel()).reshape(b - a, n).max(axis=1))
            rhs = thr * (1 + 2 * gamma) - q_rhs[a:b]
            ii, jj = np.nonzero(h <= rhs[:, None])
            del h
            if not len(ii):
                continue
            d = _sq_dist(q[a:b], x, ii, jj)
            keep = d <= thr[ii]
            ii, jj, d = ii[keep], jj[keep], d[keep]
            if not len(ii):
                continue
            _merge(best_d[a:b], best_p[a:b], best_t[a:b], ii, d, pos[jj], tag[jj])
        seen += c
    return best_d, best_p, best_t


def exact_nearest(X: np.ndarray, queries: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """`(sqdist, positions)` of the n nearest rows of X to the rows `queries` of X: the row itself,
    then the others as `nearest_rows` ranks them (by distance summed feature by feature, then
    position). Fast: faiss's multi-threaded float32 brute force proposes a few more
    candidates than needed, their exact distances rank them, and a query is answered only where
    its n-th exact distance is provably below every row faiss left out (its float32 error bounded;
    see `_verified`). The others ask again for four times the candidates, then, if still unproven,
    scan X in float64 (`nearest_rows`). The answer therefore never depends on faiss's threads or
    batches, only on X."""
    import faiss
    import numpy as np

    X = np.ascontiguousarray(X, dtype=np.float64)
    queries = np.asarray(queries, dtype=np.int64)
    n = min(n, len(X))
    d = np.full((len(queries), n), np.inf)
    nns = np.full((len(queries), n), -1, dtype=np.int64)
    if not len(queries) or n == 0:
        return d, nns
    centred = X - X.mean(axis=0)  # smaller norms, smaller float32 error
    norms = np.einsum("ij,ij->i", centred, centred)
    index = faiss.IndexFlatL2(X.shape[1])
    index.add(np.ascontiguousarray(centred, dtype=np.float32))
    todo = np.arange(len(queries))
    for want in (n + 2, 4 * (n + 2)):
        if not len(todo) or want >= len(X):
            break
        q = queries[todo]
        approx, cand = index.search(np.ascontiguousarray(centred[q], dtype=np.float32), want)
        rows = np.repeat(np.arange(len(q)), want)
        exact = _sq_dist(X[q], X, rows, cand.ravel()).reshape(len(q), want)
        order = np.lexsort((cand, exact), axis=-1)[:, :n]  # by distance, then position
        top_d, top_p = np.take_along_axis(exact, order, 1), np.take_along_axis(cand, order, 1)
        ok = _verified(top_d[:, -1], approx[:, -1], norms[q], X.shape[1])
        d[todo[ok]], nns[todo[ok]] = top_d[ok], top_p[ok]
        todo = todo[~ok]
    if len(todo):  # many rows tied at the n-th distance (duplicates): the float64 scan
        d[todo], nns[todo], _ = nearest_rows(X[queries[todo]], [(X, np.arange(len(X)), np.zeros(len(X), np.int64))], n)
    return _self_first(queries, d, nns)


def _self_first(queries: np.ndarray, d: np.ndarray, nns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each query row itself in column 0 (distance 0, before its duplicates at lower positions, which
    it may have pushed out), the others in order: dropping column 0 then drops the row itself."""
    import numpy as np

    is_self = nns == queries[:, None]
    order = np.argsort(~is_self, axis=1, kind="stable")
    d, nns = np.take_along_axis(d, order, 1), np.take_along_axis(nns, order, 1)
    absent = ~is_self.any(axis=1)
    d[absent] = np.column_stack([np.zeros(absent.sum()), d[absent, :-1]])
    nns[absent] = np.column_stack([queries[absent], nns[absent, :-1]])
    return d, nns


def _verified(nth: np.ndarray, last: np.ndarray, q_norms: np.ndarray, f: int) -> np.ndarray:
    """Where no row faiss left out can be as near as the n-th exact distance `nth`: each left-out
    row's float32 distance is at least `last` (the farthest candidate's), and differs from its true
    distance t by at most g(|q|^2 + |x|^2) <= g(3|q|^2 + 2t) (|x|^2 <= 2|q|^2 + 2t; g: `_rounding`
    in float32), so t >= (last - 3g|q|^2) / (1 + 2g)."""
    import numpy as np

    g = _rounding(f, np.float32)
    bound = (last.astype(np.float64) - 3 * g * q_norms) / (1 + 2 * g)
    return nth * (1 + 1e-12) < bound


def _rounding(f: int, dtype: type) -> float:
    """Bound on |computed - exact| of |q|^2 - 2q.x + |x|^2 over f features, as a share of
    |q|^2 + |x|^2: a few (f + 8) ulps of `dtype`, doubled."""
    import numpy as np

    return 4 * (f + 8) * float(np.finfo(dtype).eps)


def _sq_dist(q: np.ndarray, x: np.ndarray, ii: np.ndarray, jj: np.ndarray) -> np.ndarray:
    """Squared distances of the pairs (q[ii], x[jj]), summed feature by feature in column order."""
    import numpy as np

    acc = np.zeros(len(ii))
    for j in range(q.shape[1]):
        d = q[ii, j] - x[jj, j]
        d *= d
        acc += d
    return acc


def _merge(best_d: np.ndarray, best_p: np.ndarray, best_t: np.ndarray, ii: np.ndarray, d: np.ndarray,
           p: np.ndarray, t: np.ndarray) -> None:
    """Merge candidates (query row ii, distance, position, tag) into the running top-n, in place."""
    import numpy as np

    rows_n, n = best_d.shape
    rows = np.concatenate([np.repeat(np.arange(rows_n), n), ii])
    dd = np.concatenate([best_d.ravel(), d])
    pp = np.concatenate([best_p.ravel(), p])
    tt = np.concatenate([best_t.ravel(), t])
    pp_key = np.where(pp < 0, np.iinfo(np.int64).max, pp)  # unfilled slots sort last
    order = np.lexsort((pp_key, dd, rows))
    sorted_rows = rows[order]
    rank = np.arange(len(order)) - np.searchsorted(sorted_rows, np.arange(rows_n))[sorted_rows]
    top = order[rank < n]
    best_d[:] = dd[top].reshape(rows_n, n)
    best_p[:] = pp[top].reshape(rows_n, n)
    best_t[:] = tt[top].reshape(rows_n, n)


def source_chunks(parts: list[Part], columns: list[str], label: str, keys: pa.Array, seen: list[int],
                  rows: int | None = None, held: Callable[[Part, int, pa.RecordBatch], np.ndarray] | None = None,
                  extra: Sequence[str] = ()) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """`(X, pos, class code)` of the rows imbalanced-learn would search (a label in `keys`, no missing
    value in `columns`, not `held` out: `split.held_rows`, which reads the `extra` columns),
    part by part in chunks of at most `rows`; adds the rows yielded to `seen[0]`."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from augment_jobs.tabular.engine import open_parquet

    for p in parts:
        if not p.rows:
            continue
        start = p.offset
        read = list(dict.fromkeys([*columns, label, *extra]))
        for batch in open_parquet(p.read_uri).iter_batches(batch_size=rows or NN_CHUNK_ROWS, columns=read):
            code = pc.index_in(batch.column(label), value_set=keys).fill_null(-1).to_numpy(zero_copy_only=False)
            ok = code >= 0
            if held is not None:
                ok &= ~held(p, start - p.offset, batch)
            for col in columns:
                ok &= ~batch.column(col).is_null(nan_is_null=True).to_numpy(zero_copy_only=False)
            sel = np.flatnonzero(ok)
            kept = batch.take(pa.array(sel)) if len(sel) < batch.num_rows else batch
            X = np.empty((len(sel), len(columns)))
            for j, col in enumerate(columns):  # as the learning rows are read (plan._fit_smote)
                X[:, j] = kept.column(col).to_numpy(zero_copy_only=False)
            seen[0] += len(sel)
            yield X, start + sel, code[sel].astype(np.int64)
            start += batch.num_rows


def fit_all_class(step: Step, table: pa.Table, X: np.ndarray, numeric: list[str], k: int
                  ) -> tuple[dict[str, np.ndarray], pa.Table | None, dict[Any, int]]:
    """Borderline-SMOTE's danger rows and partners, or ADASYN's per-row counts and neighbours, as
    imbalanced-learn 0.14 finds them on the whole table (see `nearest_rows` for equal distances).

    `table`/`X`: the learning rows (features, label, `_id`). Returns the arrays the drawer generates
    from (`methods.smote_family`): per oversampled class slot i, `base_i` (learning positions of the
    rows samples start from), `nns_i` (their k partners' learning positions), and `cross_i`
    (borderline-2: partner of another class) or `cum_i` (ADASYN: cumulative samples per base row);
    for borderline-2, the partner rows to append to the learning table; and the classes that got
    no row (Borderline-SMOTE: none in danger) with their targets."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from augment_jobs.tabular.plan import gather, select_positions

    cfg, params, ctx, method, label = step.cfg, step.params, step.ctx, step.method, step.label
    parts = step.parts
    every = step.state.classes  # every class of the table, for the class codes
    keys = pa.array([c["value"] for c in every]).cast(table.schema.field(label).type)
    y_code = pc.index_in(table.column(label), value_set=keys).to_numpy(zero_copy_only=False)
    borderline = method == "borderline_smote"
    two = borderline and params.kind == "borderline-2"
    m = params.m_neighbors if borderline else k
    n = min(max(m, k if two else 0) + 1, step.n_real)
    pos, code, seen = all_class_rows(step, X, numeric, n)
    if borderline and m + 1 > seen:
        m = seen - 1
        ctx.notes.append(f"{method}: m_neighbors lowered to {m} (only {seen} rows)")
    arrays: dict[str, np.ndarray] = {}
    partners: dict[int, np.ndarray] = {}
    short: dict[Any, int] = {}
    code_of = {c["key"]: j for j, c in enumerate(every)}
    for i, c in enumerate(step.classes):
        me = code_of[c["key"]]
        rows = np.flatnonzero(y_code == me)  # the class's learning positions, in source order
        c["learn"] = len(rows)
        Xc = X if len(rows) == len(X) else X[rows]
        if borderline:
            # BaseSMOTE._in_danger_noise: m'/2 <= m' < m neighbours of another class
            n_maj = np.sum(code[rows, 1:m + 1] != me, axis=1)
            danger = (n_maj >= m / 2) & (n_maj < m)
            ctx.metrics[f"{method}_danger_rows"] = ctx.metrics.get(f"{method}_danger_rows", 0.0) + float(danger.sum())
            if not danger.any():
                short[c["value"]] = c["synthetic"]
                continue
            arrays[f"base_{i}"] = rows[danger]
            if two:  # partners among all rows: their positions now, learning positions below
                partners[i] = pos[rows[danger], 1:k + 1]
                arrays[f"cross_{i}"] = code[rows[danger], 1:k + 1] != me
            else:
                arrays[f"nns_{i}"] = rows[same_class(step, Xc, k, np.flatnonzero(danger), cls=c["key"])]
        else:
            ratio = np.sum(code[rows, 1:k + 1] != me, axis=1) / k
            if not np.sum(ratio):
                raise InputError(
                    f"{method}: no neighbour of class {c['value']!r} belongs to another class, so ADASYN's density "
                    "ratio is undefined; use smote for this data"
                )
            ratio /= np.sum(ratio)
            arrays[f"base_{i}"] = rows
            arrays[f"nns_{i}"] = rows[same_class(step, Xc, k, cls=c["key"])]
            arrays[f"cum_{i}"] = np.cumsum(apportion(ratio, c["synthetic"]))
    if not partners:
        return arrays, None, short
    wanted = np.unique(np.concatenate([p.ravel() for p in partners.values()]))
    extra = gather(cfg, parts, select_positions(wanted), table.column_names[:-1]).select(table.column_names)
    for i, p in partners.items():
        arrays[f"nns_{i}"] = table.num_rows + np.searchsorted(wanted, p)
    return arrays, extra, short


def apportion(weights: np.ndarray, total: int) -> np.ndarray:
    """Integer counts proportional to `weights` summing to exactly `total` (largest remainder; ADASYN's
    `np.rint` would miss the target)."""
    import numpy as np

    raw = weights * total
    counts = np.floor(raw).astype(np.int64)
    short = int(total - counts.sum())
    if short > 0:
        # stable sort: ties go to the earlier row, so the result is deterministic
        order = np.argsort(-(raw - counts), kind="stable")
        counts[order[:short]] += 1
    return counts

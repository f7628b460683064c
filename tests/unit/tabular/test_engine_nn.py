"""The chunked all-class neighbour search of the streamed Borderline-SMOTE and ADASYN
(`augment_jobs.tabular.neighbours.nearest_rows`) against scikit-learn on the whole table, and the same-class `exact_nearest`."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from augment_jobs.tabular.neighbours import exact_nearest, nearest_rows


def chunks(X: np.ndarray, tag: np.ndarray, size: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    for a in range(0, len(X), size):
        yield X[a:a + size], np.arange(a, min(a + size, len(X))), tag[a:a + size]


@pytest.mark.parametrize(("features", "algorithm"), [(3, "kd_tree"), (20, "brute")])
def test_neighbours_equal_sklearn_on_the_whole_table_for_any_chunk(features: int, algorithm: str) -> None:
    """Continuous features on very different scales and offsets; 3 features: scikit-learn's KD-tree
    (imbalanced-learn's default below 16 features), 20: its brute search."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, features)) * rng.uniform(0.1, 100, features) + rng.uniform(-1e3, 1e3, features)
    y = (rng.random(3000) < 0.1).astype(np.int64)
    q = np.flatnonzero(y == 1)
    dist, idx = NearestNeighbors(n_neighbors=11, algorithm=algorithm).fit(X).kneighbors(X[q])
    for size in (7, 250, 3000):
        d, pos, tag = nearest_rows(X[q], chunks(X, y, size), 11)
        np.testing.assert_array_equal(pos, idx)
        np.testing.assert_array_equal(tag, y[idx])
        if algorithm == "kd_tree":  # the same sums of squares, bit for bit
            np.testing.assert_array_equal(np.sqrt(d), dist)
        else:  # |x|^2 - 2x.y + |y|^2 there, with its rounding (a row is ~1e-4 from itself)
            np.testing.assert_allclose(np.sqrt(d), dist, rtol=1e-9, atol=1e-3)
        assert pos[:, 0].tolist() == q.tolist()  # each row first finds itself


@pytest.mark.parametrize("features", [2, 18])
def test_duplicate_rows_across_chunks_keep_the_lower_position(features: int) -> None:
    """Many exact ties (rows repeated across chunks): scikit-learn's distances exactly; among equal
    distances the lower positions first, as a brute-force search sorted by (distance, position)."""
    rng = np.random.default_rng(2)
    base = rng.integers(0, 3, size=(40, features)).astype(float)
    X = np.vstack([base[rng.integers(0, 40, 1200)], rng.normal(size=(400, features))])
    X = X[rng.permutation(len(X))]
    y = rng.integers(0, 3, len(X))
    q = np.flatnonzero(y == 1)
    exact = np.zeros((len(q), len(X)))
    for j in range(features):  # summed feature by feature, as scikit-learn's KD-tree does
        exact += (X[q, j][:, None] - X[None, :, j]) ** 2
    want = np.array([np.lexsort((np.arange(len(X)), row))[:11] for row in exact])
    dist, _ = NearestNeighbors(n_neighbors=11, algorithm="kd_tree").fit(X).kneighbors(X[q])
    first = None
    for size in (1, 5, 64, len(X)):
        d, pos, tag = nearest_rows(X[q], chunks(X, y, size), 11)
        np.testing.assert_array_equal(pos, want)
        np.testing.assert_array_equal(np.sqrt(d), dist)
        np.testing.assert_array_equal(tag, y[pos])
        first = pos if first is None else first
        np.testing.assert_array_equal(pos, first)
    # a duplicated query row finds its lowest-positioned copy first (maybe not itself)
    dup = next(i for i, r in enumerate(q) if (exact[i] == 0).sum() > 1)
    assert first[dup, 0] == np.flatnonzero(exact[dup] == 0)[0]


def test_fewer_rows_than_neighbours_pad_and_empty_queries() -> None:
    X = np.arange(6, dtype=float).reshape(3, 2)
    d, pos, tag = nearest_rows(X[:1], chunks(X, np.zeros(3, np.int64), 2), 5)
    assert pos.tolist() == [[0, 1, 2, -1, -1]] and np.isinf(d[0, 3:]).all() and tag[0, 3:].tolist() == [-1, -1]
    d, pos, tag = nearest_rows(np.empty((0, 2)), chunks(X, np.zeros(3, np.int64), 2), 5)
    assert pos.shape == (0, 5)


@pytest.mark.parametrize("kind", ["continuous", "duplicated", "wide-scale"])
def test_exact_nearest_equals_the_float64_scan_with_the_row_itself_first(kind: str) -> None:
    """The same-class search (`exact_nearest`: faiss float32 candidates, verified) ranks exactly as
    `nearest_rows` does, whatever the query block, with each row first in its own answer: on
    continuous rows, on rows with many copies (ties at the n-th distance: the float64 fallback) and
    on features 1e-3 to 1e6 apart in scale (the float32 error bound at work)."""
    rng = np.random.default_rng(3)
    if kind == "continuous":
        X = rng.normal(size=(2500, 20))
    elif kind == "duplicated":
        X = np.round(rng.normal(size=(2500, 6)), 1)
        X[:300] = X[7]  # 300 copies of one row
    else:
        X = rng.normal(size=(2500, 8)) * np.logspace(-3, 6, 8) + 1e4
    n = 6
    want_d, want_p, _ = nearest_rows(X, [(X, np.arange(len(X)), np.zeros(len(X), np.int64))], n)
    d, nns = exact_nearest(X, np.arange(len(X)), n)
    assert (nns[:, 0] == np.arange(len(X))).all() and (d[:, 0] == 0).all()
    others = nns[:, 1:]
    assert (others != np.arange(len(X))[:, None]).all()
    np.testing.assert_array_equal(np.sort(d, axis=1), np.sort(want_d, axis=1))  # the same distances
    unique = (want_d[:, 0] < want_d[:, 1])  # no copy of the row: the very same neighbours, in order
    np.testing.assert_array_equal(nns[unique], want_p[unique])
    if kind == "duplicated":  # a copied row's neighbours: its lowest-positioned other copies
        assert nns[7, 1:].tolist() == [0, 1, 2, 3, 4]
    block = np.arange(100, 160)
    d_b, nns_b = exact_nearest(X, block, n)
    np.testing.assert_array_equal(nns_b, nns[block])
    np.testing.assert_array_equal(d_b, d[block])
    if kind == "continuous":  # scikit-learn's neighbours where no distances tie
        np.testing.assert_array_equal(nns, NearestNeighbors(n_neighbors=n).fit(X).kneighbors(X, return_distance=False))


def test_exact_nearest_small_and_empty() -> None:
    X = np.arange(6, dtype=float).reshape(3, 2)
    d, nns = exact_nearest(X, np.array([2]), 5)
    assert nns.tolist() == [[2, 1, 0]] and d.tolist() == [[0.0, 8.0, 32.0]]
    assert exact_nearest(X, np.array([], dtype=np.int64), 3)[1].shape == (0, 3)

"""imbalanced-learn 0.14 samplers that record each synthetic row's parents: the reference the engine's SMOTE family is tested against.

Imports imblearn at module level: import this module inside functions only. The family generates
through `BaseSMOTE._generate_samples(X, nn_data, nn_num, rows, cols, steps, ...)`: the base sample
is `X[rows]`, its partner `nn_data[nn_num[rows, cols]]`. The recorder keeps `(class, rows, partner)`
per call; `parents()` maps them to row positions in the input (see each sampler for the frame of
reference). ADASYN generates inline, so `RecordingADASYN` re-implements its generation step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from imblearn.over_sampling import ADASYN, SMOTE, SMOTENC, BorderlineSMOTE
from sklearn.utils import _safe_indexing, check_random_state

from augment_jobs.tabular.neighbours import apportion


class _ParentRecorder:
    """Mixin: record the (base, partner) local indices of every generated sample."""

    def _generate_samples(self, X, nn_data, nn_num, rows, cols, steps, y_type=None, y=None):  # noqa: ANN001
        self.records_.append((y_type, rows, nn_num[rows, cols]))
        return super()._generate_samples(X, nn_data, nn_num, rows, cols, steps, y_type, y)

    def fit_resample(self, X: Any, y: Any, **params: Any) -> Any:
        self.records_: list[tuple[Any, np.ndarray, np.ndarray]] = []
        return super().fit_resample(X, y, **params)

    def parents(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row positions in the fitted `y` of each generated sample's base and partner, in output order."""
        base, partner = [], []
        for cls, rows, part in self.records_:
            cls_idx = np.flatnonzero(y == cls)
            base.append(self._base_index(cls, cls_idx)[rows])
            partner.append(self._partner_index(cls, cls_idx, part))
        if not base:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        return np.concatenate(base), np.concatenate(partner)

    def _base_index(self, cls: Any, cls_idx: np.ndarray) -> np.ndarray:
        return cls_idx  # samples are drawn from the class's own rows, in original order

    def _partner_index(self, cls: Any, cls_idx: np.ndarray, part: np.ndarray) -> np.ndarray:
        return cls_idx[part]  # neighbours searched among the class's rows


class RecordingSMOTE(_ParentRecorder, SMOTE):
    """SMOTE that returns ONLY the generated rows (no copy of the input) and records parents."""

    def _fit_resample(self, X, y):  # noqa: ANN001
        # Mirrors SMOTE._fit_resample in imbalanced-learn 0.14.2 minus the copy and restack of X:
        # on 1M rows those two copies dominate peak memory.
        self._validate_estimator()
        X_new_all, y_new_all = [], []
        for class_sample, n_samples in self.sampling_strategy_.items():
            if n_samples == 0:
                continue
            target_class_indices = np.flatnonzero(y == class_sample)
            X_class = _safe_indexing(X, target_class_indices)
            self.nn_k_.fit(X_class)
            nns = self.nn_k_.kneighbors(X_class, return_distance=False)[:, 1:]
            X_new, y_new = self._make_samples(X_class, y.dtype, class_sample, X_class, nns, n_samples, 1.0)
            X_new_all.append(X_new)
            y_new_all.append(y_new)
        if not X_new_all:
            return np.empty((0, X.shape[1]), dtype=X.dtype), np.empty(0, dtype=y.dtype)
        return np.vstack(X_new_all), np.hstack(y_new_all)


class RecordingSMOTENC(_ParentRecorder, SMOTENC):
    """SMOTENC recording parents; its output still starts with the input rows."""


class RecordingBorderlineSMOTE(_ParentRecorder, BorderlineSMOTE):
    """Base samples are the class's rows "in danger"; borderline-2 partners come from all rows."""

    def _base_index(self, cls: Any, cls_idx: np.ndarray) -> np.ndarray:
        return self.in_danger_indices[cls]

    def _partner_index(self, cls: Any, cls_idx: np.ndarray, part: np.ndarray) -> np.ndarray:
        return cls_idx[part] if self.kind == "borderline-1" else part


class RecordingADASYN(ADASYN):
    """ADASYN whose generation step is re-implemented to record parents and hit the target exactly.

    Mirrors ADASYN._fit_resample in imbalanced-learn 0.14.2 (same draws from the same RandomState,
    in the same order), with two changes: only generated rows are returned, and the per-row counts
    are apportioned by largest remainder instead of `np.rint`, so a class gets exactly its target.
    """

    def fit_resample(self, X: Any, y: Any, **params: Any) -> Any:
        self.records_: list[tuple[Any, np.ndarray, np.ndarray]] = []
        return super().fit_resample(X, y, **params)

    def _fit_resample(self, X, y):  # noqa: ANN001
        self._validate_estimator()
        random_state = check_random_state(self.random_state)
        X_new_all, y_new_all = [], []
        for class_sample, n_samples in self.sampling_strategy_.items():
            if n_samples == 0:
                continue
            target_class_indices = np.flatnonzero(y == class_sample)
            X_class = _safe_indexing(X, target_class_indices)

            self.nn_.fit(X)
            nns = self.nn_.kneighbors(X_class, return_distance=False)[:, 1:]
            n_neighbors = self.nn_.n_neighbors - 1
            ratio_nn = np.sum(y[nns] != class_sample, axis=1) / n_neighbors
            if not np.sum(ratio_nn):
                raise RuntimeError(
                    f"no neighbour of class {class_sample!r} belongs to another class, so ADASYN's "
                    "density ratio is undefined"
                )
            ratio_nn /= np.sum(ratio_nn)
            n_samples_generate = apportion(ratio_nn, n_samples)  # the platform's exact-target rounding
            n_samples = int(np.sum(n_samples_generate))

            self.nn_.fit(X_class)
            nns = self.nn_.kneighbors(X_class, return_distance=False)[:, 1:]
            rows = np.repeat(np.arange(len(target_class_indices)), n_samples_generate)
            cols = random_state.choice(n_neighbors, size=n_samples)
            partner = nns[rows, cols]
            diffs = X_class[partner] - X_class[rows]
            steps = random_state.uniform(size=(n_samples, 1))
            X_new_all.append((X_class[rows] + steps * diffs).astype(X.dtype))
            y_new_all.append(np.full(n_samples, fill_value=class_sample, dtype=y.dtype))
            self.records_.append((class_sample, rows, partner))
        if not X_new_all:
            return np.empty((0, X.shape[1]), dtype=X.dtype), np.empty(0, dtype=y.dtype)
        return np.vstack(X_new_all), np.hstack(y_new_all)

    parents = _ParentRecorder.parents
    _base_index = _ParentRecorder._base_index
    _partner_index = _ParentRecorder._partner_index

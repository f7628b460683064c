"""A range against constants as an SDV 2.0 programmable constraint.

Imports sdv at module level, so only import it inside functions. A module-level class (not one
built in a function) keeps fitted synthesizers picklable.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sdv.cag import SingleTableProgrammableConstraint


class ScalarRange(SingleTableProgrammableConstraint):
    """`low <= column <= high`, held by construction: the model learns an unbounded transform (log of
    the distance to the one bound, or logit between two) and the reverse maps back inside."""

    def __init__(self, column_name: str, low: float | None = None, high: float | None = None) -> None:
        self.column_name, self.low, self.high = column_name, low, high

    def get_updated_metadata(self, metadata: Any) -> Any:
        return metadata  # same column and sdtype; only its values are reparametrised

    def fit(self, data: Any, metadata: Any) -> None:
        x = data[self.column_name].to_numpy(np.float64)
        x = x[np.isfinite(x)]
        # A positive offset keeps log() finite at the bound, scaled to the column's spread.
        spread = float(np.std(x)) if len(x) > 1 else 1.0
        self._eps = max(spread * 1e-6, 1e-12)
        self._integer = bool(np.issubdtype(data[self.column_name].dtype, np.integer))

    def transform(self, data: Any) -> Any:
        data = data.copy()
        x = data[self.column_name].to_numpy(np.float64)
        lo, hi, eps = self.low, self.high, self._eps
        with np.errstate(invalid="ignore"):
            if lo is not None and hi is not None:
                p = np.clip((x - lo) / (hi - lo), eps, 1 - eps)
                t = np.log(p) - np.log1p(-p)
            elif lo is not None:
                t = np.log(np.maximum(x - lo, 0) + eps)
            else:
                t = np.log(np.maximum(hi - x, 0) + eps)
        data[self.column_name] = t
        return data

    def reverse_transform(self, data: Any) -> Any:
        data = data.copy()
        t = data[self.column_name].to_numpy(np.float64)
        lo, hi, eps = self.low, self.high, self._eps
        with np.errstate(over="ignore", invalid="ignore"):
            if lo is not None and hi is not None:
                x = np.clip(lo + (hi - lo) / (1 + np.exp(-t)), lo, hi)
            elif lo is not None:
                x = np.maximum(lo + np.exp(t) - eps, lo)
            else:
                x = np.minimum(hi - np.exp(t) + eps, hi)
            if self._integer:
                lo_i = np.ceil(lo) if lo is not None else -np.inf
                hi_i = np.floor(hi) if hi is not None else np.inf
                x = np.clip(np.rint(x), lo_i, hi_i)
        data[self.column_name] = x
        return data

    def is_valid(self, data: Any) -> Any:
        x = data[self.column_name].astype("float64")
        ok = x.isna() | x.notna()
        if self.low is not None:
            ok &= x.isna() | (x >= self.low)
        if self.high is not None:
            ok &= x.isna() | (x <= self.high)
        return ok

"""Vectorised time-series ops over a batch of equal-length series.

Every kernel takes `x` of shape (B, T, V) (B series copies, T points, V value columns) and the
parameters drawn for each copy, and works on the whole batch with numpy: no Python loop over
points or series. Drawing is separate from applying (`draw_*` vs the kernels) so the drawn
parameters are plain values that can be recorded and replayed; an op that is not applied to a copy
gets identity parameters (zero noise, factor 1, unit speed, the full window).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def knot_positions(t: int, knots: int) -> np.ndarray:
    """Knot positions on the sample index: both endpoints plus `knots` evenly spaced inner knots."""
    import numpy as np

    return np.linspace(0.0, t - 1.0, knots + 2)


@lru_cache(maxsize=64)
def spline_basis(t: int, n_knots: int) -> np.ndarray:
    """(n_knots, T) matrix mapping knot values to the cubic spline through them at every index.

    A not-a-knot cubic spline on fixed knots is linear in the knot values, so evaluating it for a
    whole batch is one matrix product (BLAS) instead of a piecewise-polynomial evaluation per curve.
    """
    import numpy as np
    from scipy.interpolate import CubicSpline

    xk = knot_positions(t, n_knots - 2)
    basis = CubicSpline(xk, np.eye(n_knots), axis=0)(np.arange(t, dtype=float))  # (T, n_knots)
    basis = np.ascontiguousarray(basis.T)
    basis.setflags(write=False)
    return basis


def smooth_curves(values: np.ndarray, t: int) -> np.ndarray:
    """Cubic splines through knot values (B, K+2[, V]) evaluated at every index: (B, T[, V])."""
    import numpy as np

    basis = spline_basis(t, values.shape[1])
    if values.ndim == 2:
        return values @ basis
    return np.einsum("bkv,kt->btv", values, basis, optimize=True)


def resample(x: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Linear interpolation of each series at fractional indices `pos` (B, T') -> (B, T', V)."""
    import numpy as np

    t = x.shape[1]
    pos = np.clip(pos, 0.0, t - 1.0)
    i0 = pos.astype(np.intp)  # floor, since pos >= 0
    np.minimum(i0, t - 2, out=i0)
    f = pos - i0
    i1 = i0 + 1
    out = np.empty((x.shape[0], pos.shape[1], x.shape[2]))
    for v in range(x.shape[2]):  # a handful of value columns; everything inside is one batch op
        a = np.take_along_axis(x[:, :, v], i0, axis=1)
        b = np.take_along_axis(x[:, :, v], i1, axis=1)
        b -= a
        b *= f
        b += a
        out[:, :, v] = b
    return out


def jitter(x: np.ndarray, noise: np.ndarray, sigma: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Add Gaussian noise: `noise` (B, T, V) standard normal, scaled by sigma (B,) × series std (B, V)."""
    return x + noise * (sigma[:, None, None] * std[:, None, :])


def scaling(x: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Multiply each series column by one factor (B, V)."""
    return x * factor[:, None, :]


def magnitude_warp(x: np.ndarray, knot_values: np.ndarray) -> np.ndarray:
    """Multiply by a smooth random curve: cubic spline through knot values (B, K+2, V)."""
    return x * smooth_curves(knot_values, x.shape[1])


def warp_path(knot_speeds: np.ndarray, t: int) -> np.ndarray:
    """Monotonic warp of the index (B, T): integral of a positive smooth speed curve through the
    knot speeds (B, K+2), rescaled so the first and last points stay where they are."""
    import numpy as np

    speed = smooth_curves(knot_speeds, t)
    np.maximum(speed, 1e-3, out=speed)  # > 0 keeps the path strictly increasing
    steps = speed[:, 1:] + speed[:, :-1]  # trapezoids; the 1/2 cancels in the rescaling
    np.cumsum(steps, axis=1, out=steps)
    path = np.empty_like(speed)
    path[:, 0] = 0.0
    np.multiply(steps, (t - 1.0) / steps[:, -1:], out=path[:, 1:])
    return path


def time_warp(x: np.ndarray, knot_speeds: np.ndarray) -> np.ndarray:
    """Warp time monotonically and resample the values back onto the original timestamps."""
    return resample(x, warp_path(knot_speeds, x.shape[1]))


def window_slice(x: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Take the window [start, start+length) of each series and stretch it back to T points."""
    import numpy as np

    t = x.shape[1]
    frac = np.arange(t, dtype=float) / (t - 1.0)
    pos = start[:, None] + frac[None, :] * (length[:, None] - 1.0)
    return resample(x, pos)


def lag1_acf(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Lag-1 autocorrelation of every series; `values` are grouped by `codes` in time order."""
    import numpy as np

    counts = np.bincount(codes, minlength=n_groups)
    mean = np.bincount(codes, weights=values, minlength=n_groups) / np.maximum(counts, 1)
    d = values - mean[codes]
    den = np.bincount(codes, weights=d * d, minlength=n_groups)
    same = codes[1:] == codes[:-1]
    num = np.bincount(codes[1:][same], weights=(d[1:] * d[:-1])[same], minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)

"""Raw metric value -> 0-100 sub-score, vectorized over numpy arrays.

Every transform keeps NaN (not measured) as NaN; the scorer decides what a
missing metric means. ``direction`` is applied here so that a sub-score is
always "higher is healthier":

- ``linear`` / ``log`` / ``boolean``: ``lower_is_better`` flips the scale (100 - s).
- ``thresholds``: the points are given per range, in the metric's direction
  (validated to be monotone), so nothing is flipped.
- ``piecewise``: like ``thresholds``, the knots' sub-scores are in the metric's direction
  (validated monotone), so nothing is flipped; linear between knots, flat outside.
- ``recency``: days since an event always decay, and the config must say
  ``lower_is_better``.

Examples
--------
>>> import numpy as np
>>> from hscore.config import LinearTransform
>>> subscore(LinearTransform(kind="linear", lo=1, hi=5), "higher_is_better",
...          np.array([0.0, 1.0, 3.0, 5.0, np.nan]))
array([  0.,   0.,  50., 100.,  nan])
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from hscore.config import (BooleanTransform, LinearTransform, LogTransform, Metric,
                           PiecewiseTransform, RecencyTransform, ThresholdsTransform)

__all__ = ["subscore", "metric_subscore", "compile_subscore"]

Kernel = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _linear_kernel(lo: float, hi: float, flip: bool) -> Kernel:
    span = hi - lo
    factor = 100.0 / span
    # Scale by 100 / span only when that is exact (a power of two: 0-100 scales are the
    # identity, -100..100 NPS halves); otherwise divide by span, then multiply by 100, so
    # that the top of the range is exactly 100 (span / span is exactly 1, whereas
    # 0.6 * (100 / 0.6) is 100.00000000000001).
    exact = math.frexp(factor)[0] == 0.5

    def kernel(x: np.ndarray, out: np.ndarray) -> np.ndarray:
        np.maximum(x, lo, out=out)  # NaN stays NaN
        np.minimum(out, hi, out=out)
        if lo != 0.0:
            np.subtract(out, lo, out=out)
        if exact:
            if factor != 1.0:
                np.multiply(out, factor, out=out)
        else:
            np.divide(out, span, out=out)
            np.multiply(out, 100.0, out=out)
        if flip:
            np.subtract(100.0, out, out=out)
        return out

    return kernel


def _log_kernel(lo: float, hi: float, flip: bool) -> Kernel:
    log_lo, log_hi = float(np.log1p(lo)), float(np.log1p(hi))
    span = log_hi - log_lo

    def kernel(x: np.ndarray, out: np.ndarray) -> np.ndarray:
        np.maximum(x, lo, out=out)
        np.minimum(out, hi, out=out)
        np.log1p(out, out=out)
        np.subtract(out, log_lo, out=out)
        np.divide(out, span, out=out)  # log1p(hi) - log1p(lo) over itself: exactly 1
        np.multiply(out, 100.0, out=out)
        # log1p of an array and of the bounds may round differently (vectorized
        # loops): keep the sub-score inside [0, 100] whatever the last bit.
        np.maximum(out, 0.0, out=out)
        np.minimum(out, 100.0, out=out)
        if flip:
            np.subtract(100.0, out, out=out)
        return out

    return kernel


def _boolean_kernel(flip: bool) -> Kernel:
    def kernel(x: np.ndarray, out: np.ndarray) -> np.ndarray:
        np.multiply(x, 100.0, out=out)
        if flip:
            np.subtract(100.0, out, out=out)
        return out

    return kernel


def _recency_kernel(half_life_days: float) -> Kernel:
    rate = -1.0 / half_life_days

    def kernel(x: np.ndarray, out: np.ndarray) -> np.ndarray:
        # 100 * 0.5 ** (days / half_life); negative days (future dates) count as today.
        np.maximum(x, 0.0, out=out)
        np.multiply(out, rate, out=out)
        np.exp2(out, out=out)
        np.multiply(out, 100.0, out=out)
        return out

    return kernel


def _thresholds_kernel(cuts: list[float], points: list[float]) -> Kernel:
    cut_arr = np.asarray(cuts, dtype=np.float64)
    point_arr = np.asarray(points, dtype=np.float64)

    def kernel(x: np.ndarray, out: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(cut_arr, x, side="right")
        missing = np.isnan(x)  # before ``out`` (possibly ``x`` itself) is overwritten
        np.take(point_arr, idx, out=out, mode="clip")
        out[missing] = np.nan  # searchsorted puts NaN past the last cut
        return out

    return kernel


def _piecewise_kernel(points: list[list[float]]) -> Kernel:
    xs = np.array([p[0] for p in points], dtype=np.float64)
    ys = np.array([p[1] for p in points], dtype=np.float64)

    def kernel(x: np.ndarray, out: np.ndarray) -> np.ndarray:
        # np.interp is flat outside the knots and keeps NaN as NaN; it cannot write into
        # ``out``, hence the copy.
        out[...] = np.interp(x, xs, ys)
        return out

    return kernel


def compile_subscore(transform, direction: str) -> Kernel:
    """A function ``kernel(x, out) -> out`` that writes the sub-scores of ``x`` into ``out``.

    Only numpy ufuncs over whole arrays, no per-row Python; ``out`` may be
    ``x`` itself. The scorer compiles each metric once and reuses the kernel
    on every block of rows.

    Parameters
    ----------
    transform
        One of the transform models of :mod:`hscore.config`.
    direction : {"higher_is_better", "lower_is_better"}

    Returns
    -------
    callable
        ``kernel(x, out)``: float64 arrays of one shape; returns ``out``.
    """
    flip = direction == "lower_is_better"
    if isinstance(transform, LinearTransform):
        return _linear_kernel(float(transform.lo), float(transform.hi), flip)
    if isinstance(transform, LogTransform):
        return _log_kernel(float(transform.lo), float(transform.hi), flip)
    if isinstance(transform, BooleanTransform):
        return _boolean_kernel(flip)
    if isinstance(transform, RecencyTransform):
        return _recency_kernel(float(transform.half_life_days))
    if isinstance(transform, ThresholdsTransform):
        # points are given in the metric's direction (validated monotone): no flip
        return _thresholds_kernel(transform.cuts, transform.points)
    if isinstance(transform, PiecewiseTransform):
        # knot sub-scores are given in the metric's direction (validated monotone): no flip
        return _piecewise_kernel(transform.points)
    raise TypeError(f"unknown transform {transform!r}")  # pragma: no cover - schema forbids


def subscore(transform, direction: str, raw: np.ndarray,
             out: np.ndarray | None = None) -> np.ndarray:
    """Sub-scores in [0, 100] (NaN where ``raw`` is NaN) for one metric's raw values.

    Parameters
    ----------
    transform
        One of the transform models of :mod:`hscore.config`.
    direction : {"higher_is_better", "lower_is_better"}
    raw : array_like
        Raw metric values; NaN means not measured.
    out : ndarray, optional
        A float64 array of the same shape to write into (it may be ``raw``
        itself, when ``raw`` is a float64 array).
    """
    x = np.asarray(raw, dtype=np.float64)
    if out is None:
        out = np.empty_like(x)
    return compile_subscore(transform, direction)(x, out)


def metric_subscore(metric: Metric, raw: np.ndarray, seats: np.ndarray | None = None,
                    out: np.ndarray | None = None) -> np.ndarray:
    """Sub-scores for a metric spec, dividing by ``seats`` first when ``per_seat`` is set."""
    if metric.per_seat:
        if seats is None:
            raise ValueError("a per_seat metric needs seats")
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = np.divide(np.asarray(raw, dtype=np.float64), seats, out=out)
    return subscore(metric.transform, metric.direction, raw, out=out)

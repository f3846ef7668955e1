"""Raw metric value -> 0-100 sub-score, vectorized over numpy arrays.

Every transform keeps NaN (not measured) as NaN; the scorer decides what a
missing metric means. ``direction`` is applied here so that a sub-score is
always "higher is healthier":

- ``linear`` / ``log`` / ``boolean``: ``lower_is_better`` flips the scale (100 - s).
- ``thresholds``: the points are given per range, in the metric's direction
  (validated to be monotone), so nothing is flipped.
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

import numpy as np

from hscore.config import (BooleanTransform, LinearTransform, LogTransform, Metric,
                           RecencyTransform, ThresholdsTransform)

__all__ = ["subscore", "metric_subscore"]


def _scaled(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    out = np.clip(x, lo, hi)
    out -= lo
    out *= 100.0 / (hi - lo)
    return out


def subscore(transform, direction: str, raw: np.ndarray) -> np.ndarray:
    """Sub-scores in [0, 100] (NaN where ``raw`` is NaN) for one metric's raw values."""
    x = np.asarray(raw, dtype=np.float64)
    flip = direction == "lower_is_better"
    if isinstance(transform, LinearTransform):
        out = _scaled(x, transform.lo, transform.hi)
    elif isinstance(transform, LogTransform):
        out = np.log1p(np.clip(x, transform.lo, transform.hi))
        lo, hi = np.log1p(transform.lo), np.log1p(transform.hi)
        out -= lo
        out *= 100.0 / (hi - lo)
    elif isinstance(transform, BooleanTransform):
        out = x * 100.0
    elif isinstance(transform, RecencyTransform):
        # 100 * 0.5 ** (days / half_life); negative days (future dates) count as today.
        out = np.maximum(x, 0.0)
        out *= -1.0 / transform.half_life_days
        np.exp2(out, out=out)
        out *= 100.0
        return out
    elif isinstance(transform, ThresholdsTransform):
        points = np.asarray(transform.points, dtype=np.float64)
        idx = np.searchsorted(np.asarray(transform.cuts, dtype=np.float64), x, side="right")
        out = points[idx]
        out[np.isnan(x)] = np.nan  # searchsorted puts NaN past the last cut
        return out
    else:  # pragma: no cover - the config schema admits no other kind
        raise TypeError(f"unknown transform {transform!r}")
    if flip:
        np.subtract(100.0, out, out=out)
    return out


def metric_subscore(metric: Metric, raw: np.ndarray, seats: np.ndarray | None = None) -> np.ndarray:
    """Sub-scores for a metric spec, dividing by ``seats`` first when ``per_seat`` is set."""
    if metric.per_seat:
        if seats is None:
            raise ValueError("a per_seat metric needs seats")
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = np.asarray(raw, dtype=np.float64) / seats
    return subscore(metric.transform, metric.direction, raw)

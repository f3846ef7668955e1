"""Population stability index (PSI) of one quantity between a reference and a current window.

PSI = Σ_i (c_i − r_i) · ln(c_i / r_i), over bins i, where r_i and c_i are the shares of the
reference's and the current window's rows in bin i. It is 0 for identical distributions and
grows with the shift; the usual reading (and :func:`psi_flag`'s) is < 0.1 stable,
0.1–0.25 a moderate shift, ≥ 0.25 a major shift.

Binning (:class:`ReferenceBins`)
--------------------------------
Bins are fixed on the reference window, then both windows are counted in them:

* **missing**: a bin of its own for NaN (a metric not measured, a score under
  ``min_coverage``). Shares are of *all* rows, so more missing data is drift too.
* **point masses**: sub-scores are clipped to 0 and 100 (and boolean or thresholds transforms
  take a few values only), so many rows share one value and quantile cut points collapse onto
  it. Every value that holds at least ``1/bins`` of the reference's measured rows gets a bin of
  its own (``= 100``).
* **quantile intervals**: the other measured reference values are cut at their ``bins``
  quantiles (deciles by default) into right-closed intervals ``(a, b]``; the first runs from
  −∞, the last to +∞, so a current value outside the reference's range is still counted.
  Cut points that coincide are merged.

A bin that one window leaves empty counts as holding a share of :data:`EPSILON` (1e-4), so that
the logarithm stays finite: a bin empty in the reference that holds 5% of the current rows adds
(0.05 − 0.0001) · ln(0.05 / 0.0001) ≈ 0.31 — a major shift on its own, as it should be. A bin
empty in both windows adds nothing. Shares are not renormalized after the substitution.

Sampling noise
--------------
Two samples of one distribution do not give PSI 0: on average about
(k − 1) · (1/n_ref + 1/n_cur), with k the reference's non-empty bins (PSI is then close to a
chi-square statistic over its sample size). With 10 bins that is 0.03 for 1000 and 500 rows,
but 0.14 for 156 and 114 — a "moderate shift" from noise alone (300 simulated pairs of each
size agreed within 10%). :func:`chance_level` computes it and
:func:`hscore.monitoring.monitor` reports it beside every PSI.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> reference = rng.normal(60, 10, 5000)
>>> round(population_stability(reference, reference), 6)
0.0
>>> psi = population_stability(reference, rng.normal(64, 10, 5000))
>>> psi_flag(psi)
'moderate shift'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hscore.errors import HScoreError

__all__ = ["population_stability", "ReferenceBins", "psi_flag", "chance_level", "EPSILON",
           "THRESHOLDS", "FLAGS"]

#: The share an empty bin counts as (keeps ln(c/r) finite).
EPSILON = 1e-4
#: PSI at or above these reads as a moderate and a major shift.
THRESHOLDS = (0.1, 0.25)
#: What :func:`psi_flag` says below, between and above :data:`THRESHOLDS`.
FLAGS = ("stable", "moderate shift", "major shift")


def psi_flag(psi: float) -> str:
    """``stable`` (< 0.1), ``moderate shift`` (0.1–0.25) or ``major shift`` (≥ 0.25);
    ``n/a`` for NaN (a window without rows).

    Examples
    --------
    >>> [psi_flag(x) for x in (0.02, 0.1, 0.3, float("nan"))]
    ['stable', 'moderate shift', 'major shift', 'n/a']
    """
    if np.isnan(psi):
        return "n/a"
    return FLAGS[int(np.searchsorted(THRESHOLDS, psi, side="right"))]


def _values(x, name: str) -> np.ndarray:
    """A 1-D float array (NaN = missing); infinities and non-numbers are errors."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise HScoreError(f"{name}: expected numbers (NaN = missing)") from None
    if arr.ndim != 1:
        raise HScoreError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    bad = np.isinf(arr)
    if bad.any():
        raise HScoreError(f"{name}: {int(bad.sum())} infinite values (first at positions "
                          f"{', '.join(map(str, np.flatnonzero(bad)[:5]))}); NaN means missing")
    return arr


@dataclass(frozen=True)
class ReferenceBins:
    """Bins fixed on a reference window (see the module docstring): quantile ``cuts``,
    point-mass ``atoms``, and a missing bin last.

    Examples
    --------
    >>> import numpy as np
    >>> reference = [0, 0, 0, 20, 40, 60, 100, 100, 100, np.nan]
    >>> bins = ReferenceBins.fit(reference, bins=4)
    >>> bins.labels()
    ['(-inf, 30]', '(30, 40]', '(40, 50]', '(50, inf)', '= 0', '= 100', 'missing']
    >>> bins.shares(reference).tolist()
    [0.1, 0.1, 0.0, 0.1, 0.3, 0.3, 0.1]
    """

    cuts: np.ndarray
    atoms: np.ndarray

    @classmethod
    def fit(cls, reference, bins: int = 10) -> "ReferenceBins":
        """The bins of ``reference`` (NaN = missing) into ``bins`` quantiles."""
        if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
            raise HScoreError(f"bins: must be a whole number >= 2, got {bins!r}")
        ref = _values(reference, "reference")
        measured = ref[~np.isnan(ref)]
        if not len(measured):
            return cls(np.empty(0), np.empty(0))
        values, counts = np.unique(measured, return_counts=True)
        atoms = values[counts >= len(measured) / bins]
        rest = measured[~np.isin(measured, atoms)]
        cuts = (np.unique(np.quantile(rest, np.arange(1, bins) / bins)) if len(rest)
                else np.empty(0))
        return cls(cuts, atoms)

    @property
    def n_bins(self) -> int:
        """Intervals, point masses and the missing bin."""
        return len(self.cuts) + 1 + len(self.atoms) + 1

    def codes(self, values) -> np.ndarray:
        """Each value's bin: intervals first, then point masses, then missing (the last)."""
        x = _values(values, "values")
        out = np.searchsorted(self.cuts, x, side="left")
        at = np.isin(x, self.atoms)
        out[at] = len(self.cuts) + 1 + np.searchsorted(self.atoms, x[at])
        out[np.isnan(x)] = self.n_bins - 1
        return out

    def shares(self, values) -> np.ndarray:
        """The share of ``values`` in each bin (all values, missing included, sum to 1)."""
        codes = self.codes(values)
        if not len(codes):
            return np.full(self.n_bins, np.nan)
        return np.bincount(codes, minlength=self.n_bins) / len(codes)

    def labels(self) -> list[str]:
        """Readable names of the bins, in :meth:`codes` order."""
        edges = [-np.inf, *self.cuts, np.inf]
        intervals = [f"({a:g}, {b:g}{')' if np.isinf(b) else ']'}"
                     for a, b in zip(edges[:-1], edges[1:])]
        return intervals + [f"= {a:g}" for a in self.atoms] + ["missing"]


def chance_level(ref_shares: np.ndarray, n_ref: int, n_cur: int) -> float:
    """The PSI two windows of ``n_ref`` and ``n_cur`` rows from one distribution show on
    average: (k − 1) · (1/n_ref + 1/n_cur), k = bins the reference fills.

    Examples
    --------
    >>> round(chance_level(np.full(10, 0.1), 1000, 500), 4)
    0.027
    """
    if not n_ref or not n_cur:
        return float("nan")
    k = int(np.count_nonzero(np.asarray(ref_shares) > 0))
    return (k - 1) * (1 / n_ref + 1 / n_cur)


def _psi(ref_shares: np.ndarray, cur_shares: np.ndarray) -> float:
    r = np.where(ref_shares > 0, ref_shares, EPSILON)
    c = np.where(cur_shares > 0, cur_shares, EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))


def population_stability(reference, current, bins: int = 10) -> float:
    """PSI of ``current`` against ``reference`` (1-D arrays; NaN = missing).

    Parameters
    ----------
    reference, current : array-like of float
        The quantity in the reference window (which fixes the bins) and in the current one.
    bins : int, default 10
        Quantiles of the reference's measured values (deciles); point masses and the missing
        values get bins of their own (see the module docstring).

    Returns
    -------
    float
        PSI ≥ 0; NaN when either window has no value at all.

    Examples
    --------
    >>> population_stability([10, 20, 30, 40], [10, 20, 30, 40], bins=2)
    0.0
    >>> round(population_stability([10, 20, 30, 40], [10, 10, 10, 40], bins=2), 4)
    0.2747
    """
    binning = ReferenceBins.fit(reference, bins)
    ref = binning.shares(reference)
    cur = binning.shares(current)
    if np.isnan(ref).any() or np.isnan(cur).any():
        return float("nan")
    return _psi(ref, cur)

"""What a cell's training data cannot say: constant or never-measured metrics, collinearity.

Examples
--------
>>> import numpy as np
>>> X = np.column_stack([np.arange(5.0), 2 * np.arange(5.0), np.ones(5)])
>>> dependent_columns(X)     # the constant, and one of the two proportional columns
[1, 2]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hscore.calibration.design import CellDesign
from hscore.calibration.records import Diagnostics

__all__ = ["diagnose", "dependent_columns", "COLLINEAR_R"]

#: Pairs of metrics correlated beyond this are reported as collinear.
COLLINEAR_R = 0.98


def diagnose(train: CellDesign, warn: Callable[[str], None]) -> tuple[Diagnostics, np.ndarray]:
    """Constant / never-measured metrics (held at the prior) and collinear groups.

    Returns the diagnostics and the (m,) mask of the held ("frozen") metrics; ``warn`` is
    called once per finding with the sentence that explains it.
    """
    X, metrics = train.X, train.layout.metrics
    never = ~train.measured.any(axis=0)
    frozen = (X.std(axis=0) < 1e-9) | never
    for j in np.flatnonzero(frozen):
        why = "never measured" if never[j] else "constant"
        warn(f"metric '{metrics[j]}' is {why} in training: the data say nothing about it; "
             "its weight is held at k x its input weight")
    collinear: list[tuple[str, ...]] = []
    live = np.flatnonzero(~frozen)
    if len(live) > 1:
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.corrcoef(X[:, live], rowvar=False)
        for i, j in zip(*np.triu_indices(len(live), 1)):
            if abs(corr[i, j]) > COLLINEAR_R:
                a, b = metrics[live[i]], metrics[live[j]]
                collinear.append((a, b))
                warn(f"metrics '{a}' and '{b}' are collinear (correlation {corr[i, j]:.3f}): "
                     "the data cannot split weight between them; the pull toward the input "
                     "weights decides the split")
        if not collinear:
            # No pair stands out, yet a metric may still be a combination of several others.
            dropped = dependent_columns(X[:, live])
            if dropped:
                names = tuple(metrics[live[j]] for j in dropped)
                collinear.append(names)
                warn(f"metrics {', '.join(repr(n) for n in names)} are linear combinations "
                     "of other metrics (collinear): the pull toward the input weights decides "
                     "their share")
    frozen_names = tuple(metrics[j] for j in np.flatnonzero(frozen))
    return Diagnostics(frozen=frozen_names, collinear=tuple(collinear)), frozen


def dependent_columns(X: np.ndarray, tol: float = 1e-8) -> list[int]:
    """Columns of X that are (numerically) linear combinations of the others and the
    intercept, found by QR with column pivoting on the centred, scaled columns."""
    from scipy.linalg import qr

    if X.shape[1] == 0:
        return []
    Z = X - X.mean(axis=0)
    norms = np.linalg.norm(Z, axis=0)
    const = norms < 1e-12
    Z = Z[:, ~const] / norms[~const]
    dep = list(np.flatnonzero(const))
    if Z.shape[1]:
        _, R, piv = qr(Z, mode="economic", pivoting=True)
        diag = np.abs(np.diag(R))
        rank = int((diag > tol * diag[0]).sum())
        live = np.flatnonzero(~const)
        dep += list(live[piv[rank:]])
    return sorted(int(j) for j in dep)

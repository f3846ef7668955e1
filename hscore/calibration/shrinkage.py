"""The pull toward the input weights: penalized fits and the cross-validated strength.

Per cell the penalty ``strength * ||b - k v0||^2`` (on the mean log-loss scale) pulls ``b``
toward the input effective weights ``v0`` scaled by ``k``; ``inf`` returns the input
weights exactly and ``0`` the sign-constrained maximum-likelihood fit. Metrics the data say
nothing about are held at their prior (an offset), see :func:`fit_held`.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.uniform(size=(2000, 2))
>>> y = (rng.uniform(size=2000) < 1 / (1 + np.exp(-(1.0 - X @ [2.0, 1.0])))).astype(float)
>>> fit = fit_held(X, y, None, np.array([1.0, 1.0]), np.inf, np.zeros(2, bool))
>>> fit.b.tolist()          # infinite strength: the prior exactly
[1.0, 1.0]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hscore.calibration.records import CrossValidation

if TYPE_CHECKING:
    from hscore.calibration.logistic import LogisticFit

__all__ = ["DEFAULT_STRENGTHS", "SEPARATION_B", "fit_logistic", "fit_held", "HeldProblem",
           "cross_validate"]

#: The strengths tried by cross-validation (``inf`` = input weights, ``0`` = constrained MLE).
DEFAULT_STRENGTHS = (np.inf, 1.0, 0.3, 0.1, 0.03, 0.01, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 0.0)
#: A coefficient this large on a [0, 1] sub-score means odds of e^30: separated data.
SEPARATION_B = 30.0


def fit_logistic(*args, **kwargs) -> "LogisticFit":
    """:func:`hscore.calibration.logistic.fit_logistic`, imported on first use: it loads
    scipy, and ``import hscore`` (which exports ``calibrate``) stays free of it."""
    from hscore.calibration.logistic import fit_logistic as fit

    return fit(*args, **kwargs)


class HeldProblem:
    """The rows of many :func:`fit_held` fits at one prior, prepared once.

    Cross-validation fits each fold's training rows at every strength, and the bootstrap
    refits a cell's rows under every resample's weights: the held metrics' offset and the
    free metrics' design (:class:`~hscore.calibration.logistic.LogisticProblem`) are built
    once for all of them. :meth:`fit` only reads them, so threads may share a problem.
    """

    def __init__(self, X, y, prior, held):
        from hscore.calibration.logistic import LogisticProblem

        self.prior = np.asarray(prior, dtype=np.float64)
        self.free = ~held
        self.partial = bool(held.any())
        if self.partial:
            self.problem = LogisticProblem(X[:, self.free], y,
                                           offset=-(X[:, held] @ self.prior[held]))
        else:
            self.problem = LogisticProblem(X, y)

    def fit(self, w, strength, start=None, max_iter=100, tol=1e-10, exact=True, hessian=None
            ) -> "LogisticFit":
        """The fit at ``strength`` with row weights ``w`` (None: 1), from ``start``; a fixed
        ``hessian`` from :meth:`hessian` for refits near the fit it was taken at."""
        sub = self.problem.fit(prior=self.prior[self.free], sample_weight=w, strength=strength,
                               max_iter=max_iter, tol=tol, exact=exact, hessian=hessian,
                               start=None if start is None else self._free(start))
        if not self.partial:
            return sub
        b = self.prior.copy()
        b[self.free] = sub.b
        return type(sub)(sub.a, b, sub.converged, sub.n_iter)

    def hessian(self, fit: "LogisticFit", strength: float) -> np.ndarray:
        """The objective's Hessian at ``fit`` (unit weights), in the free metrics."""
        return self.problem.hessian(self._free(fit), prior=self.prior[self.free],
                                    strength=strength)

    def _free(self, fit: "LogisticFit") -> "LogisticFit":
        return type(fit)(fit.a, fit.b[self.free], True, 0) if self.partial else fit


def fit_held(X, y, w, prior, strength, held, start=None, max_iter=100, tol=1e-10,
             exact=True) -> "LogisticFit":
    """:func:`fit_logistic` with the ``held`` metrics (a boolean mask) fixed at their prior."""
    return HeldProblem(X, y, prior, held).fit(w, strength, start, max_iter, tol, exact)


def cross_validate(X, y, groups, v0, strengths, held, cv_folds: int, n_jobs: int = 1
                   ) -> tuple[float, CrossValidation]:
    """The strength with the lowest mean held-out log-loss over account-grouped folds.

    Each fold pulls toward ``k_f v0``, with ``k_f`` the one-parameter fit of churn on the
    input score over the fold's training rows only: a ``k`` fitted on all rows would let
    the test fold's labels into the penalty centre. The path runs from the strongest pull
    to the weakest, each fit warm-started from the previous one. Ties go to the stronger
    pull. Rows must be in canonical order (see :mod:`hscore.calibration.design`): the folds
    follow it. The folds run on ``n_jobs`` threads (a resolved count); each fold's path is
    the same whichever thread runs it, so the result does not depend on ``n_jobs``.
    """
    from sklearn.model_selection import GroupKFold

    from hscore.workers import thread_map

    order = sorted(strengths, key=lambda s: -s)
    n_folds = min(cv_folds, len(np.unique(groups)))
    folds = list(GroupKFold(n_splits=n_folds).split(X, y, groups))

    from hscore.calibration.logistic import mean_log_loss   # scipy: on first use

    def path(fold) -> np.ndarray:
        """The held-out log-loss of each strength, fitted on the fold's training rows."""
        tr, te = fold
        X_tr, y_tr, X_te, y_te = X[tr], y[tr], X[te], y[te]
        prior = float(fit_logistic((X_tr @ v0)[:, None], y_tr).b[0]) * v0
        problem = HeldProblem(X_tr, y_tr, prior, held)
        losses, start = np.empty(len(order)), None
        for i, s in enumerate(order):
            fit = problem.fit(None, s, start)
            start = fit if np.isfinite(s) else None
            losses[i] = mean_log_loss(y_te, fit.risk(X_te))
        return losses

    with thread_map(min(n_jobs, n_folds)) as map_:
        losses = np.array(list(map_(path, folds)))
    fold_of = np.full(len(y), -1)
    sizes = np.zeros(n_folds)
    for f, (_, te) in enumerate(folds):
        fold_of[te] = f
        sizes[f] = len(te)
    mean = (losses * sizes[:, None]).sum(0) / sizes.sum()
    se = losses.std(axis=0, ddof=1) / np.sqrt(n_folds)
    # Rounded: strengths whose losses differ by float noise tie, and ties go to the
    # stronger pull (first in ``order``).
    best = int(np.argmin(np.round(mean, 12)))
    table = pd.DataFrame({"strength": order, "cv_log_loss": mean, "se": se})
    return float(order[best]), CrossValidation(table, fold_of)

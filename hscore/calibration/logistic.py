"""Sign-constrained logistic regression shrunk toward a prior.

Minimizes the weighted mean log-loss of ``logit P(churn) = a + offset - X @ b``
plus ``strength * ||b - prior||^2`` subject to ``b >= 0``.

- ``strength = inf`` returns ``b = prior`` exactly (only ``a`` is fitted);
- ``strength = 0`` is the sign-constrained maximum-likelihood fit, equal to a
  plain logistic regression when no bound is active.

The solver is a projected Newton method (Bertsekas 1982): Newton steps on the
variables that are not held at their bound, projected back onto ``b >= 0``.
It settles in a handful of iterations, fewer still from a warm start (cross-
validation and the bootstrap refit the same model many times). When it does
not settle (e.g. separated data drive ``b`` to infinity) scipy's L-BFGS-B with
bounds takes over.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.uniform(size=(4000, 2))
>>> y = (rng.uniform(size=4000) < 1 / (1 + np.exp(-(1.0 - X @ [3.0, 1.0])))).astype(float)
>>> fit = fit_logistic(X, y)
>>> fit.converged, bool(fit.b.min() >= 0)
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

__all__ = ["LogisticFit", "LogisticProblem", "fit_logistic", "mean_log_loss"]


@dataclass
class LogisticFit:
    """``logit P = a - X b``; ``converged`` and ``n_iter`` describe the solver run."""

    a: float
    b: np.ndarray
    converged: bool
    n_iter: int

    def risk(self, X: np.ndarray) -> np.ndarray:
        """Linear predictor ``a - X b`` (higher = more churn risk)."""
        return self.a - X @ self.b

    def proba(self, X: np.ndarray) -> np.ndarray:
        return expit(self.risk(X))


def mean_log_loss(y: np.ndarray, eta: np.ndarray, w: np.ndarray | None = None) -> float:
    """Weighted mean log-loss for linear predictor ``eta`` (stable for large |eta|)."""
    losses = np.logaddexp(0.0, eta) - y * eta
    if w is None:
        return float(losses.mean())
    return float(losses @ w / w.sum())


def _fit_intercept(y, offset, w, a0=0.0) -> float:
    """Newton on the intercept alone with a fixed offset (the infinite-strength limit)."""
    rate = np.clip((w @ y) / w.sum(), 1e-12, 1 - 1e-12)
    a = a0 if np.isfinite(a0) else 0.0
    for _ in range(200):
        p = expit(a + offset)
        g = w @ (p - y)
        h = w @ (p * (1 - p))
        if not h > 0:
            # Every row predicted at 0 or 1: restart from the base rate.
            a = float(np.log(rate / (1 - rate)) - np.average(offset, weights=w))
            continue
        step = np.clip(g / h, -5.0, 5.0)   # keep far-off starts from overshooting
        a -= step
        if abs(step) < 1e-13 * max(1.0, abs(a)):
            break
    return float(a)


class _Objective:
    """Mean log-loss + penalty in theta = (a, b), on the augmented design [1, -X].

    Keeps the last evaluation's probabilities so that the Hessian at an accepted
    point costs no second pass over the rows. One exponential per row gives both the
    loss and the probability (``logaddexp`` and ``expit`` would take three), and the
    Hessian's scaled design goes into one buffer per fit: at a million rows these
    passes over the rows are the whole cost of a fit.
    """

    def __init__(self, Xa, y, wn, off, prior, strength):
        self.Xa, self.y, self.wn, self.off = Xa, y, wn, off
        self.wy = wn * y
        self.prior, self.strength = prior, strength
        self.p = None
        self._scaled = None

    def __call__(self, theta):
        eta = self.Xa @ theta
        if self.off is not None:
            eta += self.off
        # e = exp(-|eta|) never overflows: log(1 + exp(eta)) = max(eta, 0) + log1p(e),
        # and expit(eta) = 1 / (1 + e) for eta >= 0, e / (1 + e) below.
        e = np.exp(-np.abs(eta))
        loss = self.wn @ (np.maximum(eta, 0.0) + np.log1p(e)) - self.wy @ eta
        p = np.where(eta >= 0, 1.0, e)
        p /= 1.0 + e
        grad = self.Xa.T @ (self.wn * p - self.wy)
        if self.strength > 0:
            d = theta[1:] - self.prior
            loss += self.strength * (d @ d)
            grad[1:] += 2 * self.strength * d
        self.p = p
        return float(loss), grad

    def hessian(self, p):
        if self._scaled is None:
            self._scaled = np.empty_like(self.Xa)
        Z = np.multiply(self.Xa, np.sqrt(self.wn * p * (1 - p))[:, None], out=self._scaled)
        H = Z.T @ Z
        if self.strength > 0:
            i = np.arange(1, H.shape[0])
            H[i, i] += 2 * self.strength
        return H


class LogisticProblem:
    """The rows of many fits of ``logit P = a + offset - X b``, prepared once.

    Cross-validation fits one fold's rows at a dozen strengths and the bootstrap refits
    one cell's rows under hundreds of weightings: the augmented design ``[1, -X]`` (in
    column order, which the matrix-vector products of a fit read fastest) is built once
    for all of them. :meth:`fit` only reads the problem, so threads may share one.

    Parameters
    ----------
    X : (n, m) array
    y : (n,) array of 0/1
    offset : (n,) array, optional
        Fixed part of the linear predictor (metrics held at their prior).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(2000, 2))
    >>> y = (rng.uniform(size=2000) < 1 / (1 + np.exp(-(1.0 - X @ [3.0, 1.0])))).astype(float)
    >>> problem = LogisticProblem(X, y)
    >>> fits = [problem.fit(prior=np.ones(2), strength=s) for s in (1.0, 0.01)]
    >>> bool(abs(fits[1].b - fit_logistic(X, y, prior=np.ones(2), strength=0.01).b).max() < 1e-8)
    True
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, offset: np.ndarray | None = None):
        X = np.asarray(X, dtype=np.float64)
        n, m = X.shape
        self.y = np.asarray(y, dtype=np.float64)
        self.offset = None if offset is None else np.asarray(offset, dtype=np.float64)
        self.Xa = np.empty((n, m + 1), order="F")
        self.Xa[:, 0] = 1.0
        np.negative(X, out=self.Xa[:, 1:])

    @property
    def n_metrics(self) -> int:
        return self.Xa.shape[1] - 1

    def _normalized(self, sample_weight) -> np.ndarray:
        if sample_weight is None:
            return np.full(len(self.y), 1.0 / len(self.y))
        w = np.asarray(sample_weight, dtype=np.float64)
        total = w.sum()
        if not total > 0:
            raise ValueError("sample_weight: the weights sum to 0")
        return w / total

    def hessian(self, fit: LogisticFit, *, prior: np.ndarray | None = None,
                strength: float = 0.0, sample_weight: np.ndarray | None = None) -> np.ndarray:
        """The Hessian of the objective (mean log-loss + penalty) in ``(a, b)`` at ``fit``."""
        prior = np.zeros(self.n_metrics) if prior is None else prior
        objective = _Objective(self.Xa, self.y, self._normalized(sample_weight), self.offset,
                               prior, strength)
        objective(np.r_[fit.a, fit.b])
        return objective.hessian(objective.p)

    def fit(self, *, sample_weight: np.ndarray | None = None, prior: np.ndarray | None = None,
            strength: float = 0.0, nonneg: bool = True, start: LogisticFit | None = None,
            max_iter: int = 100, tol: float = 1e-10, exact: bool = True,
            hessian: np.ndarray | None = None) -> LogisticFit:
        """One fit; the other parameters are :func:`fit_logistic`'s. Rows of weight 0 count
        for nothing (they are not copied out: the weights multiply every row).

        ``hessian``, an (m + 1, m + 1) matrix from :meth:`hessian`, replaces the Hessian
        at every iterate (the chord method): for refits that start near a fit whose
        Hessian it is, such as bootstrap refits from the full-data fit. Each step then
        costs one pass over the rows instead of two; the convergence test is the same
        projected gradient, so the fit stops at the same tolerance.
        """
        Xa, y, m = self.Xa, self.y, self.n_metrics
        prior = np.zeros(m) if prior is None else np.asarray(prior, dtype=np.float64)
        wn = self._normalized(sample_weight)
        off = self.offset
        if np.isinf(strength):
            # X @ prior = -(Xa[:, 1:] @ prior)
            full_off = Xa[:, 1:] @ prior if off is None else off + Xa[:, 1:] @ prior
            a = _fit_intercept(y, full_off, wn, start.a if start is not None else 0.0)
            return LogisticFit(a, prior.copy(), True, 0)

        objective = _Objective(Xa, y, wn, off, prior, strength)
        lower = np.r_[-np.inf, np.zeros(m) if nonneg else np.full(m, -np.inf)]
        if start is not None:
            theta0 = np.r_[start.a, start.b]
        else:
            rate = np.clip(wn @ y, 1e-6, 1 - 1e-6)
            b0 = np.maximum(prior, 0) if nonneg else prior.copy()
            base = 0.0 if off is None else wn @ off
            theta0 = np.r_[np.log(rate / (1 - rate)) - base - (wn @ Xa[:, 1:]) @ b0, b0]
        theta0 = np.maximum(theta0, lower)
        fit = _projected_newton(objective, theta0, lower, tol, max_iter, exact, hessian)
        if fit is not None:
            return fit
        bounds = [(None, None)] + [(0.0, None) if nonneg else (None, None)] * m
        res = minimize(objective, theta0, jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": 20 * max_iter, "ftol": 1e-15, "gtol": tol,
                                "maxcor": 20})
        b = res.x[1:].copy()
        if nonneg:
            np.maximum(b, 0.0, out=b)
        return LogisticFit(float(res.x[0]), b, bool(res.success), int(res.nit))


def fit_logistic(X: np.ndarray, y: np.ndarray, *, sample_weight: np.ndarray | None = None,
                 prior: np.ndarray | None = None, strength: float = 0.0, nonneg: bool = True,
                 offset: np.ndarray | None = None, start: LogisticFit | None = None,
                 max_iter: int = 100, tol: float = 1e-10, exact: bool = True) -> LogisticFit:
    """Fit ``logit P = a + offset - X b`` with ``b >= 0`` (when ``nonneg``) shrunk toward ``prior``.

    Parameters
    ----------
    X : (n, m) array
    y : (n,) array of 0/1
    sample_weight : (n,) array, optional
        Frequency weights (an account bootstrap is a reweighting), default 1.
        Rows of weight 0 count for nothing.
    prior : (m,) array, optional
        Centre of the penalty, default 0.
    strength : float, default 0
        Penalty weight on the mean log-loss scale; ``np.inf`` fixes ``b = prior``.
    nonneg : bool, default True
        Constrain ``b >= 0``.
    offset : (n,) array, optional
        Fixed part of the linear predictor (metrics held at their prior).
    start : LogisticFit, optional
        Warm start.
    max_iter : int, default 100
        Newton iterations.
    tol : float, default 1e-10
        Stop when the largest projected gradient component of the objective
        (mean log-loss + penalty) is below ``tol``, or when the Newton decrement
        is below what the objective resolves in floating point.
    exact : bool, default True
        When Newton has not converged after ``max_iter`` iterations, finish with
        L-BFGS-B. ``False`` returns the last Newton iterate (``converged=False``):
        for bootstrap refits from a warm start, where two or three steps suffice.

    Returns
    -------
    LogisticFit

    Notes
    -----
    Many fits on the same rows: build a :class:`LogisticProblem` once and call its
    ``fit``.
    """
    return LogisticProblem(X, y, offset).fit(
        sample_weight=sample_weight, prior=prior, strength=strength, nonneg=nonneg,
        start=start, max_iter=max_iter, tol=tol, exact=exact)


def _projected_newton(objective, theta, lower, tol, max_iter, exact, hessian=None):
    """Newton steps on the free variables, projected onto the bounds.

    A variable is held at its bound while the gradient pushes it out of the
    feasible set; the others take a Newton step with a backtracking line search
    (Armijo on the projected path). Converged when the projected gradient is
    below ``tol`` or the Newton decrement is below what the objective can resolve
    in floating point (the gradient of a mean over many rows has a rounding floor).
    Returns None when it does not converge (with ``exact``) or fails to descend.
    A fixed ``hessian`` replaces the one at each iterate (see :meth:`LogisticProblem.fit`).
    """
    f, g = objective(theta)
    p = objective.p
    for it in range(max_iter + 1):
        at_bound = (theta <= lower) & (g > 0)
        pg = np.where(at_bound, 0.0, g)
        if np.max(np.abs(pg)) < tol:
            return LogisticFit(float(theta[0]), theta[1:].copy(), True, it)
        if it == max_iter:
            break
        free = np.flatnonzero(~at_bound)
        Hf = (objective.hessian(p) if hessian is None else hessian)[np.ix_(free, free)]
        # A tiny ridge keeps exactly collinear columns from making the step singular.
        Hf[np.diag_indices_from(Hf)] += 1e-12 * max(1.0, np.abs(np.diag(Hf)).max())
        try:
            step = -np.linalg.solve(Hf, g[free])
        except np.linalg.LinAlgError:
            return None
        if not np.all(np.isfinite(step)):
            return None
        decrement = -(g[free] @ step)          # twice the expected decrease of the loss
        resolvable = 1e-14 * max(1.0, abs(f))
        if 0 <= decrement < resolvable and np.max(np.abs(pg)) < 1e3 * tol:
            return LogisticFit(float(theta[0]), theta[1:].copy(), True, it)
        d = np.zeros_like(theta)
        d[free] = step
        t = 1.0
        while True:
            cand = np.maximum(theta + t * d, lower)
            f_new, g_new = objective(cand)
            if f_new <= f + 1e-4 * (g @ (cand - theta)) or t < 1e-10:
                break
            t *= 0.5
        if f_new > f + 1e-15 * abs(f):
            if decrement < 1e3 * resolvable:  # at the floating-point floor already
                return LogisticFit(float(theta[0]), theta[1:].copy(), True, it)
            if not exact:
                break
            return None                       # no descent: let L-BFGS-B have a go
        theta, f, g, p = cand, f_new, g_new, objective.p
    if exact:
        return None
    return LogisticFit(float(theta[0]), theta[1:].copy(), False, max_iter)

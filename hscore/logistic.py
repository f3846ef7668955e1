"""Sign-constrained logistic regression shrunk toward a prior.

Minimizes the weighted mean log-loss of ``logit P(churn) = a - X @ b`` plus
``strength * ||b - prior||^2`` with ``b >= 0`` (scipy L-BFGS-B with bounds).

- ``strength = inf`` returns ``b = prior`` exactly (only ``a`` is fitted);
- ``strength = 0`` is the sign-constrained maximum-likelihood fit, equal to a
  plain logistic regression when no bound is active.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.uniform(size=(4000, 2))
>>> y = (rng.uniform(size=4000) < 1 / (1 + np.exp(-(1.0 - X @ [3.0, 1.0])))).astype(float)
>>> fit = fit_logistic(X, y)
>>> np.round(fit.b, 1)
array([3.1, 0.8])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

__all__ = ["LogisticFit", "fit_logistic", "predict_proba", "mean_log_loss"]


@dataclass
class LogisticFit:
    a: float
    b: np.ndarray
    converged: bool
    n_iter: int

    def risk(self, X: np.ndarray) -> np.ndarray:
        """Linear predictor ``a - X b`` (higher = more churn risk)."""
        return self.a - X @ self.b

    def proba(self, X: np.ndarray) -> np.ndarray:
        return expit(self.risk(X))


def predict_proba(a: float, b: np.ndarray, X: np.ndarray) -> np.ndarray:
    return expit(a - X @ b)


def mean_log_loss(y: np.ndarray, eta: np.ndarray, w: np.ndarray | None = None) -> float:
    """Weighted mean log-loss for linear predictor ``eta`` (stable for large |eta|)."""
    losses = np.logaddexp(0.0, eta) - y * eta
    if w is None:
        return float(losses.mean())
    return float(losses @ w / w.sum())


def _fit_intercept(y, offset, w, a0=0.0) -> float:
    """Newton on the intercept alone with a fixed offset."""
    a = a0
    for _ in range(100):
        p = expit(a + offset)
        g = w @ (p - y)
        h = w @ (p * (1 - p))
        if h <= 0:
            break
        step = g / h
        a -= step
        if abs(step) < 1e-13:
            break
    return float(a)


def fit_logistic(X: np.ndarray, y: np.ndarray, *, sample_weight: np.ndarray | None = None,
                 prior: np.ndarray | None = None, strength: float = 0.0, nonneg: bool = True,
                 start: LogisticFit | None = None, max_iter: int = 2000) -> LogisticFit:
    """Fit ``logit P = a - X b`` with ``b >= 0`` (when ``nonneg``) shrunk toward ``prior``.

    Parameters
    ----------
    X : (n, m) array; y : (n,) 0/1 array
    sample_weight : frequency weights (an account bootstrap), default 1
    prior : (m,) centre of the penalty, default 0
    strength : penalty weight on the mean log-loss scale; ``np.inf`` fixes ``b = prior``
    start : warm start
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, m = X.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    wsum = w.sum()
    prior = np.zeros(m) if prior is None else np.asarray(prior, dtype=np.float64)
    if np.isinf(strength):
        a = _fit_intercept(y, -(X @ prior), w, start.a if start is not None else 0.0)
        return LogisticFit(a, prior.copy(), True, 0)
    wy = w * y

    def objective(theta):
        a, b = theta[0], theta[1:]
        eta = a - X @ b
        loss = (w @ np.logaddexp(0.0, eta) - wy @ eta) / wsum
        r = (w * expit(eta) - wy) / wsum        # d loss / d eta
        grad = np.empty_like(theta)
        grad[0] = r.sum()
        grad[1:] = -(X.T @ r)
        if strength > 0:
            d = b - prior
            loss += strength * (d @ d)
            grad[1:] += 2 * strength * d
        return loss, grad

    if start is not None:
        theta0 = np.r_[start.a, start.b]
    else:
        rate = np.clip((wy.sum()) / wsum, 1e-6, 1 - 1e-6)
        theta0 = np.r_[np.log(rate / (1 - rate)), np.maximum(prior, 0) if nonneg else prior]
        theta0[0] += X.mean(0) @ theta0[1:]
    lower = np.r_[-np.inf, np.zeros(m) if nonneg else np.full(m, -np.inf)]
    theta0 = np.maximum(theta0, lower)
    fit = _projected_newton(objective, X, w / wsum, strength, theta0, lower)
    if fit is not None:
        return fit
    # Newton did not settle (e.g. separation drives b to infinity): L-BFGS-B copes.
    bounds = [(None, None)] + [(0.0, None) if nonneg else (None, None)] * m
    res = minimize(objective, theta0, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": max_iter, "ftol": 1e-15, "gtol": 1e-10, "maxcor": 20})
    b = res.x[1:].copy()
    if nonneg:
        np.maximum(b, 0.0, out=b)
    return LogisticFit(float(res.x[0]), b, bool(res.success), int(res.nit))


def _projected_newton(objective, X, wn, strength, theta, lower, tol=1e-9, max_iter=100):
    """Newton steps on the free variables, projected onto the bounds (Bertsekas 1982).

    A warm-started refit (cross-validation, bootstrap) settles in a few
    iterations. Returns None when it does not converge.
    """
    n, m = X.shape
    Xa = np.empty((n, m + 1))
    Xa[:, 0] = 1.0
    Xa[:, 1:] = -X                       # eta = Xa @ theta
    f, g = objective(theta)
    for it in range(1, max_iter + 1):
        at_bound = (theta <= lower + 1e-12) & (g > 0)
        pg = np.where(at_bound, 0.0, g)
        if np.max(np.abs(pg)) < tol:
            return LogisticFit(float(theta[0]), theta[1:].copy(), True, it - 1)
        free = ~at_bound
        p = expit(Xa @ theta)
        s = wn * p * (1 - p)
        Xf = Xa[:, free]
        H = (Xf * s[:, None]).T @ Xf
        if strength > 0:
            idx = np.flatnonzero(free)
            H[idx > 0, idx > 0] += 2 * strength
        try:
            step = -np.linalg.solve(H + 1e-12 * np.eye(H.shape[0]), g[free])
        except np.linalg.LinAlgError:
            return None
        d = np.zeros_like(theta)
        d[free] = step
        t = 1.0
        while True:
            cand = np.maximum(theta + t * d, lower)
            f_new, g_new = objective(cand)
            if f_new <= f + 1e-4 * (g @ (cand - theta)) or t < 1e-10:
                break
            t *= 0.5
        if t < 1e-10 and f_new > f:
            return None
        theta, f, g = cand, f_new, g_new
    return None

"""How well a risk ranking predicts churn: AUC with account-bootstrap CIs, Brier, log-loss,
calibration tables. numpy only; every function takes frequency weights so that an account
bootstrap is a reweighting, not a copy.

Examples
--------
>>> import numpy as np
>>> y = np.array([0, 0, 1, 1]); risk = np.array([0.1, 0.4, 0.35, 0.8])
>>> auc(y, risk)   # 3 of the 4 (churned, retained) pairs are ordered right
0.75
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["auc", "bootstrap_auc", "auc_ci", "brier", "log_loss", "calibration_table",
           "account_weights"]

_EPS = 1e-15


def _tie_groups(risk_sorted: np.ndarray) -> np.ndarray:
    return np.r_[0, np.flatnonzero(np.diff(risk_sorted)) + 1]


def _auc_sorted(y_sorted: np.ndarray, w_sorted: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """AUC for one or many weight vectors (last axis = rows), data sorted by risk."""
    wp = w_sorted * y_sorted
    wn = w_sorted - wp
    pos = np.add.reduceat(wp, starts, axis=-1)
    neg = np.add.reduceat(wn, starts, axis=-1)
    below = np.cumsum(neg, axis=-1) - neg
    num = (pos * (below + 0.5 * neg)).sum(axis=-1)
    den = pos.sum(axis=-1) * neg.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def auc(y: np.ndarray, risk: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Area under the ROC curve: the chance a churned row has a higher ``risk`` than a retained
    one (ties count half). NaN when one class is absent."""
    y = np.asarray(y, dtype=np.float64)
    risk = np.asarray(risk, dtype=np.float64)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.argsort(risk, kind="mergesort")
    return float(_auc_sorted(y[order], w[order], _tie_groups(risk[order])))


def account_weights(groups: np.ndarray, n_boot: int, seed: int | np.random.Generator
                    ) -> np.ndarray:
    """(n_boot, rows) frequency weights of an account bootstrap: each resample draws accounts
    with replacement and every snapshot of a drawn account comes along."""
    rng = np.random.default_rng(seed)
    codes, inverse = np.unique(groups, return_inverse=True)
    n_acc = len(codes)
    counts = np.empty((n_boot, n_acc))
    for b in range(n_boot):
        counts[b] = np.bincount(rng.integers(0, n_acc, n_acc), minlength=n_acc)
    return counts[:, inverse]


def bootstrap_auc(y: np.ndarray, risks: list[np.ndarray], groups: np.ndarray, n_boot: int = 200,
                  seed: int = 0) -> np.ndarray:
    """(n_boot, len(risks)) AUCs over paired account resamples (the same resample for every
    risk, so differences are paired)."""
    y = np.asarray(y, dtype=np.float64)
    weights = account_weights(groups, n_boot, seed)
    out = np.empty((n_boot, len(risks)))
    for j, risk in enumerate(risks):
        risk = np.asarray(risk, dtype=np.float64)
        order = np.argsort(risk, kind="mergesort")
        out[:, j] = _auc_sorted(y[order], weights[:, order], _tie_groups(risk[order]))
    return out


def auc_ci(y: np.ndarray, risk: np.ndarray, groups: np.ndarray, n_boot: int = 200,
           seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """AUC and its percentile CI from an account bootstrap."""
    boot = bootstrap_auc(y, [risk], groups, n_boot, seed)[:, 0]
    alpha = (1 - level) / 2
    lo, hi = np.nanquantile(boot, [alpha, 1 - alpha])
    return auc(y, risk), float(lo), float(hi)


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared error of the predicted probability."""
    return float(np.mean((np.asarray(p, dtype=np.float64) - y) ** 2))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean negative log-likelihood (natural log) of the predicted probability."""
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Rows grouped into ``bins`` equal-count bins of predicted probability: the mean predicted
    probability against the observed churn rate in each."""
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(p, kind="mergesort")
    chunks = np.array_split(order, min(bins, len(p)))
    rows = [{"bin": i + 1, "rows": len(c), "mean_predicted": float(p[c].mean()),
             "observed_rate": float(np.mean(y[c]))} for i, c in enumerate(chunks) if len(c)]
    return pd.DataFrame(rows)

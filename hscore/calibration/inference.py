"""Uncertainty: the statsmodels table of the unconstrained model, and the account bootstrap
of the exported weights.

Both report coefficients in the calibration's sign (see :mod:`hscore.calibration.records`):
``b = -(statsmodels coef)`` for a metric, so a metric that lowers churn risk has ``b > 0``.

Examples
--------
>>> import numpy as np
>>> from hscore.calibration.design import CellDesign, Layout
>>> from hscore.config import Cell
>>> rng = np.random.default_rng(0)
>>> X = rng.uniform(size=(3000, 2))
>>> y = (rng.uniform(size=3000) < 1 / (1 + np.exp(-(0.5 - X @ [2.0, 0.5])))).astype(float)
>>> layout = Layout(("m1", "m2"), ("c",), np.array([0, 0]), np.array([0.5, 0.5]))
>>> design = CellDesign(Cell("s"), layout, X, np.ones_like(X, bool), y,
...                     np.arange(3000), np.zeros(3000, int), np.arange(3000))
>>> ref, notes = reference_model(design, np.zeros(2, bool))
>>> bool(ref.table.set_index("term").loc["m1", "coef"] > 1)     # b sign: protective > 0
True
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from hscore import progress
from hscore.calibration.design import CellDesign
from hscore.calibration.diagnose import dependent_columns
from hscore.calibration.evaluation import account_count_blocks
from hscore.calibration.records import ReferenceModel
from hscore.calibration.shrinkage import SEPARATION_B, HeldProblem
from hscore.workers import thread_map

__all__ = ["reference_model", "bootstrap_weights", "COEFFICIENT_COLUMNS"]

#: Bootstrap refits start from the full-data fit and stop at a looser gradient tolerance.
#: With the full data's Hessian (chord steps, one pass over the rows each) 3-4 steps suffice
#: at 50k rows per stage, and the weights agree with an exact cold refit to ~2e-5 (measured
#: 1.1e-5 to 1.8e-5), far below the bootstrap spread (~5e-3 at 50k rows).
_BOOT_TOL = 1e-6
_BOOT_MAX_ITER = 20
#: The columns of a coefficient table (``coef`` in the b sign).
COEFFICIENT_COLUMNS = ["term", "coef", "std_err", "z", "p", "ci_low", "ci_high"]


def reference_model(train: CellDesign, held: np.ndarray
                    ) -> tuple[ReferenceModel | None, list[str]]:
    """statsmodels Logit of churn on the sub-scores, unconstrained and unpenalized.

    Held (constant / never measured) and linearly dependent metrics are left out of the
    model; their rows are NaN. Returns the model (None when statsmodels cannot fit it) and
    notes for the warnings.
    """
    import statsmodels.api as sm

    live = np.flatnonzero(~held)
    keep = np.delete(live, dependent_columns(train.X[:, live]))
    try:
        with warnings.catch_warnings():
            # Overflow and convergence chatter of separated data; judged below.
            warnings.simplefilter("ignore")
            res = sm.Logit(train.y, sm.add_constant(train.X[:, keep], has_constant="add")
                           ).fit(disp=0, maxiter=100)
        params = np.asarray(res.params)
    except (np.linalg.LinAlgError, ValueError) as err:
        return None, [f"the unconstrained reference model could not be fitted ({err}); its "
                      "coefficient table is empty"]
    notes = []
    converged = bool(res.mle_retvals.get("converged", True))
    biggest = float(np.max(np.abs(params[1:]), initial=0.0))
    separated = not converged or biggest > SEPARATION_B
    if separated:
        notes.append(f"the unconstrained reference model is separated (coefficients up to "
                     f"{biggest:.0f}, {'not ' if not converged else ''}converged): its SEs "
                     "and p-values are not meaningful")
    # statsmodels' const is a; a metric's coefficient is -b: flip the metric rows.
    sign = np.r_[1.0, -np.ones(len(keep))]
    ci = np.asarray(res.conf_int(0.05)) * sign[:, None]
    table = pd.DataFrame({"term": ["const", *train.layout.metrics]}).reindex(
        columns=COEFFICIENT_COLUMNS)
    idx = np.r_[0, keep + 1]
    table.loc[idx, "coef"] = params * sign
    table.loc[idx, "std_err"] = np.asarray(res.bse)
    table.loc[idx, "z"] = np.asarray(res.tvalues) * sign
    table.loc[idx, "p"] = np.asarray(res.pvalues)
    table.loc[idx, "ci_low"] = np.minimum(ci[:, 0], ci[:, 1])
    table.loc[idx, "ci_high"] = np.maximum(ci[:, 0], ci[:, 1])
    table = table.astype({c: float for c in COEFFICIENT_COLUMNS[1:]})
    return ReferenceModel(table, float(params[0]), -params[1:], keep, separated), notes


def bootstrap_weights(train: CellDesign, prior, strength, held, start, n_bootstrap: int,
                      seed, n_jobs: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Account bootstrap at the chosen strength: refit on resampled accounts (frequency
    weights, every snapshot of a drawn account comes along), warm-started from ``start``.
    Each resample advances the counted step ``bootstrap <cell>`` of the progress reporter.

    The refits run on ``n_jobs`` threads (a resolved count). The resamples are drawn from
    ``seed`` in the calling thread, in order, and each refit depends only on its own
    weights and ``start``: the draws are the same whatever ``n_jobs``.

    Returns the usable resamples' effective weights (r, m) with the 95% percentile CIs of
    the metric and the component weights, or None when fewer than two resamples fit.
    """
    y, layout = train.y, train.layout
    # The design and the held metrics' offset are built once for all the refits.
    problem = HeldProblem(train.X, y, prior, held)
    inverse, blocks = account_count_blocks(train.groups, n_bootstrap,
                                           np.random.default_rng(seed))
    # A resample's Hessian is the full data's up to the resampling noise: the refits take
    # Newton steps with the full data's (the chord method), one pass over the rows a step.
    hessian = problem.hessian(start, strength)

    def refit(counts: np.ndarray) -> np.ndarray | None:
        w = counts[inverse]
        if not (w @ y) > 0:       # a resample without events says nothing
            return None
        b = problem.fit(w, strength, start=start, max_iter=_BOOT_MAX_ITER, tol=_BOOT_TOL,
                        exact=False, hessian=hessian).b
        return b / b.sum() if b.sum() > 0 else None

    v = np.full((n_bootstrap, train.X.shape[1]), np.nan)
    steps = progress.current().steps(f"bootstrap {train.cell.key}", n_bootstrap)
    r = 0
    with thread_map(n_jobs) as map_:
        for block in blocks:
            for weights in map_(refit, block):
                if weights is not None:
                    v[r] = weights
                r += 1
                steps.advance()
    v = v[np.isfinite(v).all(axis=1)]
    if len(v) < 2:
        return None
    comp = np.stack([layout.per_component(row) for row in v])
    return (v, np.quantile(v, [0.025, 0.975], axis=0).T,
            np.quantile(comp, [0.025, 0.975], axis=0).T)

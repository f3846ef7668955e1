"""Learn each stage's metric weights from churn history, starting from a config's weights.

Per stage, on the sub-scores ``s_m`` in [0, 1] (see :mod:`hscore.calibration.design`)::

    logit P(churn within the horizon) = a - sum_m b_m s_m,    b_m >= 0

A healthier metric never raises the churn risk. The fit is shrunk toward the
input config: the penalty ``strength * ||b - k v0||^2`` (on the mean log-loss
scale) pulls ``b`` toward the input effective weights ``v0`` scaled by ``k``,
the slope of a one-parameter fit of churn on the input score. ``strength`` is
chosen by cross-validated log-loss with folds grouped by account; ``inf``
returns the input weights exactly and ``0`` the sign-constrained
maximum-likelihood fit.

The exported effective weights are ``v = b / sum(b)``: the calibrated score
``100 * sum_m v_m s_m`` ranks rows exactly as the fitted model does, and the
stage's ``probability`` maps that score to a churn probability.

Examples
--------
>>> import warnings
>>> from hscore import synth
>>> from hscore.calibration.calibrator import calibrate
>>> history = synth.make_history(n_accounts=300, months=18, seed=1)
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     result = calibrate(history.frame, "lifecycle", horizon_days=30, n_bootstrap=20)
>>> sorted(result.config.stages) == sorted(result.base_config_.stages)
True
>>> bool(result.summary()["weight"].between(0, 1).all())
True
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hscore.config import Config, config_from_dict, load_config
from hscore.calibration.design import StageDesign, build_designs
from hscore.errors import DataError, HScoreError, HScoreWarning
from hscore.calibration.evaluation import (account_weight_blocks, single_threaded_blas, auc, auc_cis, brier, calibration_table,
                               log_loss)

if TYPE_CHECKING:
    from hscore.calibration.logistic import LogisticFit

__all__ = ["Calibrator", "CalibrationResult", "calibrate", "StageFit", "CalibrationWarning",
           "DEFAULT_STRENGTHS"]

#: The strengths tried by cross-validation (``inf`` = input weights, ``0`` = constrained MLE).
DEFAULT_STRENGTHS = (np.inf, 1.0, 0.3, 0.1, 0.03, 0.01, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 0.0)
#: A coefficient this large on a [0, 1] sub-score means odds of e^30: separated data.
_SEPARATION_B = 30.0
#: Pairs of metrics correlated beyond this are reported as collinear.
_COLLINEAR_R = 0.98
#: Bootstrap refits start from the full-data fit and stop at a looser gradient tolerance:
#: Newton converges quadratically from there, so at 40k rows 2-3 steps suffice and the
#: weights agree with an exact refit to ~2e-5, far below the bootstrap spread (~1e-2).
_BOOT_TOL = 1e-6
_BOOT_MAX_ITER = 20
#: What the weight lines say instead of a CI when a stage's weights are the input weights.
_FIXED_NOTE = "fixed at the input weights; no bootstrap CI"
_QUALITY_COLUMNS = ["stage", "model", "rows", "events", "accounts", "auc", "auc_low",
                    "auc_high", "brier", "log_loss"]


class CalibrationWarning(HScoreWarning):
    """Thin or awkward data in a stage: names the stage, the reason and what was done."""


@dataclass
class StageFit:
    """One stage's calibration. Weights are effective weights (component x metric weight).

    ``coef`` is ``b`` of the fitted model ``logit P = intercept - sum b s``;
    ``weights = b / sum(b)``. ``inference`` is the statsmodels coefficient
    table of the unconstrained model (``const`` and one row per metric, in the
    statsmodels sign: a negative ``coef`` means a healthier metric lowers churn
    risk). ``train_rows`` / ``holdout_rows`` are positions in the input frame;
    ``cv_fold`` gives, per training row, the cross-validation fold whose test
    set holds it (-1 without cross-validation). ``weights_ci`` / ``component_ci``
    are the bootstrap percentile CIs, ``None`` when there are none; ``ci_note``
    then says why (input weights kept, or the bootstrap gave no usable fit).
    """

    stage: str
    metrics: list[str]
    components: list[str]
    component_of: np.ndarray
    input_weights: np.ndarray
    status: str = "calibrated"
    k: float = 0.0
    strength: float = math.inf
    cv: pd.DataFrame | None = None
    intercept: float = math.nan
    coef: np.ndarray | None = None
    weights: np.ndarray | None = None
    weights_ci: np.ndarray | None = None
    component_ci: np.ndarray | None = None
    ci_note: str | None = None
    bootstrap_weights: np.ndarray | None = None
    probability: tuple[float, float] | None = None
    input_probability: tuple[float, float] | None = None
    inference: pd.DataFrame | None = None
    frozen: list[str] = field(default_factory=list)
    collinear: list[tuple[str, str]] = field(default_factory=list)
    separated: bool = False
    n_rows: int = 0
    n_accounts: int = 0
    n_events: int = 0
    n_censored: int = 0
    n_unscored: int = 0
    n_straddling: int = 0
    n_holdout_rows: int = 0
    n_holdout_events: int = 0
    n_holdout_accounts: int = 0
    n_holdout_unscored: int = 0
    train_rows: np.ndarray | None = None
    holdout_rows: np.ndarray | None = None
    cv_fold: np.ndarray | None = None
    quality: pd.DataFrame | None = None
    calibration: pd.DataFrame | None = None
    holdout: tuple | None = field(default=None, repr=False)
    reference: tuple | None = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list)

    @property
    def component_weights(self) -> np.ndarray:
        return np.bincount(self.component_of, weights=self.weights,
                           minlength=len(self.components))

    def linear_predictor(self, X: np.ndarray) -> np.ndarray:
        """``intercept - X @ coef`` on sub-scores in [0, 1] (higher = more churn risk)."""
        return self.intercept - X @ self.coef

    def weight_table(self) -> pd.DataFrame:
        """One row per metric: input and calibrated weight, bootstrap CI, b, and the
        unconstrained model's b (= -statsmodels coef), SE, z and p."""
        ci = (self.weights_ci if self.weights_ci is not None
              else np.full((len(self.metrics), 2), np.nan))
        table = pd.DataFrame({
            "stage": self.stage,
            "component": [self.components[c] for c in self.component_of],
            "metric": self.metrics, "input_weight": self.input_weights,
            "weight": self.weights, "ci_low": ci[:, 0], "ci_high": ci[:, 1],
            "b": self.coef if self.coef is not None else np.nan})
        if self.inference is not None:
            inf = self.inference.set_index("term").reindex(self.metrics)
            table["b_unconstrained"] = -inf["coef"].to_numpy()
            table["se"] = inf["std_err"].to_numpy()
            table["z"] = -inf["z"].to_numpy()
            table["p"] = inf["p"].to_numpy()
        return table


class Calibrator:
    """Calibrate a config's weights per stage against churn labels.

    Parameters
    ----------
    base_config : Config, str or path, default "lifecycle"
        The starting weights (the shrinkage target) and the transforms.
    holdout_from : date-like, optional
        Start of the out-of-time holdout. Training uses only snapshots whose
        label window ends on or before it (``snapshot_date + horizon <= holdout_from``);
        the holdout is every labelled snapshot on or after it. Default: the
        snapshot date that leaves about ``holdout_share`` of labelled rows in the holdout.
    horizon_days : int, optional
        Label horizon; default the config's ``label_horizon_days``.
    strengths : sequence of float, optional
        Penalty strengths tried by cross-validation (``inf`` = input weights,
        ``0`` = sign-constrained MLE). A single value skips cross-validation.
        Default :data:`DEFAULT_STRENGTHS`.
    cv_folds : int, default 5
        Folds, grouped by account (every snapshot of an account in one fold).
    n_bootstrap : int, default 200
        Account-bootstrap resamples for the weight CIs and the AUC CIs (0: no CIs).
    seed : int, default 0
        Seed of the bootstrap resamples: the same seed gives the same CIs.
    min_events : int, default 20
        A stage with fewer churn events in training keeps the input weights (with a warning).
    holdout_share : float, default 0.2
        Share of labelled rows in the default holdout.

    Attributes
    ----------
    config_ : Config
        The calibrated config (also ``config``), schema v1, with provenance.
    stages_ : dict[str, StageFit]
        Per stage: weights, bootstrap CIs, coefficient tables, counts, quality.
    quality_ : DataFrame
        Holdout AUC [CI], Brier and log-loss per stage and model
        (``calibrated``, ``input``, ``reference`` = unconstrained logistic model),
        plus, with more than one stage, ``all``: the stages pooled, each with its own
        probability mapping (a model only when every stage with holdout rows has a
        probability for it, so every ``all`` row covers the same rows).
    calibration_table_ : DataFrame
        Holdout calibration table (10 equal-count bins) per stage and model.
    strength_, probability_ : dict
        Per stage: the chosen penalty strength; ``(intercept, slope)`` of the
        mapping from score to churn probability.
    holdout_from_ : Timestamp
    horizon_days_ : int
    n_censored_, n_unscored_, n_straddling_ : int
        Rows left out: label unknown; no score (coverage); label window runs past
        the holdout start (neither training nor holdout).
    timings_ : dict[str, float]
        Wall seconds per phase (design, cross_validation, bootstrap, inference,
        evaluation, total).

    Notes
    -----
    Per stage: ``k`` comes from a one-parameter logistic fit of churn on the input
    score; cross-validation picks the strength with the lowest held-out log-loss
    (ties to the stronger pull), each fold pulling toward its own ``k`` fitted on the
    fold's training rows; the final fit uses all training rows and their ``k``. The bootstrap
    refits the model at the chosen strength and ``k`` on account resamples, so its
    percentile CIs describe the sampling spread of the exported weights given that
    strength (not the uncertainty of the strength choice itself). A stage left at the
    input weights (kept, or infinite strength chosen) has no CI: NaN in
    :meth:`summary`, a note instead in :meth:`weight_lines`.

    Rows with a metric missing are filled by the input config's ``missing`` rule
    for fitting; the holdout is scored exactly as each config scores it (for
    ``reweight`` the fill depends on the weights), and the probability mapping is
    fitted on the score the calibrated config itself gives.

    Warnings (:class:`CalibrationWarning`, naming the stage and the reason): fewer
    than ``min_events`` churn events or none (input weights kept), perfect or
    quasi-complete separation (strength 0 is not tried), a constant or never
    measured metric (held at ``k`` x its input weight), collinear metrics
    (strength 0 is not tried; the pull splits their weight), no metric lowering
    churn risk (input weights kept).

    Examples
    --------
    See the module docstring.
    """

    def __init__(self, base_config="lifecycle", *, holdout_from=None, horizon_days=None,
                 strengths=None, cv_folds=5, n_bootstrap=200, seed=0, min_events=20,
                 holdout_share=0.2):
        self.base_config = base_config
        self.holdout_from = holdout_from
        self.horizon_days = horizon_days
        self.strengths = strengths
        self.cv_folds = cv_folds
        self.n_bootstrap = n_bootstrap
        self.seed = seed
        self.min_events = min_events
        self.holdout_share = holdout_share

    # ------------------------------------------------------------ checks
    def _check_params(self, cfg: Config) -> tuple[float, ...]:
        horizon = self.horizon_days if self.horizon_days is not None else cfg.label_horizon_days
        if horizon is None:
            raise HScoreError("horizon_days: the label horizon is unknown; set "
                              "label_horizon_days in the config or pass --horizon-days")
        if isinstance(horizon, bool) or not (isinstance(horizon, (int, np.integer))
                                             and horizon > 0):
            raise HScoreError(f"horizon_days: must be a positive whole number of days, "
                              f"got {horizon!r}")
        self.horizon_days_ = int(horizon)
        for name, value, low in (("n_bootstrap", self.n_bootstrap, 0),
                                 ("cv_folds", self.cv_folds, 2),
                                 ("min_events", self.min_events, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise HScoreError(f"{name}: must be a whole number >= {low}, got {value!r}")
        if not 0 < self.holdout_share < 1:
            raise HScoreError(f"holdout_share: must lie in (0, 1), got {self.holdout_share!r}")
        strengths = (DEFAULT_STRENGTHS if self.strengths is None
                     else tuple(float(s) for s in np.atleast_1d(self.strengths)))
        if not strengths or any(not (s >= 0) for s in strengths):
            raise HScoreError("strengths: penalty strengths must be >= 0 (inf allowed)")
        return tuple(dict.fromkeys(strengths))

    # ------------------------------------------------------------------ fit
    def fit(self, frame: pd.DataFrame) -> "Calibrator":
        """Fit every stage present in ``frame``.

        Raises
        ------
        DataError
            No ``churned`` column, values other than 0/1/empty, no labelled row,
            no churn event at all, a config metric absent from the frame, or any
            snapshot-contract violation.
        HScoreError
            Bad parameters, a holdout date outside the labelled data, an unknown horizon.
        """
        self.timings_: dict[str, float] = {}
        with single_threaded_blas(), self._timed("total"):
            return self._fit_all(frame)

    @contextmanager
    def _timed(self, phase: str):
        """Add the wall time of the block to ``timings_[phase]`` (seconds)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings_[phase] = self.timings_.get(phase, 0.0) + time.perf_counter() - start

    def _fit_all(self, frame: pd.DataFrame) -> "Calibrator":
        cfg = load_config(self.base_config)
        self.base_config_ = cfg
        strengths = self._check_params(cfg)
        with self._timed("design"):
            dset = build_designs(frame, cfg)
        n_labelled = sum(d.n_rows for d in dset.designs.values())
        if n_labelled == 0:
            raise DataError("churned", "no scored row has a known label (all censored or "
                                       "without a score)", dset.n_censored + dset.n_unscored)
        if not any(d.n_events for d in dset.designs.values()):
            raise DataError("churned", "no churn events at all (every label is 0): there is "
                                       "nothing to learn from", n_labelled)
        all_days = np.concatenate([d.days for d in dset.designs.values()])
        holdout_day = self._holdout_day(all_days)
        self.holdout_from_ = pd.Timestamp(holdout_day, unit="D")
        self.n_censored_ = dset.n_censored
        self.n_unscored_ = dset.n_unscored
        # One seed per stage of the config, so a stage's resamples do not depend on which
        # other stages the data hold.
        stage_seeds = dict(zip(cfg.stages, np.random.SeedSequence(self.seed).spawn(
            len(cfg.stages))))
        self.stages_: dict[str, StageFit] = {}
        train_days, hold_days = [], []
        for stage, design in dset.designs.items():
            train_mask = design.days + self.horizon_days_ <= holdout_day
            hold_mask = design.days >= holdout_day
            train, hold = design.subset(train_mask), design.subset(hold_mask)
            train_days.append(train.days)
            hold_days.append(hold.days)
            fit = self._fit_stage(train, hold, strengths, stage_seeds[stage])
            fit.n_censored, fit.n_unscored = design.n_censored, design.n_unscored
            fit.n_straddling = int((~train_mask & ~hold_mask).sum())
            self.stages_[stage] = fit
        self.n_straddling_ = sum(f.n_straddling for f in self.stages_.values())
        self.absent_stages_ = [s for s in cfg.stages if s not in self.stages_]
        self.train_window_ = _window(np.concatenate(train_days))
        self.holdout_window_ = _window(np.concatenate(hold_days))
        with self._timed("evaluation"):
            self.quality_ = self._quality_table()
        cal = [f.calibration for f in self.stages_.values() if f.calibration is not None]
        self.calibration_table_ = (pd.concat(cal, ignore_index=True) if cal else
                                   pd.DataFrame(columns=["stage", "model", "bin", "rows",
                                                         "mean_predicted", "observed_rate"]))
        self.strength_ = {s: f.strength for s, f in self.stages_.items()}
        self.probability_ = {s: f.probability for s, f in self.stages_.items()}
        self.config_ = self._build_config()
        return self

    @property
    def config(self) -> Config:
        """The calibrated config (``config_``)."""
        return self.config_

    def _holdout_day(self, days: np.ndarray) -> int:
        lo, hi = int(days.min()), int(days.max())
        first, last = pd.Timestamp(lo, unit="D").date(), pd.Timestamp(hi, unit="D").date()
        if self.holdout_from is None:
            uniq = np.unique(days)
            target = np.quantile(days, 1 - self.holdout_share)
            day = int(uniq[min(np.searchsorted(uniq, target), len(uniq) - 1)])
            if day < lo + self.horizon_days_:
                raise HScoreError(
                    f"holdout_from: the labelled snapshots ({first} to {last}) span too little "
                    f"time for a {self.horizon_days_}-day label window before a holdout; pass "
                    "holdout_from (--holdout-from) or more history")
            return day
        try:
            ts = pd.Timestamp(self.holdout_from)
        except (ValueError, TypeError):
            raise HScoreError(f"holdout_from: {self.holdout_from!r} is not a date") from None
        if pd.isna(ts):
            raise HScoreError(f"holdout_from: {self.holdout_from!r} is not a date")
        day = int(np.datetime64(ts.date(), "D").astype(np.int64))
        if not lo + self.horizon_days_ <= day <= hi:
            earliest = pd.Timestamp(lo + self.horizon_days_, unit="D").date()
            raise HScoreError(
                f"holdout_from: {ts.date()} is outside the labelled data: it must leave "
                f"training snapshots whose {self.horizon_days_}-day label window ends before "
                f"it and labelled snapshots on or after it (labelled snapshots run from "
                f"{first} to {last}, so from {earliest} to {last})")
        return day

    # -------------------------------------------------------- one stage
    def _warn(self, fit: StageFit, reason: str) -> None:
        fit.warnings.append(reason)
        warnings.warn(f"stage '{fit.stage}': {reason}", CalibrationWarning, stacklevel=4)

    def _keep_input(self, fit: StageFit, train: StageDesign, hold: StageDesign,
                    status: str) -> StageFit:
        """Leave the stage at the input weights (scaled by k when there is a k)."""
        fit.status = status
        fit.strength = math.inf
        fit.weights = fit.input_weights.copy()
        self._no_ci(fit, _FIXED_NOTE)
        if 0 < train.n_events < train.n_rows:
            final = fit_logistic(train.X, train.y, prior=fit.k * fit.input_weights,
                                 strength=np.inf)
            fit.intercept, fit.coef = final.a, final.b
            fit.probability = fit.input_probability
        else:
            fit.coef = np.zeros(len(fit.metrics))
        self._evaluate(fit, hold)
        return fit

    def _no_ci(self, fit: StageFit, note: str) -> None:
        """No bootstrap CI for this stage: a zero-width interval would read as certainty."""
        fit.weights_ci = fit.component_ci = None
        if self.n_bootstrap:
            fit.ci_note = note

    def _fit_stage(self, train: StageDesign, hold: StageDesign, strengths, seed) -> StageFit:
        fit = StageFit(train.stage, train.metrics, train.components, train.component_of,
                       train.input_weights, n_rows=train.n_rows, n_accounts=train.n_accounts,
                       n_events=train.n_events, n_holdout_rows=hold.n_rows,
                       n_holdout_events=hold.n_events, n_holdout_accounts=hold.n_accounts,
                       train_rows=train.rows, holdout_rows=hold.rows,
                       cv_fold=np.full(train.n_rows, -1))
        if train.n_rows == 0 or train.n_events == 0 or train.n_events == train.n_rows:
            what = ("no labelled training rows" if train.n_rows == 0 else
                    "no churn events" if train.n_events == 0 else "every row churned")
            self._warn(fit, f"{what} in the training window ({train.n_rows} rows); kept the "
                            "input weights and fitted no probability mapping")
            return self._keep_input(fit, train, hold, "kept input weights (no events)"
                                    if train.n_events == 0 else "kept input weights")

        X, y, groups = train.X, train.y, train.groups
        v0 = train.input_weights
        frozen = self._diagnose(fit, train)

        # k: how strongly the input score predicts churn (its one-parameter fit).
        k_fit = fit_logistic((X @ v0)[:, None], y)
        fit.k = float(k_fit.b[0])
        fit.input_probability = (k_fit.a, -fit.k / 100.0)
        if not fit.k > 0:
            self._warn(fit, "the input score does not lower churn risk in training (k = 0); "
                            "the pull toward the input weights is a pull toward 0")
        prior = fit.k * v0

        if train.n_events < self.min_events:
            self._warn(fit, f"only {train.n_events} churn events in training (fewer than "
                            f"{self.min_events}); kept the input weights")
            return self._keep_input(fit, train, hold, "kept input weights (thin data)")
        if len(np.unique(groups)) < 2 and len(strengths) > 1:
            self._warn(fit, "a single account in training: cross-validation is impossible; "
                            "kept the input weights")
            return self._keep_input(fit, train, hold, "kept input weights (one account)")

        mle = self._fit(X, y, None, prior, 0.0, frozen)
        if np.max(mle.b, initial=0.0) > _SEPARATION_B or not mle.converged:
            fit.separated = True
            self._warn(fit, "perfect or quasi-complete separation: the unpenalized fit drives "
                            f"a coefficient to {np.max(mle.b):.0f}; strength 0 is not tried, "
                            "so the pull toward the input weights keeps them finite")
            strengths = tuple(s for s in strengths if s > 0) or (DEFAULT_STRENGTHS[1],)
        if fit.collinear and 0.0 in strengths:
            strengths = tuple(s for s in strengths if s > 0) or (DEFAULT_STRENGTHS[1],)

        if len(strengths) == 1:
            chosen = strengths[0]
        else:
            with self._timed("cross_validation"):
                chosen, fit.cv, fit.cv_fold = self._cross_validate(X, y, groups, v0,
                                                                   strengths, frozen)
        fit.strength = float(chosen)
        final = mle if chosen == 0 else self._fit(X, y, None, prior, chosen, frozen,
                                                  start=mle)
        total = final.b.sum()
        if not total > 0:
            self._warn(fit, "no metric lowers churn risk in training (every fitted weight is "
                            "0); kept the input weights")
            return self._keep_input(fit, train, hold, "kept input weights (no signal)")
        fit.intercept, fit.coef = float(final.a), final.b
        # At infinite strength b = k v0, so v = v0: return it exactly, not up to rounding.
        fit.weights = v0.copy() if np.isinf(chosen) else final.b / total

        if self.n_bootstrap and np.isfinite(chosen):
            with self._timed("bootstrap"):
                self._bootstrap(fit, X, y, groups, prior, chosen, frozen, final, seed)
        else:
            # Infinite strength returns the input weights whatever the sample: no CI to show.
            self._no_ci(fit, _FIXED_NOTE)

        with self._timed("inference"):
            fit.inference = self._inference(train, fit, frozen)
        # Probability mapping: churn ~ calibrated score (intercept and slope), on training,
        # with the score the calibrated config itself gives (missing metrics refilled).
        score = train.score_with(fit.weights)
        p_fit = fit_logistic(score[:, None] / 100.0, y, nonneg=False)
        fit.probability = (float(p_fit.a), -float(p_fit.b[0]) / 100.0)
        self._evaluate(fit, hold)
        return fit

    def _diagnose(self, fit: StageFit, train: StageDesign) -> np.ndarray:
        """Constant / never-measured metrics (held at the prior) and collinear pairs."""
        X = train.X
        sd = X.std(axis=0)
        never = ~train.measured.any(axis=0)
        frozen = (sd < 1e-9) | never
        for j in np.flatnonzero(frozen):
            why = "never measured" if never[j] else "constant"
            self._warn(fit, f"metric '{train.metrics[j]}' is {why} in training: the data say "
                            "nothing about it; its weight is held at k x its input weight")
        fit.frozen = [train.metrics[j] for j in np.flatnonzero(frozen)]
        live = np.flatnonzero(~frozen)
        if len(live) > 1:
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = np.corrcoef(X[:, live], rowvar=False)
            for i, j in zip(*np.triu_indices(len(live), 1)):
                if abs(corr[i, j]) > _COLLINEAR_R:
                    a, b = train.metrics[live[i]], train.metrics[live[j]]
                    fit.collinear.append((a, b))
                    self._warn(fit, f"metrics '{a}' and '{b}' are collinear (correlation "
                                    f"{corr[i, j]:.3f}): the data cannot split weight between "
                                    "them; the pull toward the input weights decides the split")
            if not fit.collinear:
                dropped = _dependent_columns(X[:, live])
                if dropped:
                    names = ", ".join(f"'{train.metrics[live[j]]}'" for j in dropped)
                    fit.collinear.append(tuple(train.metrics[live[j]] for j in dropped))
                    self._warn(fit, f"metrics {names} are linear combinations of other metrics "
                                    "(collinear): the pull toward the input weights decides "
                                    "their share")
        return frozen

    @staticmethod
    def _fit(X, y, w, prior, strength, frozen, start=None, max_iter=100, tol=1e-10,
             exact=True) -> LogisticFit:
        """fit_logistic with the ``frozen`` metrics held at their prior (as an offset)."""
        from hscore.calibration.logistic import LogisticFit
        if not frozen.any() or np.isinf(strength):
            return fit_logistic(X, y, sample_weight=w, prior=prior, strength=strength,
                                start=start, max_iter=max_iter, tol=tol, exact=exact)
        free = ~frozen
        offset = -(X[:, frozen] @ prior[frozen])
        sub = fit_logistic(X[:, free], y, sample_weight=w, prior=prior[free],
                           strength=strength, offset=offset, max_iter=max_iter,
                           tol=tol, exact=exact, start=None if start is None else
                           LogisticFit(start.a, start.b[free], True, 0))
        b = prior.copy()
        b[free] = sub.b
        return LogisticFit(sub.a, b, sub.converged, sub.n_iter)

    def _cross_validate(self, X, y, groups, v0, strengths, frozen):
        """Mean held-out log-loss per strength over account-grouped folds.

        Each fold pulls toward ``k_f v0``, with ``k_f`` the one-parameter fit of churn on
        the input score over the fold's training rows only: a ``k`` fitted on all rows
        would let the test fold's labels into the penalty centre. The path runs from the
        strongest pull to the weakest, each fit warm-started from the previous one. Ties
        go to the stronger pull.
        """
        from sklearn.model_selection import GroupKFold

        order = sorted(strengths, key=lambda s: -s)
        n_folds = min(self.cv_folds, len(np.unique(groups)))
        folds = GroupKFold(n_splits=n_folds)
        losses = np.zeros((n_folds, len(order)))
        sizes = np.zeros(n_folds)
        fold_of = np.full(len(y), -1)
        for f, (tr, te) in enumerate(folds.split(X, y, groups)):
            fold_of[te] = f
            sizes[f] = len(te)
            prior = float(fit_logistic((X[tr] @ v0)[:, None], y[tr]).b[0]) * v0
            start = None
            for i, s in enumerate(order):
                fit = self._fit(X[tr], y[tr], None, prior, s, frozen, start)
                start = fit if np.isfinite(s) else None
                eta = fit.a - X[te] @ fit.b
                losses[f, i] = np.mean(np.logaddexp(0.0, eta) - y[te] * eta)
        mean = (losses * sizes[:, None]).sum(0) / sizes.sum()
        se = losses.std(axis=0, ddof=1) / np.sqrt(n_folds)
        best = int(np.argmin(np.round(mean, 12)))
        table = pd.DataFrame({"strength": order, "cv_log_loss": mean, "se": se})
        return float(order[best]), table, fold_of

    def _bootstrap(self, fit, X, y, groups, prior, strength, frozen, final, seed) -> None:
        """Account bootstrap at the chosen strength: refit on resampled accounts (frequency
        weights, every snapshot of a drawn account comes along), warm-started."""
        m = X.shape[1]
        v = np.full((self.n_bootstrap, m), np.nan)
        r = 0
        for block in account_weight_blocks(groups, self.n_bootstrap,
                                           np.random.default_rng(seed)):
            for w in block:
                if (w @ y) > 0:       # a resample without events says nothing
                    b = self._fit(X, y, w, prior, strength, frozen, start=final,
                                  max_iter=_BOOT_MAX_ITER, tol=_BOOT_TOL, exact=False).b
                    if b.sum() > 0:
                        v[r] = b / b.sum()
                r += 1
        ok = np.isfinite(v).all(axis=1)
        if ok.sum() < 2:
            self._warn(fit, "the bootstrap resamples gave no usable fit; the weights have no CI")
            self._no_ci(fit, "no CI: the bootstrap resamples gave no usable fit")
            return
        v = v[ok]
        comp = np.stack([np.bincount(fit.component_of, weights=row, minlength=len(fit.components))
                         for row in v])
        fit.bootstrap_weights = v
        fit.weights_ci = np.quantile(v, [0.025, 0.975], axis=0).T
        fit.component_ci = np.quantile(comp, [0.025, 0.975], axis=0).T

    def _inference(self, train: StageDesign, fit: StageFit, frozen: np.ndarray) -> pd.DataFrame:
        """statsmodels Logit of churn on the sub-scores, unconstrained and unpenalized.

        Frozen (constant / never measured) and linearly dependent metrics are left
        out of the model; their rows are NaN.
        """
        import statsmodels.api as sm

        live = np.flatnonzero(~frozen)
        keep = np.delete(live, _dependent_columns(train.X[:, live]))
        terms = ["const"] + list(train.metrics)
        table = pd.DataFrame({"term": terms, "coef": np.nan, "std_err": np.nan, "z": np.nan,
                              "p": np.nan, "ci_low": np.nan, "ci_high": np.nan})
        fit.reference = None
        try:
            with warnings.catch_warnings():
                # Overflow and convergence chatter of separated data; judged below.
                warnings.simplefilter("ignore")
                res = sm.Logit(train.y, sm.add_constant(train.X[:, keep], has_constant="add")
                               ).fit(disp=0, maxiter=100)
            params = np.asarray(res.params)
        except (np.linalg.LinAlgError, ValueError) as err:
            self._warn(fit, f"the unconstrained reference model could not be fitted ({err}); "
                            "its coefficient table is empty")
            return table
        converged = bool(res.mle_retvals.get("converged", True))
        if not converged or np.max(np.abs(params[1:]), initial=0.0) > _SEPARATION_B:
            self._warn(fit, "the unconstrained reference model is separated (coefficients "
                            f"up to {np.max(np.abs(params[1:]), initial=0.0):.0f}, "
                            f"{'not ' if not converged else ''}converged): its SEs and "
                            "p-values are not meaningful")
            fit.separated = True
        ci = np.asarray(res.conf_int(0.05))
        idx = np.r_[0, keep + 1]
        table.loc[idx, "coef"] = params
        table.loc[idx, "std_err"] = np.asarray(res.bse)
        table.loc[idx, "z"] = np.asarray(res.tvalues)
        table.loc[idx, "p"] = np.asarray(res.pvalues)
        table.loc[idx, "ci_low"] = ci[:, 0]
        table.loc[idx, "ci_high"] = ci[:, 1]
        fit.reference = (params, keep)
        return table

    # --------------------------------------------------------- evaluation
    def _evaluate(self, fit: StageFit, hold: StageDesign) -> None:
        with self._timed("evaluation"):
            self._evaluate_holdout(fit, hold)

    def _evaluate_holdout(self, fit: StageFit, hold: StageDesign) -> None:
        """Holdout quality of the calibrated config, the input config and the reference.

        On the holdout rows both configs score (the calibrated weights may leave a row
        under ``min_coverage`` that the input weights cover; such rows are counted in
        ``n_holdout_unscored``), so the three models are judged on the same rows.
        """
        scored = hold.scored_by(fit.weights)
        fit.n_holdout_unscored = int((~scored).sum())
        if fit.n_holdout_unscored:
            hold = hold.subset(scored)
        fit.holdout_rows = hold.rows
        fit.n_holdout_rows, fit.n_holdout_events = hold.n_rows, hold.n_events
        fit.n_holdout_accounts = hold.n_accounts
        models = self._holdout_predictions(fit, hold)
        rows, cal = [], []
        both = hold.n_rows > 0 and 0 < hold.n_events < hold.n_rows
        aucs = self._aucs(hold.y, [risk for risk, _ in models.values()], hold.groups) if both \
            else [None] * len(models)
        for (name, (risk, prob)), auc_row in zip(models.items(), aucs):
            row = {"stage": fit.stage, "model": name, "rows": hold.n_rows,
                   "events": hold.n_events, "accounts": hold.n_accounts}
            if auc_row is not None:
                row.update(zip(("auc", "auc_low", "auc_high"), auc_row))
            if prob is not None and hold.n_rows:
                row.update(brier=brier(hold.y, prob), log_loss=log_loss(hold.y, prob))
                t = calibration_table(hold.y, prob)
                t.insert(0, "model", name)
                t.insert(0, "stage", fit.stage)
                cal.append(t)
            rows.append(row)
        fit.quality = pd.DataFrame(rows).reindex(columns=_QUALITY_COLUMNS)
        fit.calibration = pd.concat(cal, ignore_index=True) if cal else None
        fit.holdout = (hold.y, hold.groups, models)

    def _aucs(self, y, risks, groups) -> list[tuple[float, float, float]]:
        """AUC per risk with account-bootstrap CIs on paired resamples (NaN CIs without
        resamples)."""
        if self.n_bootstrap:
            return auc_cis(y, risks, groups, self.n_bootstrap, self.seed)
        return [(auc(y, r), np.nan, np.nan) for r in risks]

    @staticmethod
    def _holdout_predictions(fit: StageFit, hold: StageDesign) -> dict:
        """Per model: (risk for the AUC, churn probability or None) on the holdout rows.

        The calibrated and input models score the holdout exactly as their configs do.
        """
        from scipy.special import expit

        models = {}
        score = hold.score_with(fit.weights)
        prob = (expit(fit.probability[0] + fit.probability[1] * score)
                if fit.probability else None)
        models["calibrated"] = (-score, prob)
        default = hold.score_with(fit.input_weights)
        prob = (expit(fit.input_probability[0] + fit.input_probability[1] * default)
                if fit.input_probability else None)
        models["input"] = (-default, prob)
        ref = fit.reference
        if ref is not None:
            params, keep = ref
            eta = params[0] + hold.X[:, keep] @ params[1:]
            models["reference"] = (eta, expit(eta))
        return models

    def _quality_table(self) -> pd.DataFrame:
        parts = [f.quality for f in self.stages_.values() if f.quality is not None]
        table = pd.concat(parts, ignore_index=True)
        # Pooled: each stage's own probability, one ranking for the whole book. A model is
        # pooled only when every stage with holdout rows has a probability for it, so the
        # pooled rows of all models are the same rows (a stage kept at the input weights
        # has no reference model; pooling the others without it would compare models on
        # different books).
        pooled = []
        held = [f.holdout for f in self.stages_.values() if len(f.holdout[0])]
        # A single stage (e.g. the config's only stage "all") needs no pooled rows.
        for model in ("calibrated", "input", "reference") if len(parts) > 1 else ():
            if not held or any(models.get(model, (None, None))[1] is None
                               for _, _, models in held):
                continue
            ys = [y for y, _, _ in held]
            gs = [g for _, g, _ in held]
            probs = [models[model][1] for _, _, models in held]
            y, g, p = map(np.concatenate, (ys, gs, probs))
            row = {"stage": "all", "model": model, "rows": len(y), "events": int(y.sum()),
                   "accounts": len(np.unique(g)), "brier": brier(y, p), "log_loss": log_loss(y, p)}
            if 0 < y.sum() < len(y):
                row.update(zip(("auc", "auc_low", "auc_high"), self._aucs(y, [p], g)[0]))
            pooled.append(row)
        if pooled:
            table = pd.concat([table, pd.DataFrame(pooled)], ignore_index=True)
        return table.reindex(columns=_QUALITY_COLUMNS)

    # -------------------------------------------------------------- export
    def _build_config(self) -> Config:
        base = self.base_config_
        data = base.to_dict()
        for stage, fit in self.stages_.items():
            comps = data["stages"][stage]["components"]
            cw = fit.component_weights
            for ci, cname in enumerate(fit.components):
                comps[cname]["weight"] = float(cw[ci])
                cols = np.flatnonzero(fit.component_of == ci)
                share = (fit.weights[cols] / cw[ci] if cw[ci] > 0
                         else np.full(len(cols), 1.0 / len(cols)))
                for j, w in zip(cols, share):
                    comps[cname]["metrics"][fit.metrics[j]]["weight"] = float(w)
            if fit.probability is not None:
                data["stages"][stage]["probability"] = {
                    "intercept": float(fit.probability[0]), "slope": float(fit.probability[1])}
        quality = {}
        for _, r in self.quality_[self.quality_["model"] == "calibrated"].iterrows():
            quality[r["stage"]] = {k: _num(r[k], 6) for k in
                                   ("auc", "auc_low", "auc_high", "brier", "log_loss")}
            quality[r["stage"]].update(holdout_rows=int(r["rows"]),
                                       holdout_events=int(r["events"]))
        fmt = (lambda w: None if w is None else [str(w[0].date()), str(w[1].date())])
        data["name"] = f"{base.name}-calibrated"
        data["label_horizon_days"] = self.horizon_days_
        data["provenance"] = {
            "source": "calibration",
            "method": ("per-stage logistic fit of churn on the metric sub-scores, b >= 0, "
                       "shrunk toward k x input weights; strength by account-grouped "
                       f"{self.cv_folds}-fold CV log-loss; account-bootstrap CIs"),
            "input_config": base.name,
            "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "data_window": {"train": fmt(self.train_window_),
                            "holdout": fmt(self.holdout_window_),
                            "holdout_from": str(self.holdout_from_.date()),
                            "horizon_days": self.horizon_days_},
            "rows": {s: {"train": f.n_rows, "train_events": f.n_events,
                         "accounts": f.n_accounts, "holdout": f.n_holdout_rows,
                         "holdout_events": f.n_holdout_events, "censored": f.n_censored,
                         "no_score": f.n_unscored, "straddling_holdout": f.n_straddling,
                         "holdout_unscored": f.n_holdout_unscored}
                     for s, f in self.stages_.items()},
            "left_out": {"censored": self.n_censored_, "no_score": self.n_unscored_,
                         "straddling_holdout": self.n_straddling_},
            "strength": {s: float(f.strength) for s, f in self.stages_.items()},
            "status": {**{s: f.status for s, f in self.stages_.items()},
                       **{s: "not in data: input weights" for s in self.absent_stages_}},
            "quality": quality,
            "bootstrap": {"n": self.n_bootstrap, "seed": self.seed},
        }
        return config_from_dict(data)

    # -------------------------------------------------------------- display
    def summary(self) -> pd.DataFrame:
        """One row per (stage, metric): input weight, calibrated weight with its bootstrap CI,
        the fitted b, and the unconstrained model's b, SE, z and p."""
        return pd.concat([f.weight_table() for f in self.stages_.values()], ignore_index=True)

    def coefficients(self) -> pd.DataFrame:
        """The statsmodels coefficient tables of the unconstrained models, all stages."""
        parts = [f.inference.assign(stage=s) for s, f in self.stages_.items()
                 if f.inference is not None]
        if not parts:
            return pd.DataFrame(columns=["stage", "term", "coef", "std_err", "z", "p",
                                         "ci_low", "ci_high"])
        table = pd.concat(parts, ignore_index=True)
        return table[["stage"] + [c for c in table.columns if c != "stage"]]

    def component_summary(self) -> pd.DataFrame:
        """One row per (stage, component): input and calibrated weight with bootstrap CI."""
        rows = []
        for f in self.stages_.values():
            cw = f.component_weights
            v0 = np.bincount(f.component_of, weights=f.input_weights, minlength=len(f.components))
            for ci, c in enumerate(f.components):
                rows.append({"stage": f.stage, "component": c, "input_weight": v0[ci],
                             "weight": cw[ci],
                             "ci_low": f.component_ci[ci, 0] if f.component_ci is not None
                             else np.nan,
                             "ci_high": f.component_ci[ci, 1] if f.component_ci is not None
                             else np.nan})
        return pd.DataFrame(rows)

    def stage_table(self) -> pd.DataFrame:
        """Per stage: status, strength, k, probability mapping, rows / accounts / events used
        and left out, holdout AUC per model."""
        q = self.quality_.set_index(["stage", "model"])
        rows = []
        for s, f in self.stages_.items():
            prob = f.probability or (np.nan, np.nan)
            row = {"stage": s, "status": f.status, "strength": f.strength, "k": f.k,
                   "prob_intercept": prob[0], "prob_slope": prob[1],
                   "rows": f.n_rows, "accounts": f.n_accounts, "events": f.n_events,
                   "censored": f.n_censored, "no_score": f.n_unscored,
                   "straddling": f.n_straddling, "holdout_rows": f.n_holdout_rows,
                   "holdout_events": f.n_holdout_events,
                   "holdout_unscored": f.n_holdout_unscored}
            for model in ("calibrated", "input", "reference"):
                row[f"auc_{model}"] = q["auc"].get((s, model), np.nan)
            rows.append(row)
        return pd.DataFrame(rows)

    def weight_lines(self) -> str:
        """Per stage and metric: ``old weight -> new weight [CI]``, as plain text.

        A stage without a CI (input weights kept, or chosen by cross-validation) says
        why in place of the CI; without a bootstrap (``n_bootstrap=0``) there is no CI.
        """
        lines = []
        for f in self.stages_.values():
            lines.append(f"{f.stage}  ({f.status}; strength {f.strength:g}; "
                         f"{f.n_events} events in {f.n_rows} training rows, "
                         f"{f.n_accounts} accounts)")
            for j, m in enumerate(f.metrics):
                ci = (f" [{f.weights_ci[j, 0]:.3f}, {f.weights_ci[j, 1]:.3f}]"
                      if f.weights_ci is not None else
                      f" ({f.ci_note})" if f.ci_note else "")
                lines.append(f"  {f.components[f.component_of[j]]:<22} {m:<32} "
                             f"{f.input_weights[j]:.3f} -> {f.weights[j]:.3f}{ci}")
        return "\n".join(lines)

    def print_summary(self, warnings: bool = True) -> None:
        """Print the header, the weight lines, the holdout quality and the warnings.

        Parameters
        ----------
        warnings : bool, default True
            Print the calibration warnings too (the CLI has printed them on stderr already).
        """
        print(self._header())
        print()
        print(self.weight_lines())
        print()
        print("holdout quality (AUC [95% CI], Brier, log-loss):")
        print(self.quality_.round(4).to_string(index=False))
        for f in self.stages_.values() if warnings else ():
            for w in f.warnings:
                print(f"warning: stage '{f.stage}': {w}")

    def _header(self) -> str:
        return (f"calibration of '{self.base_config_.name}': horizon {self.horizon_days_} days, "
                f"holdout from {self.holdout_from_.date()}; left out: {self.n_censored_} "
                f"censored, {self.n_unscored_} without score, {self.n_straddling_} straddling "
                f"the holdout start")

    def _repr_html_(self) -> str:
        if not hasattr(self, "stages_"):
            return f"<pre>{html.escape(repr(self))}</pre>"
        parts = [f"<h4>{html.escape(self._header())}</h4>",
                 self.stage_table().round(4).to_html(index=False),
                 self.summary().round(4).to_html(index=False),
                 self.quality_.round(4).to_html(index=False)]
        warns = [f"stage '{f.stage}': {w}" for f in self.stages_.values() for w in f.warnings]
        if warns:
            parts.append("<ul>" + "".join(f"<li>{html.escape(w)}</li>" for w in warns) + "</ul>")
        return "\n".join(parts)

    def __repr__(self) -> str:
        if not hasattr(self, "stages_"):
            return f"Calibrator(base_config={self.base_config!r}) (not fitted)"
        return f"Calibrator({self._header()})"


#: The fitted :class:`Calibrator` is the result object (lifelines style).
CalibrationResult = Calibrator


def calibrate(frame: pd.DataFrame, config="lifecycle", **kwargs) -> Calibrator:
    """Calibrate ``config`` on ``frame``: ``Calibrator(config, **kwargs).fit(frame)``.

    See :class:`Calibrator` for the parameters; the result's ``config`` is the
    calibrated config, ``summary()`` the weight table and ``quality_`` the holdout quality.
    """
    return Calibrator(config, **kwargs).fit(frame)


# ------------------------------------------------------------------ helpers
def fit_logistic(*args, **kwargs):
    """:func:`hscore.calibration.logistic.fit_logistic`, imported on first use: it loads scipy, and
    ``import hscore`` (which exports :func:`calibrate`) stays free of it."""
    from hscore.calibration.logistic import fit_logistic as fit

    return fit(*args, **kwargs)


def _window(days: np.ndarray):
    if not len(days):
        return None
    return pd.Timestamp(days.min(), unit="D"), pd.Timestamp(days.max(), unit="D")


def _num(value, digits: int):
    return None if value is None or pd.isna(value) else round(float(value), digits)


def _dependent_columns(X: np.ndarray, tol: float = 1e-8) -> list[int]:
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

"""Learn each stage's metric weights from churn history, starting from a config's weights.

Per stage, on the sub-scores ``s_m`` in [0, 1] (see :mod:`hscore.design`)::

    logit P(churn within the horizon) = a - sum_m b_m s_m,    b_m >= 0

A healthier metric never raises the churn risk. The fit is shrunk toward the
input config: the penalty ``strength * ||b - k v0||^2`` pulls ``b`` toward the
input effective weights ``v0`` scaled by ``k``, the slope of a one-parameter
fit of churn on the input score. ``strength`` is chosen by cross-validated
log-loss with folds grouped by account; ``inf`` returns the input weights
exactly and ``0`` the sign-constrained maximum-likelihood fit.

The exported effective weights are ``v = b / sum(b)``: the calibrated score
``100 * sum_m v_m s_m`` ranks rows exactly as the fitted model does, and the
stage's ``probability`` maps that score to a churn probability.

Examples
--------
>>> import warnings
>>> from hscore import synth
>>> from hscore.calibrate import calibrate
>>> history = synth.make_history(n_accounts=300, months=18, seed=1)
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     result = calibrate(history.frame, "lifecycle", horizon_days=30, n_bootstrap=20)
>>> sorted(result.config.stages) == sorted(result.base_config.stages)
True
>>> bool(result.summary()["weight"].between(0, 1).all())
True
"""

from __future__ import annotations

import datetime as _dt
import html
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hscore.config import Config, config_from_dict, load_config
from hscore.design import StageDesign, build_designs
from hscore.errors import DataError, HScoreError, HScoreWarning
from hscore.evaluation import (account_weights, auc_ci, brier, calibration_table, log_loss)
from hscore.logistic import LogisticFit, fit_logistic

__all__ = ["Calibrator", "calibrate", "StageFit", "CalibrationWarning", "DEFAULT_STRENGTHS"]

#: The strengths tried by cross-validation, strongest first (warm starts run down the path).
DEFAULT_STRENGTHS = (np.inf, 1.0, 0.3, 0.1, 0.03, 0.01, 3e-3, 1e-3, 3e-4, 1e-4, 1e-5, 0.0)
_SEPARATION_B = 30.0   # a coefficient this large on a [0, 1] sub-score means odds of e^30


class CalibrationWarning(HScoreWarning):
    """Thin or awkward data in a stage: the stage, the reason and what was done about it."""


@dataclass
class StageFit:
    """One stage's calibration. Weights are effective weights (component x metric)."""

    stage: str
    metrics: list[str]
    components: list[str]
    component_of: np.ndarray
    input_weights: np.ndarray
    status: str = "calibrated"
    k: float = np.nan
    strength: float = np.nan
    cv: pd.DataFrame | None = None
    intercept: float = np.nan
    coef: np.ndarray | None = None
    weights: np.ndarray | None = None
    weights_ci: np.ndarray | None = None
    component_ci: np.ndarray | None = None
    probability: tuple[float, float] | None = None
    input_probability: tuple[float, float] | None = None
    inference: pd.DataFrame | None = None
    n_rows: int = 0
    n_accounts: int = 0
    n_events: int = 0
    n_holdout_rows: int = 0
    n_holdout_events: int = 0
    quality: pd.DataFrame | None = None
    calibration: pd.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def component_weights(self) -> np.ndarray:
        return np.bincount(self.component_of, weights=self.weights,
                           minlength=len(self.components))

    def weight_table(self) -> pd.DataFrame:
        rows = []
        for j, m in enumerate(self.metrics):
            rows.append({"stage": self.stage, "component": self.components[self.component_of[j]],
                         "metric": m, "input_weight": self.input_weights[j],
                         "weight": self.weights[j],
                         "ci_low": self.weights_ci[j, 0] if self.weights_ci is not None else np.nan,
                         "ci_high": self.weights_ci[j, 1] if self.weights_ci is not None else np.nan,
                         "b": self.coef[j] if self.coef is not None else np.nan})
        table = pd.DataFrame(rows)
        if self.inference is not None:
            inf = self.inference.set_index("metric")[["b_unconstrained", "se", "z", "p"]]
            table = table.join(inf, on="metric")
        return table


def _fail_warning(fit: StageFit, reason: str) -> None:
    text = f"stage '{fit.stage}': {reason}"
    fit.warnings.append(reason)
    warnings.warn(text, CalibrationWarning, stacklevel=4)


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
    cv_folds : int, default 5
        Folds, grouped by account.
    n_bootstrap : int, default 200
        Account-bootstrap resamples for the weight CIs and the AUC CIs.
    seed : int, default 0
    min_events : int, default 20
        A stage with fewer churn events in training keeps the input weights (with a warning).
    holdout_share : float, default 0.2

    Attributes
    ----------
    config_ : Config
        The calibrated config (also ``config``), with provenance.
    stages_ : dict[str, StageFit]
    quality_ : DataFrame
        Holdout AUC [CI], Brier and log-loss per stage and model
        (``calibrated``, ``input``, ``reference`` = unconstrained logistic model).
    holdout_from_ : Timestamp
    n_censored_, n_unscored_, n_straddling_ : int
        Rows left out: unknown label; no score (coverage); label window straddles the holdout.
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

    # ------------------------------------------------------------------ fit
    def fit(self, frame: pd.DataFrame) -> "Calibrator":
        cfg = load_config(self.base_config)
        self.base_config_ = cfg
        horizon = self.horizon_days if self.horizon_days is not None else cfg.label_horizon_days
        if horizon is None:
            raise HScoreError("horizon_days: the label horizon is unknown; set "
                              "label_horizon_days in the config or pass --horizon-days")
        if not (isinstance(horizon, (int, np.integer)) and horizon > 0):
            raise HScoreError(f"horizon_days: must be a positive whole number of days, "
                              f"got {horizon!r}")
        self.horizon_days_ = int(horizon)
        if self.n_bootstrap < 0 or self.cv_folds < 2:
            raise HScoreError("n_bootstrap must be >= 0 and cv_folds >= 2")
        strengths = tuple(self.strengths) if self.strengths is not None else DEFAULT_STRENGTHS
        if not strengths or any(not (s >= 0) for s in strengths):
            raise HScoreError("strengths: penalty strengths must be >= 0 (inf allowed)")

        dset = build_designs(frame, cfg)
        if not dset.designs or all(d.n_rows == 0 for d in dset.designs.values()):
            raise DataError("churned", "no row has a known label (all censored)",
                            dset.n_censored)
        all_days = np.concatenate([d.days for d in dset.designs.values()])
        if not any(d.n_events for d in dset.designs.values()):
            raise DataError("churned", "no churn events at all: there is nothing to learn from",
                            len(all_days))
        holdout_day = self._holdout_day(all_days)
        self.holdout_from_ = pd.Timestamp(holdout_day, unit="D")
        self.n_censored_ = dset.n_censored
        self.n_unscored_ = dset.n_unscored
        self.n_straddling_ = 0
        rng_seed = np.random.SeedSequence(self.seed)
        stage_seeds = rng_seed.spawn(len(dset.designs))
        self.stages_: dict[str, StageFit] = {}
        train_days, hold_days = [], []
        for (stage, design), sseed in zip(dset.designs.items(), stage_seeds):
            train_mask = design.days + self.horizon_days_ <= holdout_day
            hold_mask = design.days >= holdout_day
            self.n_straddling_ += int((~train_mask & ~hold_mask).sum())
            train, hold = design.subset(train_mask), design.subset(hold_mask)
            train_days.append(train.days)
            hold_days.append(hold.days)
            self.stages_[stage] = self._fit_stage(train, hold, strengths, sseed)
        train_days = np.concatenate(train_days)
        hold_days = np.concatenate(hold_days)
        self.train_window_ = (pd.Timestamp(train_days.min(), unit="D"),
                              pd.Timestamp(train_days.max(), unit="D")) if len(train_days) else None
        self.holdout_window_ = (pd.Timestamp(hold_days.min(), unit="D"),
                                pd.Timestamp(hold_days.max(), unit="D")) if len(hold_days) else None
        self.quality_ = self._quality_table()
        self.config_ = self._build_config()
        return self

    @property
    def config(self) -> Config:
        """The calibrated config (``config_``)."""
        return self.config_

    def _holdout_day(self, days: np.ndarray) -> int:
        lo, hi = int(days.min()), int(days.max())
        if self.holdout_from is None:
            target = np.quantile(days, 1 - self.holdout_share)
            uniq = np.unique(days)
            return int(uniq[np.searchsorted(uniq, target)])
        try:
            ts = pd.Timestamp(self.holdout_from)
        except (ValueError, TypeError):
            raise HScoreError(f"holdout_from: {self.holdout_from!r} is not a date") from None
        day = int(np.datetime64(ts.date(), "D").astype(np.int64))
        first = pd.Timestamp(lo, unit="D").date()
        last = pd.Timestamp(hi, unit="D").date()
        if not lo + self.horizon_days_ <= day <= hi:
            raise HScoreError(
                f"holdout_from: {ts.date()} is outside the labelled data: it must leave "
                f"training snapshots whose {self.horizon_days_}-day label window ends before it "
                f"(labelled snapshots run from {first} to {last})")
        return day

    # -------------------------------------------------------- one stage
    def _fit_stage(self, train: StageDesign, hold: StageDesign, strengths, seed) -> StageFit:
        fit = StageFit(train.stage, train.metrics, train.components, train.component_of,
                       train.input_weights, n_rows=train.n_rows, n_accounts=train.n_accounts,
                       n_events=train.n_events, n_holdout_rows=hold.n_rows,
                       n_holdout_events=hold.n_events)
        v0 = train.input_weights
        fit.weights, fit.coef = v0.copy(), None
        if train.n_rows == 0 or train.n_events == 0 or train.n_events == train.n_rows:
            what = ("no training rows" if train.n_rows == 0 else
                    "no churn events" if train.n_events == 0 else "every row churned")
            _fail_warning(fit, f"{what} in the training window; kept the input weights and "
                               "fitted no probability")
            fit.status = "kept input weights"
            self._evaluate(fit, train, hold)
            return fit

        X, y, groups = train.X, train.y, train.groups
        sd = X.std(axis=0)
        for j in np.flatnonzero(sd < 1e-12):
            _fail_warning(fit, f"metric '{train.metrics[j]}' is constant in training; its "
                               "weight is held at k x its input weight")
        if X.shape[1] > 1:
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = np.corrcoef(X, rowvar=False)
            iu = np.triu_indices_from(corr, 1)
            for i, j in zip(*iu):
                if abs(corr[i, j]) > 0.98:
                    _fail_warning(fit, f"metrics '{train.metrics[i]}' and '{train.metrics[j]}' "
                                       f"are collinear (correlation {corr[i, j]:.3f}); their "
                                       "split is decided by the pull to the input weights")

        # k: how strongly the input score predicts churn (its one-parameter fit).
        default_score = X @ v0
        k_fit = fit_logistic(default_score[:, None], y)
        fit.k = float(k_fit.b[0])
        fit.input_probability = (k_fit.a, -fit.k / 100.0)
        if fit.k <= 0:
            _fail_warning(fit, "the input score does not lower churn risk in training (k = 0); "
                               "the prior pulls every weight toward 0")
        prior = fit.k * v0
        constant = sd < 1e-12

        if train.n_events < self.min_events:
            _fail_warning(fit, f"only {train.n_events} churn events in training (fewer than "
                               f"{self.min_events}); kept the input weights")
            chosen = np.inf
            fit.status = "kept input weights (thin data)"
        elif len(strengths) == 1:
            chosen = float(strengths[0])
        else:
            chosen, fit.cv = self._cross_validate(X, y, groups, prior, strengths, constant)
        fit.strength = chosen

        final = self._fit(X, y, None, prior, chosen, constant)
        if np.max(final.b) > _SEPARATION_B:
            _fail_warning(fit, f"perfect or quasi separation (a coefficient reached "
                               f"{np.max(final.b):.0f}); weights rest on very few events")
        total = final.b.sum()
        if not total > 0:
            _fail_warning(fit, "no metric lowers churn risk in training (all weights 0); kept "
                               "the input weights")
            fit.status = "kept input weights"
            fit.strength = np.inf
            final = self._fit(X, y, None, prior, np.inf, constant)
            total = final.b.sum()
            if not total > 0:
                final = LogisticFit(final.a, v0.copy(), True, 0)
                total = 1.0
        fit.intercept, fit.coef = final.a, final.b
        fit.weights = final.b / total

        if self.n_bootstrap and np.isfinite(chosen):
            fit.weights_ci, fit.component_ci = self._bootstrap(fit, X, y, groups, prior, chosen,
                                                               constant, final, seed)
        elif self.n_bootstrap:
            fit.weights_ci = np.column_stack([fit.weights, fit.weights])
            cw = fit.component_weights
            fit.component_ci = np.column_stack([cw, cw])

        fit.inference = self._inference(train, fit)
        # Probability mapping: churn ~ calibrated score (two parameters), on training.
        score = 100.0 * (X @ fit.weights)
        p_fit = fit_logistic(score[:, None] / 100.0, y, nonneg=False)
        fit.probability = (p_fit.a, -float(p_fit.b[0]) / 100.0)
        self._evaluate(fit, train, hold)
        return fit

    @staticmethod
    def _fit(X, y, w, prior, strength, constant, start=None) -> LogisticFit:
        if constant.any() and np.isfinite(strength):
            # A constant column only shifts the intercept: hold it at the prior.
            free = ~constant
            shift = float(X[0, constant] @ prior[constant]) if len(X) else 0.0
            sub = fit_logistic(X[:, free], y, sample_weight=w, prior=prior[free],
                               strength=strength,
                               start=None if start is None else
                               LogisticFit(start.a - shift, start.b[free], True, 0))
            b = prior.copy()
            b[free] = sub.b
            return LogisticFit(sub.a + shift, b, sub.converged, sub.n_iter)
        return fit_logistic(X, y, sample_weight=w, prior=prior, strength=strength, start=start)

    def _cross_validate(self, X, y, groups, prior, strengths, constant):
        from sklearn.model_selection import GroupKFold

        order = sorted(strengths, key=lambda s: -s)   # strongest first, warm-start down
        n_groups = len(np.unique(groups))
        folds = GroupKFold(n_splits=min(self.cv_folds, n_groups))
        losses = np.zeros((folds.get_n_splits(), len(order)))
        sizes = np.zeros(folds.get_n_splits())
        for f, (tr, te) in enumerate(folds.split(X, y, groups)):
            start = None
            sizes[f] = len(te)
            for i, s in enumerate(order):
                fit = self._fit(X[tr], y[tr], None, prior, s, constant, start)
                start = fit
                eta = fit.a - X[te] @ fit.b
                losses[f, i] = np.mean(np.logaddexp(0.0, eta) - y[te] * eta)
        mean = (losses * sizes[:, None]).sum(0) / sizes.sum()
        se = losses.std(axis=0, ddof=1) / np.sqrt(len(sizes)) if len(sizes) > 1 else np.nan
        best = int(np.argmin(mean))   # ties go to the stronger pull (earlier in `order`)
        table = pd.DataFrame({"strength": order, "cv_log_loss": mean, "se": se})
        return float(order[best]), table

    def _bootstrap(self, fit, X, y, groups, prior, strength, constant, final, seed):
        weights = account_weights(groups, self.n_bootstrap, np.random.default_rng(seed))
        v = np.full((self.n_bootstrap, X.shape[1]), np.nan)
        for r in range(self.n_bootstrap):
            b = self._fit(X, y, weights[r], prior, strength, constant, start=final).b
            if b.sum() > 0:
                v[r] = b / b.sum()
        comp = np.stack([np.bincount(fit.component_of, weights=row, minlength=len(fit.components))
                         if np.isfinite(row).all() else np.full(len(fit.components), np.nan)
                         for row in v])
        ci = np.nanquantile(v, [0.025, 0.975], axis=0).T
        cci = np.nanquantile(comp, [0.025, 0.975], axis=0).T
        return ci, cci

    @staticmethod
    def _inference(train: StageDesign, fit: StageFit) -> pd.DataFrame:
        """statsmodels Logit, unconstrained, b = -coefficient of the sub-score."""
        import statsmodels.api as sm
        from statsmodels.tools.sm_exceptions import PerfectSeparationError

        keep = train.X.std(axis=0) > 1e-12
        rows = [{"metric": m, "b_unconstrained": np.nan, "se": np.nan, "z": np.nan,
                 "p": np.nan, "ci_low": np.nan, "ci_high": np.nan} for m in train.metrics]
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                res = sm.Logit(train.y, sm.add_constant(train.X[:, keep], has_constant="add")
                               ).fit(disp=0, maxiter=200)
            if any("separation" in str(w.message).lower() for w in caught):
                _fail_warning(fit, "the unconstrained reference model is perfectly separated; "
                                   "its p-values are not meaningful")
            ci = np.asarray(res.conf_int())
            params, bse = np.asarray(res.params), np.asarray(res.bse)
            z, p = np.asarray(res.tvalues), np.asarray(res.pvalues)
            for i, j in enumerate(np.flatnonzero(keep), start=1):
                rows[j].update(b_unconstrained=-params[i], se=bse[i], z=-z[i], p=p[i],
                               ci_low=-ci[i, 1], ci_high=-ci[i, 0])
            fit._reference = (params, keep)
        except (np.linalg.LinAlgError, PerfectSeparationError, ValueError) as err:
            _fail_warning(fit, f"the unconstrained reference model could not be fitted ({err})")
            fit._reference = None
        return pd.DataFrame(rows)

    # --------------------------------------------------------- evaluation
    def _evaluate(self, fit: StageFit, train: StageDesign, hold: StageDesign) -> None:
        """Holdout quality of the calibrated config, the input config and the reference."""
        models = self._holdout_predictions(fit, hold)
        rows, cal = [], []
        both = hold.n_rows > 0 and 0 < hold.n_events < hold.n_rows
        for name, (risk, prob) in models.items():
            row = {"stage": fit.stage, "model": name, "rows": hold.n_rows,
                   "events": hold.n_events}
            if both:
                a, lo, hi = auc_ci(hold.y, risk, hold.groups, max(self.n_bootstrap, 50),
                                   self.seed)
                row.update(auc=a, auc_low=lo, auc_high=hi)
            if prob is not None and hold.n_rows:
                row.update(brier=brier(hold.y, prob), log_loss=log_loss(hold.y, prob))
                t = calibration_table(hold.y, prob)
                t.insert(0, "model", name)
                t.insert(0, "stage", fit.stage)
                cal.append(t)
            rows.append(row)
        fit.quality = pd.DataFrame(rows)
        fit.calibration = pd.concat(cal, ignore_index=True) if cal else None
        fit._holdout = (hold.y, hold.groups, models)

    @staticmethod
    def _holdout_predictions(fit: StageFit, hold: StageDesign) -> dict:
        from scipy.special import expit

        X = hold.X
        models = {}
        if fit.weights is not None:
            score = 100.0 * (X @ fit.weights)
            prob = (expit(fit.probability[0] + fit.probability[1] * score)
                    if fit.probability else None)
            models["calibrated"] = (-score, prob)
        default = 100.0 * (X @ fit.input_weights)
        prob = (expit(fit.input_probability[0] + fit.input_probability[1] * default)
                if fit.input_probability else None)
        models["input"] = (-default, prob)
        ref = getattr(fit, "_reference", None)
        if ref is not None:
            params, keep = ref
            eta = params[0] + X[:, keep] @ params[1:]
            models["reference"] = (eta, expit(eta))
        return models

    def _quality_table(self) -> pd.DataFrame:
        parts = [f.quality for f in self.stages_.values() if f.quality is not None]
        table = pd.concat(parts, ignore_index=True)
        # Pooled over stages: each stage's own probability, one ranking for the whole book.
        pooled = []
        for model in ("calibrated", "input", "reference"):
            ys, gs, risks, probs = [], [], [], []
            for f in self.stages_.values():
                y, g, models = f._holdout
                if model not in models or models[model][1] is None or len(y) == 0:
                    break
                ys.append(y), gs.append(g), probs.append(models[model][1])
            else:
                if ys:
                    y, g, p = map(np.concatenate, (ys, gs, probs))
                    row = {"stage": "all", "model": model, "rows": len(y), "events": int(y.sum()),
                           "brier": brier(y, p), "log_loss": log_loss(y, p)}
                    if 0 < y.sum() < len(y):
                        a, lo, hi = auc_ci(y, p, g, max(self.n_bootstrap, 50), self.seed)
                        row.update(auc=a, auc_low=lo, auc_high=hi)
                    pooled.append(row)
        if pooled:
            table = pd.concat([table, pd.DataFrame(pooled)], ignore_index=True)
        cols = ["stage", "model", "rows", "events", "auc", "auc_low", "auc_high", "brier",
                "log_loss"]
        return table.reindex(columns=cols)

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
                inside = fit.weights[cols]
                share = inside / cw[ci] if cw[ci] > 0 else np.full(len(cols), 1.0 / len(cols))
                for j, w in zip(cols, share):
                    comps[cname]["metrics"][fit.metrics[j]]["weight"] = float(w)
            if fit.probability is not None:
                data["stages"][stage]["probability"] = {
                    "intercept": float(fit.probability[0]), "slope": float(fit.probability[1])}
        q = self.quality_
        quality = {}
        for _, r in q[q["model"] == "calibrated"].iterrows():
            quality[r["stage"]] = {k: (None if pd.isna(r[k]) else round(float(r[k]), 6))
                                   for k in ("auc", "auc_low", "auc_high", "brier", "log_loss")}
            quality[r["stage"]]["holdout_rows"] = int(r["rows"])
            quality[r["stage"]]["holdout_events"] = int(r["events"])
        fmt = (lambda w: None if w is None else [str(w[0].date()), str(w[1].date())])
        data["name"] = f"{base.name}-calibrated"
        data["label_horizon_days"] = self.horizon_days_
        data["provenance"] = {
            "source": "calibration",
            "method": ("per-stage logistic fit, b >= 0, shrunk toward k x input weights; "
                       "strength by account-grouped CV log-loss; account-bootstrap CIs"),
            "input_config": base.name,
            "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "data_window": {"train": fmt(self.train_window_),
                            "holdout": fmt(self.holdout_window_),
                            "holdout_from": str(self.holdout_from_.date()),
                            "horizon_days": self.horizon_days_},
            "rows": {s: {"train": f.n_rows, "train_events": f.n_events,
                         "holdout": f.n_holdout_rows, "holdout_events": f.n_holdout_events,
                         "accounts": f.n_accounts}
                     for s, f in self.stages_.items()},
            "left_out": {"censored": self.n_censored_, "no_score": self.n_unscored_,
                         "straddling_holdout": self.n_straddling_},
            "strength": {s: float(f.strength) for s, f in self.stages_.items()},
            "status": {s: f.status for s, f in self.stages_.items()},
            "quality": quality,
            "bootstrap": {"n": self.n_bootstrap, "seed": self.seed},
        }
        return config_from_dict(data)

    # -------------------------------------------------------------- display
    def summary(self) -> pd.DataFrame:
        """One row per (stage, metric): input weight, calibrated weight with its bootstrap CI,
        the fitted b and the unconstrained model's b, SE, z and p."""
        return pd.concat([f.weight_table() for f in self.stages_.values()], ignore_index=True)

    def component_summary(self) -> pd.DataFrame:
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
        """Per stage: status, strength, k, rows, accounts, events, holdout AUC per model."""
        q = self.quality_.set_index(["stage", "model"])
        rows = []
        for s, f in self.stages_.items():
            row = {"stage": s, "status": f.status, "strength": f.strength, "k": f.k,
                   "rows": f.n_rows, "accounts": f.n_accounts, "events": f.n_events,
                   "holdout_rows": f.n_holdout_rows, "holdout_events": f.n_holdout_events}
            for model in ("calibrated", "input", "reference"):
                row[f"auc_{model}"] = q["auc"].get((s, model), np.nan)
            rows.append(row)
        return pd.DataFrame(rows)

    def weight_lines(self) -> str:
        """Per stage and metric: ``old weight -> new weight [CI]``, as plain text."""
        lines = []
        for f in self.stages_.values():
            lines.append(f"{f.stage}  ({f.status}; strength {f.strength:g}; "
                         f"{f.n_events} events in {f.n_rows} training rows)")
            for j, m in enumerate(f.metrics):
                ci = (f" [{f.weights_ci[j, 0]:.3f}, {f.weights_ci[j, 1]:.3f}]"
                      if f.weights_ci is not None else "")
                lines.append(f"  {f.components[f.component_of[j]]:<22} {m:<32} "
                             f"{f.input_weights[j]:.3f} -> {f.weights[j]:.3f}{ci}")
        return "\n".join(lines)

    def print_summary(self) -> None:
        print(self._header())
        print()
        print(self.weight_lines())
        print()
        print(self.quality_.round(4).to_string(index=False))
        for f in self.stages_.values():
            for w in f.warnings:
                print(f"warning: stage '{f.stage}': {w}")

    def _header(self) -> str:
        return (f"calibration of '{self.base_config_.name}': horizon {self.horizon_days_} days, "
                f"holdout from {self.holdout_from_.date()}; left out: {self.n_censored_} "
                f"censored, {self.n_unscored_} without score, {self.n_straddling_} straddling "
                f"the holdout start")

    def _repr_html_(self) -> str:
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


def calibrate(frame: pd.DataFrame, config="lifecycle", **kwargs) -> Calibrator:
    """Calibrate ``config`` on ``frame``: ``Calibrator(config, **kwargs).fit(frame)``.

    See :class:`Calibrator` for the parameters; the result's ``config`` is the
    calibrated config, ``summary()`` the weight table and ``quality_`` the holdout quality.
    """
    return Calibrator(config, **kwargs).fit(frame)

"""Learn each cell's metric weights from churn history, starting from a config's weights.

Per cell (today: per lifecycle stage), on the sub-scores ``s_m`` in [0, 1] (see
:mod:`hscore.calibration.design`)::

    logit P(churn within the horizon) = a - sum_m b_m s_m,    b_m >= 0

A healthier metric never raises the churn risk. The fit is shrunk toward the input config
(:mod:`hscore.calibration.shrinkage`): the penalty ``strength * ||b - k v0||^2`` pulls ``b``
toward the input effective weights ``v0`` scaled by ``k``, the slope of a one-parameter
fit of churn on the input score, with ``strength`` chosen by cross-validated log-loss on
account-grouped folds. The exported effective weights are ``v = b / sum(b)``: the
calibrated score ``100 * sum_m v_m s_m`` ranks rows exactly as the fitted model does, and
the stage's ``probability`` maps that score to a churn probability.

:class:`Calibrator` is the estimator (parameters in ``__init__``, checked by ``fit``
against one constraint table); :func:`calibrate` runs it and returns the frozen
:class:`~hscore.calibration.results.CalibrationResult`.

Examples
--------
>>> import warnings
>>> from hscore import synth
>>> history = synth.make_history(n_accounts=300, months=18, seed=1)
>>> estimator = Calibrator("lifecycle", horizon_days=30, n_bootstrap=20)
>>> estimator.result_
Traceback (most recent call last):
...
hscore.calibration.calibrator.NotFittedError: Calibrator is not fitted yet: call fit(frame) first, or use hscore.calibrate(frame, config)
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     result = estimator.fit(history.frame).result_
>>> sorted(result.config.stages) == sorted(result.base_config.stages)
True
>>> bool(result.summary()["weight"].between(0, 1).all())
True
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import inspect
import time
from contextlib import contextmanager, nullcontext
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from hscore import progress
from hscore.calibration.bands import DEFAULT_RISK_MULTIPLE, propose_bands
from hscore.calibration.cell import CalibrationWarning, Settings
from hscore.calibration.design import build_designs
from hscore.calibration.evaluation import single_threaded_blas
from hscore.calibration.learned import learn_for_holdout
from hscore.calibration.records import ExportedFit
from hscore.calibration.results import CalibrationResult
from hscore.calibration.segments import fit_cells
from hscore.calibration.shrinkage import DEFAULT_STRENGTHS
from hscore.calibration.split import DEFAULT_HOLDOUT_SHARE, HoldoutKind, choose_holdout
from hscore.calibration.validation import (CONFIG_LIKE, HORIZON, DateLike, InstanceOf,
                                           Integral, Interval, Options, Real, Strengths,
                                           bootstrap_count, resolve_horizon, validate_params)
from hscore.config import load_config
from hscore.errors import DataError, HScoreError
from hscore.scoring.snapshots import CheckedSnapshots
from hscore.workers import resolve_n_jobs

__all__ = ["Calibrator", "calibrate", "NotFittedError", "CalibrationWarning",
           "DEFAULT_STRENGTHS"]


class NotFittedError(HScoreError, AttributeError):
    """A fitted attribute was read before ``fit``."""


class Calibrator:
    """Calibrate a config's weights per cell against churn labels.

    Parameters
    ----------
    base_config : Config, str or path, default "lifecycle"
        The starting weights (the shrinkage target) and the transforms.
    holdout_from : date-like, optional
        Start of the out-of-time holdout (see :mod:`hscore.calibration.split`). Default:
        the snapshot date that leaves about ``holdout_share`` of labelled rows in it.
    holdout : {None, "out_of_time", "accounts", "none"}, default None
        The kind of holdout. None chooses: out-of-time when the labelled snapshots span
        enough time for a holdout after a full label window (or ``holdout_from`` is given),
        else an account-grouped random holdout of about ``holdout_share`` of the accounts
        (seeded by ``seed``), with a one-line notice to the progress reporter that the
        result's ``holdout.note`` and the provenance keep. "none" evaluates nothing and
        trains on every labelled row.
    refit : {"all", "train"}, default "all"
        The fit the config ships: "all" refits the chosen strength (and ``k``) on every
        labelled row after the holdout evaluation; "train" ships the validated
        train-window fit. Both are reported (``summary()``), and the provenance says which
        was exported (``exported_fit``).
    horizon_days : int, optional
        Label horizon; default the config's ``label_horizon_days``.
    strengths : sequence of float, optional
        Penalty strengths tried by cross-validation (``inf`` = input weights,
        ``0`` = sign-constrained MLE). A single value skips cross-validation.
        Default :data:`~hscore.calibration.shrinkage.DEFAULT_STRENGTHS`.
    cv_folds : int, default 5
        Folds, grouped by account (every snapshot of an account in one fold).
    n_bootstrap : int, default 200
        Account-bootstrap resamples for the weight CIs and the AUC CIs (0: no CIs).
    seed : int, default 0
        Seed of the bootstrap resamples and of the account holdout's draw: the same seed
        gives the same CIs and holds out the same accounts.
    min_events : int, default 20
        A cell with fewer churn events in training keeps the input weights (with a warning).
    holdout_share : float, default 0.2
        Share of labelled rows in the default out-of-time holdout, or of accounts in an
        account holdout.
    n_jobs : int, optional
        Threads for the cross-validation folds and the bootstrap refits, as in
        scikit-learn: None or 1 fits in the calling thread, -1 uses every core, -2 all
        but one. The result does not depend on it: the resamples are drawn from ``seed``
        before they are shared out, and every fit is computed the same way in any thread.
    transforms : {"keep", "learn"}, default "keep"
        "learn": per metric, a monotone ``piecewise`` curve learned on the training rows
        replaces the configured transform where account-grouped cross-validation says it
        predicts churn better, net of a penalty per knot
        (:mod:`hscore.calibration.learned`); the weights are then calibrated on the new
        sub-scores. "keep" leaves the config's transforms alone.
    at_risk_share : float, optional
        The proposed bands (:mod:`hscore.calibration.bands`) put this riskiest share of the
        latest book at risk; default: rows whose predicted churn is at least
        ``risk_multiple`` x the base rate.
    risk_multiple : float, default 2.0
        See ``at_risk_share``.
    take_bands : bool, default False
        Write the proposed bands into the calibrated config's ``bands`` (default: only
        proposed, under ``provenance.proposed_bands``; take them later with
        :func:`hscore.calibration.take_bands`).

    Attributes
    ----------
    result_ : CalibrationResult
        The calibration (the calibrated ``config``, per-cell ``fits``, ``quality``, the
        learned ``transforms`` and the proposed ``bands``, ...).
    timings_ : dict[str, float]
        Wall seconds per phase (design, cross_validation, bootstrap, inference,
        evaluation, refit, total).

    Notes
    -----
    Per cell: ``k`` comes from a one-parameter logistic fit of churn on the input score;
    cross-validation picks the strength with the lowest held-out log-loss (ties to the
    stronger pull), each fold pulling toward its own ``k``; the final fit uses all training
    rows and their ``k``. After the holdout evaluation the chosen strength is refitted on
    every labelled row (training, holdout and straddling rows, with their own ``k``) for the
    exported weights and probability mapping (``refit="all"``). The bootstrap refits the
    exported fit at the chosen strength and its ``k`` on account resamples, so its
    percentile CIs describe the sampling spread of the exported weights given that strength
    (not the uncertainty of the strength choice itself); the other fit has point weights
    only. A cell left at the input weights is not refitted and has no CI: NaN in
    ``summary()``, a note in ``weight_lines()``.

    Progress (:mod:`hscore.progress`): the phases design, and per cell cross-validation,
    evaluation and the bootstrap (counted resamples), go to the installed reporter.

    Rows are used in canonical (account_id, snapshot_date) order, so the same data in any
    row order give the same result for the same seed.

    Rows with a metric missing are filled by the input config's ``missing`` rule for
    fitting; the holdout is scored exactly as each config scores it, and the probability
    mapping is fitted on the score the calibrated config itself gives.

    Warnings (:class:`CalibrationWarning`, naming the cell and the reason): fewer than
    ``min_events`` churn events or none (input weights kept), perfect or quasi-complete
    separation (strength 0 is not tried), a constant or never measured metric (held at
    ``k`` x its input weight), collinear metrics (strength 0 is not tried; the pull splits
    their weight), no metric lowering churn risk (input weights kept).
    """

    #: What each parameter may be; checked by :meth:`fit`.
    _parameter_constraints: dict[str, list] = {
        "base_config": [CONFIG_LIKE],
        "holdout_from": [None, DateLike()],
        "holdout": [None, Options(tuple(k.value for k in HoldoutKind))],
        "refit": [Options(tuple(f.value for f in ExportedFit))],
        "horizon_days": [None, HORIZON],
        "strengths": [None, Strengths()],
        "cv_folds": [Interval(Integral, 2, None)],
        "n_bootstrap": [bootstrap_count(0)],
        "seed": [Interval(Integral, 0, None)],
        "min_events": [Interval(Integral, 0, None)],
        "holdout_share": [Interval(Real, 0, 1, closed="neither")],
        "n_jobs": [None, Interval(Integral, 1, None),
                   Interval(Integral, None, -1, closed="right")],
        "transforms": [Options(("keep", "learn"))],
        "at_risk_share": [None, Interval(Real, 0, 1, closed="neither")],
        "risk_multiple": [Interval(Real, 0, None, closed="neither")],
        "take_bands": [InstanceOf((bool,), "True or False")],
    }

    def __init__(self, base_config="lifecycle", *, holdout_from=None, holdout=None,
                 refit="all", horizon_days=None, strengths=None, cv_folds=5, n_bootstrap=200,
                 seed=0, min_events=20, holdout_share=DEFAULT_HOLDOUT_SHARE, n_jobs=None,
                 transforms="keep", at_risk_share=None, risk_multiple=DEFAULT_RISK_MULTIPLE,
                 take_bands=False):
        self.base_config = base_config
        self.holdout_from = holdout_from
        self.holdout = holdout
        self.refit = refit
        self.horizon_days = horizon_days
        self.strengths = strengths
        self.cv_folds = cv_folds
        self.n_bootstrap = n_bootstrap
        self.seed = seed
        self.min_events = min_events
        self.holdout_share = holdout_share
        self.n_jobs = n_jobs
        self.transforms = transforms
        self.at_risk_share = at_risk_share
        self.risk_multiple = risk_multiple
        self.take_bands = take_bands

    def get_params(self) -> dict[str, Any]:
        """The parameters, by name, as given to ``__init__``."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in
                    inspect.signature(type(self).__init__).parameters.values()}
        shown = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()
                          if v is not defaults[k] and not _equal(v, defaults[k]))
        return f"{type(self).__name__}({shown})"

    # ------------------------------------------------------------- fitted
    def _fitted(self, name: str):
        if "_result" not in self.__dict__:
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit(frame) "
                                 "first, or use hscore.calibrate(frame, config)")
        return self.__dict__[name]

    @property
    def result_(self) -> CalibrationResult:
        """The calibration of the last :meth:`fit`."""
        return self._fitted("_result")

    @property
    def timings_(self) -> dict[str, float]:
        """Wall seconds per phase of the last :meth:`fit`."""
        return dict(self._fitted("_timings"))

    # ---------------------------------------------------------------- fit
    def fit(self, frame: pd.DataFrame) -> "Calibrator":
        """Fit every cell of the config that has rows in ``frame``.

        Raises
        ------
        DataError
            No ``churned`` column, values other than 0/1/empty, no labelled row,
            no churn event at all, a config metric absent from the frame, or any
            snapshot-contract violation.
        HScoreError
            A parameter outside its constraints (the message starts with its name), a
            holdout date outside the labelled data, an unknown horizon.
        """
        validate_params(self.get_params(), self._parameter_constraints)
        timings: dict[str, float] = {}

        @contextmanager
        def timed(phase: str, shown: str | None = None):
            """Time ``phase``; ``shown`` names it to the progress reporter."""
            start = time.perf_counter()
            try:
                with progress.current().phase(shown) if shown else nullcontext():
                    yield
            finally:
                timings[phase] = timings.get(phase, 0.0) + time.perf_counter() - start

        with single_threaded_blas(), timed("total"):
            result, checked = self._calibrate(frame, timed)
            with timed("evaluation", "evaluation (all stages)" if len(result.fits) > 1
                       and result.holdout.kind is not HoldoutKind.NONE else None):
                result.config            # the pooled quality and the config, built once
            with timed("bands", "proposed bands"):
                result = _with_bands(result, propose_bands(
                    result, frame, at_risk_share=self.at_risk_share,
                    risk_multiple=self.risk_multiple, checked=checked), self.take_bands)
        self.__dict__.update(_result=result, _timings=timings)
        return self

    def _calibrate(self, frame: pd.DataFrame, timed) -> tuple[CalibrationResult, CheckedSnapshots]:
        """The result, and the checked snapshots its designs were built from (the band
        proposal reads their dates instead of checking the frame again)."""
        cfg = load_config(self.base_config)
        horizon = resolve_horizon(self.horizon_days, cfg.label_horizon_days, required=True)
        strengths = (DEFAULT_STRENGTHS if self.strengths is None else
                     tuple(dict.fromkeys(float(s) for s in np.atleast_1d(self.strengths))))
        with timed("design", "design"):
            dset = build_designs(frame, cfg)
        designs = dset.designs
        n_labelled = sum(d.n_rows for d in designs.values())
        if n_labelled == 0:
            raise DataError("churned", "no scored row has a known label (all censored or "
                                       "without a score)", dset.n_censored + dset.n_unscored)
        if not any(d.n_events for d in designs.values()):
            raise DataError("churned", "no churn events at all (every label is 0): there is "
                                       "nothing to learn from", n_labelled)
        ids = dset.checked.frame["account_id"].to_numpy()
        holdout = choose_holdout(self.holdout_from,
                                 np.concatenate([d.days for d in designs.values()]),
                                 horizon, self.holdout_share, kind=self.holdout,
                                 accounts=np.concatenate([ids[d.rows] for d in designs.values()]),
                                 seed=self.seed)
        if holdout.note:
            progress.current().note(f"holdout: {holdout.note}")
        choices: tuple = ()
        given = cfg
        if self.transforms == "learn":
            with timed("transforms", "learned transforms"):
                cfg, choices = learn_for_holdout(cfg, dset, holdout, self.cv_folds)
                dset = build_designs(frame, cfg)
                designs = dset.designs
        # One seed per cell of the config, so a cell's resamples do not depend on which
        # other cells the data hold.
        keys = [c.key for c in cfg.cells()]
        seeds = dict(zip(keys, np.random.SeedSequence(self.seed).spawn(len(keys))))
        settings = Settings(strengths, self.cv_folds, self.n_bootstrap, self.min_events,
                            self.seed, ExportedFit(self.refit),
                            evaluate=holdout.kind is not HoldoutKind.NONE,
                            n_jobs=resolve_n_jobs(self.n_jobs))
        # Stages toward the input config, then segments toward their stage.
        fits = fit_cells(designs, lambda d: holdout.split(d.days, ids[d.rows]), settings,
                         seeds, lambda key: _shown(timed, key))
        result = CalibrationResult(
            base_config=cfg, fits=MappingProxyType(fits), holdout=holdout,
            refit=ExportedFit(self.refit),
            strengths=(None if self.strengths is None
                       else tuple(float(s) for s in np.atleast_1d(self.strengths))),
            cv_folds=self.cv_folds, n_bootstrap=self.n_bootstrap, seed=self.seed,
            min_events=self.min_events, transforms=choices,
            input_config=given if choices else None,
            created=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        return result, dset.checked


#: The phases of one cell that the progress reporter names (the bootstrap counts its
#: resamples instead; inference and the refit, one fit each, are quick).
_SHOWN = {"cross_validation": "cross-validation", "evaluation": "evaluation"}


def _shown(timed, key: str):
    """``timed`` for one cell: its phases named to the progress reporter with the cell."""
    return lambda phase: timed(phase, f"{_SHOWN[phase]} {key}" if phase in _SHOWN else None)


def _with_bands(result: CalibrationResult, bands, take: bool) -> CalibrationResult:
    """``result`` with its band proposal (taken into ``bands`` with ``take``); the holdout
    quality, already computed, is kept (the config is rebuilt: its provenance records the
    proposal)."""
    new = dataclasses.replace(result, bands=bands, take_bands=take)
    if "quality" in result.__dict__:
        new.__dict__["quality"] = result.__dict__["quality"]
    return new


def _equal(a, b) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def calibrate(frame: pd.DataFrame, config="lifecycle", **kwargs) -> CalibrationResult:
    """Calibrate ``config`` on ``frame``: ``Calibrator(config, **kwargs).fit(frame).result_``.

    See :class:`Calibrator` for the parameters. The result's ``config`` is the calibrated
    config, ``summary()`` the weight table and ``quality`` the holdout quality.
    """
    return Calibrator(config, **kwargs).fit(frame).result_

"""One cell's calibration, from its design rows to a frozen :class:`CellFit`.

The steps, each in its own module: split the rows (:mod:`~hscore.calibration.split`),
diagnose them (:mod:`~hscore.calibration.diagnose`), fit ``k`` and choose the strength
(:mod:`~hscore.calibration.shrinkage`), bootstrap and the reference model
(:mod:`~hscore.calibration.inference`), the probability mapping, the holdout
evaluation (:mod:`~hscore.calibration.quality`), and the refit of the chosen strength on
every labelled row for export. Thin or awkward data keep the input weights with a
:class:`CalibrationWarning` naming the cell and the reason; they never crash.

The refit and the bootstrap: the exported weights are the refit's (``refit`` "all", the
default) or the train-window fit's (``refit`` "train"); only the exported fit is
bootstrapped, so the CIs always describe the weights the config ships, at the cost of one
bootstrap. The other fit is reported as point weights.

Examples
--------
>>> from contextlib import nullcontext
>>> from hscore.calibration.design import CellDesign, Layout
>>> from hscore.calibration.split import Holdout
>>> rng = np.random.default_rng(0)
>>> n = 2000
>>> X = rng.uniform(size=(n, 2))
>>> y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(0.5 - X @ [2.0, 0.5])))).astype(float)
>>> days = np.repeat(np.arange(19700, 19710) * 1, n // 10)     # ten snapshot days
>>> layout = Layout(("m1", "m2"), ("c",), np.array([0, 0]), np.array([0.5, 0.5]))
>>> design = CellDesign(Cell("s"), layout, X, np.ones_like(X, bool), y, np.arange(n) % 400,
...                     days, np.arange(n))
>>> split = Holdout(pd.Timestamp(19708, unit="D"), horizon_days=1).split(days)
>>> settings = Settings(strengths=(0.01,), cv_folds=5, n_bootstrap=0, min_events=20, seed=0)
>>> fit = fit_cell(design, split, settings, seed=0, timed=lambda phase: nullcontext())
>>> fit.status, fit.reason
(<Status.CALIBRATED: 'calibrated'>, 'strength 0.01 given')
>>> bool(fit.estimate.weights[0] > fit.estimate.weights[1])    # m1 matters more
True
>>> fit.exported is fit.refit, fit.counts.n_labelled == n      # refitted on every row
(True, True)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hscore.calibration.design import CellDesign
from hscore.calibration.diagnose import diagnose
from hscore.calibration.inference import bootstrap_weights, reference_model
from hscore.calibration.quality import evaluate_holdout, no_evaluation
from hscore.calibration.records import (CellFit, Counts, CrossValidation, Diagnostics,
                                        ExportedFit, Status, WeightEstimate)
from hscore.calibration.shrinkage import (DEFAULT_STRENGTHS, SEPARATION_B, cross_validate,
                                          fit_held, fit_logistic)
from hscore.calibration.split import Split
from hscore.config import Cell
from hscore.errors import HScoreWarning

__all__ = ["CalibrationWarning", "Settings", "fit_cell", "FIXED_NOTE"]

#: What the weight lines say instead of a CI when a cell's weights are the input weights.
FIXED_NOTE = "fixed at the input weights; no bootstrap CI"


#: A metric filled on at least this share of a cell's training rows is named in a warning
#: (a few percent missing is usual and moves little; a sixth can move its weight visibly).
FILLED_SHARE = 0.10


class CalibrationWarning(HScoreWarning):
    """Thin or awkward data in a cell: names the cell, the reason and what was done."""


@dataclass(frozen=True)
class Settings:
    """The estimator's validated parameters, as one cell's fit needs them."""

    strengths: tuple[float, ...]
    cv_folds: int
    n_bootstrap: int
    min_events: int
    seed: int
    refit: ExportedFit = ExportedFit.ALL
    evaluate: bool = True      # False: no holdout (every labelled row trains)
    n_jobs: int = 1            # threads for the CV folds and the bootstrap refits (resolved)


class _Notes:
    """The warnings of one cell: raised as :class:`CalibrationWarning` and kept, in order."""

    def __init__(self, cell: Cell):
        self.cell = cell
        self.texts: list[str] = []

    def __call__(self, text: str) -> None:
        if self.cell.segment is not None:
            # A segment's fit is pulled toward its stage's calibrated weights, not the
            # input config's (see hscore.calibration.segments).
            text = text.replace("the input weights", "the stage's weights")
        self.texts.append(text)
        warnings.warn(f"{self.cell.label}: {text}", CalibrationWarning, stacklevel=3)


def _window(days: np.ndarray) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """First and last snapshot date of ``days`` (days since 1970-01-01); None if empty."""
    if not len(days):
        return None
    return pd.Timestamp(days.min(), unit="D"), pd.Timestamp(days.max(), unit="D")


def fit_cell(design: CellDesign, split: Split, settings: Settings, seed,
             timed: Callable[[str], AbstractContextManager],
             refit_centre: np.ndarray | None = None) -> CellFit:
    """Calibrate one cell. ``seed`` seeds its weight bootstrap (the AUC CIs use
    ``settings.seed``); ``timed(phase)`` times a block. The pull is toward the design's
    input weights, and in the refit on every labelled row toward ``refit_centre`` when
    given (a segment: its stage's train-window and exported weights)."""
    train, hold = design.subset(split.train), design.subset(split.holdout)
    counts = Counts(n_rows=train.n_rows, n_accounts=train.n_accounts, n_events=train.n_events,
                    n_censored=design.n_censored, n_unscored=design.n_unscored,
                    n_straddling=int(split.straddling.sum()),
                    train_window=_window(train.days), holdout_window=_window(hold.days),
                    n_labelled=design.n_rows, n_labelled_events=design.n_events)
    fitter = _CellFitter(design, train, hold, counts, settings, seed, timed)
    if refit_centre is not None:
        fitter.v0_all = np.asarray(refit_centre, dtype=np.float64)
    return fitter.run()


class _CellFitter:
    """The steps of :func:`fit_cell` sharing one cell's training rows and notes."""

    def __init__(self, labelled, train, hold, counts, settings, seed, timed):
        self.labelled, self.train, self.hold, self.counts = labelled, train, hold, counts
        self.settings, self.seed, self.timed = settings, seed, timed
        self.note = _Notes(train.cell)
        self.v0 = train.layout.input_weights
        self.v0_all = self.v0              # the centre of the refit on every labelled row
        # Rows outside training (holdout, straddling) get a refit after the evaluation; with
        # refit "all" that refit is exported and bootstrapped instead of the train fit.
        self.refits = labelled.n_rows > train.n_rows
        self.boot_train = not (self.refits and settings.refit is ExportedFit.ALL)

    def run(self) -> CellFit:
        train, note = self.train, self.note
        if train.n_rows == 0 or train.n_events in (0, train.n_rows):
            status, what = ((Status.NO_TRAINING_ROWS, "no labelled training rows")
                            if train.n_rows == 0 else
                            (Status.NO_EVENTS, "no churn events") if train.n_events == 0 else
                            (Status.ALL_CHURNED, "every row churned"))
            note(f"{what} in the training window ({train.n_rows} rows); kept the input "
                 "weights and fitted no probability mapping")
            return self._keep(status, k=0.0, input_probability=None)
        self._note_filled(train)
        diagnostics, held = diagnose(train, note)
        # k: how strongly the input score predicts churn (its one-parameter fit).
        k_fit = fit_logistic((train.X @ self.v0)[:, None], train.y)
        k = float(k_fit.b[0])
        input_probability = (float(k_fit.a), -k / 100.0)
        if not k > 0:
            note("the input score does not lower churn risk in training (k = 0); the pull "
                 "toward the input weights is a pull toward 0")
        if train.n_events < self.settings.min_events:
            note(f"only {train.n_events} churn events in training (fewer than "
                 f"{self.settings.min_events}); kept the input weights")
            return self._keep(Status.THIN_DATA, k, input_probability, diagnostics)
        strengths = self.settings.strengths
        if train.n_accounts < 2 and len(strengths) > 1:
            note("a single account in training: cross-validation is impossible; kept the "
                 "input weights")
            return self._keep(Status.ONE_ACCOUNT, k, input_probability, diagnostics)
        return self._fit(k, input_probability, diagnostics, held)

    def _note_filled(self, train: CellDesign) -> None:
        """Say which metrics were filled on many training rows, and how: the fitted weights
        are the ones a scorer that fills them the same way needs, so a metric missing on
        many rows can weigh less than it would on complete rows. Never-measured metrics
        are :func:`diagnose`'s to report."""
        missing = (~train.measured).sum(axis=0)
        many = [f"{name} {int(n):,} ({n / train.n_rows:.0%})"
                for name, n in zip(train.layout.metrics, missing)
                if FILLED_SHARE * train.n_rows <= n < train.n_rows]
        if many:
            self.note(f"not measured on {FILLED_SHARE:.0%} or more of the {train.n_rows:,} "
                      f"training rows: {', '.join(many)}; filled by the config's missing "
                      f"rule '{train.missing}' as the scorer fills them, so their weights "
                      f"are the ones that scorer needs")

    def _fit(self, k, input_probability, diagnostics, held) -> CellFit:
        train, note, prior = self.train, self.note, k * self.v0
        strengths = self.settings.strengths
        mle = fit_held(train.X, train.y, None, prior, 0.0, held)
        separated = bool(np.max(mle.b, initial=0.0) > SEPARATION_B or not mle.converged)
        if separated:
            note("perfect or quasi-complete separation: the unpenalized fit drives a "
                 f"coefficient to {np.max(mle.b):.0f}; strength 0 is not tried, so the pull "
                 "toward the input weights keeps them finite")
        if separated or diagnostics.collinear:
            strengths = tuple(s for s in strengths if s > 0) or (DEFAULT_STRENGTHS[1],)
        diagnostics = Diagnostics(diagnostics.frozen, diagnostics.collinear, separated)
        cv = None
        if len(strengths) == 1:
            chosen = strengths[0]
        else:
            with self.timed("cross_validation"):
                chosen, cv = cross_validate(train.X, train.y, train.groups, self.v0,
                                            strengths, held, self.settings.cv_folds,
                                            self.settings.n_jobs)
        final = mle if chosen == 0 else fit_held(train.X, train.y, None, prior, chosen, held,
                                                 start=mle)
        if not final.b.sum() > 0:
            note("no metric lowers churn risk in training (every fitted weight is 0); kept "
                 "the input weights")
            return self._keep(Status.NO_SIGNAL, k, input_probability, diagnostics, cv)
        estimate = self._estimate(train, k, input_probability, prior, chosen, held, final,
                                  bootstrap=self.boot_train)
        with self.timed("inference"):
            reference, notes = reference_model(train, held)
        for text in notes:
            note(text)
        how = ("given" if cv is None else
               f"chosen by account-grouped {self.settings.cv_folds}-fold cross-validation")
        return self._finish(Status.CALIBRATED, f"strength {chosen:g} {how}", estimate,
                            diagnostics, cv, reference, refit=(chosen, held))

    def _estimate(self, rows, k, input_probability, prior, strength, held, final,
                  bootstrap: bool, centre=None) -> WeightEstimate:
        """The weights of ``final`` (fitted on ``rows``), their probability mapping and,
        with ``bootstrap``, their CIs."""
        centre = self.v0 if centre is None else centre
        # At infinite strength b = k v0, so v = v0: return it exactly, not up to rounding.
        weights = centre.copy() if np.isinf(strength) else final.b / final.b.sum()
        ci = (self._bootstrap(rows, prior, strength, held, final)
              if np.isfinite(strength) and bootstrap else None)
        # Probability mapping: churn ~ calibrated score (intercept and slope), on the fit's
        # rows, with the score the calibrated config itself gives (missing metrics refilled).
        p_fit = fit_logistic(rows.score_with(weights)[:, None] / 100.0, rows.y, nonneg=False)
        why = (FIXED_NOTE if np.isinf(strength) else
               "no CI: the bootstrap resamples gave no usable fit" if bootstrap else
               "not bootstrapped: the exported fit is the refit on all labelled rows")
        return WeightEstimate(
            weights=weights, coef=final.b, intercept=float(final.a), k=k,
            strength=float(strength), probability=(float(p_fit.a), -float(p_fit.b[0]) / 100.0),
            input_probability=input_probability, **(ci or self._no_ci(why)))

    def _refit(self, strength: float, held: np.ndarray) -> WeightEstimate | None:
        """The chosen strength refitted on every labelled row (training, holdout and the
        rows straddling the holdout start), with its own ``k`` and probability mapping."""
        rows = self.labelled
        with self.timed("refit"):
            k_fit = fit_logistic((rows.X @ self.v0_all)[:, None], rows.y)
            k = float(k_fit.b[0])
            prior = k * self.v0_all
            final = fit_held(rows.X, rows.y, None, prior, strength, held)
        if not final.b.sum() > 0:
            self.note("the refit on all labelled rows gives every metric weight 0; exported "
                      "the train-window fit")
            return None
        return self._estimate(rows, k, (float(k_fit.a), -k / 100.0), prior, strength, held,
                              final, bootstrap=not self.boot_train, centre=self.v0_all)

    def _bootstrap(self, rows, prior, strength, held, final) -> dict | None:
        if not self.settings.n_bootstrap:
            return None
        with self.timed("bootstrap"):
            boot = bootstrap_weights(rows, prior, strength, held, final,
                                     self.settings.n_bootstrap, self.seed, self.settings.n_jobs)
        if boot is None:
            self.note("the bootstrap resamples gave no usable fit; the weights have no CI")
            return None
        draws, ci, component_ci = boot
        return {"draws": draws, "ci": ci, "component_ci": component_ci}

    def _no_ci(self, note: str) -> dict:
        # No CI at all rather than a zero-width one, which would read as certainty; the note
        # says why, except without a bootstrap (nobody asked for a CI).
        return {"ci_note": note if self.settings.n_bootstrap else None}

    def _keep(self, status: Status, k: float, input_probability, diagnostics=Diagnostics(),
              cv: CrossValidation | None = None) -> CellFit:
        """Leave the cell at the input weights (scaled by k when there is a k)."""
        train = self.train
        intercept, coef = math.nan, np.zeros(len(self.v0))
        if 0 < train.n_events < train.n_rows:
            final = fit_logistic(train.X, train.y, prior=k * self.v0, strength=np.inf)
            intercept, coef = float(final.a), final.b
        estimate = WeightEstimate(weights=self.v0.copy(), coef=coef, intercept=intercept, k=k,
                                  strength=math.inf, probability=input_probability,
                                  input_probability=input_probability,
                                  **self._no_ci(FIXED_NOTE))
        return self._finish(status, self.note.texts[-1], estimate, diagnostics, cv, None)

    def _finish(self, status, reason, estimate, diagnostics, cv, reference, refit=None
                ) -> CellFit:
        """Evaluate ``estimate`` on the holdout, then (``refit``: the chosen strength and the
        held metrics of a calibrated cell) refit it on every labelled row."""
        if self.settings.evaluate:
            with self.timed("evaluation"):
                holdout = evaluate_holdout(self.hold, estimate, reference,
                                           self.settings.n_bootstrap, self.settings.seed)
        else:
            holdout = no_evaluation()
        again = self._refit(*refit) if refit is not None and self.refits else None
        return CellFit(cell=self.train.cell, layout=self.train.layout, status=status,
                       reason=reason, counts=self.counts, estimate=estimate, holdout=holdout,
                       train_rows=self.train.rows, cv=cv, reference=reference,
                       diagnostics=diagnostics, warnings=tuple(self.note.texts), refit=again,
                       exported_fit=self.settings.refit)

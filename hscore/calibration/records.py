"""What one cell's calibration found, as small frozen records.

A :class:`CellFit` is a cell's whole story: its :class:`Status` and the reason, the rows it
used (:class:`Counts`), the weights it learned with their CIs (:class:`WeightEstimate`),
the unconstrained statsmodels model beside them (:class:`ReferenceModel`), the holdout
evaluation (:class:`HoldoutEvaluation`), and what was odd about the data
(:class:`Diagnostics`). Everything a result shows is computed from these records.

Sign convention, everywhere (tables, tracking CSVs, plots): the model is
``logit P(churn) = a - sum_m b_m s_m`` on sub-scores ``s_m`` in [0, 1], so ``b`` is the
drop in churn log-odds per unit of sub-score, ``b >= 0`` for the calibrated model (a
healthier metric never raises the risk). The unconstrained statsmodels coefficients are
reported in the same sign: ``b = -(statsmodels coef)`` for a metric; its ``const`` is ``a``.

Examples
--------
>>> Status.THIN_DATA.kept_input, Status.CALIBRATED.kept_input
(True, False)
>>> str(Status.THIN_DATA)
'thin_data'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from hscore.calibration.design import LabelledRows, Layout
from hscore.config import Cell

__all__ = ["Status", "ExportedFit", "Counts", "WeightEstimate", "ReferenceModel", "Prediction",
           "InputComparison", "HoldoutEvaluation", "CrossValidation", "Diagnostics", "CellFit",
           "readonly"]


class Status(StrEnum):
    """How a cell's weights came about. Every status but ``CALIBRATED`` keeps the input
    weights; :attr:`CellFit.reason` says why in words."""

    CALIBRATED = "calibrated"
    NO_TRAINING_ROWS = "no_training_rows"   # no labelled row before the holdout
    NO_EVENTS = "no_events"                 # no churn event in training
    ALL_CHURNED = "all_churned"             # every training row churned
    THIN_DATA = "thin_data"                 # fewer churn events than min_events
    ONE_ACCOUNT = "one_account"             # cross-validation impossible
    NO_SIGNAL = "no_signal"                 # no metric lowers churn risk
    NOT_IN_DATA = "not_in_data"             # the cell has no rows at all (provenance only)

    @property
    def kept_input(self) -> bool:
        """True when the cell kept the input weights."""
        return self is not Status.CALIBRATED


class ExportedFit(StrEnum):
    """Which fit a calibrated config ships (``refit`` / ``--refit``): ``all`` refits the
    chosen strength on every labelled row after the holdout evaluation, ``train`` ships the
    train-window fit the holdout validated."""

    ALL = "all"
    TRAIN = "train"


def readonly(a: np.ndarray | None) -> np.ndarray | None:
    """``a`` marked read-only, so a frozen record's arrays cannot change under it."""
    if a is not None:
        a.flags.writeable = False
    return a


@dataclass(frozen=True)
class Counts:
    """Training rows (labelled, scored, label window before the holdout) and rows left out.

    ``train_window`` / ``holdout_window`` are the first and last snapshot dates of the
    training and holdout rows (None when there are none)."""

    n_rows: int
    n_accounts: int
    n_events: int
    n_censored: int       # label not yet known
    n_unscored: int       # no score under the input config (coverage)
    n_straddling: int     # label window runs past the holdout start: neither set
    train_window: tuple[pd.Timestamp, pd.Timestamp] | None
    holdout_window: tuple[pd.Timestamp, pd.Timestamp] | None
    n_labelled: int = 0         # every labelled, scored row: what a refit uses
    n_labelled_events: int = 0


@dataclass(frozen=True)
class WeightEstimate:
    """The shrunk, sign-constrained fit and its effective weights.

    ``weights = coef / coef.sum()`` (the exported effective weights, component x metric
    weight), except at infinite strength where they are the input weights exactly.
    ``coef`` is ``b >= 0`` and ``intercept`` is ``a`` (NaN when no model was fitted);
    ``k`` the slope of the one-parameter fit on the input score, ``strength`` the penalty
    (``inf``: input weights). ``probability`` / ``input_probability`` map the calibrated /
    input score to churn probability, ``(intercept, slope)``: ``expit(i + s * score)``.
    ``ci`` (m, 2) and ``component_ci`` (c, 2) are 95% account-bootstrap percentile CIs,
    ``draws`` the bootstrap weights (resamples, m); all None without a CI, and ``ci_note``
    then says why.
    """

    weights: np.ndarray
    coef: np.ndarray
    intercept: float
    k: float
    strength: float
    probability: tuple[float, float] | None = None
    input_probability: tuple[float, float] | None = None
    ci: np.ndarray | None = None
    component_ci: np.ndarray | None = None
    draws: np.ndarray | None = None
    ci_note: str | None = None

    def __post_init__(self):
        for a in (self.weights, self.coef, self.ci, self.component_ci, self.draws):
            readonly(a)

    def linear_predictor(self, X: np.ndarray) -> np.ndarray:
        """``a - X @ b`` on sub-scores in [0, 1]: churn log-odds (higher = more risk)."""
        return self.intercept - X @ self.coef


@dataclass(frozen=True)
class ReferenceModel:
    """The unconstrained, unpenalized statsmodels ``Logit`` of churn on the sub-scores.

    ``table`` has one row per term (``const``, then every metric): ``coef`` in the ``b``
    sign (see the module docstring), ``std_err``, ``z`` (of ``coef``), ``p`` and the 95% CI
    ``ci_low`` / ``ci_high`` of ``coef``. Constant, never measured and linearly dependent
    metrics are left out of the model (``columns`` lists the others): NaN rows.
    ``separated``: the fit did not converge or drove a coefficient past 30.
    """

    table: pd.DataFrame
    intercept: float
    coef: np.ndarray
    columns: np.ndarray
    separated: bool = False

    def __post_init__(self):
        readonly(self.coef)
        readonly(self.columns)

    def linear_predictor(self, X: np.ndarray) -> np.ndarray:
        """Churn log-odds ``a - X[:, columns] @ b`` on sub-scores in [0, 1]."""
        return self.intercept - X[:, self.columns] @ self.coef


@dataclass(frozen=True)
class Prediction:
    """One model on the holdout rows: ``risk`` ranks them (higher = more churn) and
    ``probability`` (None when the model has no probability mapping)."""

    risk: np.ndarray
    probability: np.ndarray | None

    def __post_init__(self):
        readonly(self.risk)
        readonly(self.probability)


@dataclass(frozen=True)
class InputComparison:
    """The calibrated model against the input config on the same holdout rows:
    ``delta_log_loss`` (calibrated - input, lower is better) and ``delta_auc`` (calibrated -
    input, higher is better), each with the 95% percentile CI of a paired account bootstrap
    (the same resamples for both models; NaN without resamples)."""

    delta_log_loss: float
    log_loss_ci: tuple[float, float]
    delta_auc: float
    auc_ci: tuple[float, float]

    @property
    def worse(self) -> bool:
        """Worse than the input beyond the bootstrap noise: the whole log-loss CI above 0
        or the whole AUC CI below 0."""
        return bool(self.log_loss_ci[0] > 0 or self.auc_ci[1] < 0)

    @property
    def lower_within_noise(self) -> bool:
        """Worse than the input on the holdout by the point estimates (AUC lower or log-loss
        higher), but within the bootstrap noise: not :attr:`worse`, and worth a line."""
        return not self.worse and bool(self.delta_auc < 0 or self.delta_log_loss > 0)

    def noise_line(self) -> str:
        """One line for :attr:`lower_within_noise`: what was lower, and why it is not flagged."""
        (llo, lhi), (alo, ahi) = self.log_loss_ci, self.auc_ci
        return (f"lower than the input weights on the holdout, within the bootstrap noise "
                f"(not flagged): log-loss {self.delta_log_loss:+.4f} [{llo:+.4f}, {lhi:+.4f}], "
                f"AUC {self.delta_auc:+.4f} [{alo:+.4f}, {ahi:+.4f}] (calibrated - input, 95% "
                "paired account bootstrap)")

    def explanation(self) -> str:
        """One line: by how much, and what to do about it."""
        (llo, lhi), (alo, ahi) = self.log_loss_ci, self.auc_ci
        return (f"worse than the input weights on the holdout beyond the bootstrap noise: "
                f"log-loss {self.delta_log_loss:+.4f} [{llo:+.4f}, {lhi:+.4f}], AUC "
                f"{self.delta_auc:+.4f} [{alo:+.4f}, {ahi:+.4f}] (calibrated - input, 95% "
                "paired account bootstrap); what training learned does not carry over: "
                "consider keeping the input weights (strengths=[inf], --strengths inf)")


@dataclass(frozen=True)
class HoldoutEvaluation(LabelledRows):
    """The holdout rows that both configs score, and each model's predictions on them.

    ``rows`` are positions in the input frame, ``y`` their labels and ``groups`` their
    accounts; ``predictions`` per model (``calibrated``, ``input``, ``reference``);
    ``quality`` one row per model (AUC [CI], Brier, log-loss), ``calibration`` the
    10-bin calibration table per model. ``n_unscored`` holdout rows the calibrated
    weights leave without a score are not evaluated. ``versus_input``: the calibrated
    model against the input config (None without holdout rows of both classes)."""

    rows: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    predictions: Mapping[str, Prediction]
    quality: pd.DataFrame
    calibration: pd.DataFrame | None
    n_unscored: int = 0
    versus_input: InputComparison | None = None

    def __post_init__(self):
        for a in (self.rows, self.y, self.groups):
            readonly(a)


@dataclass(frozen=True)
class CrossValidation:
    """``table``: per strength tried, the mean held-out log-loss and its SE over the folds;
    ``fold_of``: per training row, the fold whose test set holds it."""

    table: pd.DataFrame
    fold_of: np.ndarray

    def __post_init__(self):
        readonly(self.fold_of)


@dataclass(frozen=True)
class Diagnostics:
    """What the data could not say: metrics ``frozen`` at ``k`` x their input weight
    (constant or never measured), ``collinear`` groups, and ``separated`` (the
    unpenalized fit ran off to infinity)."""

    frozen: tuple[str, ...] = ()
    collinear: tuple[tuple[str, ...], ...] = ()
    separated: bool = False


@dataclass(frozen=True)
class CellFit:
    """One cell's calibration. ``train_rows`` are positions in the input frame (canonical
    order); ``warnings`` the calibration warnings about this cell, in order.

    ``estimate`` is the train-window fit, the one the ``holdout`` judged; ``refit`` the same
    strength refitted on every labelled row of the cell after that evaluation (None when the
    cell kept the input weights or when training already used every labelled row);
    ``exported_fit`` says which of the two the calibrated config ships (:attr:`exported`).
    """

    cell: Cell
    layout: Layout
    status: Status
    reason: str | None
    counts: Counts
    estimate: WeightEstimate
    holdout: HoldoutEvaluation
    train_rows: np.ndarray
    cv: CrossValidation | None = None
    reference: ReferenceModel | None = None
    diagnostics: Diagnostics = Diagnostics()
    warnings: tuple[str, ...] = ()
    refit: WeightEstimate | None = None
    exported_fit: ExportedFit = ExportedFit.ALL

    def __post_init__(self):
        readonly(self.train_rows)

    @property
    def exported(self) -> WeightEstimate:
        """The estimate the calibrated config ships: the refit when ``exported_fit`` is
        ``all`` and there is one, else the train-window fit."""
        if self.exported_fit is ExportedFit.ALL and self.refit is not None:
            return self.refit
        return self.estimate

    @property
    def exported_from(self) -> str:
        """The rows behind the exported weights: ``"all"`` labelled rows (the refit, or a
        training set that was every labelled row), the ``"train"`` window, or ``"input"``
        (the cell kept the input weights)."""
        if self.status.kept_input:
            return "input"
        if self.exported is self.refit or self.counts.n_rows == self.counts.n_labelled:
            return "all"
        return "train"

    @property
    def separated(self) -> bool:
        """The shrunk fit's or the reference model's data are separated."""
        return self.diagnostics.separated or bool(self.reference and self.reference.separated)

    @property
    def component_weights(self) -> np.ndarray:
        """(c,) exported component weights: the sums of their metrics' weights."""
        return self.layout.per_component(self.exported.weights)

"""The result of a calibration: frozen, with every derived quantity computed from the
per-cell fits.

Examples
--------
>>> import warnings
>>> from hscore import synth
>>> from hscore.calibration import calibrate
>>> history = synth.make_history(n_accounts=300, months=18, seed=1)
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     result = calibrate(history.frame, "lifecycle", horizon_days=30, n_bootstrap=20)
>>> result.chosen_strength["maturity"] == result.fits["maturity"].estimate.strength
True
>>> result.seed = 1
Traceback (most recent call last):
...
dataclasses.FrozenInstanceError: cannot assign to field 'seed'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType

import pandas as pd

from hscore.calibration import tables
from hscore.calibration.output import calibrated_config
from hscore.calibration.quality import pooled_quality
from hscore.calibration.records import CellFit
from hscore.calibration.split import Holdout
from hscore.config import Config
from hscore.display import ResultDisplay, Section

__all__ = ["CalibrationResult"]

#: The columns of :meth:`CalibrationResult.stage_table` that its display shows.
_STAGE_COLUMNS = ("stage", "status", "strength", "k", "rows", "accounts", "events",
                  "censored", "holdout_rows", "holdout_events")


@dataclass(frozen=True, repr=False)
class CalibrationResult(ResultDisplay):
    """A calibration: the per-cell fits and the settings that made them.

    Attributes
    ----------
    base_config : Config
        The input config (the starting weights and the transforms).
    fits : Mapping[str, CellFit]
        Per cell key (config order), the cell's fit: status and reason, counts, weights
        with CIs, reference model, holdout evaluation (see :mod:`hscore.calibration.records`).
    holdout : Holdout
        The holdout rule applied: start, label horizon, kind.
    strengths : tuple of float or None
        The penalty strengths asked for (None: the defaults).
    cv_folds, n_bootstrap, seed, min_events : int
        The other settings used.
    created : str
        When the calibration ran (UTC, ISO 8601), as the provenance records it.

    Derived (computed from ``fits``): :attr:`config`, :attr:`quality`,
    :attr:`calibration_table`, :attr:`chosen_strength`, :attr:`probability_mapping`,
    :attr:`n_censored` / :attr:`n_unscored` / :attr:`n_straddling`, the windows, and the
    tables of :meth:`summary`, :meth:`component_summary`, :meth:`stage_table`,
    :meth:`coefficients` and :meth:`cv_table`.
    """

    base_config: Config
    fits: Mapping[str, CellFit]
    holdout: Holdout
    strengths: tuple[float, ...] | None
    cv_folds: int
    n_bootstrap: int
    seed: int
    min_events: int
    created: str

    # ------------------------------------------------------------- derived
    @cached_property
    def config(self) -> Config:
        """The calibrated config (schema v1, with provenance): what production scores with."""
        return calibrated_config(self)

    @cached_property
    def quality(self) -> pd.DataFrame:
        """Holdout AUC [95% CI], Brier and log-loss per cell and model (``calibrated``,
        ``input``, ``reference`` = unconstrained logistic model); with more than one cell,
        ``all``: the cells pooled, each with its own probability mapping (a model only when
        every cell with holdout rows has a probability for it, so every ``all`` row covers
        the same rows)."""
        return pooled_quality(self.fits.values(), self.n_bootstrap, self.seed)

    @property
    def calibration_table(self) -> pd.DataFrame:
        """Holdout calibration table (10 equal-count bins) per cell and model."""
        return tables.calibration_table(self.fits.values())

    @property
    def horizon_days(self) -> int:
        """The label horizon used (days)."""
        return self.holdout.horizon_days

    @property
    def holdout_from(self) -> pd.Timestamp:
        """The first day of the holdout."""
        return self.holdout.start

    @property
    def chosen_strength(self) -> dict[str, float]:
        """Per cell, the penalty strength of the exported weights (``inf``: input weights)."""
        return {k: f.estimate.strength for k, f in self.fits.items()}

    @property
    def probability_mapping(self) -> dict[str, tuple[float, float] | None]:
        """Per cell, ``(intercept, slope)`` from calibrated score to churn probability."""
        return {k: f.estimate.probability for k, f in self.fits.items()}

    @property
    def n_censored(self) -> int:
        """Rows left out because their label is not yet known."""
        return sum(f.counts.n_censored for f in self.fits.values())

    @property
    def n_unscored(self) -> int:
        """Rows left out because the input config gives them no score (coverage)."""
        return sum(f.counts.n_unscored for f in self.fits.values())

    @property
    def n_straddling(self) -> int:
        """Labelled rows in neither set: their label window runs past the holdout start."""
        return sum(f.counts.n_straddling for f in self.fits.values())

    @property
    def absent_cells(self) -> list[str]:
        """Keys of the config's cells without a row in the data (they keep their weights)."""
        return [c.key for c in self.base_config.cells() if c.key not in self.fits]

    @property
    def train_window(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """First and last training snapshot date over all cells."""
        return _span(f.counts.train_window for f in self.fits.values())

    @property
    def holdout_window(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """First and last holdout snapshot date over all cells."""
        return _span(f.counts.holdout_window for f in self.fits.values())

    # -------------------------------------------------------------- tables
    def summary(self) -> pd.DataFrame:
        """One row per (stage, metric): input weight, calibrated weight with its bootstrap CI,
        the fitted ``b``, and the unconstrained model's ``b``, SE, z and p (``b``: drop in
        churn log-odds per unit of sub-score)."""
        return tables.weight_table(self.fits.values())

    def component_summary(self) -> pd.DataFrame:
        """One row per (stage, component): input and calibrated weight with bootstrap CI."""
        return tables.component_table(self.fits.values())

    def stage_table(self) -> pd.DataFrame:
        """Per stage: status and reason, strength, k, probability mapping, rows used and
        left out, holdout AUC per model."""
        return tables.stage_table(self.fits.values())

    def coefficients(self) -> pd.DataFrame:
        """The unconstrained models' coefficient tables, all stages (``b`` sign)."""
        return tables.coefficient_table(self.fits.values())

    def cv_table(self) -> pd.DataFrame:
        """Cross-validated log-loss per stage and strength tried."""
        return tables.cv_table(self.fits.values())

    def weight_lines(self) -> str:
        """Per stage and metric: ``old weight -> new weight [CI]``, as plain text."""
        return "\n".join(tables.weight_lines(self.fits.values()))

    # ------------------------------------------------------------- display
    def _header(self) -> str:
        return (f"calibration of '{self.base_config.name}': horizon {self.horizon_days} days, "
                f"holdout from {self.holdout_from.date()}; left out: {self.n_censored} "
                f"censored, {self.n_unscored} without score, {self.n_straddling} straddling "
                "the holdout start")

    def _sections(self) -> list[Section]:
        return [Section("weights (input -> calibrated [95% bootstrap CI])",
                        lines=tables.weight_lines(self.fits.values())),
                # The AUCs are in the quality table and the reasons in the warnings.
                Section("stages", self.stage_table()[list(_STAGE_COLUMNS)]),
                Section("holdout quality (AUC [95% CI], Brier, log-loss)", self.quality)]

    def _warnings(self) -> list[str]:
        return [f"{f.cell.label}: {w}" for f in self.fits.values() for w in f.warnings]

    def __repr__(self) -> str:
        return f"CalibrationResult({self._header()})"

    # A mapping proxy does not pickle: the fits travel as a plain dict (a notebook saves
    # its results with pickle or joblib).
    def __getstate__(self) -> dict:
        return {**self.__dict__, "fits": dict(self.fits)}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, fits=MappingProxyType(state["fits"]))


def _span(windows) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    windows = [w for w in windows if w is not None]
    if not windows:
        return None
    return min(w[0] for w in windows), max(w[1] for w in windows)

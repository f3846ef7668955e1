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
from typing import TYPE_CHECKING

import pandas as pd

from hscore.calibration import tables
from hscore.calibration.output import calibrated_config
from hscore.calibration.quality import pooled_quality
from hscore.calibration.records import CellFit, ExportedFit
from hscore.calibration.split import Holdout, HoldoutKind
from hscore.calibration.validation import horizon_line
from hscore.config import Config
from hscore.display import ResultDisplay, Section

if TYPE_CHECKING:
    from hscore.calibration.bands import BandProposal

__all__ = ["CalibrationResult"]

#: The columns of :meth:`CalibrationResult.stage_table` that its display shows.
_STAGE_COLUMNS = ("stage", "status", "strength", "k", "exported", "rows", "accounts", "events",
                  "labelled", "censored", "holdout", "holdout_rows", "holdout_events",
                  "worse_than_input")


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
        The holdout rule applied: kind, label horizon, start (out-of-time) or share and
        seed (accounts), and the note saying why when the kind was chosen automatically.
    strengths : tuple of float or None
        The penalty strengths asked for (None: the defaults).
    cv_folds, n_bootstrap, seed, min_events : int
        The other settings used.
    created : str
        When the calibration ran (UTC, ISO 8601), as the provenance records it.
    refit : ExportedFit
        Which fit the config ships: ``all`` (refitted on every labelled row after the
        holdout evaluation) or ``train`` (the validated train-window fit).
    transforms : tuple of TransformChoice
        With learned transforms (:mod:`hscore.calibration.learned`), what cross-validation
        chose per (stage, metric); ``base_config`` then holds the chosen curves and
        ``input_config`` the config as given. Empty otherwise.
    bands : BandProposal or None
        The proposed band thresholds (:mod:`hscore.calibration.bands`); ``take_bands``
        says whether the config's ``bands`` are them.

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
    refit: ExportedFit = ExportedFit.ALL
    transforms: tuple = ()             # TransformChoice per (stage, metric) with learning
    bands: "BandProposal | None" = None
    take_bands: bool = False           # the config's bands are the proposal's
    input_config: Config | None = None  # the config as given, when transforms were learned

    # ------------------------------------------------------------- derived
    @cached_property
    def config(self) -> Config:
        """The calibrated config (schema v1, with provenance): what production scores with."""
        return calibrated_config(self)

    @cached_property
    def quality(self) -> pd.DataFrame:
        """Holdout AUC [95% CI], Brier and log-loss per cell and model (``calibrated`` = the
        train-window fit, ``input``, ``reference`` = unconstrained logistic model); with more
        than one cell, ``all``: the cells pooled, each with its own probability mapping (a
        model only when every cell with holdout rows has a probability for it, so every
        ``all`` row covers the same rows). The ``holdout`` column is the kind of holdout
        (``out_of_time`` or ``accounts``); no rows with ``holdout="none"``."""
        return self._with_kind(pooled_quality(self.fits.values(), self.n_bootstrap, self.seed))

    @property
    def calibration_table(self) -> pd.DataFrame:
        """Holdout calibration table (10 equal-count bins) per cell and model, with the
        kind of holdout."""
        return self._with_kind(tables.calibration_table(self.fits.values()))

    def _with_kind(self, table: pd.DataFrame) -> pd.DataFrame:
        """``table`` with the holdout kind as its third column."""
        table = table.copy()
        table.insert(min(2, len(table.columns)), "holdout", self.holdout.kind.value)
        return table

    @property
    def horizon_days(self) -> int:
        """The label horizon used (days)."""
        return self.holdout.horizon_days

    @property
    def horizon_line(self) -> str:
        """What ``churned`` means here: the first line of every summary."""
        return horizon_line(self.horizon_days, self.base_config.name,
                            self.base_config.label_horizon_days)

    @property
    def holdout_from(self) -> pd.Timestamp | None:
        """The first day of an out-of-time holdout (None for the other kinds)."""
        return self.holdout.start

    @property
    def chosen_strength(self) -> dict[str, float]:
        """Per cell, the penalty strength of the exported weights (``inf``: input weights)."""
        return {k: f.exported.strength for k, f in self.fits.items()}

    @property
    def probability_mapping(self) -> dict[str, tuple[float, float] | None]:
        """Per cell, ``(intercept, slope)`` from the exported score to churn probability."""
        return {k: f.exported.probability for k, f in self.fits.items()}

    @property
    def worse_than_input(self) -> dict[str, str]:
        """Per cell whose calibrated (train-window) weights did worse than the input config
        on the holdout beyond the paired bootstrap's noise, the one-line explanation."""
        return {k: f.holdout.versus_input.explanation() for k, f in self.fits.items()
                if f.holdout.versus_input is not None and f.holdout.versus_input.worse}

    @property
    def _stage_fits(self) -> list[CellFit]:
        """The stages' fits: a segment's rows are rows of its stage, counted there."""
        return [f for f in self.fits.values() if f.cell.segment is None]

    @property
    def n_censored(self) -> int:
        """Rows left out because their label is not yet known."""
        return sum(f.counts.n_censored for f in self._stage_fits)

    @property
    def n_unscored(self) -> int:
        """Rows left out because the input config gives them no score (coverage)."""
        return sum(f.counts.n_unscored for f in self._stage_fits)

    @property
    def n_straddling(self) -> int:
        """Labelled rows in neither set: their label window runs past the holdout start."""
        return sum(f.counts.n_straddling for f in self._stage_fits)

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
        """One row per (stage, metric): input weight, exported weight with its bootstrap CI,
        the exported fit's ``b``, both fits' weights (``weight_train``, ``weight_all``), and
        the unconstrained model's ``b``, SE, z and p (``b``: drop in churn log-odds per unit
        of sub-score)."""
        return tables.weight_table(self.fits.values())

    def component_summary(self) -> pd.DataFrame:
        """One row per (stage, component): input and calibrated weight with bootstrap CI."""
        return tables.component_table(self.fits.values())

    def stage_table(self) -> pd.DataFrame:
        """Per stage: status and reason, strength, k, probability mapping, which fit was
        exported, rows used and left out, the kind of holdout (``holdout``), holdout AUC per
        model and the comparison with the input config (``worse_than_input``)."""
        table = tables.stage_table(self.fits.values())
        table.insert(table.columns.get_loc("holdout_rows"), "holdout", self.holdout.kind.value)
        return table

    def coefficients(self) -> pd.DataFrame:
        """The unconstrained models' coefficient tables, all stages (``b`` sign)."""
        return tables.coefficient_table(self.fits.values())

    def cv_table(self) -> pd.DataFrame:
        """Cross-validated log-loss per stage and strength tried."""
        return tables.cv_table(self.fits.values())

    def transform_table(self) -> pd.DataFrame:
        """With ``transforms='learn'``: per (stage, metric) the configured transform kind,
        the one chosen, the CV log-likelihood gain of the learned curve (nats), the
        penalty for its knots and the knots taken (empty without learning)."""
        from hscore.calibration.learned import choice_table

        return choice_table(self.transforms)

    def weight_lines(self) -> str:
        """Per stage and metric: ``old weight -> new weight [CI]``, as plain text."""
        return "\n".join(tables.weight_lines(self.fits.values()))

    # ------------------------------------------------------------- display
    def _header(self) -> str:
        straddling = (f", {self.n_straddling} straddling the holdout start"
                      if self.holdout.kind is HoldoutKind.OUT_OF_TIME else "")
        return (f"{self.horizon_line}\n"
                f"calibration of '{self.base_config.name}': {self.holdout.describe()}; "
                f"exported: {_EXPORTED[self.refit]}; left out: {self.n_censored} censored, "
                f"{self.n_unscored} without score{straddling}")

    def _sections(self) -> list[Section]:
        kind = self.holdout.describe()
        sections = [Section(None, lines=[f"holdout chosen: {self.holdout.note}"])
                    ] if self.holdout.note else []
        sections += [
            Section("weights (input -> exported [95% bootstrap CI of the exported fit]  "
                    "(the other fit))", lines=tables.weight_lines(self.fits.values())),
            # The AUCs are in the quality table and the reasons in the warnings.
            Section("stages", self.stage_table()[list(_STAGE_COLUMNS)])]
        if self.transforms:
            sections.append(Section("transforms (learned monotone curve vs configured, by "
                                    "account-grouped CV)",
                                    lines=[f"  {c.line()}" for c in self.transforms]))
        if self.bands is not None:
            sections.append(Section("proposed bands", lines=self.bands.lines()))
            sections.append(Section("each stage's own implied thresholds (its probability "
                                    "mapping; the proposal is one pair for the book)",
                                    self.bands.per_stage))
            if len(self.bands.table):
                sections.append(Section(
                    f"bands on the holdout ({kind}), thresholds from the train-window fit",
                    self.bands.table))
        flagged = self.worse_than_input
        if flagged:
            sections.append(Section("flagged", lines=[f"  {self.fits[k].cell.label}: {text}"
                                                      for k, text in flagged.items()]))
        # lower by the point estimates but within the noise: said, so that a lower AUC in
        # the quality table below is not read as a flag that was missed
        within = [(f.cell.label, f.holdout.versus_input.noise_line())
                  for f in self.fits.values() if f.holdout.versus_input is not None
                  and f.holdout.versus_input.lower_within_noise]
        if within:
            sections.append(Section("lower than the input, within the noise",
                                    lines=[f"  {label}: {text}" for label, text in within]))
        if self.holdout.kind is HoldoutKind.NONE:
            sections.append(Section("holdout quality", lines=[
                "  none: --holdout none (holdout='none') evaluates nothing; every labelled "
                "row trained"]))
        else:
            sections.append(Section(f"holdout quality of the train-window fit, {kind} (AUC "
                                    "[95% CI], Brier, log-loss)", self.quality))
        return sections

    def _warnings(self) -> list[str]:
        return [f"{f.cell.label}: {w}" for f in self.fits.values() for w in f.warnings]

    def __repr__(self) -> str:
        return f"CalibrationResult({self._header().splitlines()[-1]})"

    # A mapping proxy does not pickle: the fits travel as a plain dict (a notebook saves
    # its results with pickle or joblib).
    def __getstate__(self) -> dict:
        return {**self.__dict__, "fits": dict(self.fits)}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, fits=MappingProxyType(state["fits"]))


#: The header's words for each exported fit.
_EXPORTED = {ExportedFit.ALL: "the refit on all labelled rows (refit 'all')",
             ExportedFit.TRAIN: "the validated train-window fit (refit 'train')"}


def _span(windows) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    windows = [w for w in windows if w is not None]
    if not windows:
        return None
    return min(w[0] for w in windows), max(w[1] for w in windows)

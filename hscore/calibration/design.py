"""Per-stage design matrices for calibration and comparison.

Calibration fits ``logit P(churn) = a - sum_m b_m s_m`` on the sub-scores
``s_m = transform(raw) / 100`` that the scorer computes. Missing metrics are
filled the way the input config's ``missing`` rule would treat them, so that
the input config's score is exactly ``100 * sum_m v0_m s_m`` on every row:

- ``reweight``: a missing metric takes the weighted mean of the measured
  metrics of its component; a component with nothing measured takes the
  row's score (the weighted mean of the measured components);
- ``neutral``: 0.5; ``zero``: 0.

Rows that the scorer leaves without a score (coverage under
``min_coverage``) and rows without a known label (``churned`` empty:
censored) are left out and counted.

Design rows are in a canonical order, by (account_id, snapshot_date), and accounts are
numbered in account_id order: folds, bootstrap resamples and every floating-point sum then
see the same sequence whatever the order of the input file, so the same data calibrate to
the same config (see :func:`canonical_order`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hscore.config import Config
from hscore.errors import DataError
from hscore.scoring.scorer import HealthScorer
from hscore.scoring.snapshots import CheckedSnapshots
from hscore.scoring.snapshots import _fail as row_error

__all__ = ["StageDesign", "DesignSet", "build_designs", "labels", "account_ranks",
           "canonical_order"]


@dataclass
class StageDesign:
    """One stage's rows as a design matrix."""

    stage: str
    metrics: list[str]
    components: list[str]
    component_of: np.ndarray   # component index per metric
    X: np.ndarray              # (n, m) sub-scores / 100 with missing values filled
    measured: np.ndarray       # (n, m) bool: was the metric measured on that row
    y: np.ndarray              # (n,) 0/1 float
    groups: np.ndarray         # (n,) account code, for grouped folds and resampling
    days: np.ndarray           # (n,) snapshot day (days since epoch)
    rows: np.ndarray           # (n,) positions in the input frame
    input_weights: np.ndarray  # (m,) the input config's effective metric weights
    missing: str = "reweight"  # the config's missing-value rule
    min_coverage: float = 0.5  # the config's min_coverage
    n_censored: int = 0        # rows of the stage left out: label not yet known
    n_unscored: int = 0        # rows of the stage left out: coverage under min_coverage

    @property
    def n_rows(self) -> int:
        return len(self.y)

    @property
    def n_events(self) -> int:
        return int(self.y.sum())

    @property
    def n_accounts(self) -> int:
        return len(np.unique(self.groups))

    def subset(self, mask: np.ndarray) -> "StageDesign":
        return StageDesign(self.stage, self.metrics, self.components, self.component_of,
                           self.X[mask], self.measured[mask], self.y[mask], self.groups[mask],
                           self.days[mask], self.rows[mask], self.input_weights,
                           self.missing, self.min_coverage)

    def scored_by(self, weights: np.ndarray) -> np.ndarray:
        """(n,) bool: rows a config with effective metric ``weights`` scores (the weight of
        the measured metrics reaches ``min_coverage``)."""
        return self.measured @ np.asarray(weights, dtype=np.float64) >= self.min_coverage

    def score_with(self, weights: np.ndarray) -> np.ndarray:
        """(n,) score 0-100 that a config with effective metric ``weights`` gives these rows.

        Missing metrics are filled by the config's rule under the *new* weights
        (for ``reweight`` the fill depends on them), so this is exactly what the
        scorer computes with the calibrated config, clipped to [0, 100] as it does.
        """
        weights = np.asarray(weights, dtype=np.float64)
        if self.measured.all() or self.missing != "reweight":
            score = 100.0 * (self.X @ weights)
        else:
            ncomp = len(self.components)
            comp_w = np.bincount(self.component_of, weights=weights, minlength=ncomp)
            counts = np.bincount(self.component_of, minlength=ncomp)
            inside = np.where(comp_w[self.component_of] > 0,
                              weights / np.where(comp_w > 0, comp_w, 1.0)[self.component_of],
                              1.0 / counts[self.component_of])
            values = np.where(self.measured, 100.0 * self.X, np.nan)
            filled = _fill_missing(values, self.component_of, inside, comp_w, self.missing)
            score = filled @ weights
            # A row whose measured components all weigh 0 has no score under the new
            # weights; the input fill keeps it comparable.
            bad = ~np.isfinite(score)
            score[bad] = 100.0 * (self.X[bad] @ weights)
        return np.clip(score, 0.0, 100.0)


@dataclass
class DesignSet:
    designs: dict[str, StageDesign]
    n_censored: int
    n_unscored: int
    checked: CheckedSnapshots = field(repr=False)


def labels(frame: pd.DataFrame) -> np.ndarray:
    """The ``churned`` column as float 0/1 with NaN for censored rows; anything else is an error."""
    if "churned" not in frame.columns:
        raise DataError("churned", "required column is missing: calibration learns from churn "
                                   "labels (1 = churned within the label horizon, 0 = retained, "
                                   "empty = not yet known)")
    col = frame["churned"]
    if pd.api.types.is_bool_dtype(col):
        return col.to_numpy(dtype=np.float64)
    if not pd.api.types.is_numeric_dtype(col):
        numeric = pd.to_numeric(col, errors="coerce")
        bad = (numeric.isna() & col.notna()).to_numpy()
        if bad.any():
            raise row_error(frame, "churned", "values that are not 0/1", bad)
        col = numeric
    y = col.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isnan(y) & (y != 0) & (y != 1)
    if bad.any():
        raise row_error(frame, "churned", "values other than 0, 1 or empty", bad)
    return y


def account_ranks(checked: CheckedSnapshots) -> np.ndarray:
    """(n,) per row, the rank of its account_id among the distinct ids, in sorted order.

    Unlike the first-appearance codes of the snapshot check, these do not depend on the
    order of the rows. Ids of mixed types (a file read with some numeric ids) that Python
    cannot compare sort by (type name, text).

    Examples
    --------
    >>> import pandas as pd
    >>> from hscore.scoring.scorer import HealthScorer
    >>> frame = pd.DataFrame({"account_id": ["b", "a", "b"], "stage": "all",
    ...                       "snapshot_date": ["2025-01-01", "2025-01-01", "2025-02-01"]})
    >>> cfg = {"schema_version": 1, "name": "x", "stages": {"all": {"components": {"c": {
    ...     "weight": 1, "metrics": {"m": {"weight": 1, "direction": "higher_is_better",
    ...     "transform": {"kind": "linear", "lo": 0, "hi": 1}}}}}}}}
    >>> from hscore.config import config_from_dict
    >>> checked = HealthScorer(config_from_dict(cfg)).check(frame.assign(m=0.5))
    >>> account_ranks(checked).tolist()
    [1, 0, 1]
    """
    codes, uniques = pd.factorize(checked.frame["account_id"])
    values = np.asarray(uniques, dtype=object)
    try:
        by_id = np.argsort(values, kind="stable")
    except TypeError:
        by_id = np.array(sorted(range(len(values)),
                                key=lambda i: (type(values[i]).__name__, str(values[i]))),
                         dtype=np.intp)
    rank = np.empty(len(values), dtype=np.int64)
    rank[by_id] = np.arange(len(values))
    return rank[codes]


def canonical_order(ranks: np.ndarray, days: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The permutation that sorts ``rows`` (positions in the frame) by (account rank,
    snapshot day): the order design rows, folds and resamples follow. ``ranks`` (see
    :func:`account_ranks`) and ``days`` are per row of the whole frame."""
    return np.lexsort((days[rows], ranks[rows]))


def _fill_missing(values: np.ndarray, component_of: np.ndarray, metric_w: np.ndarray,
                  component_w: np.ndarray, mode: str) -> np.ndarray:
    present = ~np.isnan(values)
    if mode == "neutral":
        return np.where(present, values, 50.0)
    if mode == "zero":
        return np.where(present, values, 0.0)
    filled = values.copy()
    zeroed = np.where(present, values, 0.0)
    n = len(values)
    comp_scores = np.full((n, len(component_w)), np.nan)
    for ci in range(len(component_w)):
        cols = np.flatnonzero(component_of == ci)
        den = present[:, cols] @ metric_w[cols]
        with np.errstate(invalid="ignore", divide="ignore"):
            comp_scores[:, ci] = np.where(den > 0, (zeroed[:, cols] @ metric_w[cols]) / den,
                                          np.nan)
    has = ~np.isnan(comp_scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        row_score = (np.where(has, comp_scores, 0.0) @ component_w) / (has @ component_w)
    for ci in range(len(component_w)):
        cols = np.flatnonzero(component_of == ci)
        fill = np.where(has[:, ci], comp_scores[:, ci], row_score)
        for j in cols:
            miss = ~present[:, j]
            filled[miss, j] = fill[miss]
    return filled


def build_designs(frame: pd.DataFrame, config: Config, *, require_labels: bool = True) -> DesignSet:
    """Design matrices for every stage present in ``frame``.

    Rows the scorer leaves without a score and censored rows are left out and
    counted in ``n_unscored`` / ``n_censored``.
    """
    scorer = HealthScorer(config)
    checked = scorer.check(frame)
    y_all = labels(frame) if require_labels else np.zeros(len(frame))
    ranks = account_ranks(checked)
    designs: dict[str, StageDesign] = {}
    n_censored = n_unscored = 0
    for stage, sub in scorer.subscores(checked).items():
        plan = scorer._plans[stage]
        parts = scorer.combine(stage, sub.values)
        keep = ~parts["too_thin"]
        stage_unscored = int((~keep).sum())
        known = ~np.isnan(y_all[sub.rows])
        stage_censored = int((keep & ~known).sum())
        n_unscored += stage_unscored
        n_censored += stage_censored
        keep &= known
        # Positions within the stage's rows, in canonical order.
        local = np.flatnonzero(keep)
        local = local[canonical_order(ranks, checked.days, sub.rows[local])]
        values = sub.values[local]
        filled = _fill_missing(values, plan.component_of, plan.metric_weight,
                               plan.component_weight, config.missing)
        rows = sub.rows[local]
        designs[stage] = StageDesign(
            stage=stage, metrics=list(sub.metrics),
            components=list(config.stages[stage].components),
            component_of=plan.component_of.copy(), X=filled / 100.0,
            measured=~np.isnan(values), y=y_all[rows],
            groups=ranks[rows], days=checked.days[rows], rows=rows,
            input_weights=plan.component_weight[plan.component_of] * plan.metric_weight,
            missing=config.missing, min_coverage=config.min_coverage,
            n_censored=stage_censored, n_unscored=stage_unscored)
    return DesignSet(designs, n_censored, n_unscored, checked)

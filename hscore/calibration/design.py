"""Per-cell design matrices for calibration and comparison.

A cell (:class:`~hscore.config.Cell`: a lifecycle stage, or a segment of one) is a group of
rows with one set of weights; :func:`build_designs` makes one design per cell of
``config.cells()``. A stage's design holds all its rows, its segments' too: the pooled fit
that segment weights are pulled toward (:mod:`hscore.calibration.segments`).
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

Examples
--------
>>> from hscore import load_config, synth
>>> frame = synth.make_history(n_accounts=40, months=6, seed=0).frame
>>> designs = build_designs(frame, load_config("lifecycle")).designs
>>> [key for key in designs] == [c.key for c in load_config("lifecycle").cells()
...                              if c.key in designs]
True
>>> d = designs["maturity"]
>>> d.X.shape == (d.n_rows, len(d.layout.metrics))
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hscore.config import Cell, Config
from hscore.errors import DataError, plural
from hscore.scoring.scorer import HealthScorer
from hscore.scoring.segments import segment_cells
from hscore.scoring.snapshots import CheckedSnapshots
from hscore.scoring.snapshots import row_error

__all__ = ["Layout", "LabelledRows", "CellDesign", "DesignSet", "build_designs", "labels", "account_ranks",
           "canonical_order"]


@dataclass(frozen=True)
class Layout:
    """The columns of a cell's design: its metrics (in config order), the component of each
    and the input config's effective weights (component weight x metric weight)."""

    metrics: tuple[str, ...]
    components: tuple[str, ...]
    component_of: np.ndarray   # (m,) component index per metric
    input_weights: np.ndarray  # (m,) effective weights of the input config, summing to 1

    @classmethod
    def of(cls, config: Config, cell: Cell) -> "Layout":
        """The layout of ``cell`` under ``config``'s weights."""
        stage = config.weights_of(cell)
        comps = list(stage.components)
        metrics, comp_of, weights = [], [], []
        for ci, comp in enumerate(stage.components.values()):
            for name, spec in comp.metrics.items():
                metrics.append(name)
                comp_of.append(ci)
                weights.append(comp.weight * spec.weight)
        return cls(tuple(metrics), tuple(comps), _frozen(np.array(comp_of, dtype=np.intp)),
                   _frozen(np.array(weights, dtype=np.float64)))

    def per_component(self, weights: np.ndarray) -> np.ndarray:
        """(c,) the sum of the effective ``weights`` of each component's metrics."""
        return np.bincount(self.component_of, weights=weights, minlength=len(self.components))

    def metric_shares(self, weights: np.ndarray) -> np.ndarray:
        """(m,) each metric's share of its component under effective ``weights``; equal
        shares inside a component that weighs 0."""
        comp_w = self.per_component(weights)
        counts = np.bincount(self.component_of, minlength=len(self.components))
        own = comp_w[self.component_of]
        return np.where(own > 0, weights / np.where(own > 0, own, 1.0),
                        1.0 / counts[self.component_of])


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


class LabelledRows:
    """Counts of rows with labels ``y`` (0/1) and accounts ``groups``."""

    y: np.ndarray
    groups: np.ndarray

    @property
    def n_rows(self) -> int:
        return len(self.y)

    @property
    def n_events(self) -> int:
        return int(self.y.sum())

    @property
    def n_accounts(self) -> int:
        return len(np.unique(self.groups))


@dataclass
class CellDesign(LabelledRows):
    """One cell's rows as a design matrix, in canonical (account, date) order."""

    cell: Cell
    layout: Layout
    X: np.ndarray              # (n, m) sub-scores / 100 with missing values filled
    measured: np.ndarray       # (n, m) bool: was the metric measured on that row
    y: np.ndarray              # (n,) 0/1 float
    groups: np.ndarray         # (n,) account rank, for grouped folds and resampling
    days: np.ndarray           # (n,) snapshot day (days since epoch)
    rows: np.ndarray           # (n,) positions in the input frame
    missing: str = "reweight"  # the config's missing-value rule
    min_coverage: float = 0.5  # the config's min_coverage
    n_censored: int = 0        # rows of the cell left out: label not yet known
    n_unscored: int = 0        # rows of the cell left out: coverage under min_coverage

    def subset(self, mask: np.ndarray) -> "CellDesign":
        """The rows where ``mask`` holds (the left-out counts stay with the whole design)."""
        return CellDesign(self.cell, self.layout, self.X[mask], self.measured[mask],
                          self.y[mask], self.groups[mask], self.days[mask], self.rows[mask],
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
            values = np.where(self.measured, 100.0 * self.X, np.nan)
            filled = _fill_missing(values, self.layout.component_of,
                                   self.layout.metric_shares(weights),
                                   self.layout.per_component(weights), self.missing)
            score = filled @ weights
            # A row whose measured components all weigh 0 has no score under the new
            # weights; the input fill keeps it comparable.
            bad = ~np.isfinite(score)
            score[bad] = 100.0 * (self.X[bad] @ weights)
        return np.clip(score, 0.0, 100.0)


@dataclass
class DesignSet:
    """The designs of the cells present in the data (keyed by cell key, config order)."""

    designs: dict[str, CellDesign]
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
            raise row_error(frame, "churned", f"values that are not 0/1: {_found(col, bad)}; "
                                              f"write 1 = churned, 0 = retained, empty = not "
                                              f"yet known", bad)
        col = numeric
    y = col.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isnan(y) & (y != 0) & (y != 1)
    if bad.any():
        raise row_error(frame, "churned", f"values other than 0, 1 or empty: "
                                          f"{_found(col, bad)}", bad)
    return y


def _found(col: pd.Series, bad: np.ndarray, most: int = 5) -> str:
    """The distinct values of ``col`` on the ``bad`` rows, most frequent first, with counts:
    ``'yes' (120 rows), 'no' (80 rows)``."""
    counts = pd.Series(col.to_numpy()[bad]).value_counts(sort=True)
    shown = ", ".join(f"{v!r} ({plural(n)})"
                      for v, n in counts.head(most).items())
    return shown + (f" and {len(counts) - most} other values" if len(counts) > most else "")


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
    # The check's factorization of the ids (one hash pass over them); ranks depend only on
    # the distinct values, not on the codes' order.
    codes, uniques = checked.account_codes, checked.account_ids
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


def _in_cell(cell: Cell, cell_keys: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
    """(len(rows),) bool: which of a stage's ``rows`` belong to ``cell``. A stage's cell
    holds every row of the stage (the pooled fit that its segments are pulled toward); a
    segment's cell the rows the scorer scores with the segment's weights."""
    if cell.segment is None:
        return np.ones(len(rows), dtype=bool)
    return cell_keys[rows] == cell.key


def build_designs(frame: pd.DataFrame, config: Config, *, require_labels: bool = True
                  ) -> DesignSet:
    """Design matrices for every cell of ``config`` with rows in ``frame``.

    Rows the scorer leaves without a score and censored rows are left out and
    counted in ``n_unscored`` / ``n_censored``.
    """
    scorer = HealthScorer(config)
    checked = scorer.check(frame)
    y_all = labels(frame) if require_labels else np.zeros(len(frame))
    ranks = account_ranks(checked)
    subscores = scorer.subscores(checked)
    designs: dict[str, CellDesign] = {}
    n_censored = n_unscored = 0
    cell_keys = None
    if config.has_segments:
        cells, codes = segment_cells(config, checked)
        cell_keys = np.array([c.key for c in cells], dtype=object)[codes]
    for cell in config.cells():
        sub = subscores.get(cell.stage)
        if sub is None:
            continue
        mine = _in_cell(cell, cell_keys, sub.rows)
        if not mine.any():
            continue
        keep = mine & ~scorer.combine(cell.key, sub.values)["too_thin"]
        cell_unscored = int((mine & ~keep).sum())
        known = ~np.isnan(y_all[sub.rows])
        cell_censored = int((keep & ~known).sum())
        if cell.segment is None:   # a segment's rows are counted with its stage's
            n_unscored += cell_unscored
            n_censored += cell_censored
        keep &= known
        # Positions within the stage's rows, in canonical order.
        local = np.flatnonzero(keep)
        local = local[canonical_order(ranks, checked.days, sub.rows[local])]
        values = sub.values[local]
        layout = Layout.of(config, cell)
        # The input config's own weights, as the scorer fills with them.
        comps = config.weights_of(cell).components.values()
        filled = _fill_missing(values, layout.component_of,
                               np.array([m.weight for c in comps for m in c.metrics.values()]),
                               np.array([c.weight for c in comps]), config.missing)
        rows = sub.rows[local]
        designs[cell.key] = CellDesign(
            cell=cell, layout=layout, X=filled / 100.0, measured=~np.isnan(values),
            y=y_all[rows], groups=ranks[rows], days=checked.days[rows], rows=rows,
            missing=config.missing, min_coverage=config.min_coverage,
            n_censored=cell_censored, n_unscored=cell_unscored)
    return DesignSet(designs, n_censored, n_unscored, checked)

"""The one scoring path: config + snapshot frame -> health scores.

Everything that produces a score (the CLI, calibration, the MLflow pyfunc
model, the exported production config) goes through :class:`HealthScorer`,
so the scores never disagree with themselves. Work is vectorized over rows;
the only Python loops run over blocks of rows and over the cells (stages),
components and metrics of the config. A block's sub-scores, weights and
domain checks are computed in small reusable buffers that stay in cache, and
written once into the output; large frames use a few threads
(``bench/scorer.py`` measures this against a hand-written numpy reference).

This module imports numpy, pandas, pyyaml and pydantic only: no mlflow,
statsmodels, scikit-learn or matplotlib on the production path.

Examples
--------
>>> import pandas as pd
>>> from hscore import HealthScorer, load_config
>>> cfg = load_config("categories")
>>> frame = pd.DataFrame({
...     "account_id": ["acme", "acme"], "snapshot_date": ["2026-01-01", "2026-02-01"],
...     "seats": [10, 10], "days_since_last_meeting": [0, 30],
...     "content_engagements_90d": [20, 5], "seat_utilization": [1.0, 0.6],
...     "active_days_30d": [200, 120], "modules_adopted_share": [1.0, 0.5],
...     "key_features_used_share": [1.0, 0.5], "milestones_on_time_share": [1.0, 1.0],
...     "days_in_current_stage": [30, 60], "days_past_due": [0, 0], "exec_contacts": [3, 2],
...     "days_since_exec_touch": [0, 60], "user_nps": [100, 20], "csat": [5, 4],
...     "advocacy_score": [10, 5], "referrals_12m": [3, 1]})
>>> out = HealthScorer(cfg).score(frame)
>>> out[["score", "band", "trend_alert"]].round(1)
   score     band  trend_alert
0  100.0  healthy        False
1   63.7  neutral         True
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hscore.config import Cell, Config, Metric, Stage, load_config
from hscore.scoring.segments import segment_cells, segments_used
from hscore.scoring.snapshots import CheckedSnapshots, check_snapshots
from hscore.scoring.transforms import Kernel, compile_subscore
from hscore.workers import resolve_n_jobs, thread_map

__all__ = ["HealthScorer", "score", "StageSubscores", "BANDS"]

BANDS = ("at_risk", "neutral", "healthy")


@dataclass
class StageSubscores:
    """Sub-scores (0-100, NaN = not measured) of one stage's rows, metrics in config order."""

    stage: str
    rows: np.ndarray        # positions in the input frame
    metrics: list[str]
    values: np.ndarray      # shape (len(rows), len(metrics))


@dataclass
class _StagePlan:
    metrics: list[str]
    component_of: np.ndarray      # component index per metric
    metric_weight: np.ndarray     # weight within its component
    component_weight: np.ndarray  # weight of each component in the stage
    specs: list[Metric]           # the metric specs, in ``metrics`` order
    kernels: list[Kernel]         # each metric's transform, compiled once
    component_slices: list[slice]  # each component's metrics: a contiguous run of columns
    full_weight: np.ndarray       # component weight x metric weight, per metric
    lower: np.ndarray             # each metric's domain (-inf / inf where open)
    upper: np.ndarray


def _plan(stage: Stage) -> _StagePlan:
    metrics, comp_idx, mw, specs, slices = [], [], [], [], []
    for ci, comp in enumerate(stage.components.values()):
        first = len(metrics)
        for name, spec in comp.metrics.items():
            metrics.append(name)
            comp_idx.append(ci)
            mw.append(spec.weight)
            specs.append(spec)
        slices.append(slice(first, len(metrics)))
    cw = np.array([c.weight for c in stage.components.values()], dtype=np.float64)
    comp_of = np.array(comp_idx, dtype=np.intp)
    mw_arr = np.array(mw, dtype=np.float64)
    kernels = [compile_subscore(spec.transform, spec.direction) for spec in specs]
    bounds = []
    for spec in specs:
        lo, hi = spec.domain if spec.domain is not None else (None, None)
        if spec.transform.kind == "boolean" and spec.domain is None:
            lo, hi = 0.0, 1.0
        bounds.append((-np.inf if lo is None else lo, np.inf if hi is None else hi))
    lower, upper = (np.array(b, dtype=np.float64) for b in zip(*bounds))
    return _StagePlan(metrics, comp_of, mw_arr, cw, specs, kernels, slices, cw[comp_of] * mw_arr,
                      lower, upper)


# Rows are scored in chunks so that the scratch buffers stay in cache and are
# reused: the only large allocation of ``score`` is the output block itself.
_CHUNK_ROWS = 1 << 15
# Coverage is a sum of float weights (thirds, sevenths...): a row whose measured
# weight is exactly min_coverage must not fail it by a rounding error.
_COVERAGE_TOLERANCE = 1e-9


def _runs(columns: list[int]) -> list[tuple[int, int]]:
    """Consecutive column numbers as [first, last) runs: [3, 4, 5, 9] -> [(3, 6), (9, 10)]."""
    runs: list[tuple[int, int]] = []
    for c in columns:
        if runs and runs[-1][1] == c:
            runs[-1] = (runs[-1][0], c + 1)
        else:
            runs.append((c, c + 1))
    return runs


class _Scratch:
    """Reusable buffers for scoring up to ``rows`` rows of a stage at a time.

    2-D buffers are Fortran-ordered: a metric's (or component's) column is
    contiguous, so column slices are cheap views and whole-block operations
    run over contiguous memory.
    """

    def __init__(self, rows: int, n_metrics: int, n_components: int):
        self.values = np.empty((rows, n_metrics), order="F")
        self.missing = np.empty((rows, n_metrics), dtype=bool, order="F")
        self.measured = np.empty((rows, n_metrics), order="F")    # w_j where measured, else 0
        self.components = np.empty((rows, n_components), order="F")
        self.factor = np.empty((rows, n_components), order="F")
        self.has = np.empty((rows, n_components), dtype=bool, order="F")
        self.scaled = np.empty((rows, n_components), order="F")
        self.score = np.empty(rows)
        self.coverage = np.empty(rows)
        self.total = np.empty(rows)
        self.seats = np.empty(rows)
        self.thin = np.empty(rows, dtype=bool)
        self.low = np.empty(rows, dtype=bool)


def _run_blocks(score_block, starts: list[int], n: int, chunk: int, n_jobs: int,
                make_scratch) -> None:
    """Score blocks on ``n_jobs`` threads, each with its own scratch buffers.

    Blocks write disjoint rows of the output. If blocks raise (bad values are
    found block by block), the error of the earliest block is raised, as a
    single thread going through the blocks in order would; blocks after a
    failed one are skipped.
    """
    failed: dict[int, BaseException] = {}
    first_failed = [len(starts)]
    lock = threading.Lock()

    def worker(indices: list[int]) -> None:
        buf = make_scratch()
        for i in indices:
            if i > first_failed[0]:
                return
            try:
                score_block(starts[i], min(n, starts[i] + chunk), buf)
            except BaseException as err:  # noqa: BLE001 - re-raised below, in block order
                with lock:
                    failed[i] = err
                    first_failed[0] = min(first_failed[0], i)
                return

    with thread_map(n_jobs) as map_:
        # Interleaved blocks keep the threads equally busy.
        list(map_(worker, [list(range(t, len(starts), n_jobs)) for t in range(n_jobs)]))
    if failed:
        raise failed[min(failed)]


def _combine_into(plan: _StagePlan, values: np.ndarray, buf: _Scratch, missing_rule: str,
                  min_coverage: float) -> None:
    """The missing-value rule and the weights, in place, on one block of a stage's rows.

    ``values`` (rows x metrics, Fortran order, NaN = not measured) is
    overwritten with the contributions in points. ``buf.score``,
    ``buf.coverage``, ``buf.components`` and ``buf.thin`` receive the rest.
    Whole-array numpy operations only; the loops run over components.
    """
    k, m = values.shape
    n_comp = len(plan.component_weight)
    missing, measured = buf.missing[:k, :m], buf.measured[:k, :m]
    components, den = buf.components[:k, :n_comp], buf.factor[:k, :n_comp]
    score, coverage, thin = buf.score[:k], buf.coverage[:k], buf.thin[:k]
    cw = plan.component_weight
    mode = missing_rule
    np.isnan(values, out=missing)
    # A missing sub-score adds nothing under reweight (its weight moves to the
    # measured metrics), 0 points under zero and 50 under neutral.
    np.copyto(values, 50.0 if mode == "neutral" else 0.0, where=missing)
    np.multiply(values, plan.metric_weight, out=values)   # w_j * s_j
    np.copyto(measured, plan.metric_weight)
    np.copyto(measured, 0.0, where=missing)                # w_j where measured
    for ci, cols in enumerate(plan.component_slices):
        np.add.reduce(values[:, cols], axis=1, out=components[:, ci])
        np.add.reduce(measured[:, cols], axis=1, out=den[:, ci])
    scaled = buf.scaled[:k, :n_comp]
    np.multiply(den, cw, out=scaled)
    np.add.reduce(scaled, axis=1, out=coverage)            # measured share of the stage
    if mode in ("neutral", "zero"):
        # metric weights sum to 1 in a component: the weighted points are its score
        for ci, cols in enumerate(plan.component_slices):
            np.multiply(values[:, cols], cw[ci], out=values[:, cols])
        thin[:] = False
    else:
        has, total = buf.has[:k, :n_comp], buf.total[:k]
        np.greater(den, 0.0, out=has)
        with np.errstate(invalid="ignore"):
            np.divide(components, den, out=components)  # 0/0 = NaN: nothing measured
        np.multiply(has, cw, out=scaled)
        np.add.reduce(scaled, axis=1, out=total)          # weight of measured components
        # metric j's effective weight: w_j * w_c / (den_c * total)
        factor = den
        np.divide(cw, den, out=factor, where=has)
        np.copyto(factor, 0.0, where=~has)
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(factor, total[:, None], out=factor)
        for ci, cols in enumerate(plan.component_slices):
            np.multiply(values[:, cols], factor[:, ci:ci + 1], out=values[:, cols])
        np.equal(total, 0.0, out=thin)
    np.add.reduce(values, axis=1, out=score)
    # Floating sums can land a hair outside [0, 100].
    np.clip(score, 0.0, 100.0, out=score)
    low = buf.low[:k]
    np.less(coverage, min_coverage - _COVERAGE_TOLERANCE, out=low)
    thin |= low
    if thin.any():
        score[thin] = np.nan
        values[thin] = np.nan


class HealthScorer:
    """Score snapshot rows with a config.

    Parameters
    ----------
    config : Config, str or path
        A :class:`~hscore.config.Config`, a shipped default's name or a YAML path.

    Notes
    -----
    Per row: a metric's sub-score ``s`` (0-100) comes from its transform; a
    component's score is the weighted mean of its metrics' sub-scores; the
    stage score is the weighted sum of component scores. Missing metrics
    follow ``config.missing``:

    - ``reweight``: the measured metrics of a component share its weight (as
      Gainsight does); a component with nothing measured passes its weight to
      the other components;
    - ``neutral``: a missing sub-score counts as 50;
    - ``zero``: a missing sub-score counts as 0.

    ``coverage`` is the share of the stage's weight that had data; under
    ``min_coverage`` the score is left empty and ``reason`` says why.
    Contributions are in points and add up to the score.

    Frames are scored in blocks of rows; with ``n_jobs`` other than 1 the
    blocks of a large frame are shared among threads (numpy releases the GIL
    in its loops). Every row is computed the same way whatever the number of
    threads, so the result does not depend on it.

    Parameters
    ----------
    n_jobs : int or None, default None
        Threads for scoring a large frame, as in scikit-learn: None or 1
        scores in the calling thread, -1 uses every core available to the
        process, -2 all but one, and so on. A frame gets at most one thread
        per two blocks of rows, so small frames always use one.
    """

    def __init__(self, config, n_jobs: int | None = None):
        self.config: Config = load_config(config)
        self.n_jobs = n_jobs
        # One plan per cell (the rows that share one set of weights: today a stage).
        self._plans = {cell.key: _plan(self.config.weights_of(cell))
                       for cell in self.config.cells()}

    def __repr__(self) -> str:
        return f"HealthScorer({self.config!r})"

    # ------------------------------------------------------------ sub-scores
    def check(self, frame: pd.DataFrame, *, date_format: str | None = None) -> CheckedSnapshots:
        """Validate a snapshot frame against this config (raises DataError); text dates are
        ISO 8601 unless ``date_format`` says how they are written."""
        return check_snapshots(frame, self.config, date_format=date_format)

    def _fill_subscores(self, plan: _StagePlan, checked: CheckedSnapshots, rows: np.ndarray,
                        out: np.ndarray, seats_buf: np.ndarray | None = None,
                        verified: set[str] | None = None) -> None:
        """Sub-scores of ``rows`` into the columns of ``out`` (len(rows) x metrics).

        With ``verified`` (a set of metric names already checked in full), the
        domain checks that ``check_snapshots(check_values=False)`` skipped are
        made here on the block, which is in cache: its min and max against the
        metric's domain. Only a block that fails sends the whole column through
        :meth:`CheckedSnapshots.check_metric`, which raises the usual error.
        """
        seats = None
        if checked.seats is not None and any(spec.per_seat for spec in plan.specs):
            seats = np.take(checked.seats, rows, out=seats_buf, mode="clip")
            if verified is not None and np.fmin.reduce(seats) == 0:
                for name, spec in zip(plan.metrics, plan.specs):
                    if spec.per_seat and name not in verified:
                        checked.check_metric(name)  # raises if a measured row has no seats
                        verified.add(name)
        for j, name in enumerate(plan.metrics):
            np.take(checked.metrics[name], rows, out=out[:, j], mode="clip")
        if verified is not None:
            # The block's raw values against each metric's domain, in two reductions.
            seen_lo, seen_hi = np.fmin.reduce(out, axis=0), np.fmax.reduce(out, axis=0)
            outside = ((seen_lo < plan.lower) | (seen_hi > plan.upper)
                       | np.isinf(seen_lo) | np.isinf(seen_hi))
            for j in np.flatnonzero(outside):
                if plan.metrics[j] not in verified:
                    checked.check_metric(plan.metrics[j])  # raises, naming rows and accounts
                    verified.add(plan.metrics[j])
        for j, (spec, kernel) in enumerate(zip(plan.specs, plan.kernels)):
            col = out[:, j]
            if spec.per_seat:
                with np.errstate(divide="ignore", invalid="ignore"):
                    np.divide(col, seats, out=col)
            kernel(col, col)

    @staticmethod
    def _cells(checked: CheckedSnapshots) -> tuple[list[Cell], np.ndarray]:
        """The stages of the checked rows and each row's code into them."""
        return [Cell(stage) for stage in checked.stages], checked.stage_codes

    def subscores(self, frame_or_checked, stages=None) -> dict[str, StageSubscores]:
        """Per stage present in the data (of ``stages`` only, when given), the raw
        sub-scores (before any missing-value rule). A stage's segments share its
        transforms, so this is per stage."""
        checked = (frame_or_checked if isinstance(frame_or_checked, CheckedSnapshots)
                   else self.check(frame_or_checked))
        out = {}
        cells, codes = self._cells(checked)
        for ci, cell in enumerate(cells):
            if stages is not None and cell.key not in stages:
                continue
            rows = np.flatnonzero(codes == ci)
            if len(rows) == 0:
                continue
            name = cell.key
            plan = self._plans[name]
            values = np.empty((len(rows), len(plan.metrics)), dtype=np.float64, order="F")
            self._fill_subscores(plan, checked, rows, values)
            out[name] = StageSubscores(name, rows, plan.metrics, values)
        return out

    def combine(self, stage: str, values: np.ndarray) -> dict[str, np.ndarray]:
        """Apply the missing-value rule and the weights to one stage's sub-scores.

        Returns ``score``, ``coverage``, ``components`` (rows x components) and
        ``contributions`` (rows x metrics, in points, summing to the score).
        Scores under ``min_coverage`` are NaN. ``values`` is not modified.
        """
        plan = self._plans[stage]
        n, m = values.shape
        contributions = np.array(values, dtype=np.float64, order="F", copy=True)
        buf = _Scratch(n, m, len(plan.component_weight))
        _combine_into(plan, contributions, buf, self.config.missing,
                      self.config.min_coverage)
        return {"score": buf.score, "coverage": buf.coverage, "components": buf.components,
                "contributions": contributions, "too_thin": buf.thin}

    def _threads(self, n_blocks: int) -> int:
        return max(1, min(resolve_n_jobs(self.n_jobs), n_blocks // 2))

    # ----------------------------------------------------------------- score
    def score(self, frame: pd.DataFrame, *, trend: bool = True,
              date_format: str | None = None) -> pd.DataFrame:
        """Score every row of a snapshot frame.

        Returns one row per input row, in input order: ``account_id``,
        ``snapshot_date``, ``stage``, ``segment`` (when the frame has one),
        ``segment_used`` (when the config has segment weights: the segment whose weights
        scored the row, empty where the stage's did; see :mod:`hscore.scoring.segments`),
        ``score`` (0-100), ``band``
        (healthy / neutral / at_risk), ``coverage``, ``churn_probability``
        (when the config carries a probability mapping), ``score_change`` and
        ``trend_alert`` (against the account's previous snapshot), ``reason``
        (why a score is empty), ``component_<name>`` per component and
        ``contribution_<metric>`` per metric (points; they add up to ``score``).
        Components and metrics that a row's stage does not use are empty.

        Text dates are read by the one date rule (:mod:`hscore.scoring.dates`): ISO 8601
        unless ``date_format`` (strftime codes, ``"%d/%m/%Y"``) is given; never guessed.
        """
        # Values are checked against their domains block by block below.
        checked = check_snapshots(frame, self.config, check_values=False,
                                  date_format=date_format)
        verified: set[str] = set()
        cfg = self.config
        n = checked.n_rows
        components = cfg.component_names
        metrics = cfg.metric_names
        has_prob = any(cfg.weights_of(c).probability is not None for c in cfg.cells())
        head = ["score", "coverage", "score_change"] + (["churn_probability"] if has_prob else [])
        columns = head + [f"component_{c}" for c in components] \
            + [f"contribution_{m}" for m in metrics]
        # One Fortran-ordered block: each column is contiguous and becomes a
        # DataFrame column without a copy. It is the only large allocation.
        block = np.empty((n, len(columns)), dtype=np.float64, order="F")
        score = block[:, 0]
        coverage = block[:, 1]
        col_of_comp = {c: len(head) + i for i, c in enumerate(components)}
        col_of_metric = {m: len(head) + len(components) + i for i, m in enumerate(metrics)}

        cells, codes = segment_cells(cfg, checked)   # a stage, or a segment of one
        weights = [cfg.weights_of(cell) for cell in cells]
        plans = [self._plans[cell.key] for cell in cells]
        # The output columns each cell writes (the others are empty on its rows).
        used = []
        for st, plan in zip(weights, plans):
            cols = [0, 1] + ([3] if st.probability is not None else [])
            used.append(cols + [col_of_comp[c] for c in st.components]
                        + [col_of_metric[m] for m in plan.metrics])
        # Columns some stage leaves empty: a chunk's slice of them is first filled with
        # NaN (a contiguous write), then the stages that use them overwrite their rows.
        shared = set.intersection(*(set(cols) for cols in used))
        partial = [c for c in range(len(columns)) if c not in shared and c != 2]
        runs = _runs(partial)
        chunk = min(_CHUNK_ROWS, n)
        n_metrics = max(len(p.metrics) for p in self._plans.values())
        n_comps = max(len(p.component_weight) for p in self._plans.values())
        single = len(cells) == 1

        def score_block(start: int, stop: int, buf: _Scratch) -> None:
            for first, last in runs:
                block[start:stop, first:last] = np.nan
            for ci, (st, plan) in enumerate(zip(weights, plans)):
                if single:
                    rows = np.arange(start, stop)
                else:
                    rows = np.flatnonzero(codes[start:stop] == ci)
                    if len(rows) == 0:
                        continue
                    rows += start
                k = len(rows)
                values = buf.values[:k, :len(plan.metrics)]
                self._fill_subscores(plan, checked, rows, values, buf.seats[:k], verified)
                _combine_into(plan, values, buf, self.config.missing, self.config.min_coverage)
                score[rows] = buf.score[:k]
                coverage[rows] = buf.coverage[:k]
                for c, cname in enumerate(st.components):
                    block[:, col_of_comp[cname]][rows] = buf.components[:k, c]
                for j, mname in enumerate(plan.metrics):
                    block[:, col_of_metric[mname]][rows] = values[:, j]
                prob = st.probability
                if prob is not None:
                    z = prob.intercept + prob.slope * buf.score[:k]
                    block[:, 3][rows] = 1.0 / (1.0 + np.exp(-z))

        starts = list(range(0, n, chunk))
        n_jobs = self._threads(len(starts))
        if n_jobs == 1:
            buf = _Scratch(chunk, n_metrics, n_comps)
            for start in starts:
                score_block(start, min(n, start + chunk), buf)
        else:
            _run_blocks(score_block, starts, n, chunk, n_jobs,
                        lambda: _Scratch(chunk, n_metrics, n_comps))

        thin = np.isnan(score)  # the scorer leaves exactly the unscored rows empty
        # band: 0 at_risk (< at_risk), 1 neutral, 2 healthy (>= healthy), -1 no score
        band_codes = np.greater_equal(score, cfg.bands.at_risk).view(np.int8)
        band_codes += np.greater_equal(score, cfg.bands.healthy).view(np.int8)
        band_codes[thin] = -1
        change = block[:, 2]
        change[:] = np.nan
        alert = np.zeros(n, dtype=bool)
        if trend:
            order, follows = checked.order, checked.follows_same_account
            if checked.in_account_order:  # rows already sorted by account, then date
                np.subtract(score[1:], score[:-1], out=change[1:])
                change[~follows] = np.nan
            else:
                s_sorted = score[order]
                change_sorted = np.full(n, np.nan)
                np.subtract(s_sorted[1:], s_sorted[:-1], out=change_sorted[1:])
                change_sorted[~follows] = np.nan
                change[order] = change_sorted
            with np.errstate(invalid="ignore"):
                alert = change <= -cfg.trend.alert_drop
        reason = np.full(n, None, dtype=object)
        if thin.any():
            reason[thin & (coverage > 0)] = (f"coverage below min_coverage "
                                             f"{cfg.min_coverage:g}")
            reason[thin & ~(coverage > 0)] = "no metric of the stage was measured"

        # Assemble the frame column by column, without copying the float block and
        # without pandas' type inference on object columns (a dtype is always given).
        src = checked.frame
        data = {"account_id": _object_column(src["account_id"]),
                "snapshot_date": _snapshot_dates(src["snapshot_date"], checked.days),
                "stage": pd.Categorical.from_codes(
                    checked.stage_codes, dtype=pd.CategoricalDtype(checked.stages),
                    validate=False)}
        if "segment" in src.columns:
            data["segment"] = _object_column(src["segment"])
        if cfg.has_segments:
            data["segment_used"] = segments_used(cells, codes)
        data["score"] = score
        data["band"] = pd.Categorical.from_codes(band_codes, dtype=pd.CategoricalDtype(BANDS),
                                                 validate=False)
        data["coverage"] = coverage
        data["score_change"] = change
        if has_prob:
            data["churn_probability"] = block[:, 3]
        data["trend_alert"] = alert
        data["reason"] = pd.Series(reason, dtype=object, copy=False)
        for i, name in enumerate(columns[len(head):], start=len(head)):
            data[name] = block[:, i]
        out = pd.DataFrame(data, copy=False)
        if not isinstance(frame.index, pd.RangeIndex) or frame.index.start != 0:
            out.index = frame.index
        return out


def _object_column(col: pd.Series) -> pd.Series:
    """A copy of an id-like input column, as a Series that pandas need not re-infer."""
    values = col.to_numpy(copy=True)
    return pd.Series(values, dtype=values.dtype, copy=False)


def _snapshot_dates(col: pd.Series, days: np.ndarray):
    """The input's dates as given (datetimes) or as parsed (text), one per row."""
    if pd.api.types.is_datetime64_any_dtype(col):
        return col.array.copy()  # keeps a time of day or a time zone the input had
    return pd.to_datetime(days, unit="D").to_numpy()


def score(frame: pd.DataFrame, config="lifecycle") -> pd.DataFrame:
    """Shorthand for ``HealthScorer(config).score(frame)``."""
    return HealthScorer(config).score(frame)

"""The one scoring path: config + snapshot frame -> health scores.

Everything that produces a score (the CLI, calibration, the MLflow pyfunc
model, the exported production config) goes through :class:`HealthScorer`,
so the scores never disagree with themselves. Work is vectorized over rows;
the only Python loops run over stages, components and metrics of the config.

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

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hscore.config import Config, Stage, load_config
from hscore.snapshots import CheckedSnapshots, check_snapshots
from hscore.transforms import metric_subscore

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


def _plan(stage: Stage) -> _StagePlan:
    metrics, comp_idx, mw = [], [], []
    for ci, comp in enumerate(stage.components.values()):
        for name, spec in comp.metrics.items():
            metrics.append(name)
            comp_idx.append(ci)
            mw.append(spec.weight)
    cw = [c.weight for c in stage.components.values()]
    return _StagePlan(metrics, np.array(comp_idx), np.array(mw, dtype=np.float64),
                      np.array(cw, dtype=np.float64))


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
    """

    def __init__(self, config):
        self.config: Config = load_config(config)
        self._plans = {name: _plan(stage) for name, stage in self.config.stages.items()}

    def __repr__(self) -> str:
        return f"HealthScorer({self.config!r})"

    # ------------------------------------------------------------ sub-scores
    def check(self, frame: pd.DataFrame) -> CheckedSnapshots:
        """Validate a snapshot frame against this config (raises DataError)."""
        return check_snapshots(frame, self.config)

    def subscores(self, frame_or_checked) -> dict[str, StageSubscores]:
        """Per stage present in the data, the raw sub-scores (before any missing-value rule)."""
        checked = (frame_or_checked if isinstance(frame_or_checked, CheckedSnapshots)
                   else self.check(frame_or_checked))
        out = {}
        for si, name in enumerate(checked.stages):
            rows = np.flatnonzero(checked.stage_codes == si)
            if len(rows) == 0:
                continue
            plan = self._plans[name]
            stage = self.config.stages[name]
            values = np.empty((len(rows), len(plan.metrics)), dtype=np.float64, order="F")
            seats = checked.seats[rows] if checked.seats is not None else None
            for j, m in enumerate(plan.metrics):
                spec = stage.components[stage.component_of(m)].metrics[m]
                values[:, j] = metric_subscore(spec, checked.metrics[m][rows], seats)
            out[name] = StageSubscores(name, rows, plan.metrics, values)
        return out

    def combine(self, stage: str, values: np.ndarray) -> dict[str, np.ndarray]:
        """Apply the missing-value rule and the weights to one stage's sub-scores.

        Returns ``score``, ``coverage``, ``components`` (rows x components) and
        ``contributions`` (rows x metrics, in points, summing to the score).
        Scores under ``min_coverage`` are NaN.
        """
        plan = self._plans[stage]
        n, m = values.shape
        present = ~np.isnan(values)
        full_weight = plan.component_weight[plan.component_of] * plan.metric_weight
        coverage = present @ full_weight
        k = len(plan.component_weight)
        components = np.empty((n, k), dtype=np.float64)
        contributions = np.empty((n, m), dtype=np.float64)
        mode = self.config.missing
        if mode in ("neutral", "zero"):
            filled = np.where(present, values, 50.0 if mode == "neutral" else 0.0)
            for ci in range(k):
                cols = np.flatnonzero(plan.component_of == ci)
                components[:, ci] = filled[:, cols] @ plan.metric_weight[cols]
            contributions[:] = filled * full_weight
            score = contributions.sum(axis=1)
        else:
            zeroed = np.where(present, values, 0.0)
            present_weight_total = np.zeros(n)
            denominators = np.empty((n, k))
            for ci in range(k):
                cols = np.flatnonzero(plan.component_of == ci)
                w = plan.metric_weight[cols]
                den = present[:, cols] @ w
                num = zeroed[:, cols] @ w
                has = den > 0
                with np.errstate(invalid="ignore", divide="ignore"):
                    components[:, ci] = np.where(has, num / den, np.nan)
                denominators[:, ci] = den
                present_weight_total += np.where(has, plan.component_weight[ci], 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                # effective weight of metric j: w_c * w_j / (den_c * total weight of measured c)
                scale = (plan.component_weight[None, :] / denominators) \
                    / present_weight_total[:, None]
                contributions[:] = zeroed * (plan.metric_weight[None, :]
                                             * scale[:, plan.component_of])
            contributions[~present] = 0.0
            score = contributions.sum(axis=1)
            score[present_weight_total == 0] = np.nan
        # Floating sums can land a hair outside [0, 100].
        np.clip(score, 0.0, 100.0, out=score)
        too_thin = ~(coverage >= self.config.min_coverage) | np.isnan(score)
        score[too_thin] = np.nan
        contributions[too_thin] = np.nan
        return {"score": score, "coverage": coverage, "components": components,
                "contributions": contributions, "too_thin": too_thin}

    # ----------------------------------------------------------------- score
    def score(self, frame: pd.DataFrame, *, trend: bool = True) -> pd.DataFrame:
        """Score every row of a snapshot frame.

        Returns one row per input row, in input order: ``account_id``,
        ``snapshot_date``, ``stage``, ``score`` (0-100), ``band``
        (healthy / neutral / at_risk), ``coverage``, ``churn_probability``
        (when the config carries a probability mapping), ``score_change`` and
        ``trend_alert`` (against the account's previous snapshot), ``reason``
        (why a score is empty), ``component_<name>`` per component and
        ``contribution_<metric>`` per metric (points; they add up to ``score``).
        """
        checked = self.check(frame)
        cfg = self.config
        n = checked.n_rows
        components = cfg.component_names
        metrics = cfg.metric_names
        has_prob = any(s.probability is not None for s in cfg.stages.values())
        head = ["score", "coverage", "score_change"] + (["churn_probability"] if has_prob else [])
        columns = head + [f"component_{c}" for c in components] \
            + [f"contribution_{m}" for m in metrics]
        # One Fortran-ordered block: each column is contiguous and becomes a
        # DataFrame column without a copy.
        block = np.full((n, len(columns)), np.nan, dtype=np.float64, order="F")
        score = block[:, 0]
        coverage = block[:, 1]
        col_of_comp = {c: len(head) + i for i, c in enumerate(components)}
        col_of_metric = {m: len(head) + len(components) + i for i, m in enumerate(metrics)}
        thin = np.zeros(n, dtype=bool)

        for name, sub in self.subscores(checked).items():
            parts = self.combine(name, sub.values)
            rows = sub.rows
            score[rows] = parts["score"]
            coverage[rows] = parts["coverage"]
            thin[rows] = parts["too_thin"]
            for ci, cname in enumerate(cfg.stages[name].components):
                block[rows, col_of_comp[cname]] = parts["components"][:, ci]
            for j, mname in enumerate(sub.metrics):
                block[rows, col_of_metric[mname]] = parts["contributions"][:, j]
            prob = cfg.stages[name].probability
            if prob is not None:
                z = prob.intercept + prob.slope * parts["score"]
                block[rows, 3] = 1.0 / (1.0 + np.exp(-z))

        out = pd.DataFrame(block, columns=columns, copy=False)
        band_codes = np.full(n, -1, dtype=np.int8)
        band_codes[score >= cfg.bands.healthy] = 2
        band_codes[(score >= cfg.bands.at_risk) & (score < cfg.bands.healthy)] = 1
        band_codes[score < cfg.bands.at_risk] = 0

        alert = np.zeros(n, dtype=bool)
        if trend:
            order, follows = checked.order, checked.follows_same_account
            s_sorted = score[order]
            change_sorted = np.full(n, np.nan)
            change_sorted[1:] = s_sorted[1:] - s_sorted[:-1]
            change_sorted[~follows] = np.nan
            block[order, 2] = change_sorted
            with np.errstate(invalid="ignore"):
                alert = block[:, 2] <= -cfg.trend.alert_drop
        reason = np.full(n, None, dtype=object)
        if thin.any():
            reason[thin & (coverage > 0)] = (f"coverage below min_coverage "
                                             f"{cfg.min_coverage:g}")
            reason[thin & ~(coverage > 0)] = "no metric of the stage was measured"

        src = checked.frame
        out.insert(0, "account_id", src["account_id"].to_numpy())
        out.insert(1, "snapshot_date", pd.to_datetime(checked.days, unit="D")
                   if not pd.api.types.is_datetime64_any_dtype(src["snapshot_date"])
                   else src["snapshot_date"].to_numpy())
        out.insert(2, "stage", pd.Categorical.from_codes(checked.stage_codes.astype(np.int8),
                                                         categories=checked.stages))
        pos = 4
        out.insert(pos, "band", pd.Categorical.from_codes(band_codes, categories=list(BANDS)))
        pos = 6 + (1 if has_prob else 0) + 1
        out.insert(pos, "trend_alert", alert)
        out.insert(pos + 1, "reason", reason)
        if "segment" in src.columns:
            out.insert(3, "segment", src["segment"].to_numpy())
        if not isinstance(frame.index, pd.RangeIndex) or frame.index.start != 0:
            out.index = frame.index
        return out


def score(frame: pd.DataFrame, config="lifecycle") -> pd.DataFrame:
    """Shorthand for ``HealthScorer(config).score(frame)``."""
    return HealthScorer(config).score(frame)

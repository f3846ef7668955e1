"""Drift between two windows of snapshots: PSI of every sub-score and of the score, per stage.

:func:`monitor` scores both windows with one config through the one scoring path
(:meth:`hscore.HealthScorer.subscores` and :meth:`~hscore.HealthScorer.combine`, exactly what
:meth:`~hscore.HealthScorer.score` computes) and compares, per stage, each metric's 0–100
sub-score and the stage score with :func:`hscore.monitoring.psi.population_stability`
(bins fixed on the reference window; missing values and point masses in bins of their own).

Examples
--------
>>> from hscore import synth
>>> from hscore.monitoring import monitor
>>> frame = synth.make_history(n_accounts=120, months=6, seed=1).frame
>>> dates = frame["snapshot_date"]
>>> result = monitor("lifecycle", frame[dates < dates.max()], frame[dates == dates.max()])
>>> table = result.summary()
>>> list(table.columns)     # doctest: +NORMALIZE_WHITESPACE
['stage', 'metric', 'reference_rows', 'current_rows', 'reference_missing', 'current_missing',
 'reference_mean', 'current_mean', 'psi', 'psi_by_chance', 'flag']
>>> table.loc[table["metric"] == "score", "stage"].tolist()
['onboarding', 'adoption', 'maturity', 'renewal']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hscore.display import ResultDisplay, Section
from hscore.errors import DataError, MissingColumnError
from hscore.monitoring.psi import (FLAGS, THRESHOLDS, ReferenceBins, _psi, chance_level,
                                   psi_flag)
from hscore.progress import current as progress

__all__ = ["monitor", "MonitorResult", "SCORE", "NOISY"]

#: The ``metric`` of a table row about the stage score itself.
SCORE = "score"
#: A stage whose score PSI would read this high by chance alone (small windows) gets a warning.
NOISY = THRESHOLDS[0] / 2


@dataclass(frozen=True, eq=False, repr=False)
class MonitorResult(ResultDisplay):
    """PSI of each stage's sub-scores and score between a reference and a current window.

    Attributes
    ----------
    table : DataFrame
        One row per stage (config order) for the score (``metric`` = ``score``) and then one
        per metric: rows in each window, share of missing values in each, mean of the
        measured values (0–100 points), ``psi``, ``psi_by_chance`` (what two windows of
        these sizes from one distribution show on average:
        :func:`~hscore.monitoring.psi.chance_level`) and ``flag``. :meth:`summary` returns
        a copy.
    bins : int
        Quantiles of the reference per interval bin.
    names : tuple of str
        What the two windows are called (``reference window`` and ``current window``; the
        CLI names the files).
    spans : tuple of (str, str, int)
        Each window's first and last snapshot date and its rows.
    scores : dict
        Per stage, the reference's and the current window's scores (NaN = no score): what
        :func:`hscore.monitoring.plots.score_shift` draws.
    notes : tuple of str
        Warnings (a stage in one window only, a stage whose windows are so small that its
        score's ``psi_by_chance`` is at least :data:`NOISY`).
    """

    table: pd.DataFrame
    bins: int
    names: tuple[str, str]
    spans: tuple[tuple[str, str, int], tuple[str, str, int]]
    scores: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def summary(self) -> pd.DataFrame:
        """The PSI table (a copy)."""
        return self.table.copy()

    @property
    def shifted(self) -> pd.DataFrame:
        """The rows flagged ``moderate shift`` or ``major shift``, largest PSI first."""
        rows = self.table[self.table["flag"].isin(FLAGS[1:])]
        return rows.sort_values("psi", ascending=False)

    def _header(self) -> str:
        (r0, r1, rn), (c0, c1, cn) = self.spans
        return (f"population stability (PSI) of sub-scores and scores per stage: "
                f"{self.names[0]} ({rn} rows, {r0}..{r1}) -> {self.names[1]} "
                f"({cn} rows, {c0}..{c1})")

    def _sections(self) -> list[Section]:
        return [Section(None, self.table)]

    def _footer(self) -> list[str]:
        counts = self.table["flag"].value_counts()
        tally = ", ".join(f"{int(counts.get(f, 0))} {f}" for f in FLAGS)
        quantiles = "deciles" if self.bins == 10 else f"{self.bins} quantiles"
        lines = [f"flags: PSI < {THRESHOLDS[0]:g} stable, < {THRESHOLDS[1]:g} moderate "
                 f"shift, else major shift ({tally}); bins: {quantiles} of the "
                 f"{self.names[0]}'s values, with point masses (>= 1/{self.bins} of "
                 "its values) and missing values in bins of their own"]
        top = self.shifted.head(5)
        if len(top):
            lines.append("largest shifts: " + ", ".join(
                f"{r.stage}/{r.metric} {r.psi:.3f} ({r.flag})" for r in top.itertuples()))
        return lines

    def _warnings(self) -> list[str]:
        return list(self.notes)

    def __repr__(self) -> str:
        return (f"MonitorResult({len(self.table)} rows, "
                f"{len(self.shifted)} shifted, bins={self.bins})")


def _labelled(err: DataError, name: str) -> DataError:
    """The error with the window it is about (when it does not name a file already)."""
    if err.file is not None:
        return err
    return type(err)(err.column, err.message, err.n_rows, err.examples, err.rows,
                     file=name, line=err.line)


def _check(scorer, frame: pd.DataFrame, name: str, date_format):
    try:
        return scorer.check(frame, date_format=date_format)
    except DataError as err:
        raise _labelled(err, name) from None


def _stage_counts(checked) -> dict[str, int]:
    counts = np.bincount(checked.stage_codes, minlength=len(checked.stages))
    return {s: int(c) for s, c in zip(checked.stages, counts) if c}


def _shared_metrics(config, windows, names) -> None:
    """Every metric of a stage present in either window is a column of both: a PSI cannot
    be computed against a window that does not carry the metric."""
    counts = [_stage_counts(c) for c in windows]
    for i, checked in enumerate(windows):
        other = 1 - i
        for stage, n in counts[other].items():
            for metric in config.weights_of(stage).metric_names:
                if metric not in checked.frame.columns:
                    raise MissingColumnError(
                        metric, f"metric column is missing from the {names[i]}, but "
                        f"the {names[other]} has {n} rows of stage {stage}, which uses "
                        "it; both windows must carry the config's metrics (an empty column "
                        "if the metric is not measured)", file=None)


def _span(checked) -> tuple[str, str, int]:
    days = checked.days
    first, last = (str(np.datetime64(int(d), "D")) for d in (days.min(), days.max()))
    return first, last, int(checked.n_rows)


def _row(stage: str, metric: str, ref: np.ndarray, cur: np.ndarray, bins: int) -> dict:
    missing = [np.isnan(ref), np.isnan(cur)]
    row = {"stage": stage, "metric": metric, "reference_rows": len(ref),
           "current_rows": len(cur)}
    for key, x, m in (("reference", ref, missing[0]), ("current", cur, missing[1])):
        row[f"{key}_missing"] = float(m.mean()) if len(x) else np.nan
    for key, x, m in (("reference", ref, missing[0]), ("current", cur, missing[1])):
        row[f"{key}_mean"] = float(x[~m].mean()) if (~m).any() else np.nan
    row["psi"] = row["psi_by_chance"] = np.nan
    if len(ref) and len(cur):
        binning = ReferenceBins.fit(ref, bins)
        shares = binning.shares(ref)
        row["psi"] = _psi(shares, binning.shares(cur))
        row["psi_by_chance"] = chance_level(shares, len(ref), len(cur))
    row["flag"] = psi_flag(row["psi"])
    return row


def monitor(config, reference: pd.DataFrame, current: pd.DataFrame, *, bins: int = 10,
            date_format: str | None = None,
            names: tuple[str, str] = ("reference window", "current window")
            ) -> MonitorResult:
    """PSI of every sub-score and of the score, per stage, from ``reference`` to ``current``.

    Parameters
    ----------
    config : Config, str or path
        The config whose transforms make the sub-scores and whose weights make the score.
    reference, current : DataFrame
        Snapshot tables (the data contract; ``churned`` is not needed). The reference fixes
        the bins.
    bins : int, default 10
        Quantiles of the reference per interval bin (see :mod:`hscore.monitoring.psi`).
    date_format : str, optional
        How text ``snapshot_date`` values are written (default ISO 8601).
    names : (str, str)
        What errors, warnings and the header call the two windows.

    Returns
    -------
    MonitorResult

    Raises
    ------
    DataError
        Either window breaks the data contract (the error starts with the window's name),
        or a metric of a stage in either window is not a column of both.
    """
    from hscore.scoring.scorer import HealthScorer

    ReferenceBins.fit([], bins)            # a bad ``bins`` fails before any work
    scorer = HealthScorer(config)
    with progress().phase("checking both windows"):
        windows = [_check(scorer, f, n, date_format) for f, n in zip((reference, current), names)]
        _shared_metrics(scorer.config, windows, names)
    rows, scores, notes = [], {}, []
    with progress().phase("scoring and PSI"):
        subs = [scorer.subscores(w) for w in windows]
        for cell in scorer.config.cells():
            stage = cell.key
            present = [stage in s for s in subs]
            if not any(present):
                continue
            metrics = scorer.config.weights_of(cell).metric_names
            empty = np.empty((0, len(metrics)))
            values = [s[stage].values if stage in s else empty for s in subs]
            ref_score, cur_score = (scorer.combine(stage, v)["score"] if len(v) else np.empty(0)
                                    for v in values)
            scores[stage] = (ref_score, cur_score)
            rows.append(_row(stage, SCORE, ref_score, cur_score, bins))
            for j, metric in enumerate(metrics):
                rows.append(_row(stage, metric, values[0][:, j], values[1][:, j], bins))
            if not all(present):
                notes.append(f"stage {stage}: no rows in the {names[present.index(False)]}, "
                             "so no PSI")
            elif rows[-len(metrics) - 1]["psi_by_chance"] >= NOISY:
                notes.append(f"stage {stage}: with {len(ref_score)} rows in the {names[0]} "
                             f"and {len(cur_score)} in the {names[1]}, PSI reads about "
                             f"{rows[-len(metrics) - 1]['psi_by_chance']:.2f} by chance alone "
                             "(psi_by_chance); read its flags with care")
    table = pd.DataFrame(rows)
    return MonitorResult(table, bins, tuple(names), (_span(windows[0]), _span(windows[1])),
                         scores, tuple(notes))

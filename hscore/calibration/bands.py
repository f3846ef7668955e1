"""Band thresholds that mean something: proposed from the fitted probability mapping.

The shipped bands (healthy >= 75, at risk < 50) are guesses; on a book where a few percent
churn a month they can flag a quarter of the accounts. A calibration proposes thresholds
from its probability mapping instead:

- at risk: rows whose predicted churn probability is at least ``risk_multiple`` x the base
  rate (the labelled rows' churn rate), or, with ``at_risk_share``, the riskiest share of
  the book that the CSM team can work;
- healthy: rows whose predicted churn probability is at most the base rate.

**One pair for every stage.** The config's bands are global while each stage has its own
probability mapping, so the same score means a different risk in each stage. The proposal
keeps one pair: on the *book* (every scored account on the latest snapshot date), each
row's probability comes from its own stage's mapping, the rule flags a share of the book,
and the global score threshold is the one that flags the same share of the book.
``per_stage`` shows each stage's own implied score thresholds for comparison.

The proposal never changes ``bands`` by itself: it goes into the provenance
(``proposed_bands``), and :func:`take_bands` (CLI: ``calibrate --take-bands``) copies it
into ``bands`` when an analyst takes it.

Its holdout table is honest: thresholds derived the same way from the *train-window*
config (which never saw the holdout) band the holdout rows, with each band's churn rate
and lift (band churn rate / holdout churn rate), beside the input config's thresholds.

Examples
--------
>>> from hscore.config import load_config
>>> cfg = take_bands(load_config("lifecycle"))   # nothing proposed: unchanged
Traceback (most recent call last):
...
hscore.errors.HScoreError: config: has no proposed bands (provenance.proposed_bands); calibrate it first
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hscore.calibration.design import labels
from hscore.calibration.records import ExportedFit
from hscore.config import Config, load_config
from hscore.errors import HScoreError
from hscore.scoring.scorer import HealthScorer
from hscore.scoring.snapshots import CheckedSnapshots

if TYPE_CHECKING:
    from hscore.calibration.results import CalibrationResult

__all__ = ["BandProposal", "propose_bands", "take_bands", "DEFAULT_RISK_MULTIPLE"]

#: At risk: predicted churn probability at least this multiple of the base rate.
DEFAULT_RISK_MULTIPLE = 2.0


@dataclass(frozen=True)
class BandProposal:
    """Proposed ``healthy`` / ``at_risk`` thresholds, the rule that made them and their
    holdout table (``table``: per thresholds ``proposed`` / ``current`` and band, the
    holdout rows, churn events, churn rate and lift)."""

    healthy: float
    at_risk: float
    rule: str
    base_rate: float
    book_date: str
    book_rows: int
    at_risk_rows: int          # of the book, under the proposal
    current_at_risk_rows: int  # of the book, under the config's current bands
    per_stage: pd.DataFrame = dataclasses.field(repr=False)
    table: pd.DataFrame = dataclasses.field(repr=False)

    def provenance(self) -> dict:
        """What the config's ``provenance.proposed_bands`` records."""
        table = self.table
        at_risk = (table[(table["thresholds"] == "proposed") & (table["band"] == "at_risk")]
                   if len(table) else table)       # no holdout: no holdout figures
        out = {"healthy": self.healthy, "at_risk": self.at_risk, "rule": self.rule,
               "base_rate": round(self.base_rate, 6), "book_date": self.book_date,
               "book_rows": self.book_rows, "book_at_risk_rows": self.at_risk_rows}
        if len(at_risk) and at_risk["rows"].iloc[0] > 0:
            out["holdout_at_risk_churn_rate"] = round(float(at_risk["churn_rate"].iloc[0]), 6)
            out["holdout_at_risk_lift"] = round(float(at_risk["lift"].iloc[0]), 4)
        return out

    def lines(self) -> list[str]:
        return [f"  proposed: healthy >= {self.healthy:g}, at risk < {self.at_risk:g} "
                f"({self.rule}); base rate {self.base_rate:.2%} per horizon",
                f"  book on {self.book_date}: {self.at_risk_rows} of {self.book_rows} at risk "
                f"(current bands: {self.current_at_risk_rows}); not applied: take it with "
                "--take-bands or hscore.calibration.take_bands(config)"]


def _threshold(scores: np.ndarray, share: float, upper: bool) -> float:
    """The score that puts ``share`` of ``scores`` below it (``upper``: at or above it),
    halfway between neighbouring scores and rounded to 0.1."""
    s = np.sort(scores)
    n = len(s)
    k = int(round(share * n))
    if upper:
        k = n - k
    if k <= 0:
        return 0.0
    if k >= n:
        return 100.0
    return round(float((s[k - 1] + s[k]) / 2), 1)


def _logit(p: float) -> float:
    return math.log(p / (1 - p)) if 0 < p < 1 else math.nan


def _thresholds(config: Config, book: pd.DataFrame, base_rate: float,
                at_risk_share: float | None, risk_multiple: float) -> tuple[float, float, str]:
    """(healthy, at_risk, rule) for ``config`` from the scored ``book``."""
    scores = book["score"].to_numpy()
    p = book["churn_probability"].to_numpy()
    if at_risk_share is not None:
        share, rule = at_risk_share, f"the riskiest {at_risk_share:.0%} of the book"
    else:
        share = float(np.mean(p >= risk_multiple * base_rate))
        rule = f"predicted churn >= {risk_multiple:g} x base rate"
    at_risk = _threshold(scores, share, upper=False)
    healthy = _threshold(scores, float(np.mean(p <= base_rate)), upper=True)
    # The schema wants healthy above at_risk: a book where the two rules meet gets the
    # thinnest neutral band.
    healthy = max(healthy, round(at_risk + 0.1, 1))
    return min(healthy, 100.0), min(at_risk, 99.9), rule


def _band_table(scores: np.ndarray, y: np.ndarray, pairs: dict[str, tuple[float, float]]
                ) -> pd.DataFrame:
    rate = float(y.mean()) if len(y) else math.nan
    rows = []
    for name, (healthy, at_risk) in pairs.items():
        band = np.where(scores < at_risk, "at_risk", np.where(scores >= healthy, "healthy",
                                                               "neutral"))
        for b in ("at_risk", "neutral", "healthy"):
            mine = band == b
            n, e = int(mine.sum()), float(y[mine].sum())
            rows.append({"thresholds": name, "band": b, "healthy": healthy,
                         "at_risk": at_risk, "rows": n, "share": n / max(len(y), 1),
                         "events": int(e), "churn_rate": e / n if n else math.nan,
                         "lift": (e / n) / rate if n and rate > 0 else math.nan})
    return pd.DataFrame(rows)


#: Rows scored at a time, and the scorer's columns the proposal reads.
_BLOCK_ROWS = 250_000
_READ = ("account_id", "snapshot_date", "stage", "score", "churn_probability")


def _scored(config: Config, frame: pd.DataFrame, rows: np.ndarray | None = None
            ) -> pd.DataFrame:
    """The score of each of ``rows`` (positions in ``frame``; default all), indexed by
    position, scored rows only.

    Scored a block of rows at a time, keeping only the columns read here: the scorer's whole
    output (a column per component and metric) for a million-row book, twice, more than
    doubled calibration's peak memory (1.3 GB to 2.7 GB measured). The frame was checked by
    the calibration and trends are not scored, so the rows are independent.
    """
    scorer = HealthScorer(config)
    rows = np.arange(len(frame)) if rows is None else rows
    parts = []
    for start in range(0, max(len(rows), 1), _BLOCK_ROWS):
        block = rows[start:start + _BLOCK_ROWS]
        part = scorer.score(frame.iloc[block], trend=False)
        part = part[[c for c in _READ if c in part.columns]].reset_index(drop=True)
        part.index = block
        parts.append(part)
    scored = pd.concat(parts) if len(parts) > 1 else parts[0]
    return scored[scored["score"].notna()]


def _latest_scored(config: Config, frame: pd.DataFrame, days: np.ndarray) -> pd.DataFrame:
    """The scored rows of the latest snapshot date that has any: only the last day's rows
    are scored, unless none of them has a score (then every row, as the rule is stated)."""
    scored = _scored(config, frame, np.flatnonzero(days == days.max()))
    if not len(scored):
        scored = _scored(config, frame)
    return scored[scored["snapshot_date"] == scored["snapshot_date"].max()]


def propose_bands(result: "CalibrationResult", frame: pd.DataFrame, *,
                  at_risk_share: float | None = None,
                  risk_multiple: float = DEFAULT_RISK_MULTIPLE,
                  checked: CheckedSnapshots | None = None) -> BandProposal | None:
    """Band thresholds for ``result.config`` from its probability mapping (see the module).

    ``frame`` is the snapshot table the result was calibrated on, and ``checked`` its check
    by the calibration (default: checked again here). Only the rows the proposal reads are
    scored: the latest book, and for the train-window config also the labelled holdout rows.
    None when there is
    nothing to propose from: no stage of the latest book has a probability mapping (every
    stage too thin to fit one), or the train-window config has none for the holdout table.
    Rows of a stage without a mapping take no part in the proposal.
    """
    exported = result.config
    if checked is None:
        checked = HealthScorer(result.base_config).check(frame)
    base_rate = (sum(f.counts.n_labelled_events for f in result.fits.values())
                 / max(sum(f.counts.n_labelled for f in result.fits.values()), 1))
    book = _latest_scored(exported, frame, checked.days)
    latest = book["snapshot_date"].max()
    book = _with_mapping(book)
    if not len(book):
        return None
    healthy, at_risk, rule = _thresholds(exported, book, base_rate, at_risk_share,
                                         risk_multiple)
    per_stage = pd.DataFrame([
        {"stage": s, "book_rows": int((book["stage"] == s).sum()),
         "at_risk_below": ((_logit(risk_multiple * base_rate) - st.probability.intercept)
                           / st.probability.slope if at_risk_share is None
                           and st.probability.slope < 0 else math.nan),
         "healthy_from": ((_logit(base_rate) - st.probability.intercept)
                          / st.probability.slope if st.probability.slope < 0 else math.nan)}
        for s, st in exported.stages.items() if st.probability is not None])
    current = (exported.bands.healthy, exported.bands.at_risk)
    table = pd.DataFrame()
    if result.holdout.kind.value != "none":
        # The train-window config never saw the holdout: its own thresholds band it.
        train_cfg = (exported if result.refit is ExportedFit.TRAIN else
                     dataclasses.replace(result, refit=ExportedFit.TRAIN).config)
        y_all = labels(frame)
        # The holdout is a rule per row (its date, or its account's draw): the labelled
        # holdout rows and the book are all the train-window scores needed.
        known = np.flatnonzero(~np.isnan(y_all))
        held = known[result.holdout.split(
            checked.days[known], checked.frame["account_id"].to_numpy()[known]).holdout]
        latest_day = np.datetime64(latest, "D").astype(np.int64)
        train_scored = _scored(train_cfg, frame, np.union1d(
            held, np.flatnonzero(checked.days == latest_day)))
        t_book = _with_mapping(train_scored[train_scored["snapshot_date"] == latest])
        if not len(t_book):
            return None
        t_healthy, t_at_risk, _ = _thresholds(train_cfg, t_book, base_rate, at_risk_share,
                                              risk_multiple)
        hold = _holdout_rows(result, train_scored, y_all)
        table = _band_table(train_scored["score"].to_numpy()[hold],
                            y_all[train_scored.index.to_numpy()[hold]],
                            {"proposed": (t_healthy, t_at_risk), "current": current})
    return BandProposal(
        healthy=healthy, at_risk=at_risk, rule=rule, base_rate=base_rate,
        book_date=str(pd.Timestamp(latest).date()), book_rows=len(book),
        at_risk_rows=int((book["score"] < at_risk).sum()),
        current_at_risk_rows=int((book["score"] < current[1]).sum()),
        per_stage=per_stage, table=table)


def _with_mapping(book: pd.DataFrame) -> pd.DataFrame:
    """The book's rows with a predicted churn probability (a stage too thin to fit a
    mapping has none, and its rows cannot say which band their risk puts them in)."""
    if "churn_probability" not in book:
        return book.iloc[:0]
    return book[book["churn_probability"].notna()]


def _holdout_rows(result, scored: pd.DataFrame, y_all: np.ndarray) -> np.ndarray:
    """(len(scored),) bool: the scored, labelled rows in the result's holdout."""
    known = ~np.isnan(y_all[scored.index.to_numpy()])
    days = scored["snapshot_date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    hold = np.zeros(len(scored), dtype=bool)
    split = result.holdout.split(days[known], scored["account_id"].to_numpy()[known])
    hold[np.flatnonzero(known)[split.holdout]] = True
    return hold


def take_bands(config) -> Config:
    """The config with its proposed bands (``provenance.proposed_bands``) as its ``bands``.

    The provenance keeps the proposal, marked ``taken: true``.

    Raises
    ------
    HScoreError
        The config has no proposal.
    """
    cfg = load_config(config)
    prov = cfg.provenance
    if prov is None or prov.proposed_bands is None:
        raise HScoreError("config: has no proposed bands (provenance.proposed_bands); "
                          "calibrate it first")
    proposal = prov.proposed_bands
    return cfg.replace(bands={"healthy": proposal.healthy, "at_risk": proposal.at_risk},
                       provenance=prov.extended(proposed_bands={
                           **proposal.model_dump(mode="python", exclude_none=True),
                           "taken": True}).to_dict())

"""The holdout rule: which labelled snapshots train a calibration and which judge it.

One rule, used by calibration (the design rows), tracking (the holdout snapshots a run
keeps) and the registry (the window promotion scores). Today there is one kind,
:attr:`HoldoutKind.OUT_OF_TIME`: with ``start`` the first day of the holdout and ``h`` the
label horizon in days,

- training: labelled snapshots whose label window ends by the start,
  ``snapshot_date + h <= start``, so no training label looks into the holdout;
- holdout: labelled snapshots on or after the start, ``snapshot_date >= start``;
- the rest (``start - h < snapshot_date < start``) *straddle* the start: neither.

Other kinds (an account-grouped random holdout for data without a usable time axis, and
none) are further members of :class:`HoldoutKind` whose rule goes in :meth:`Holdout.split`;
callers pass the days and the accounts of the rows and need not change.

Examples
--------
>>> import numpy as np
>>> holdout = Holdout(pd.Timestamp("2025-04-01"), horizon_days=30)
>>> days = np.array(["2025-01-01", "2025-03-15", "2025-04-01"], dtype="datetime64[D]")
>>> split = holdout.split(days.astype(np.int64))
>>> split.train.tolist(), split.holdout.tolist(), split.straddling.tolist()
([True, False, False], [False, False, True], [False, True, False])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from hscore.errors import HScoreError

__all__ = ["HoldoutKind", "Holdout", "Split", "choose_holdout", "DEFAULT_HOLDOUT_SHARE"]

#: Share of labelled rows the default holdout start leaves in the holdout.
DEFAULT_HOLDOUT_SHARE = 0.2


class HoldoutKind(StrEnum):
    """How rows are held out. Its value is what tables, params and provenance record."""

    OUT_OF_TIME = "out_of_time"


@dataclass(frozen=True)
class Split:
    """Boolean masks over the labelled rows given to :meth:`Holdout.split`."""

    train: np.ndarray
    holdout: np.ndarray

    @property
    def straddling(self) -> np.ndarray:
        """Rows in neither: their label window runs past the holdout start."""
        return ~self.train & ~self.holdout


@dataclass(frozen=True)
class Holdout:
    """A holdout: its ``start`` (first day), the label horizon and the kind."""

    start: pd.Timestamp
    horizon_days: int
    kind: HoldoutKind = HoldoutKind.OUT_OF_TIME

    @property
    def start_day(self) -> int:
        """The start as days since 1970-01-01 (the unit of the design's ``days``)."""
        return int(np.datetime64(self.start.date(), "D").astype(np.int64))

    def split(self, days: np.ndarray, accounts: np.ndarray | None = None) -> Split:
        """Training and holdout masks of labelled rows with snapshot ``days`` (days since
        1970-01-01); ``accounts`` is for kinds that hold out whole accounts."""
        days = np.asarray(days, dtype=np.int64)
        return Split(train=days + self.horizon_days <= self.start_day,
                     holdout=days >= self.start_day)

    def select(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The labelled snapshots of ``frame`` that are in the holdout (index reset): what a
        calibration run keeps and what promotion compares versions on.

        Examples
        --------
        >>> frame = pd.DataFrame({"account_id": ["a", "a", "a"],
        ...                       "snapshot_date": ["2025-01-01", "2025-02-01", "2025-03-01"],
        ...                       "churned": [0.0, 1.0, None]})       # March: not yet known
        >>> Holdout(pd.Timestamp("2025-02-01"), 30).select(frame)
          account_id snapshot_date  churned
        0          a    2025-02-01      1.0
        """
        days = (pd.to_datetime(frame["snapshot_date"]).to_numpy(dtype="datetime64[D]")
                .astype(np.int64))
        labelled = (frame["churned"].notna().to_numpy() if "churned" in frame.columns
                    else np.zeros(len(frame), dtype=bool))
        accounts = frame["account_id"].to_numpy() if "account_id" in frame.columns else None
        keep = self.split(days, accounts).holdout & labelled
        return frame.loc[keep].reset_index(drop=True)

    def describe(self) -> str:
        """The holdout in words, for headers and titles."""
        return f"holdout from {self.start.date()} ({self.horizon_days}-day labels)"

    @classmethod
    def recorded(cls, data_window: Any, fallback: Mapping[str, str] | None = None
                 ) -> "Holdout | None":
        """The holdout a calibrated config records in ``provenance.data_window`` (or, for
        a config without one, in ``fallback``, e.g. a model version's tags with
        ``holdout_from`` and ``horizon_days``); None when neither records both."""
        start = getattr(data_window, "holdout_from", None)
        horizon = getattr(data_window, "horizon_days", None)
        kind = getattr(data_window, "holdout_kind", None) or HoldoutKind.OUT_OF_TIME
        if not (start and horizon) and fallback:
            start, horizon = fallback.get("holdout_from"), fallback.get("horizon_days")
        if not (start and horizon):
            return None
        return cls(pd.Timestamp(start), int(horizon), HoldoutKind(kind))


def choose_holdout(holdout_from, days: np.ndarray, horizon_days: int,
                   share: float = DEFAULT_HOLDOUT_SHARE) -> Holdout:
    """The holdout of a calibration on labelled rows with snapshot ``days``.

    ``holdout_from`` None picks the snapshot date that leaves about ``share`` of the labelled
    rows in the holdout.

    Raises
    ------
    HScoreError
        The start leaves no training snapshot whose label window ends before it, or no
        labelled snapshot on or after it.
    """
    days = np.asarray(days, dtype=np.int64)
    lo, hi = int(days.min()), int(days.max())
    first, last = pd.Timestamp(lo, unit="D").date(), pd.Timestamp(hi, unit="D").date()
    if holdout_from is None:
        uniq = np.unique(days)
        target = np.quantile(days, 1 - share)
        day = int(uniq[min(np.searchsorted(uniq, target), len(uniq) - 1)])
        if day < lo + horizon_days:
            raise HScoreError(
                f"holdout_from: the labelled snapshots ({first} to {last}) span too little "
                f"time for a {horizon_days}-day label window before a holdout; pass "
                "holdout_from (--holdout-from) or more history")
        return Holdout(pd.Timestamp(day, unit="D"), horizon_days)
    ts = pd.Timestamp(holdout_from)     # a date: the estimator's constraints checked it
    holdout = Holdout(pd.Timestamp(ts.date()), horizon_days)
    if not lo + horizon_days <= holdout.start_day <= hi:
        earliest = pd.Timestamp(lo + horizon_days, unit="D").date()
        raise HScoreError(
            f"holdout_from: {ts.date()} is outside the labelled data: it must leave "
            f"training snapshots whose {horizon_days}-day label window ends before "
            f"it and labelled snapshots on or after it (labelled snapshots run from "
            f"{first} to {last}, so from {earliest} to {last})")
    return holdout

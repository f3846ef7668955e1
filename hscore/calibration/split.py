"""The holdout rule: which labelled snapshots train a calibration and which judge it.

One rule, used by calibration (the design rows), tracking (the holdout snapshots a run
keeps) and the registry (the window promotion scores). Three kinds
(:class:`HoldoutKind`); callers pass the days and the account ids of the rows:

- :attr:`~HoldoutKind.OUT_OF_TIME`, with ``start`` the first day of the holdout and ``h``
  the label horizon in days:

  - training: labelled snapshots whose label window ends by the start,
    ``snapshot_date + h <= start``, so no training label looks into the holdout;
  - holdout: labelled snapshots on or after the start, ``snapshot_date >= start``;
  - the rest (``start - h < snapshot_date < start``) *straddle* the start: neither.

- :attr:`~HoldoutKind.ACCOUNTS`, for data without a usable time axis (a cross-sectional
  export: one snapshot date): every snapshot of a held-out account is in the holdout, every
  other labelled snapshot trains. An account is held out when a seeded hash of its id
  falls below ``share``: about ``share`` of the accounts, the same accounts for a seed
  whatever the row order, the other accounts or the file they are read from. It measures
  how the weights carry over to other accounts of the same period, not to a later period.
- :attr:`~HoldoutKind.NONE`: every labelled snapshot trains; nothing is evaluated.

Examples
--------
>>> import numpy as np
>>> holdout = Holdout(pd.Timestamp("2025-04-01"), horizon_days=30)
>>> days = np.array(["2025-01-01", "2025-03-15", "2025-04-01"], dtype="datetime64[D]")
>>> split = holdout.split(days.astype(np.int64))
>>> split.train.tolist(), split.holdout.tolist(), split.straddling.tolist()
([True, False, False], [False, False, True], [False, True, False])
>>> by_account = Holdout.accounts(30, share=0.5, seed=0)
>>> by_account.describe()
'account-grouped random holdout (about 50% of accounts, seed 0)'
>>> split = by_account.split(np.zeros(4, np.int64), np.array(["a", "b", "a", "b"]))
>>> bool((split.holdout[0] == split.holdout[2]) & (split.train == ~split.holdout).all())
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from hscore.errors import HScoreError

__all__ = ["HoldoutKind", "Holdout", "Split", "choose_holdout", "held_out_accounts",
           "DEFAULT_HOLDOUT_SHARE"]

#: Share of labelled rows the default holdout start leaves in the holdout, and share of
#: accounts an account holdout holds out.
DEFAULT_HOLDOUT_SHARE = 0.2


class HoldoutKind(StrEnum):
    """How rows are held out. Its value is what tables, params and provenance record."""

    OUT_OF_TIME = "out_of_time"
    ACCOUNTS = "accounts"
    NONE = "none"


@dataclass(frozen=True)
class Split:
    """Boolean masks over the labelled rows given to :meth:`Holdout.split`."""

    train: np.ndarray
    holdout: np.ndarray

    @property
    def straddling(self) -> np.ndarray:
        """Rows in neither: their label window runs past the holdout start."""
        return ~self.train & ~self.holdout


def held_out_accounts(accounts: np.ndarray, share: float, seed: int) -> np.ndarray:
    """(n,) bool per row: is the row's account in an account holdout of ``share``.

    An account is held out when the seeded BLAKE2b hash of its id (as text), read as a
    number in [0, 1), is below ``share``. Each account is drawn on its own, so the draw does
    not depend on the row order or on the other accounts, and a hash (unlike a random
    generator's stream) never changes between library versions.

    Examples
    --------
    >>> ids = np.array([f"acct-{i}" for i in range(1000)])
    >>> held = held_out_accounts(ids, 0.2, seed=0)
    >>> bool(0.15 < held.mean() < 0.25)
    True
    >>> bool((held_out_accounts(ids[::-1], 0.2, seed=0) == held[::-1]).all())
    True
    """
    codes, uniques = pd.factorize(pd.Series(np.asarray(accounts, dtype=object)).map(str))
    key = hashlib.sha256(f"hscore account holdout {int(seed)}".encode()).digest()[:16]
    draws = np.array([int.from_bytes(hashlib.blake2b(u.encode(), key=key, digest_size=8)
                                     .digest(), "big") for u in uniques], dtype=np.float64)
    return (draws / 2.0 ** 64 < share)[codes]


@dataclass(frozen=True)
class Holdout:
    """A holdout: its ``kind``, the label horizon, and what the kind needs: ``start`` (first
    day) for out-of-time, ``share`` and ``seed`` for accounts. ``note`` says why the kind
    was chosen when it was chosen automatically (None when asked for)."""

    start: pd.Timestamp | None
    horizon_days: int
    kind: HoldoutKind = HoldoutKind.OUT_OF_TIME
    share: float | None = None
    seed: int | None = None
    note: str | None = None

    @classmethod
    def accounts(cls, horizon_days: int, share: float = DEFAULT_HOLDOUT_SHARE, seed: int = 0,
                 note: str | None = None) -> "Holdout":
        """An account-grouped random holdout of about ``share`` of the accounts."""
        return cls(None, horizon_days, HoldoutKind.ACCOUNTS, float(share), int(seed), note)

    @classmethod
    def none(cls, horizon_days: int) -> "Holdout":
        """No holdout: every labelled row trains, nothing is evaluated."""
        return cls(None, horizon_days, HoldoutKind.NONE)

    @property
    def start_day(self) -> int:
        """The start as days since 1970-01-01 (the unit of the design's ``days``)."""
        return int(np.datetime64(self.start.date(), "D").astype(np.int64))

    def split(self, days: np.ndarray, accounts: np.ndarray | None = None) -> Split:
        """Training and holdout masks of labelled rows with snapshot ``days`` (days since
        1970-01-01) and account ids ``accounts`` (needed by the accounts kind)."""
        days = np.asarray(days, dtype=np.int64)
        if self.kind is HoldoutKind.NONE:
            return Split(train=np.ones(len(days), bool), holdout=np.zeros(len(days), bool))
        if self.kind is HoldoutKind.ACCOUNTS:
            if accounts is None:
                raise HScoreError("holdout: an account holdout needs the rows' account ids")
            # No label-window gap: a training label is another account's churn, so however
            # its window overlaps the holdout's in time it says nothing about a held-out
            # account (the gap of the out-of-time kind keeps a training label from seeing
            # the holdout *period*; here both sets share the period by design).
            held = held_out_accounts(accounts, self.share, self.seed)
            return Split(train=~held, holdout=held)
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
        """The holdout in words, for headers, captions and titles."""
        if self.kind is HoldoutKind.ACCOUNTS:
            return (f"account-grouped random holdout (about {self.share:.0%} of accounts, "
                    f"seed {self.seed})")
        if self.kind is HoldoutKind.NONE:
            return "no holdout (nothing evaluated)"
        return f"out-of-time holdout from {self.start.date()} ({self.horizon_days}-day labels)"

    @classmethod
    def recorded(cls, data_window: Any, fallback: Mapping[str, str] | None = None
                 ) -> "Holdout | None":
        """The holdout a calibrated config records in ``provenance.data_window`` (or, for
        a config without one, in ``fallback``, e.g. a model version's tags with
        ``holdout_kind``, ``holdout_from``, ``holdout_share``, ``holdout_seed`` and
        ``horizon_days``); None when neither records a complete holdout."""
        fields = ("holdout_kind", "holdout_from", "horizon_days", "holdout_share",
                  "holdout_seed")
        found = {f: getattr(data_window, f, None) for f in fields}
        if not found["horizon_days"] and fallback:
            found = {f: fallback.get(f) for f in fields}
        kind = HoldoutKind(found["holdout_kind"] or HoldoutKind.OUT_OF_TIME)
        horizon = found["horizon_days"]
        if not horizon:
            return None
        if kind is HoldoutKind.NONE:
            return cls.none(int(horizon))
        if kind is HoldoutKind.ACCOUNTS:
            if found["holdout_share"] is None or found["holdout_seed"] is None:
                return None
            return cls.accounts(int(horizon), float(found["holdout_share"]),
                                int(found["holdout_seed"]))
        if not found["holdout_from"]:
            return None
        return cls(pd.Timestamp(found["holdout_from"]), int(horizon))


def _date(day: int):
    return pd.Timestamp(day, unit="D").date()


#: What the error says when no date can make an out-of-time holdout.
_NO_DATE = ("use --holdout accounts (an account-grouped random holdout; holdout='accounts') "
            "or --holdout none (no evaluation)")


def choose_holdout(holdout_from, days: np.ndarray, horizon_days: int,
                   share: float = DEFAULT_HOLDOUT_SHARE, *, kind=None,
                   accounts: np.ndarray | None = None, seed: int = 0) -> Holdout:
    """The holdout of a calibration on labelled rows with snapshot ``days`` and account ids
    ``accounts``.

    ``kind`` None chooses: out-of-time when ``holdout_from`` is given or when the labelled
    snapshots span enough time for a holdout after a full label window (the start that
    leaves about ``share`` of the labelled rows in the holdout), else an account holdout of
    about ``share`` of the accounts, with a :attr:`Holdout.note` saying why. ``kind``
    "out_of_time", "accounts" or "none" asks for that kind.

    Raises
    ------
    HScoreError
        ``holdout_from`` with a kind other than out-of-time; an out-of-time start that
        leaves no training snapshot whose label window ends before it, or no labelled
        snapshot on or after it (the message gives the dates that work, or says that none
        does and what to use instead); an account holdout that leaves no account on one side.
    """
    days = np.asarray(days, dtype=np.int64)
    kind = None if kind is None else HoldoutKind(kind)
    if holdout_from is not None and kind not in (None, HoldoutKind.OUT_OF_TIME):
        raise HScoreError(f"holdout: holdout_from (--holdout-from) sets the start of an "
                          f"out-of-time holdout; it cannot go with holdout '{kind}'")
    if kind is HoldoutKind.NONE:
        return Holdout.none(horizon_days)
    lo, hi = int(days.min()), int(days.max())
    span = f"the labelled snapshots ({_date(lo)} to {_date(hi)})"
    if kind is HoldoutKind.ACCOUNTS:
        return _account_holdout(horizon_days, share, seed, accounts)
    if holdout_from is not None:
        return _dated_holdout(holdout_from, lo, hi, horizon_days, span)
    uniq = np.unique(days)
    target = np.quantile(days, 1 - share)
    day = int(uniq[min(np.searchsorted(uniq, target), len(uniq) - 1)])
    if day >= lo + horizon_days:
        return Holdout(pd.Timestamp(day, unit="D"), horizon_days)
    too_short = (f"{span} span too little time for an out-of-time holdout after a "
                 f"{horizon_days}-day label window")
    if kind is HoldoutKind.OUT_OF_TIME:
        raise HScoreError(f"holdout_from: {too_short}; {_NO_DATE}, or more history")
    return _account_holdout(horizon_days, share, seed, accounts,
                            note=f"{too_short}: holding out about {share:.0%} of the accounts "
                                 f"at random instead (seed {seed}; --holdout none skips "
                                 "evaluation)")


def _dated_holdout(holdout_from, lo: int, hi: int, horizon_days: int, span: str) -> Holdout:
    ts = pd.Timestamp(holdout_from)     # a date: the estimator's constraints checked it
    holdout = Holdout(pd.Timestamp(ts.date()), horizon_days)
    earliest = lo + horizon_days
    if earliest <= holdout.start_day <= hi:
        return holdout
    need = (f"it must leave training snapshots whose {horizon_days}-day label window ends "
            f"before it and labelled snapshots on or after it")
    if earliest > hi:   # no date does: the span is shorter than one label window
        raise HScoreError(f"holdout_from: {ts.date()} cannot work: {need}, and {span} span "
                          f"less than one label window, so no date does; {_NO_DATE}")
    raise HScoreError(f"holdout_from: {ts.date()} is outside the labelled data: {need} "
                      f"(labelled snapshots run from {_date(lo)} to {_date(hi)}, so from "
                      f"{_date(earliest)} to {_date(hi)})")


def _account_holdout(horizon_days: int, share: float, seed: int, accounts, note=None
                     ) -> Holdout:
    holdout = Holdout.accounts(horizon_days, share, seed, note)
    if accounts is not None:
        ids = pd.unique(pd.Series(np.asarray(accounts, dtype=object)).map(str))
        held = int(held_out_accounts(ids, share, seed).sum())
        if len(ids) < 2:
            raise HScoreError(f"holdout: an account holdout needs two accounts or more; the "
                              f"labelled rows hold {len(ids)}; use --holdout none (no "
                              "evaluation)")
        if held == 0 or held == len(ids):
            side = "no" if held == 0 else "every"
            raise HScoreError(
                f"holdout: the account holdout (about {share:.0%} of {len(ids)} accounts, "
                f"seed {seed}) holds out {side} account; use another --seed (seed) or "
                "--holdout none (no evaluation)")
    return holdout

"""Which snapshots exist, and what the contract dates say about each (numpy and pandas only).

Days are whole numbers of days since 1970-01-01 (UTC). For an account with contract start
``s``, renewal date ``r`` (renewals are yearly: ``r`` plus or minus whole years, those after
``s``) and churn date ``c``:

- a snapshot on day ``d`` exists when ``s < d``, ``d <= last_day`` and ``c`` is empty or
  ``d <= c`` (no snapshot after churn);
- stage: ``renewal`` when the next renewal date is at most 90 days ahead (the 90 days before
  it, ``[R - 90, R)``); else ``onboarding`` in the first 90 days (``d - s < 90``); else
  ``adoption`` until the end of year one (``d < s + 1 year``); else ``maturity``;
- ``churned`` = 1 when ``d <= c < d + horizon``, 0 otherwise, empty when the horizon runs
  past the data's last day (``d + horizon - 1 > last_day``);
- ``term_start_day``: the latest renewal date on or before ``d``, or ``s`` before the first;
- the baseline day of a window of N days: the term start when it is a renewal date, else
  ``s + N`` (the contract's first window); none while it is after ``d``.

Examples
--------
>>> import numpy as np
>>> day = lambda text: int(np.datetime64(text, "D").astype(np.int64))
>>> add_years(np.array([day("2024-02-29")]), np.array([1])) == day("2025-02-28")
array([ True])
>>> [str(np.datetime64(int(d), "D")) for d in snapshot_days("weekly", day("2024-01-02"),
...                                                          day("2024-01-20"))]
['2024-01-08', '2024-01-15']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hscore.errors import HScoreError

__all__ = ["snapshot_days", "add_years", "build_grid", "STAGES", "RENEWAL_DAYS",
           "ONBOARDING_DAYS"]

STAGES = ("onboarding", "adoption", "maturity", "renewal")
RENEWAL_DAYS = 90
ONBOARDING_DAYS = 90


def _to_days(values) -> np.ndarray:
    return np.asarray(values, dtype="datetime64[D]").astype(np.int64)


def snapshot_days(cadence: str, first: int, last: int) -> np.ndarray:
    """Snapshot days from ``first`` to ``last`` (inclusive): the 1st of each month
    (``monthly``) or Mondays (``weekly``)."""
    if last < first:
        return np.zeros(0, dtype=np.int64)
    if cadence == "monthly":
        months = np.arange(np.datetime64(int(first), "D").astype("datetime64[M]"),
                           np.datetime64(int(last), "D").astype("datetime64[M]") + 1)
        days = months.astype("datetime64[D]").astype(np.int64)
    elif cadence == "weekly":
        # 1970-01-01 was a Thursday: day 4 was the first Monday.
        start = first + (4 - first) % 7
        days = np.arange(start, last + 1, 7, dtype=np.int64)
    else:
        raise HScoreError(f"cadence: must be 'monthly' or 'weekly', got {cadence!r}")
    return days[(days >= first) & (days <= last)]


def add_years(days: np.ndarray, years: np.ndarray) -> np.ndarray:
    """``days`` moved by whole calendar ``years`` (29 February becomes 28 February)."""
    dates = pd.to_datetime(np.asarray(days, dtype="datetime64[D]"))
    year = dates.year.to_numpy() + np.asarray(years)
    month = dates.month.to_numpy()
    day = dates.day.to_numpy()
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    day = np.where((month == 2) & (day == 29) & ~leap, 28, day)
    out = pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": day}))
    return _to_days(out.to_numpy())


def _renewals_around(renewal: np.ndarray, start: np.ndarray, day: np.ndarray):
    """(latest renewal date on or before ``day`` that falls after the contract start, or -1;
    earliest renewal date after ``day``), per row."""
    year_of = lambda d: np.asarray(d, dtype="datetime64[D]").astype("datetime64[Y]").astype(np.int64)
    k0 = year_of(day) - year_of(renewal)
    prev = np.full(len(day), np.iinfo(np.int64).min)
    nxt = np.full(len(day), np.iinfo(np.int64).max)
    for dk in (-2, -1, 0, 1):
        r = add_years(renewal, k0 + dk)
        prev = np.where((r <= day) & (r > prev), r, prev)
        nxt = np.where((r > day) & (r < nxt), r, nxt)
    prev = np.where(prev > start, prev, -1)
    return prev, nxt


def _attributes(acc: pd.DataFrame, idx: np.ndarray, day: np.ndarray) -> dict[str, np.ndarray]:
    start = acc["contract_start_day"].to_numpy()[idx]
    prev, nxt = _renewals_around(acc["renewal_day"].to_numpy()[idx], start, day)
    term_start = np.where(prev >= 0, prev, start)
    return {"start": start, "term_start": term_start, "next_renewal": nxt,
            "renewed": prev >= 0}


def _segments(arr: np.ndarray, tiers) -> np.ndarray:
    names = [str(t[0]) for t in tiers]
    bounds = [np.inf if t[1] is None else float(t[1]) for t in tiers]
    out = np.full(len(arr), names[-1], dtype=object)
    for name, bound in zip(names[::-1], bounds[::-1]):
        out = np.where(arr < bound, name, out)
    return out


def build_grid(accounts: pd.DataFrame, days: np.ndarray, *, horizon: int, last_day: int,
               baseline_windows=(), segments=(("smb", 15000), ("mid", 100000),
                                              ("enterprise", None))):
    """The snapshot rows and the evaluation points of the accounts.

    ``accounts`` has account_id, contract_start_day, renewal_day, churn_day (NaN = active),
    arr and seats. Returns ``(snapshots, points)``: ``snapshots`` one row per snapshot with
    account_id, at_day, stage, segment, seats, churned and ``base_at_<N>`` for each baseline
    window; ``points`` the snapshots and the baseline days (account_id, at_day, d, seats, arr,
    contract_start_day, term_start_day, calendar: whether ``at_day`` is a snapshot day of the
    calendar).
    """
    n_acc, n_days = len(accounts), len(days)
    start = accounts["contract_start_day"].to_numpy(dtype=np.int64)
    churn = accounts["churn_day"].to_numpy(dtype=np.float64)
    acc_idx = np.repeat(np.arange(n_acc), n_days)
    day = np.tile(np.asarray(days, dtype=np.int64), n_acc)
    churn_rows = churn[acc_idx]
    keep = (start[acc_idx] < day) & (day <= last_day) & ~(churn_rows < day)
    acc_idx, day, churn_rows = acc_idx[keep], day[keep], churn_rows[keep]

    a = _attributes(accounts, acc_idx, day)
    one_year = add_years(a["start"], np.ones(len(day), dtype=np.int64))
    stage = np.select([a["next_renewal"] - day <= RENEWAL_DAYS, day - a["start"] < ONBOARDING_DAYS,
                       day < one_year], [3, 0, 1], default=2)
    with np.errstate(invalid="ignore"):
        churned = ((churn_rows >= day) & (churn_rows < day + horizon)).astype(np.float64)
    churned[day + horizon - 1 > last_day] = np.nan

    seats = accounts["seats"].to_numpy(dtype=np.int64)[acc_idx]
    arr = accounts["arr"].to_numpy(dtype=np.float64)[acc_idx]
    snapshots = pd.DataFrame({
        "account_id": accounts["account_id"].to_numpy()[acc_idx],
        "at_day": day,
        "stage": np.asarray(STAGES, dtype=object)[stage],
        "segment": _segments(arr, segments),
        "seats": seats,
        "churned": churned,
    })
    point_parts = [pd.DataFrame({"acc": acc_idx, "at_day": day})]
    for n in baseline_windows:
        base = np.where(a["renewed"], a["term_start"], a["start"] + int(n))
        valid = base <= day
        snapshots[f"base_at_{n}"] = pd.array(np.where(valid, base, 0), dtype="Int64")
        snapshots.loc[~valid, f"base_at_{n}"] = pd.NA
        point_parts.append(pd.DataFrame({"acc": acc_idx[valid], "at_day": base[valid]}))
    points = pd.concat(point_parts).drop_duplicates().sort_values(["acc", "at_day"])
    p_idx, p_day = points["acc"].to_numpy(), points["at_day"].to_numpy(dtype=np.int64)
    pa = _attributes(accounts, p_idx, p_day)
    points = pd.DataFrame({
        "account_id": accounts["account_id"].to_numpy()[p_idx],
        "at_day": p_day,
        "d": p_day,
        "seats": accounts["seats"].to_numpy(dtype=np.int64)[p_idx],
        "arr": accounts["arr"].to_numpy(dtype=np.float64)[p_idx],
        "contract_start_day": pa["start"],
        "term_start_day": pa["term_start"],
        "calendar": np.isin(p_day, np.asarray(days, dtype=np.int64)),
    })
    return snapshots.reset_index(drop=True), points.reset_index(drop=True)

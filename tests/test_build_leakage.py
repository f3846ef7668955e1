"""No future row reaches a snapshot: leakage is tested, not assumed.

- moving one row from the day before a snapshot onto the snapshot day changes what that
  snapshot sees, and nothing else;
- cutting every row from some day on leaves every snapshot up to that day unchanged;
- churned accounts have no snapshot after their churn date, and the label is churn within
  the horizon from the snapshot day;
- renewal-stage rows are exactly the 90 days before a renewal date (checked day by day).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import tiny_book
from hscore.build import build_snapshots
from hscore.build.grid import build_grid

AS_OF = "2024-06-30"


def _build(tmp_path, frames, **kw):
    folder = tiny_book.write(tmp_path, frames)
    kw.setdefault("start", "2023-11-01")
    kw.setdefault("as_of", AS_OF)
    return build_snapshots(folder, "lifecycle", **kw)


def _changed_cells(a: pd.DataFrame, b: pd.DataFrame) -> set[tuple[str, str, str]]:
    assert a[["account_id", "snapshot_date"]].equals(b[["account_id", "snapshot_date"]])
    out = set()
    for col in a.columns:
        x, y = a[col], b[col]
        same = (x == y) | (x.isna() & y.isna())
        for i in np.flatnonzero(~same.to_numpy()):
            out.add((a.at[i, "account_id"], str(a.at[i, "snapshot_date"].date()), col))
    return out


def test_moving_an_event_onto_the_snapshot_day_changes_that_snapshot_only(tmp_path):
    before = tiny_book.frames()
    after = tiny_book.frames()
    ev = after["events"]
    moved = (ev["user_id"] == "u2") & (ev["ts"] == "2024-02-29 23:59:59")
    assert moved.sum() == 1
    ev.loc[moved, "ts"] = "2024-03-01 00:00:00"
    a = _build(tmp_path / "a", before)
    b = _build(tmp_path / "b", after)
    changed = _changed_cells(a, b)
    assert {(acc, day) for acc, day, _ in changed} == {("A", "2024-03-01")}
    row_a = a[(a["account_id"] == "A") & (a["snapshot_date"] == "2024-03-01")].iloc[0]
    row_b = b[(b["account_id"] == "A") & (b["snapshot_date"] == "2024-03-01")].iloc[0]
    assert row_a["events_30d"] - row_b["events_30d"] == 1
    assert row_a["active_days_30d"] - row_b["active_days_30d"] == 1    # u2's Feb 29
    # and the snapshot after it (2024-04-01, window [Mar 2, Apr 1)) sees neither copy
    assert {c for _, day, c in changed} >= {"events_30d", "active_days_30d", "stickiness"}


def test_moving_a_touch_onto_the_snapshot_day_changes_that_snapshot_only(tmp_path):
    base = tiny_book.frames()
    extra = pd.DataFrame([("A", "2024-02-29", "email", 0)], columns=base["touches"].columns)
    before = {**base, "touches": pd.concat([base["touches"], extra], ignore_index=True)}
    moved = extra.assign(ts="2024-03-01")
    after = {**base, "touches": pd.concat([base["touches"], moved], ignore_index=True)}
    a = _build(tmp_path / "a", before)
    b = _build(tmp_path / "b", after)
    changed = _changed_cells(a, b)
    assert changed == {("A", "2024-03-01", "days_since_csm_touch"),
                       ("A", "2024-03-01", "csm_touches_90d")}
    pick = lambda f, c: f.loc[(f["account_id"] == "A") & (f["snapshot_date"] == "2024-03-01"), c].item()
    assert (pick(a, "days_since_csm_touch"), pick(b, "days_since_csm_touch")) == (1, 2)
    assert pick(a, "csm_touches_90d") - pick(b, "csm_touches_90d") == 1


@pytest.mark.parametrize("cut", ["2024-02-01", "2024-02-15"])
def test_rows_from_a_day_on_never_reach_earlier_snapshots(tmp_path, cut):
    full = tiny_book.frames()
    cut_day = pd.Timestamp(cut)
    short = {}
    for name, frame in full.items():
        time = {"users": "assigned_at", "accounts": None}.get(name, "ts")
        short[name] = frame if time is None else frame[pd.to_datetime(frame[time]) < cut_day]
    a = _build(tmp_path / "a", full)
    b = _build(tmp_path / "b", short)
    upto = a["snapshot_date"] <= cut_day
    assert upto.sum() > 3
    metrics = [c for c in a.columns if c not in ("churned",)]
    pd.testing.assert_frame_equal(a.loc[upto, metrics].reset_index(drop=True),
                                  b.loc[b["snapshot_date"] <= cut_day, metrics]
                                  .reset_index(drop=True))


def test_no_snapshot_after_churn_and_labels_within_the_horizon(tmp_path):
    frames = tiny_book.frames()
    extra = pd.DataFrame([("C", "2023-06-01", "2024-06-01", "2024-05-01", 1000.0, 1)],
                         columns=frames["accounts"].columns)
    frames["accounts"] = pd.concat([frames["accounts"], extra], ignore_index=True)
    f = _build(tmp_path, frames)
    days = lambda acc: [str(d.date()) for d in f.loc[f["account_id"] == acc, "snapshot_date"]]
    labels = lambda acc: f.loc[f["account_id"] == acc, "churned"].tolist()
    # B churned 2024-04-10: last snapshot 2024-04-01, labelled 1 (Apr 10 in [Apr 1, May 1))
    assert days("B")[-1] == "2024-04-01" and labels("B")[-2:] == [0.0, 1.0]
    # C churned on a snapshot day (2024-05-01): that snapshot is its last, labelled 1
    assert days("C")[-1] == "2024-05-01" and labels("C")[-2:] == [0.0, 1.0]
    # A never churned. Its 2024-06-01 horizon [Jun 1, Jul 1) ends on the data's last day
    # (2024-06-30): labelled. One day less of data and the horizon runs past it: censored.
    a = f[f["account_id"] == "A"].set_index("snapshot_date")["churned"]
    assert a["2024-06-01"] == 0.0 and a["2024-05-01"] == 0.0
    g = _build(tmp_path / "short", frames, as_of="2024-06-29")
    a = g[g["account_id"] == "A"].set_index("snapshot_date")["churned"]
    assert np.isnan(a["2024-06-01"]) and a["2024-05-01"] == 0.0


def _anniversaries(renewal: dt.date, start: dt.date, years=range(-6, 7)):
    out = []
    for k in years:
        y = renewal.year + k
        try:
            r = renewal.replace(year=y)
        except ValueError:          # 29 February in a common year
            r = dt.date(y, 2, 28)
        if r > start:
            out.append(r)
    return out


def test_renewal_stage_is_exactly_the_90_days_before_a_renewal_date():
    starts = ["2022-03-01", "2022-11-30", "2023-02-28", "2021-02-28", "2023-07-15"]
    renewals = ["2023-03-01", "2023-11-30", "2024-02-29", "2022-02-28", "2024-07-15"]
    accounts = pd.DataFrame({
        "account_id": [f"a{i}" for i in range(len(starts))],
        "contract_start_day": pd.to_datetime(starts).values.astype("datetime64[D]").astype(np.int64),
        "renewal_day": pd.to_datetime(renewals).values.astype("datetime64[D]").astype(np.int64),
        "churn_day": np.nan, "arr": 1.0, "seats": 1})
    days = np.arange(np.datetime64("2021-01-01"), np.datetime64("2026-01-01")).astype(np.int64)
    snaps, _ = build_grid(accounts, days, horizon=30, last_day=int(days[-1]))
    checked = 0
    for i, (s, r) in enumerate(zip(starts, renewals)):
        start, renewal = dt.date.fromisoformat(s), dt.date.fromisoformat(r)
        rows = snaps[snaps["account_id"] == f"a{i}"]
        dates = [dt.date(1970, 1, 1) + dt.timedelta(days=int(d)) for d in rows["at_day"]]
        assert dates[0] == start + dt.timedelta(days=1)     # first snapshot: day after start
        for d, stage in zip(dates, rows["stage"]):
            in_renewal = any(0 < (r - d).days <= 90 for r in _anniversaries(renewal, start))
            assert (stage == "renewal") == in_renewal, (s, r, d, stage)
            if not in_renewal:
                one_year = _anniversaries(start, start - dt.timedelta(days=1), [1])[0]
                expected = ("onboarding" if (d - start).days < 90
                            else "adoption" if d < one_year else "maturity")
                assert stage == expected, (s, d, stage)
            checked += 1
    assert checked > 5000

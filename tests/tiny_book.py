"""A tiny raw book, written by hand, whose metrics are worked out by hand in
tests/test_build_metrics.py (never taken from the builder's output).

Account A signed on 2023-01-10 and renewed on 2024-01-10 (renewal_date 2024-01-10, yearly),
4 seats, ARR 50,000 (segment mid). The snapshot the tests read is d = 2024-03-01, so:

- the 30-day window is [2024-01-31, 2024-03-01) (2024 is a leap year);
- the 90-day window is [2023-12-02, 2024-03-01); the 180-day window [2023-09-03, 2024-03-01);
- the term started on 2024-01-10 (the renewal), so the baseline window of the change
  metrics is [2023-12-11, 2024-01-10).

Users: u1 champion (assigned 2023-01-10), u2 user (2023-01-12), u3 user (2024-02-20: first
week Feb 20-26, over before d), u4 admin (2024-02-27: first week not over at d).

Account B (no activity needed) signed 2023-06-01, renewal 2024-06-01, churned 2024-04-10,
2 seats, ARR 5,000 (smb).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

SNAPSHOT = "2024-03-01"


def frames() -> dict[str, pd.DataFrame]:
    accounts = pd.DataFrame({
        "account_id": ["A", "B"],
        "contract_start": ["2023-01-10", "2023-06-01"],
        "renewal_date": ["2024-01-10", "2024-06-01"],
        "churn_date": [None, "2024-04-10"],
        "arr": [50000.0, 5000.0],
        "seats": [4, 2],
    })
    users = pd.DataFrame({
        "account_id": ["A", "A", "A", "A", "B"],
        "user_id": ["u1", "u2", "u3", "u4", "b1"],
        "role": ["champion", "user", "user", "admin", "champion"],
        "assigned_at": ["2023-01-10", "2023-01-12", "2024-02-20", "2024-02-27", "2023-06-01"],
    })
    ev = [
        # baseline window [2023-12-11, 2024-01-10): 1 key event, 40 minutes, 3 user-days, 2 users
        ("u1", "2023-12-20 10:00:00", "action", "reports", None),
        ("u1", "2023-12-20 10:01:00", "login", None, None),
        ("u1", "2024-01-05 09:00:00", "session", None, 40.0),
        ("u2", "2024-01-09 12:00:00", "action", None, None),
        # the day before the window: not counted
        ("u1", "2024-01-30 23:59:59", "login", None, None),
        # the 30-day window [2024-01-31, 2024-03-01)
        ("u1", "2024-01-31 00:00:00", "login", None, None),
        ("u1", "2024-01-31 08:00:00", "session", None, 25.0),
        ("u1", "2024-02-15 09:00:00", "login", None, None),
        ("u1", "2024-02-15 09:01:00", "session", None, 35.0),
        ("u1", "2024-02-15 09:30:00", "action", "reports", None),
        ("u2", "2024-02-10 11:00:00", "action", "dashboards", None),
        ("u2", "2024-02-11 11:00:00", "action", "reports", None),
        *[("u2", f"2024-02-12 10:{m:02d}:00", "action", None, None) for m in range(18)],
        ("u2", "2024-02-29 23:59:59", "action", None, None),
        ("u3", "2024-02-21 08:00:00", "login", None, None),
        # the snapshot day itself: not seen by the snapshot on it
        ("u2", "2024-03-01 00:00:00", "action", "api", None),
    ]
    events = pd.DataFrame(ev, columns=["user_id", "ts", "event", "feature", "minutes"])
    events.insert(0, "account_id", "A")
    touches = pd.DataFrame([
        ("A", "2023-09-01", "qbr", 0),         # before the 180-day window
        ("A", "2023-12-15", "call", 1),
        ("A", "2024-01-20", "qbr", 1),
        ("A", "2024-02-05", "call", 1),
        ("A", "2024-02-10", "email", 0),
        ("A", "2024-02-28", "meeting", 0),
        ("A", "2024-03-01", "call", 1),        # the snapshot day
    ], columns=["account_id", "ts", "kind", "with_champion"])
    surveys = pd.DataFrame([
        ("2023-08-01", "pulse", "csm", 2), ("2024-01-05", "pulse", "csm", 3),
        ("2024-02-20", "pulse", "csm", 4), ("2024-03-01", "pulse", "csm", 1),
        ("2023-10-01", "sentiment", "csm", 0.6), ("2024-02-01", "sentiment", "csm", 0.8),
        ("2023-11-01", "advocacy", "csm", 7),
        ("2023-10-10", "nps", "champion", 6), ("2024-02-14", "nps", "champion", 10),
        ("2023-08-15", "nps", "user", 10), ("2023-09-10", "nps", "user", 9),
        ("2023-12-01", "nps", "user", 9), ("2024-01-15", "nps", "user", 6),
        ("2024-02-02", "nps", "user", 8), ("2024-02-25", "nps", "user", 3),
        ("2024-02-26", "nps", "user", 10),
        ("2023-08-01", "csat", "user", 2), ("2024-01-10", "csat", "champion", 5),
        ("2024-02-01", "csat", "user", 4), ("2024-02-20", "csat", "user", 3),
        ("2024-02-20", "csat", "csm", 1), ("2024-03-01", "csat", "user", 1),
    ], columns=["ts", "kind", "role", "value"])
    surveys.insert(0, "account_id", "A")
    integrations = pd.DataFrame([
        ("2023-06-01", "slack", "enabled"),     # before the term
        ("2024-01-10", "jira", "enabled"),      # on the term's first day
        ("2024-02-01", "slack", "disabled"),
        ("2024-02-20", "zoom", "enabled"),
        ("2024-03-01", "github", "enabled"),    # the snapshot day
    ], columns=["ts", "integration", "action"])
    integrations.insert(0, "account_id", "A")
    setup = pd.DataFrame([
        ("2023-01-10", "s1", 0, 20.0), ("2023-01-10", "s2", 0, 30.0), ("2023-01-10", "s3", 0, 45.0),
        ("2023-01-25", "s1", 1, None), ("2023-02-15", "s2", 1, None), ("2023-03-06", "s3", 1, None),
    ], columns=["ts", "step", "done", "planned_days"])
    setup.insert(0, "account_id", "A")
    return {"accounts": accounts, "users": users, "events": events, "touches": touches,
            "surveys": surveys, "integrations": integrations, "setup": setup}


def write(folder: Path, tables: dict[str, pd.DataFrame], fmt: str = "csv") -> Path:
    """Write the tables as NAME.csv (or NAME.parquet) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if fmt == "csv":
            frame.to_csv(folder / f"{name}.csv", index=False)
        else:
            frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder

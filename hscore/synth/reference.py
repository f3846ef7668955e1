"""A plain pandas computation of the lifecycle metrics from raw tables.

A second, independent implementation of what ``hscore/build/definitions.yaml`` defines, with
pandas groupbys instead of SQL: the synthetic raw book (:mod:`hscore.synth.raw`) draws its
churn labels from the metrics computed here, the end-to-end test checks that the DuckDB
builder reproduces them, and the build benchmark times it on a sample as its reference.
Contract dates (terms, baseline days) come from :mod:`hscore.build.grid` (numpy and pandas).

Tables are pandas frames with the columns of the raw-table contract; timestamps are UTC
(naive or tz-aware) datetimes or ISO strings. Identical rows count once (the builder's
default duplicate policy).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hscore.build.grid import add_years

__all__ = ["reference_metrics", "KEY_FEATURES", "EVENT_GOAL_30D", "SURVEY_DAYS"]

KEY_FEATURES = ("reports", "dashboards", "automations", "integrations_hub", "api")
EVENT_GOAL_30D = 20
SURVEY_DAYS = 180
_EPOCH = np.datetime64("1970-01-01", "D")


def _days(values) -> np.ndarray:
    ts = pd.to_datetime(pd.Series(values), utc=True).dt.tz_localize(None)
    return ((ts.to_numpy().astype("datetime64[D]") - _EPOCH).astype(np.int64))


def _with_day(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    out = frame.drop_duplicates().copy()   # identical rows count once (the default policy)
    out["day"] = _days(out[column])
    if column == "ts":
        out["ts"] = pd.to_datetime(out["ts"], utc=True).dt.tz_localize(None)
    return out


def _in_window(rows: pd.DataFrame, points: pd.DataFrame, lo: str | None, hi: str) -> pd.DataFrame:
    """Each point's rows of its account with lo <= day < hi (bounds are point columns), with
    the point's columns: the rows sorted by (account, day), each window a slice of them."""
    codes = {a: i for i, a in enumerate(pd.unique(rows["account_id"]))}
    r_acc = rows["account_id"].map(codes).to_numpy(dtype=np.float64)
    p_acc = points["account_id"].map(codes).to_numpy(dtype=np.float64)
    big = 1 << 32
    order = np.argsort(r_acc * big + rows["day"].to_numpy(), kind="stable")
    key = (r_acc * big + rows["day"].to_numpy())[order]
    low = points[lo].to_numpy() if lo is not None else np.full(len(points), -big // 2)
    start = np.searchsorted(key, p_acc * big + np.maximum(low, -big // 2), side="left")
    stop = np.searchsorted(key, p_acc * big + points[hi].to_numpy(), side="left")
    stop = np.where(np.isnan(p_acc), start, np.maximum(stop, start))
    counts = (stop - start).astype(np.int64)
    point = np.repeat(np.arange(len(points)), counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    picked = order[np.repeat(start, counts) + offset]
    out = rows.iloc[picked].reset_index(drop=True)
    extra = points.drop(columns="account_id").iloc[point].reset_index(drop=True)
    return pd.concat([out, extra], axis=1)


def _terms(accounts: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """term_start and the 30-day baseline day of each point (NaN while it is ahead)."""
    acc = accounts.set_index("account_id")
    start = _days(acc.loc[points["account_id"], "contract_start"])
    renewal = _days(acc.loc[points["account_id"], "renewal_date"])
    d = points["d"].to_numpy()
    years = (d - renewal) // 365
    prev = np.full(len(d), -1)
    for k in (-1, 0, 1, 2):
        r = add_years(renewal, years + k)
        prev = np.where((r <= d) & (r > start) & (r > prev), r, prev)
    out = points.copy()
    out["start"] = start
    out["term_start"] = np.where(prev >= 0, prev, start)
    base = np.where(prev >= 0, prev, start + 30)
    out["base"] = np.where(base <= d, base, -1)
    return out


def _usage(user_days: pd.DataFrame, points: pd.DataFrame, at: str, users: pd.DataFrame,
           n_key: int, goal: int) -> pd.DataFrame:
    """Usage metrics of the 30 days before each point's ``at`` column."""
    pts = points[["account_id", at]].drop_duplicates().rename(columns={at: "at"})
    pts = pts[pts["at"] >= 0]
    rows = _in_window(user_days, pts.assign(lo=pts["at"] - 30), "lo", "at")
    kf = [c for c in rows.columns if c.startswith("kf_")]
    per_user = rows.groupby(["account_id", "at", "user_id"], observed=True).agg(
        events=("events", "sum"), active_days=("day", "nunique"), logins=("logins", "sum"),
        minutes=("minutes", "sum"), key_events=("key_events", "sum"),
        **{c: (c, "max") for c in kf}).reset_index()
    roles = users[["account_id", "user_id", "role", "day"]].rename(columns={"day": "assigned"})
    per_user = per_user.merge(roles, on=["account_id", "user_id"], how="left")
    per_user["champion"] = per_user["role"] == "champion"
    per_user["assigned_active"] = per_user["assigned"] < per_user["at"]
    per_user["goal"] = per_user["events"] >= goal
    per_user["key_user"] = per_user["key_events"] > 0
    g = per_user.groupby(["account_id", "at"], observed=True)
    out = pd.DataFrame({
        "events": g["events"].sum(), "user_days": g["active_days"].sum(),
        "users": g.size(), "minutes": g["minutes"].sum(), "key_events": g["key_events"].sum(),
        "hitting": g["goal"].sum(), "key_users": g["key_user"].sum(),
        "features_used": g[kf].max().sum(axis=1),
        "champion_logins": per_user[per_user["champion"]].groupby(["account_id", "at"], observed=True)
        ["logins"].sum(),
        "champion_minutes": per_user[per_user["champion"]].groupby(["account_id", "at"], observed=True)
        ["minutes"].sum(),
        "assigned_active": g["assigned_active"].sum(),
    })
    out = pts.set_index(["account_id", "at"])[[]].join(out)
    zero = ["events", "user_days", "users", "minutes", "key_events", "hitting", "key_users",
            "features_used", "champion_logins", "champion_minutes", "assigned_active"]
    out[zero] = out[zero].fillna(0)
    out["stickiness"] = out["user_days"] / 30.0 / out["users"].replace(0, np.nan)
    out["key_features_used"] = out["features_used"] / n_key
    return out


def reference_metrics(tables: dict[str, pd.DataFrame], snapshots: pd.DataFrame, *,
                      key_features=KEY_FEATURES, event_goal: int = EVENT_GOAL_30D,
                      survey_days: int = SURVEY_DAYS) -> pd.DataFrame:
    """The lifecycle metrics of each (account_id, snapshot_date) row of ``snapshots``.

    Returns a frame with account_id, snapshot_date and one column per metric (NaN = not
    measured), in the row order of ``snapshots``.
    """
    accounts = tables["accounts"]
    snaps = snapshots[["account_id", "snapshot_date"]].copy()
    snaps["d"] = _days(snaps["snapshot_date"])
    pts = _terms(accounts, snaps)
    seats = accounts.set_index("account_id")["seats"].astype(float)
    pts["seats"] = seats.loc[pts["account_id"]].to_numpy()
    key = set(key_features)
    n_key = len(key_features)

    events = _with_day(tables["events"], "ts")
    minutes = events["minutes"] if "minutes" in events else pd.Series(np.nan, index=events.index)
    feature = (events["feature"] if "feature" in events
               else pd.Series(None, index=events.index)).astype("category")
    events["event"] = events["event"].astype("category")      # fast comparisons
    events = events.assign(
        login=(events["event"] == "login").astype(np.int64), minutes=minutes,
        key=feature.isin(key).astype(np.int64),
        **{f"kf_{i}": (feature == f).astype(np.int64) for i, f in enumerate(key_features)})
    kf = [f"kf_{i}" for i in range(n_key)]
    user_days = events.groupby(["account_id", "user_id", "day"], observed=True).agg(
        events=("event", "size"), logins=("login", "sum"), minutes=("minutes", "sum"),
        key_events=("key", "sum"), **{c: (c, "max") for c in kf}).reset_index()
    users = _with_day(tables["users"], "assigned_at")

    now = _usage(user_days, pts, "d", users, n_key, event_goal)
    base = _usage(user_days, pts, "base", users, n_key, event_goal)
    idx = pd.MultiIndex.from_arrays([pts["account_id"], pts["d"]])
    bidx = pd.MultiIndex.from_arrays([pts["account_id"], pts["base"]])
    n = now.reindex(idx)
    b = base.reindex(bidx)
    s = pts["seats"].replace(0, np.nan).to_numpy()
    out = pd.DataFrame({"account_id": snaps["account_id"].to_numpy(),
                        "snapshot_date": snaps["snapshot_date"].to_numpy()})
    out["events_30d"] = n["events"].to_numpy()
    out["active_days_30d"] = n["user_days"].to_numpy()
    out["stickiness"] = n["stickiness"].to_numpy()
    out["minutes_30d"] = n["minutes"].to_numpy()
    out["seat_utilization"] = n["users"].to_numpy() / s
    out["seats_hitting_event_goal_share"] = np.minimum(1.0, n["hitting"].to_numpy() / s)
    out["key_feature_users_share"] = np.minimum(1.0, n["key_users"].to_numpy() / s)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["feature_adoption_rate"] = 100.0 * n["key_users"].to_numpy() / np.where(
            n["users"].to_numpy() > 0, n["users"].to_numpy(), np.nan)
    out["key_features_used_share"] = n["key_features_used"].to_numpy()
    out["champion_logins_30d"] = n["champion_logins"].to_numpy()
    out["champion_minutes_30d"] = n["champion_minutes"].to_numpy()
    for metric, col in (("feature_usage_change_pct", "key_events"),
                        ("minutes_change_pct", "minutes"), ("stickiness_change_pct", "stickiness")):
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = n[col].to_numpy() / np.where(b[col].to_numpy() == 0, np.nan,
                                                 b[col].to_numpy())
        out[metric] = 100.0 * (ratio - 1.0)

    # Seats: assigned before d, and their first weeks.
    u = users.merge(pts[["account_id", "d"]], on="account_id")
    assigned = u[u["day"] < u["d"]].groupby(["account_id", "d"], observed=True).size()
    active = n["assigned_active"].to_numpy()
    a = assigned.reindex(idx).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["inactive_seat_share"] = np.where(a > 0, (a - active) / a, np.nan)
    first_week = users.merge(user_days[["account_id", "user_id", "day"]], how="left",
                             on=["account_id", "user_id"], suffixes=("", "_event"))
    in_week = (first_week["day_event"] >= first_week["day"]) & (
        first_week["day_event"] < first_week["day"] + 7)
    week1 = (first_week.assign(active=in_week).groupby(["account_id", "user_id", "day"], observed=True)
             ["active"].any().reset_index())
    week1 = week1.merge(pts[["account_id", "d"]], on="account_id")
    week1 = week1[week1["day"] + 6 < week1["d"]].groupby(["account_id", "d"], observed=True)["active"].mean()
    out["week1_active_seat_share"] = week1.reindex(idx).to_numpy()

    # Integrations since the term started.
    integ = _with_day(tables["integrations"], "ts")
    integ["sign"] = np.where(integ["action"] == "enabled", 1, -1)
    rows = _in_window(integ, pts[["account_id", "d", "term_start"]], "term_start", "d")
    net = rows.groupby(["account_id", "d"], observed=True)["sign"].sum()
    out["integrations_net_change"] = net.reindex(idx).fillna(0).to_numpy()

    # CSM touches.
    touches = _with_day(tables["touches"], "ts")
    t = _in_window(touches, pts[["account_id", "d"]], None, "d")
    age = t["d"] - t["day"]
    g = lambda rows: rows.groupby(["account_id", "d"], observed=True)
    count = lambda rows: g(rows).size().reindex(idx).fillna(0).to_numpy()
    out["champion_csm_touches_30d"] = count(t[(age <= 30) & (t["with_champion"] == 1)])
    out["csm_touches_90d"] = count(t[age <= 90])
    out["qbr_held_180d"] = (count(t[(age <= 180) & (t["kind"] == "qbr")]) > 0).astype(float)
    out["days_since_csm_touch"] = (pts["d"].to_numpy()
                                   - g(t)["day"].max().reindex(idx).to_numpy())
    champ = t[t["with_champion"] == 1]
    out["days_since_champion_csm_touch"] = (pts["d"].to_numpy()
                                            - g(champ)["day"].max().reindex(idx).to_numpy())

    # Surveys within survey_days.
    surveys = _with_day(tables["surveys"], "ts")
    sv = _in_window(surveys, pts[["account_id", "d"]], None, "d")
    sv = sv[sv["d"] - sv["day"] <= survey_days]

    def latest(kind, role):
        rows = sv[(sv["kind"] == kind) & (sv["role"] == role)].sort_values("ts")
        return g(rows)["value"].last().reindex(idx).to_numpy()

    out["csm_pulse"] = latest("pulse", "csm")
    out["csm_sentiment"] = latest("sentiment", "csm")
    out["advocacy_score"] = latest("advocacy", "csm")
    out["champion_nps"] = latest("nps", "champion")
    nps = sv[(sv["kind"] == "nps") & (sv["role"] == "user")]
    score = np.where(nps["value"] >= 9, 1.0, np.where(nps["value"] <= 6, -1.0, 0.0))
    out["user_nps"] = (100.0 * nps.assign(s=score).pipe(g)["s"].mean()).reindex(idx).to_numpy()
    csat = sv[(sv["kind"] == "csat") & sv["role"].isin(["champion", "user"])]
    out["csat"] = g(csat)["value"].mean().reindex(idx).to_numpy()

    # The onboarding checklist, as of d.
    setup = _with_day(tables["setup"], "ts")
    st = _in_window(setup, pts[["account_id", "d"]], None, "d")
    st = st.assign(done_day=st["day"].where(st["done"] == 1))
    steps = st.groupby(["account_id", "d", "step"], observed=True).agg(
        done=("done", "max"), done_day=("done_day", "min"),
        plan=("planned_days", "max") if "planned_days" in st else ("done", "size"))
    per = steps.groupby(["account_id", "d"], observed=True).agg(steps=("done", "size"), done=("done", "sum"),
                                                 last=("done_day", "max"), plan=("plan", "max"))
    per = per.reindex(idx)
    out["setup_checklist_done"] = (per["done"] / per["steps"]).to_numpy()
    finished = np.where(per["done"].to_numpy() == per["steps"].to_numpy(), per["last"].to_numpy(),
                        pts["d"].to_numpy())
    with np.errstate(invalid="ignore", divide="ignore"):
        days = np.maximum(0, finished - pts["start"].to_numpy())
        out["setup_days_vs_plan"] = np.where(per["plan"].to_numpy() > 0,
                                             days / per["plan"].to_numpy(), np.nan)
    return out

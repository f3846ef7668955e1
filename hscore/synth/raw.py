"""Synthetic raw tables (accounts, users, events, touches, surveys, integrations, setup) whose
built metrics follow a known churn truth.

Accounts sign contracts at spread-out dates (yearly renewals) and their users, CSMs and
champions behave according to three latent factors per account that drift month to month
(relationship, usage, value; the AR(1) paths of :mod:`hscore.synth.history`) plus lasting
habits of the account: how many days users are active, how many events and session minutes
a day, how widely key features are used, how often the CSM touches base, what the surveys
say, how integrations come and go, how fast the onboarding checklist is done.

The truth is a logistic model per stage on the **metrics as the builder defines them**
(``hscore/build/definitions.yaml``), computed from these rows by a separate pandas
implementation (:func:`hscore.synth.reference.reference_metrics`)::

    logit P(churn within 30 days of d) = a_stage - sum_m b_m * s_m

with the sub-scores ``s_m`` of the lifecycle config, ``b = strength x`` the "shifted" true
weights of :data:`hscore.synth.TRUE_WEIGHTS` (missing metrics: the truth config's
reweighting) and the intercepts solved so that each stage churns at its base rate. An account
that churns (on a day within the horizon after the snapshot, before the next one) leaves no
rows after its churn date, so ``build -> calibrate`` on the written tables can recover the
truth.

Examples
--------
>>> from hscore import synth
>>> book = synth.make_raw_book(n_accounts=30, months=4, seed=1)
>>> sorted(book.tables)
['accounts', 'events', 'integrations', 'setup', 'surveys', 'touches', 'users']
>>> book.frame["snapshot_date"].min().date().isoformat(), book.as_of
('2024-01-01', '2024-04-15')
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hscore.build.grid import add_years, build_grid
from hscore.config import Config, load_config
from hscore.errors import HScoreError
from hscore.synth.history import (TRUE_WEIGHTS, Truth, _factor_paths, _normal_cdf,
                                  _solve_intercept, describe_labels)
from hscore.synth.reference import KEY_FEATURES, reference_metrics

__all__ = ["RawBook", "make_raw_book", "RAW_STRENGTH", "RAW_BASE_RATES"]

#: Sum of the true coefficients per stage (how strongly the metrics separate churn).
RAW_STRENGTH = 8.0
#: Mean monthly churn probability per stage.
RAW_BASE_RATES = {"onboarding": 0.10, "adoption": 0.10, "maturity": 0.10, "renewal": 0.12}
_BURN_IN_MONTHS = 13          # activity before the first snapshot: baselines, 180-day windows
_OTHER_FEATURES = ("search", "export", "comments")
_STAGES = ("onboarding", "adoption", "maturity", "renewal")
_DAY = np.timedelta64(1, "D")


@dataclass
class RawBook:
    """Raw tables, the snapshot table their truth labelled, and that truth.

    The tables hold 13 months of activity before the truth's first snapshot (``start``), so
    that its first snapshots have full 180-day windows and renewal baselines. Build them
    from ``start`` (``hscore build --start``, ``build_snapshots(start=...)``): a build from
    the data's first month would also snapshot those months, where the truth drew no churn
    (every label 0), and calibration would drift from the truth. :meth:`write` and the
    book's ``repr`` say so; :meth:`build_command` is the command that gives ``frame``.
    """

    tables: dict[str, pd.DataFrame]
    frame: pd.DataFrame = field(repr=False)
    truth: Truth = field(repr=False)
    config: Config = field(repr=False)
    start: str = ""
    as_of: str = ""
    horizon_days: int = 30

    def build_command(self, folder, out: str = "snapshots.parquet") -> str:
        """The ``hscore build`` command that gives the truth's snapshot table (``frame``)
        from the tables written to ``folder``."""
        return f"hscore build --tables {folder} --start {self.start} --out {out}"

    def write(self, folder, fmt: str = "parquet", *, say: bool = True) -> Path:
        """Write every table as ``folder/NAME.parquet`` (or ``.csv``) and, unless ``say`` is
        false, say on stderr how to build the truth's snapshots from them (from ``start``)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, table in self.tables.items():
            if fmt == "parquet":
                table.to_parquet(folder / f"{name}.parquet", index=False)
            elif fmt == "csv":
                table.to_csv(folder / f"{name}.csv", index=False, date_format="%Y-%m-%dT%H:%M:%S")
            else:
                raise HScoreError(f"fmt: 'parquet' or 'csv', got {fmt!r}")
        if say:
            print(f"wrote {len(self.tables)} raw tables to {folder}; the truth's snapshots "
                  f"start on {self.start}, after {_BURN_IN_MONTHS} months of burn-in: "
                  f"{self.build_command(folder)}", file=sys.stderr)
        return folder

    def __repr__(self) -> str:
        return (f"RawBook({len(self.tables['events'])} events; {describe_labels(self.frame)}; "
                f"as of {self.as_of}; build from --start {self.start})")


def _days(values) -> np.ndarray:
    return np.asarray(values, dtype="datetime64[D]").astype(np.int64)


def _ts(day: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    return (day.astype("datetime64[D]").astype("datetime64[s]")
            + seconds.astype("timedelta64[s]")).astype("datetime64[ns]")


def _account_ids(n: int) -> list[str]:
    width = len(str(n))
    return [f"A{i:0{width}d}" for i in range(n)]


def _cat(codes: np.ndarray, labels) -> pd.Categorical:
    """Text from codes (-1 = empty), cheap to build and written as a Parquet dictionary."""
    return pd.Categorical.from_codes(np.asarray(codes, dtype=np.int64), categories=list(labels))


def make_raw_book(n_accounts: int = 1500, months: int = 24, *, seed: int = 0,
                  start: str = "2024-01-01", strength: float = RAW_STRENGTH,
                  base_rates: dict[str, float] | None = None,
                  activity: float = 0.5) -> RawBook:
    """A raw book of ``n_accounts`` accounts with ``months`` monthly snapshots from ``start``.

    ``activity`` scales the number of events (0.5: about 900 per account a year). The same
    arguments give the same tables.
    """
    if n_accounts < 1 or months < 2:
        raise HScoreError("make_raw_book: n_accounts >= 1 and months >= 2")
    rng = np.random.default_rng(seed)
    config = load_config("lifecycle")
    rates = {**RAW_BASE_RATES, **(base_rates or {})}
    first = np.datetime64(start, "D")
    month0 = first.astype("datetime64[M]") - _BURN_IN_MONTHS
    month_starts = _days((month0 + np.arange(_BURN_IN_MONTHS + months + 1)).astype("datetime64[D]"))
    snapshot_days = month_starts[_BURN_IN_MONTHS:_BURN_IN_MONTHS + months]
    as_of = int(snapshot_days[-1]) + 14
    n_months = _BURN_IN_MONTHS + months          # activity months (the last one cut at as_of)

    # --- accounts and their latent behaviour
    n = n_accounts
    contract_start = int(snapshot_days[0]) - rng.integers(-540, 3 * 365, n)
    seats = np.clip(np.round(np.exp(rng.normal(np.log(8), 0.7, n))), 2, 60).astype(np.int64)
    arr = np.round(seats * 1800 * np.exp(rng.normal(0, 0.5, n)), -2)
    factors = _factor_paths(rng, n, n_months)    # relationship, usage, value
    habit = rng.standard_normal((n, 12))
    ids = _account_ids(n)

    # --- users: one per claimed seat; the first is the champion, the second an admin
    n_users = np.maximum(1, rng.binomial(seats, 0.85))
    u_acc = np.repeat(np.arange(n), n_users)
    u_k = np.arange(len(u_acc)) - np.repeat(np.cumsum(n_users) - n_users, n_users)
    late = np.where(u_k < 2, 0, np.round(rng.exponential(25, len(u_acc)))).astype(np.int64)
    u_day = contract_start[u_acc] + late
    u_keep = u_day <= as_of
    u_acc, u_k, u_day = u_acc[u_keep], u_k[u_keep], u_day[u_keep]
    u_habit = rng.standard_normal((len(u_acc), 2))
    user_ids = [f"{ids[a]}-u{k}" for a, k in zip(u_acc, u_k)]
    roles = _cat(np.where(u_k == 0, 0, np.where(u_k == 1, 1, 2)), ["champion", "admin", "user"])

    # --- events, month by month for every user whose seat is assigned
    uu = np.repeat(np.arange(len(u_acc)), n_months)
    mm = np.tile(np.arange(n_months), len(u_acc))
    lo = np.maximum.reduce([month_starts[mm], u_day[uu], contract_start[u_acc[uu]]])
    hi = np.minimum(month_starts[mm + 1], as_of + 1)
    live = hi > lo
    uu, mm, lo, hi = uu[live], mm[live], lo[live], hi[live]
    acc = u_acc[uu]
    usage, value = factors[acc, mm, 1], factors[acc, mm, 2]
    # Some seats lie dormant for a month (more when the account gets little value), the
    # others are active on some of its days (more with usage).
    dormant = rng.random(len(uu)) < 0.6 * (1 - _normal_cdf(0.7 * value + 0.7 * habit[acc, 6]
                                                           + 0.5 * u_habit[uu, 1]))
    p_day = activity * (0.02 + 0.30 * _normal_cdf(0.6 * usage + 0.6 * habit[acc, 0]
                                                  + 0.5 * u_habit[uu, 0]))
    n_active = np.where(dormant, 0, rng.binomial(hi - lo, np.clip(p_day, 0, 1)))
    ud_u = np.repeat(uu, n_active)
    ud_m = np.repeat(mm, n_active)
    ud_day = np.repeat(lo, n_active) + np.floor(rng.random(len(ud_u))
                                                * np.repeat(hi - lo, n_active)).astype(np.int64)
    _, first = np.unique(ud_u * (1 << 32) + ud_day, return_index=True)   # distinct days
    first = np.sort(first)
    ud_u, ud_m, ud_day = ud_u[first], ud_m[first], ud_day[first]
    ud_acc = u_acc[ud_u]
    rate = 2.0 * np.exp(0.45 * factors[ud_acc, ud_m, 2] + 0.45 * habit[ud_acc, 1]
                        + 0.3 * u_habit[ud_u, 1])
    n_ev = 1 + rng.poisson(rate)
    e_ud = np.repeat(np.arange(len(ud_u)), n_ev)
    e_k = np.arange(len(e_ud)) - np.repeat(np.cumsum(n_ev) - n_ev, n_ev)
    e_acc, e_m = ud_acc[e_ud], ud_m[e_ud]
    kind = np.minimum(e_k, 2)                    # login, session, then actions
    minutes = np.where(kind == 1, np.round(np.exp(np.log(18) + 0.5 * factors[e_acc, e_m, 2]
                                                 + 0.5 * habit[e_acc, 2]
                                                 + 0.3 * rng.standard_normal(len(e_ud))), 1),
                       np.nan)
    # Key-feature use: how often an action uses a feature, and how many of the key features
    # the account's users know (breadth).
    uses = rng.random(len(e_ud)) < 0.7 * _normal_cdf(0.6 * factors[e_acc, e_m, 1]
                                                     + 0.6 * habit[e_acc, 3])
    breadth = 1 + np.floor(len(KEY_FEATURES) * _normal_cdf(0.5 * factors[e_acc, e_m, 1]
                                                           + 0.7 * habit[e_acc, 4]))
    breadth = np.minimum(breadth, len(KEY_FEATURES)).astype(np.int64)
    key_pick = np.floor(rng.random(len(e_ud)) * breadth).astype(np.int64)
    other = rng.random(len(e_ud)) < 0.25
    feature = np.where(other, len(KEY_FEATURES) + rng.integers(0, 3, len(e_ud)), key_pick)
    feature = np.where((kind == 2) & uses, feature, -1)
    # A user's events of a day a minute apart from a random start: no two are identical.
    first_second = rng.integers(0, max(1, 86400 - 60 * int(n_ev.max())), len(ud_u))
    events = pd.DataFrame({"account_id": _cat(e_acc, ids), "user_id": _cat(ud_u[e_ud], user_ids),
                           "ts": _ts(ud_day[e_ud], first_second[e_ud] + 60 * e_k),
                           "event": _cat(kind, ["login", "session", "action"]),
                           "feature": _cat(feature, KEY_FEATURES + _OTHER_FEATURES),
                           "minutes": minutes})

    # --- CSM touches, surveys and integrations: per account and month
    am_a = np.repeat(np.arange(n), n_months)
    am_m = np.tile(np.arange(n_months), n)
    am_lo = np.maximum(month_starts[am_m], contract_start[am_a])
    am_hi = np.minimum(month_starts[am_m + 1], as_of + 1)
    ok = am_hi > am_lo
    am_a, am_m, am_lo, am_hi = am_a[ok], am_m[ok], am_lo[ok], am_hi[ok]
    rel = factors[am_a, am_m, 0]

    def spread(count, *, a=am_a, m=am_m, lo=am_lo, hi=am_hi):
        idx = np.repeat(np.arange(len(a)), count)
        day = lo[idx] + np.floor(rng.random(len(idx)) * (hi - lo)[idx]).astype(np.int64)
        return idx, day

    t_idx, t_day = spread(rng.poisson(0.4 + 2.2 * _normal_cdf(0.6 * rel + 0.6 * habit[am_a, 5])))
    t_a = am_a[t_idx]
    t_kind = np.where(rng.random(len(t_idx)) < 0.08 + 0.12 * _normal_cdf(rel[t_idx]), 3,
                      rng.integers(0, 3, len(t_idx)))
    touches = pd.DataFrame({
        "account_id": _cat(t_a, ids), "ts": _ts(t_day, rng.integers(8 * 3600, 18 * 3600, len(t_idx))),
        "kind": _cat(t_kind, ["call", "meeting", "email", "qbr"]), "with_champion": (rng.random(len(t_idx)) < 0.2 + 0.5 * _normal_cdf(
            0.5 * rel[t_idx] + 0.5 * habit[t_a, 6])).astype(np.int64)})

    def answers(mask, kind, role, values, per=1):
        idx, day = spread(np.where(mask, per, 0))
        return pd.DataFrame({"account_id": _cat(am_a[idx], ids),
                             "ts": _ts(day, rng.integers(0, 86400, len(idx))),
                             "kind": kind, "role": role, "value": values(idx)})

    def signal(idx, h, noise=0.5):
        return _normal_cdf(0.6 * rel[idx] + 0.6 * habit[am_a[idx], h]
                           + noise * rng.standard_normal(len(idx)))

    every = np.ones(len(am_a), dtype=bool)
    parts = [
        answers(every, "pulse", "csm", lambda i: np.clip(np.round(0.6 + 4.8 * signal(i, 7)), 1, 5)),
        answers(every, "sentiment", "csm", lambda i: np.round(signal(i, 8), 2)),
        answers(am_m % 3 == 0, "advocacy", "csm", lambda i: np.round(10 * signal(i, 9))),
        answers(am_m % 2 == 0, "nps", "champion",
                lambda i: np.floor(11 * signal(i, 10) ** 0.7).clip(0, 10)),
        answers(rng.random(len(am_a)) < 0.6, "nps", "user",
                lambda i: np.floor(11 * signal(i, 10, 1.0) ** 0.7).clip(0, 10)),
        answers(rng.random(len(am_a)) < 0.5, "csat", "user",
                lambda i: np.clip(np.round(0.6 + 4.8 * signal(i, 11, 0.8)), 1, 5)),
        answers(am_m % 2 == 1, "csat", "champion",
                lambda i: np.clip(np.round(0.6 + 4.8 * signal(i, 11, 0.8)), 1, 5)),
    ]
    surveys = pd.concat(parts, ignore_index=True)
    for col in ("account_id", "kind", "role"):
        surveys[col] = surveys[col].astype("category")

    val = factors[am_a, am_m, 2]
    on = rng.poisson(0.25 * 2 * _normal_cdf(0.7 * val + 0.5 * habit[am_a, 1]))
    off = rng.poisson(0.25 * 2 * (1 - _normal_cdf(0.7 * val + 0.5 * habit[am_a, 1])))
    i_idx, i_day = spread(on + off)
    first_off = np.repeat(on, on + off)
    pos = np.arange(len(i_idx)) - np.repeat(np.cumsum(on + off) - (on + off), on + off)
    integrations = pd.DataFrame({
        "account_id": _cat(am_a[i_idx], ids),
        "ts": _ts(i_day, rng.integers(0, 86400, len(i_idx))),
        "integration": _cat(rng.integers(0, 5, len(i_idx)),
                            ["slack", "jira", "salesforce", "hubspot", "github"]),
        "action": _cat(np.where(pos < first_off, 0, 1), ["enabled", "disabled"])})

    # --- the onboarding checklist at contract start
    plan = np.array([10.0, 20.0, 30.0, 45.0, 60.0])
    speed = 0.6 * factors[:, 0, 1] + 0.6 * habit[:, 3]
    sa = np.repeat(np.arange(n), len(plan))
    step = np.tile(np.arange(len(plan)), n)
    took = plan[step] * np.exp(-0.35 * speed[sa] + 0.35 * rng.standard_normal(len(sa)) + 0.1)
    done = rng.random(len(sa)) > 0.25 * (1 - _normal_cdf(speed[sa]))
    steps = [f"step{k + 1}" for k in range(len(plan))]
    listed = pd.DataFrame({"account_id": _cat(sa, ids),
                           "ts": _ts(contract_start[sa], np.zeros(len(sa), dtype=np.int64)),
                           "step": _cat(step, steps), "done": 0, "planned_days": plan[step]})
    finished = pd.DataFrame({
        "account_id": _cat(sa[done], ids),
        "ts": _ts(contract_start[sa[done]] + np.round(took[done]).astype(np.int64),
                  rng.integers(0, 86400, done.sum())),
        "step": _cat(step[done], steps), "done": 1, "planned_days": np.nan})
    setup = pd.concat([listed, finished], ignore_index=True)
    setup = setup[setup["ts"] < _ts(np.array([as_of + 1]), np.zeros(1))[0]]

    years = np.maximum(1, (as_of - contract_start) // 365 + 1)
    renewal = add_years(contract_start, years)
    renewal = np.where(renewal <= as_of, add_years(contract_start, years + 1), renewal)
    accounts = pd.DataFrame({"account_id": ids,
                             "contract_start": contract_start.astype("datetime64[D]"),
                             "renewal_date": renewal.astype("datetime64[D]"),
                             "churn_date": np.full(n, np.datetime64("NaT"), "datetime64[D]"),
                             "arr": arr, "seats": seats})
    users = pd.DataFrame({"account_id": _cat(u_acc, ids), "user_id": user_ids, "role": roles,
                          "assigned_at": _ts(u_day, np.zeros(len(u_day), dtype=np.int64))})
    tables = {"accounts": accounts, "users": users, "events": events, "touches": touches,
              "surveys": surveys, "integrations": integrations, "setup": setup}

    # --- the truth on the reference metrics of every snapshot an account could have
    grid_acc = pd.DataFrame({"account_id": ids, "contract_start_day": contract_start,
                             "renewal_day": renewal, "churn_day": np.nan, "arr": arr,
                             "seats": seats})
    horizon = 30                                 # the lifecycle config's label horizon
    snaps, _ = build_grid(grid_acc, snapshot_days, horizon=horizon, last_day=as_of)
    snaps["snapshot_date"] = pd.to_datetime(snaps["at_day"].to_numpy().astype("datetime64[D]"))
    metrics = reference_metrics(tables, snaps)
    frame = snaps[["account_id", "snapshot_date", "stage", "seats", "segment"]].copy()
    for m in config.metric_names:
        frame[m] = metrics[m].to_numpy()
    truth = _raw_truth(config, frame, strength, rates)
    p = truth.probability(frame)
    p = np.where(np.isnan(p), frame["stage"].map(rates).to_numpy(), p)

    # --- churn: the first snapshot whose draw comes up; no rows after the churn day
    day = snaps["at_day"].to_numpy()
    acc_code = pd.factorize(frame["account_id"])[0]
    hit = rng.random(len(frame)) < p
    first_hit = pd.Series(np.where(hit, np.arange(len(frame)), len(frame))).groupby(
        acc_code).transform("min").to_numpy()
    row = np.arange(len(frame))
    next_day = np.r_[day[1:], day[-1] + 31]
    next_day = np.where(np.r_[acc_code[1:] == acc_code[:-1], False], next_day, day + 31)
    # The churn day falls within the horizon of its own snapshot only: before the next
    # snapshot, and not within the horizon of the previous one (a 28-day February).
    same_prev = np.r_[False, acc_code[1:] == acc_code[:-1]]
    prev_day = np.where(same_prev, np.r_[day[0], day[:-1]], day - 31)
    first_off = np.maximum(0, prev_day + horizon - day)
    gap = np.minimum(horizon, next_day - day)
    churn_day = day + first_off + np.floor(rng.random(len(frame))
                                           * (gap - first_off)).astype(np.int64)
    churned_here = (row == first_hit) & (churn_day <= as_of)
    keep = row <= first_hit
    all_ids = frame["account_id"].to_numpy()
    churn_days = pd.Series(churn_day[churned_here], index=all_ids[churned_here])
    frame["churned"] = np.where(churned_here, 1.0, 0.0)
    frame.loc[day + horizon - 1 > as_of, "churned"] = np.nan        # horizon past the data: censored
    frame = frame[keep].reset_index(drop=True)
    cd = churn_days.reindex(accounts["account_id"]).to_numpy()
    accounts["churn_date"] = np.where(np.isnan(cd), np.datetime64("NaT"),
                                      np.nan_to_num(cd).astype(np.int64).astype("datetime64[D]"))
    limit = accounts.set_index("account_id")["churn_date"]
    for name in ("users", "events", "touches", "surveys", "integrations", "setup"):
        table = tables[name]
        col = "assigned_at" if name == "users" else "ts"
        cut = limit.reindex(table["account_id"]).to_numpy().astype("datetime64[ns]")
        tables[name] = table[~(table[col].to_numpy() >= cut)].reset_index(drop=True)
    tables["accounts"] = accounts
    return RawBook(tables, frame, truth, config, start=str(snapshot_days[0].astype("datetime64[D]")),
                   as_of=str(np.datetime64(as_of, "D")), horizon_days=horizon)


def _raw_truth(config: Config, frame: pd.DataFrame, strength: float,
               rates: dict[str, float]) -> Truth:
    """The "shifted" weights at ``strength``, intercepts solved on the book's own rows."""
    from hscore.scoring.scorer import HealthScorer

    coef = {}
    for sname in _STAGES:
        names = config.stages[sname].metric_names
        v = pd.Series(TRUE_WEIGHTS[sname])[names]
        coef[sname] = v / v.sum() * strength
    truth = Truth("raw-shifted", {s: 0.0 for s in _STAGES}, coef, config)
    scores = HealthScorer(truth.as_config()).score(frame, trend=False)["score"].to_numpy()
    for sname in _STAGES:
        rows = (frame["stage"] == sname).to_numpy() & ~np.isnan(scores)
        eta = strength * scores[rows] / 100.0
        truth.intercept[sname] = _solve_intercept(eta, rates[sname]) if rows.any() else 0.0
    return truth

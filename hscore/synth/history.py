"""Synthetic snapshot histories with a known churn model, for tests, demos and benchmarks.

Accounts move onboarding -> adoption -> maturity -> renewal (renewal = the 90
days before each yearly contract renewal date, as seed 000 says). Each month
every live account gets a snapshot with the lifecycle metrics of its stage,
driven by three correlated latent factors per account (relationship, usage,
value) that drift month to month, so metrics of one component correlate and
an account's snapshots resemble each other.

The label ``churned`` ("churned within 30 days of the snapshot") is drawn from
a documented ground-truth model per stage, on the same sub-scores ``s`` in
[0, 1] that the lifecycle config's transforms give::

    logit P(churn) = a_stage - sum_m b_m * s_m,     b_m >= 0

An account that churns has no later snapshots; the last month of the history
is censored (``churned`` empty), because its label window has not ended.

Two truths are shipped:

- ``"shifted"`` (default) differs from the documented defaults: in maturity
  product usage is far more predictive than CSM pulse (0.30 for
  ``feature_adoption_rate`` against 0.02 for ``csm_pulse``), several metrics
  carry no true weight, and ``events_30d`` and ``stickiness`` carry equal
  weight (0.10 each) and are generated alike, for "no difference" checks.
- ``"defaults"``: the true effective weights equal the lifecycle config's.

Churn rates are higher than a typical B2B book (10-15% a month by default)
so that the truth can be learnt at test sizes; ``base_rates`` changes them.
The same arguments give the same frame, byte for byte.

Examples
--------
>>> from hscore import synth
>>> h = synth.make_history(n_accounts=50, months=6, seed=3)
>>> list(h.frame.columns[:5])
['account_id', 'snapshot_date', 'stage', 'seats', 'segment']
>>> round(float(h.truth.weights("maturity")["feature_adoption_rate"]), 2)
0.3
>>> h.frame.equals(synth.make_history(n_accounts=50, months=6, seed=3).frame)
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hscore.config import Config, config_from_dict, load_config
from hscore.errors import HScoreError
from hscore.scoring.scorer import HealthScorer
from hscore.scoring.transforms import metric_subscore

__all__ = ["History", "Truth", "make_history", "make_stage_sample", "make_cross_section",
           "TRUE_WEIGHTS", "HORIZON_DAYS", "CRM_TRUE_WEIGHTS"]

#: Labels mean "churned within this many days after the snapshot" (snapshots are monthly).
HORIZON_DAYS = 30

#: The "shifted" truth: effective weights per stage (they sum to 1 within a stage).
TRUE_WEIGHTS: dict[str, dict[str, float]] = {
    "onboarding": {"csm_pulse": 0.05, "champion_csm_touches_30d": 0.10,
                   "setup_checklist_done": 0.30, "setup_days_vs_plan": 0.10,
                   "days_since_champion_csm_touch": 0.0, "champion_logins_30d": 0.30,
                   "champion_minutes_30d": 0.15},
    "adoption": {"days_since_csm_touch": 0.05, "csm_pulse": 0.0, "champion_nps": 0.10,
                 "week1_active_seat_share": 0.15, "active_days_30d": 0.25,
                 "key_features_used_share": 0.20, "events_30d": 0.15,
                 "seats_hitting_event_goal_share": 0.10},
    "maturity": {"csm_pulse": 0.02, "csm_touches_90d": 0.0, "qbr_held_180d": 0.05,
                 "user_nps": 0.05, "champion_nps": 0.03, "csat": 0.05, "advocacy_score": 0.0,
                 "key_feature_users_share": 0.20, "feature_adoption_rate": 0.30,
                 "events_30d": 0.10, "stickiness": 0.10, "minutes_30d": 0.10},
    "renewal": {"csm_sentiment": 0.25, "champion_nps": 0.05, "user_nps": 0.05, "csat": 0.0,
                "feature_usage_change_pct": 0.15, "minutes_change_pct": 0.05,
                "seat_utilization": 0.20, "inactive_seat_share": 0.10,
                "integrations_net_change": 0.10, "stickiness_change_pct": 0.05},
}
#: Sum of the true coefficients b per stage: how strongly the stage's metrics separate churn.
TRUE_STRENGTH = {"onboarding": 16.0, "adoption": 16.0, "maturity": 16.0, "renewal": 16.0}
#: Mean monthly churn probability per stage (the intercepts are solved to hit these).
BASE_RATES = {"onboarding": 0.12, "adoption": 0.12, "maturity": 0.12, "renewal": 0.15}

# Which latent factor drives each component: relationship (0), usage (1), value (2).
_FACTOR_OF_COMPONENT = {"champion_engagement": 0, "customer_engagement": 0,
                        "implementation": 1, "champion_activity": 1, "product_usage": 1,
                        "user_activity": 2}
_LOADING = 0.6          # correlation of a metric's signal with its factor
_FACTOR_CORR = 0.4      # correlation between the three factors
_AR = 0.95              # month-to-month persistence of the factors
_HABIT = 0.85           # share of a metric's own noise that is a lasting habit of the account
_INTEGER_METRICS = {"csm_pulse", "champion_csm_touches_30d", "csm_touches_90d", "champion_nps",
                    "integrations_net_change", "champion_logins_30d", "user_nps",
                    "days_since_champion_csm_touch", "days_since_csm_touch"}
_STAGES = ("onboarding", "adoption", "maturity", "renewal")


# ------------------------------------------------------------------ truth
@dataclass
class Truth:
    """The ground-truth churn model: ``logit P = intercept[stage] - coef[stage] @ s``.

    ``s`` are the sub-scores in [0, 1] of the lifecycle config's transforms.
    """

    name: str
    intercept: dict[str, float]
    coef: dict[str, pd.Series]
    config: Config = field(repr=False)

    def weights(self, stage: str) -> pd.Series:
        """True effective weights of the stage's metrics, ``b / sum(b)``."""
        b = self.coef[stage]
        return b / b.sum()

    def as_config(self) -> Config:
        """The truth as a scoring config: its score ranks rows exactly as the true model and its
        ``probability`` mapping gives the true churn probability (when nothing is missing)."""
        data = self.config.to_dict()
        data["name"] = f"truth-{self.name}"
        data["provenance"] = {"source": f"hscore.synth ground truth '{self.name}'"}
        for sname, stage in data["stages"].items():
            v = self.weights(sname)
            for comp in stage["components"].values():
                names = list(comp["metrics"])
                cw = float(v[names].sum())
                comp["weight"] = cw
                for m in names:
                    comp["metrics"][m]["weight"] = float(v[m]) / cw if cw > 0 else 1 / len(names)
            stage["probability"] = {"intercept": float(self.intercept[sname]),
                                    "slope": -float(self.coef[sname].sum()) / 100.0}
        return config_from_dict(data)

    def probability(self, frame: pd.DataFrame) -> np.ndarray:
        """True churn probability of each row (missing metrics: the truth config's reweighting)."""
        return HealthScorer(self.as_config()).score(frame, trend=False)[
            "churn_probability"].to_numpy()

    def linear_risk(self, stage: str, subscores: np.ndarray) -> np.ndarray:
        """``intercept - s @ b`` for sub-scores in [0, 1] (columns in the config's metric order)."""
        return self.intercept[stage] - subscores @ self.coef[stage].to_numpy()


@dataclass
class History:
    """A synthetic snapshot table and the truth that labelled it."""

    frame: pd.DataFrame
    truth: Truth
    config: Config = field(repr=False)
    horizon_days: int = HORIZON_DAYS

    def __repr__(self) -> str:
        return f"History({describe_labels(self.frame)}, truth={self.truth.name!r})"


def describe_labels(frame: pd.DataFrame) -> str:
    """"N snapshots, N accounts, N churn events, N censored" of a labelled snapshot table."""
    labelled = frame["churned"].notna()
    return (f"{len(frame)} snapshots, {frame['account_id'].nunique()} accounts, "
            f"{int(frame.loc[labelled, 'churned'].sum())} churn events, "
            f"{int((~labelled).sum())} censored")


def _truth(name: str, config: Config, base_rates: dict[str, float]) -> Truth:
    if name not in ("shifted", "defaults"):
        raise HScoreError(f"truth: unknown truth {name!r}; use 'shifted' or 'defaults'")
    coef, intercept = {}, {}
    for sname in _STAGES:
        stage = config.stages[sname]
        if name == "shifted":
            v = pd.Series(TRUE_WEIGHTS[sname])[stage.metric_names]
        else:
            v = pd.Series(stage.metric_weights())[stage.metric_names]
        coef[sname] = (v / v.sum()) * TRUE_STRENGTH[sname]
    truth = Truth(name, intercept, coef, config)
    # Intercepts that give each stage its base rate, solved on a fixed pilot sample so that
    # they do not depend on the caller's seed.
    pilot = _draw_rows(np.random.default_rng(20240101), n_per_stage=20000, config=config)
    for sname in _STAGES:
        eta = pilot[sname] @ coef[sname].to_numpy()
        intercept[sname] = _solve_intercept(eta, base_rates[sname])
    return truth


def _solve_intercept(eta: np.ndarray, rate: float) -> float:
    a = float(np.log(rate / (1 - rate)) + eta.mean())
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(a - eta)))
        step = (p.mean() - rate) / max((p * (1 - p)).mean(), 1e-12)
        a -= step
        if abs(step) < 1e-12:
            break
    return a


def _draw_rows(rng: np.random.Generator, n_per_stage: int, config: Config) -> dict[str, np.ndarray]:
    """Independent sub-score rows per stage (for the pilot): factors drawn at stationarity."""
    out = {}
    for sname in _STAGES:
        factors = _stationary_factors(rng, n_per_stage)
        seats = _seats(rng, n_per_stage)
        raw = _metric_values(rng, config.stages[sname], factors, seats)
        out[sname] = _subscores(config, sname, raw, seats)
    return out


# ------------------------------------------------------------ generation
def _factor_chol() -> np.ndarray:
    c = np.full((3, 3), _FACTOR_CORR)
    np.fill_diagonal(c, 1.0)
    return np.linalg.cholesky(c)


def _stationary_factors(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.standard_normal((n, 3)) @ _factor_chol().T


def _factor_paths(rng: np.random.Generator, n_accounts: int, months: int) -> np.ndarray:
    """AR(1) factor paths, shape (n_accounts, months, 3), stationary N(0, corr) at every month."""
    chol = _factor_chol()
    out = np.empty((n_accounts, months, 3))
    out[:, 0] = rng.standard_normal((n_accounts, 3)) @ chol.T
    innovation = np.sqrt(1 - _AR ** 2)
    for t in range(1, months):
        out[:, t] = _AR * out[:, t - 1] + innovation * (rng.standard_normal((n_accounts, 3))
                                                        @ chol.T)
    return out


def _seats(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.maximum(1, np.round(np.exp(rng.normal(np.log(20), 0.9, n)))).astype(np.int64)


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + _erf(z / np.sqrt(2.0)))


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7) keeps the scoring-side dependency set small:
    # numpy only, no scipy.
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
                                                       + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-x * x))


def _metric_values(rng: np.random.Generator, stage, factors: np.ndarray, seats: np.ndarray,
                   habits: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Raw metric values of one stage's rows: each metric's health signal u in (0, 1) comes
    from its component's factor plus noise and is mapped back through the inverse of the
    metric's transform, so sub-scores spread over [0, 1] with some clipping at both ends.

    ``habits`` holds each row's account-level offset per metric (most of the metric's own
    noise), so that an account's metrics do not jump at random from month to month."""
    n = len(factors)
    raw = {}
    for cname, comp in stage.components.items():
        f = factors[:, _FACTOR_OF_COMPONENT[cname]]
        for mname, spec in comp.metrics.items():
            habit = habits[mname] if habits is not None else rng.standard_normal(n)
            own = np.sqrt(_HABIT) * habit + np.sqrt(1 - _HABIT) * rng.standard_normal(n)
            z = _LOADING * f + np.sqrt(1 - _LOADING ** 2) * own
            u = _normal_cdf(z)
            raw[mname] = _invert(mname, spec, u, seats)
    return raw


def _invert(name: str, spec, u: np.ndarray, seats: np.ndarray) -> np.ndarray:
    t = spec.transform
    stretched = np.clip(1.1 * u - 0.05, 0.0, 1.0)      # a few values beyond each end of the scale
    health = stretched if spec.direction == "higher_is_better" else 1.0 - stretched
    if t.kind == "linear":
        x = t.lo + (t.hi - t.lo) * health
    elif t.kind == "log":
        x = np.expm1(np.log1p(t.lo) + (np.log1p(t.hi) - np.log1p(t.lo)) * health)
    elif t.kind == "recency":
        x = -t.half_life_days * np.log2(np.clip(u, 1e-3, 1.0))
    elif t.kind == "thresholds":              # 0-10 NPS answers, skewed toward promoters
        x = np.floor(11 * u ** 0.7).clip(0, 10)
    elif t.kind == "boolean":
        x = (u > 0.35).astype(np.float64)
    else:  # pragma: no cover - the lifecycle config has no other kind
        raise TypeError(t.kind)
    if spec.per_seat:
        x = np.round(x * seats)
    elif name in _INTEGER_METRICS:
        x = np.round(x)
    elif t.kind == "linear":
        x = np.round(x, 3)
    if spec.domain is not None:
        lo, hi = spec.domain
        x = np.clip(x, -np.inf if lo is None else lo, np.inf if hi is None else hi)
    return x


def _subscores(config: Config, stage_name: str, raw: dict[str, np.ndarray],
               seats: np.ndarray) -> np.ndarray:
    stage = config.stages[stage_name]
    cols = []
    for m in stage.metric_names:
        spec = stage.components[stage.component_of(m)].metrics[m]
        cols.append(metric_subscore(spec, raw[m], seats.astype(np.float64)) / 100.0)
    return np.column_stack(cols)


def _stage_of_tenure(tenure_days: np.ndarray) -> np.ndarray:
    """Stage code per snapshot from days since the contract started (yearly renewals)."""
    days_to_renewal = 365 - np.mod(tenure_days, 365)
    return np.select([days_to_renewal <= 90, tenure_days < 91, tenure_days < 365],
                     [3, 0, 1], default=2).astype(np.int8)


def _simulate(rng: np.random.Generator, truth: Truth, config: Config, account: np.ndarray,
              month: np.ndarray, stage: np.ndarray, seats_of_account: np.ndarray,
              factors: np.ndarray, dates: pd.DatetimeIndex, missing_rate: float,
              id_width: int) -> pd.DataFrame:
    """Rows given as (account, month, stage), sorted by account then month: draw metrics and
    labels, end each account at its churn, censor the last month, mask some values."""
    n = len(account)
    metric_names = config.metric_names
    values = {m: np.full(n, np.nan) for m in metric_names}
    risk = np.empty(n)
    seats = seats_of_account[account]
    habit = rng.standard_normal((account.max() + 1, len(metric_names)))
    for code, sname in enumerate(_STAGES):
        rows = np.flatnonzero(stage == code)
        if len(rows) == 0:
            continue
        habits = {m: habit[account[rows], j] for j, m in enumerate(metric_names)}
        raw = _metric_values(rng, config.stages[sname], factors[account[rows], month[rows]],
                             seats[rows], habits)
        for m, x in raw.items():
            values[m][rows] = x
        s = _subscores(config, sname, raw, seats[rows])
        risk[rows] = truth.linear_risk(sname, s)
    p = 1.0 / (1.0 + np.exp(-risk))
    churned = (rng.random(n) < p).astype(np.float64)

    # An account that churns has no later snapshot.
    churn_rank = np.cumsum(churned)
    first = np.r_[True, account[1:] != account[:-1]]
    start_of = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    before = churn_rank - churned - np.where(start_of > 0, churn_rank[start_of - 1], 0)
    keep = before == 0
    last_month = month.max()
    churned[month == last_month] = np.nan          # label window not over yet: censored

    frame = pd.DataFrame({
        "account_id": np.char.add("acct-", np.char.zfill(account.astype(str), id_width)),
        "snapshot_date": dates[month],
        "stage": np.asarray(_STAGES, dtype=object)[stage],
        "seats": seats,
        "segment": np.select([seats < 20, seats < 100], ["smb", "mid"], "enterprise"),
    })
    for m in metric_names:
        x = values[m]
        if missing_rate > 0:
            x[rng.random(n) < missing_rate] = np.nan
        frame[m] = x
    frame["churned"] = churned
    return frame.loc[keep].reset_index(drop=True)


def _check(n: int, what: str, minimum: int = 1) -> int:
    if not (isinstance(n, (int, np.integer)) and n >= minimum):
        raise HScoreError(f"{what}: must be a whole number >= {minimum}, got {n!r}")
    return int(n)


def make_history(n_accounts: int = 1000, months: int = 24, *, seed: int = 0,
                 start: str = "2024-01-01", truth: str = "shifted", missing_rate: float = 0.03,
                 base_rates: dict[str, float] | None = None) -> History:
    """A book of accounts observed monthly, moving through the lifecycle stages.

    Parameters
    ----------
    n_accounts : int
        Accounts in the book. Tenure at ``start`` is spread from 18 months before
        (accounts signed during the history) to three years.
    months : int
        Monthly snapshots, the first on ``start``.
    seed : int
        Same seed, same frame.
    truth : {"shifted", "defaults"}
        The ground-truth churn model (see the module docstring).
    missing_rate : float
        Share of metric values left empty (not measured), at random.
    base_rates : dict, optional
        Mean monthly churn probability per stage (default :data:`BASE_RATES`).

    Returns
    -------
    History
        ``frame`` (the snapshot table), ``truth``, ``config`` and ``horizon_days``.
    """
    n_accounts = _check(n_accounts, "n_accounts")
    months = _check(months, "months", 2)
    if not 0 <= missing_rate < 1:
        raise HScoreError(f"missing_rate: must lie in [0, 1), got {missing_rate!r}")
    config = load_config("lifecycle")
    tru = _truth(truth, config, {**BASE_RATES, **(base_rates or {})})
    rng = np.random.default_rng(seed)
    dates = pd.date_range(pd.Timestamp(start), periods=months, freq="MS")
    contract_start = dates[0] - pd.to_timedelta(rng.integers(-540, 3 * 365, n_accounts), "D")
    seats = _seats(rng, n_accounts)
    factors = _factor_paths(rng, n_accounts, months)

    tenure = (dates.to_numpy()[None, :] - contract_start.to_numpy()[:, None]) \
        .astype("timedelta64[D]").astype(np.int64)
    account, month = np.nonzero(tenure >= 0)     # row-major: sorted by account, then month
    stage = _stage_of_tenure(tenure[account, month])
    frame = _simulate(rng, tru, config, account, month, stage, seats, factors, dates,
                      missing_rate, len(str(n_accounts)))
    return History(frame, tru, config)


def make_stage_sample(n_per_stage: int = 20000, *, seed: int = 0, start: str = "2024-01-01",
                      months: int = 24, truth: str = "shifted", missing_rate: float = 0.0,
                      base_rates: dict[str, float] | None = None,
                      snapshots_per_account: int = 4) -> History:
    """A sample with about ``n_per_stage`` labelled snapshots in each stage.

    Each account contributes up to ``snapshots_per_account`` consecutive monthly
    snapshots in one stage, starting at a random month, so that the sample has the
    account structure (grouped folds, account bootstrap) of a real history while
    every stage is equally well represented: the shape the accuracy tests need.

    Examples
    --------
    >>> h = make_stage_sample(500, seed=1)
    >>> counts = h.frame.dropna(subset=["churned"]).groupby("stage").size()
    >>> bool(counts.between(400, 600).all())
    True
    """
    n_per_stage = _check(n_per_stage, "n_per_stage")
    k = _check(snapshots_per_account, "snapshots_per_account")
    months = _check(months, "months", k + 1)
    if not 0 <= missing_rate < 1:
        raise HScoreError(f"missing_rate: must lie in [0, 1), got {missing_rate!r}")
    config = load_config("lifecycle")
    rates = {**BASE_RATES, **(base_rates or {})}
    tru = _truth(truth, config, rates)
    rng = np.random.default_rng(seed)
    dates = pd.date_range(pd.Timestamp(start), periods=months, freq="MS")

    per_stage = []
    for code, sname in enumerate(_STAGES):
        q = 1 - rates[sname]
        expected_rows = (1 - q ** k) / (1 - q)              # rows before the first churn
        labelled_share = 1 - 1 / (months - k + 1) / k       # the last month is censored
        per_stage.append(int(np.ceil(n_per_stage / (expected_rows * labelled_share))))
    stage_of_account = np.repeat(np.arange(4, dtype=np.int8), per_stage)
    n_accounts = len(stage_of_account)
    first_month = rng.integers(0, months - k + 1, n_accounts)
    seats = _seats(rng, n_accounts)
    factors = _factor_paths(rng, n_accounts, months)
    account = np.repeat(np.arange(n_accounts), k)
    month = (first_month[:, None] + np.arange(k)[None, :]).ravel()
    stage = stage_of_account[account]
    frame = _simulate(rng, tru, config, account, month, stage, seats, factors, dates,
                      missing_rate, len(str(n_accounts)))
    return History(frame, tru, config)


#: The arguments of the committed sample ``data/sample_snapshots.csv``.
SAMPLE_ARGS = {"n_accounts": 400, "months": 18, "seed": 7}


def write_sample(path) -> Path:
    """Write the small sample that ships in ``data/`` (same bytes on every run).

    Regenerate it with ``python -c "from hscore import synth; synth.write_sample('data/sample_snapshots.csv')"``.
    """
    from hscore.scoring.snapshots import write_frame

    # Ten significant digits: the last bits of a float differ across numpy builds and
    # platforms, and the file must not.
    return write_frame(make_history(**SAMPLE_ARGS).frame, path, float_format="%.10g")


# ------------------------------------------------------- a cross-sectional book
#: The truth behind the second shipped book ``data/crm_export.csv`` (config
#: ``data/crm_export.yaml``): effective weights that differ from the team's guess.
CRM_TRUE_WEIGHTS = {"logins_per_user_30d": 0.35, "feature_breadth_pct": 0.15, "exec_nps": 0.05,
                    "days_since_exec_meeting": 0.15, "open_tickets_90d": 0.20,
                    "invoice_days_late": 0.10}
CRM_SAMPLE_ARGS = {"n_accounts": 1500, "seed": 11, "snapshot_date": "2024-12-01",
                   "base_rate": 0.15, "strength": 8.0, "missing_rate": 0.04,
                   "integer_metrics": ("exec_nps", "days_since_exec_meeting", "open_tickets_90d",
                                       "invoice_days_late")}


def make_cross_section(config, true_weights: dict[str, float], *, n_accounts: int = 1000,
                       seed: int = 0, snapshot_date: str = "2024-12-01", base_rate: float = 0.15,
                       strength: float = 8.0, missing_rate: float = 0.0,
                       integer_metrics=()) -> History:
    """A CRM-style export: one row per account on one day, for a one-stage config (``all``).

    Metrics come from three correlated latent factors (one per component, in turn) through the
    inverse of each metric's transform, as in :func:`make_history`; ``churned`` ("churned within
    the config's horizon after the export") is drawn from ``logit P = a - b . s`` with
    ``b = strength x true_weights`` and ``a`` solved so that about ``base_rate`` churn. The
    table has no ``stage`` and no ``seats`` column, and an ``arr`` column no config reads.
    ``integer_metrics`` are counts (tickets, days) and come out as whole numbers.

    Examples
    --------
    >>> from hscore import synth
    >>> from hscore.config import load_config
    >>> h = synth.make_cross_section(load_config("data/crm_export.yaml"), synth.CRM_TRUE_WEIGHTS,
    ...                              n_accounts=200, seed=1)
    >>> h.frame["snapshot_date"].nunique(), "stage" in h.frame, len(h.frame)
    (1, False, 200)
    """
    config = load_config(config)
    if list(config.stages) != ["all"]:
        raise HScoreError("config: make_cross_section needs a one-stage config (stage 'all')")
    n_accounts = _check(n_accounts, "n_accounts")
    stage = config.stages["all"]
    names = stage.metric_names
    unknown = sorted(set(true_weights) ^ set(names))
    if unknown:
        raise HScoreError(f"true_weights: must name exactly the config's metrics; "
                          f"differs in {', '.join(unknown)}")
    v = pd.Series(true_weights, dtype=float)[names]
    coef = {"all": v / v.sum() * float(strength)}
    truth = Truth("cross-section", {}, coef, config)
    factor_of = {c: i % 3 for i, c in enumerate(stage.components)}
    no_seats = np.ones(1, dtype=np.int64)

    def draw(rng, n):
        factors = _stationary_factors(rng, n)
        raw = {}
        for cname, comp in stage.components.items():
            f = factors[:, factor_of[cname]]
            for mname, spec in comp.metrics.items():
                z = _LOADING * f + np.sqrt(1 - _LOADING ** 2) * rng.standard_normal(n)
                x = _invert(mname, spec, _normal_cdf(z), np.repeat(no_seats, n))
                raw[mname] = np.round(x) if mname in integer_metrics else x
        return raw, _subscores(config, "all", raw, np.ones(n, dtype=np.int64))

    _, pilot = draw(np.random.default_rng(20240101), 20000)
    truth.intercept["all"] = _solve_intercept(pilot @ coef["all"].to_numpy(), base_rate)
    rng = np.random.default_rng(seed)
    raw, s = draw(rng, n_accounts)
    p = 1.0 / (1.0 + np.exp(-truth.linear_risk("all", s)))
    churned = (rng.random(n_accounts) < p).astype(np.int64)
    arr = np.round(np.exp(rng.normal(np.log(30000), 1.0, n_accounts)), -2)
    frame = pd.DataFrame({
        "account_id": [f"C-{i:05d}" for i in rng.permutation(n_accounts) + 10000],
        "churned": churned,
        "segment": np.select([arr < 15000, arr < 100000], ["smb", "mid"], "enterprise"),
        "arr": arr,
        "snapshot_date": pd.Timestamp(snapshot_date),
    })
    for m in names:
        x = raw[m].astype(np.float64)
        if missing_rate > 0:
            x[rng.random(n_accounts) < missing_rate] = np.nan
        frame[m] = x
    return History(frame, truth, config, horizon_days=config.label_horizon_days or HORIZON_DAYS)


def write_crm_sample(path, config="data/crm_export.yaml") -> Path:
    """Write the second shipped book (``data/crm_export.csv``) from its truth.

    Regenerate it with ``python -c "from hscore import synth; synth.write_crm_sample('data/crm_export.csv')"``.
    """
    from hscore.scoring.snapshots import write_frame

    frame = make_cross_section(config, CRM_TRUE_WEIGHTS, **CRM_SAMPLE_ARGS).frame
    return write_frame(frame, path, float_format="%.10g")

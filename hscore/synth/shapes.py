"""A monthly book whose true effects saturate or bend, with the true curves, for learned
transforms.

One stage (``all``), six metrics, each configured with the straight ``linear`` transform an
analyst would write first (:func:`curved_config`). The truth is additive in the metrics but
not straight::

    logit P(churn within 30 days) = a - sum_m b_m * f_m(x_m) / 100

with ``f_m`` a monotone 0-100 curve in the metric's direction:

- ``logins_30d``: saturates (``100 * (1 - exp(-x / 8))``: past ~20 logins more barely helps);
- ``seat_utilization``: a hinge, rising to 0.4 and flat above;
- ``days_since_touch``: flat for a month, then falling to 0 at 90 days;
- ``open_tickets``: harmless up to 4, falling to 0 at 10;
- ``nps`` and ``csat``: straight (the configured transform is the truth).

``shape="linear"`` makes every curve the configured linear transform, for the "CV keeps
linear when the truth is linear" check. Every true curve is itself a ``piecewise`` transform
(:meth:`CurvedTruth.as_config`), so the truth can score a frame like any config.

Examples
--------
>>> from hscore.synth import make_curved_book
>>> book = make_curved_book(n_accounts=200, months=6, seed=1)
>>> sorted(book.frame.columns)[:3]
['account_id', 'churned', 'csat']
>>> float(book.truth.curve("seat_utilization", [0.2, 0.4, 0.9])[1])
100.0
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hscore.config import Config, config_from_dict
from hscore.errors import HScoreError
from hscore.scoring.scorer import HealthScorer
from hscore.scoring.transforms import subscore

__all__ = ["CurvedTruth", "CurvedBook", "make_curved_book", "curved_config", "CURVED_STRENGTH"]

#: (direction, linear lo, hi, domain) of each metric: what the analyst configures.
_METRICS = {
    "logins_30d": ("higher_is_better", 0.0, 60.0, [0, None]),
    "seat_utilization": ("higher_is_better", 0.0, 1.0, [0, 1]),
    "days_since_touch": ("lower_is_better", 0.0, 120.0, [0, None]),
    "open_tickets": ("lower_is_better", 0.0, 20.0, [0, None]),
    "nps": ("higher_is_better", -100.0, 100.0, [-100, 100]),
    "csat": ("higher_is_better", 1.0, 5.0, [1, 5]),
}
#: The true coefficients b (drop in churn log-odds from sub-score 0 to 100).
CURVED_STRENGTH = {"logins_30d": 2.2, "seat_utilization": 1.6, "days_since_touch": 1.2,
                   "open_tickets": 1.0, "nps": 0.6, "csat": 0.5}
_SATURATION = 8.0


def _true_points(name: str) -> list[list[float]]:
    """The bent curves as piecewise knots (the saturating one sampled finely enough that
    linear interpolation is within 0.6 points of ``100 (1 - exp(-x / 8))``)."""
    if name == "logins_30d":
        xs = np.concatenate([np.arange(0.0, 16.0, 1.0), np.arange(16.0, 48.0, 4.0), [48.0]])
        return [[float(x), float(100 * (1 - np.exp(-x / _SATURATION)))] for x in xs]
    return {"seat_utilization": [[0.0, 0.0], [0.4, 100.0]],
            "days_since_touch": [[30.0, 100.0], [90.0, 0.0]],
            "open_tickets": [[4.0, 100.0], [10.0, 0.0]]}[name]


def curved_config(name: str = "curved-linear") -> Config:
    """The book's config as an analyst writes it: equal weights, straight transforms."""
    metrics = {m: {"weight": 1 / len(_METRICS), "direction": d, "domain": dom,
                   "transform": {"kind": "linear", "lo": lo, "hi": hi}}
               for m, (d, lo, hi, dom) in _METRICS.items()}
    return config_from_dict({"schema_version": 1, "name": name, "label_horizon_days": 30,
                             "stages": {"all": {"components": {
                                 "health": {"weight": 1.0, "metrics": metrics}}}}})


@dataclass
class CurvedTruth:
    """The true model: per metric a 0-100 curve (a ``linear`` or ``piecewise`` transform)
    and its coefficient ``coef[m]``; ``logit P = intercept - sum_m coef[m] f_m / 100``."""

    shape: str
    intercept: float
    coef: dict[str, float]
    transforms: dict[str, dict] = field(repr=False)

    def curve(self, metric: str, x) -> np.ndarray:
        """The true sub-score (0-100, in the metric's direction) of raw values ``x``."""
        spec = self.as_config().stages["all"].components["health"].metrics[metric]
        return subscore(spec.transform, spec.direction, np.asarray(x, dtype=np.float64))

    def as_config(self) -> Config:
        """The truth as a config: its score ranks rows as the true model does, and its
        ``probability`` is the true churn probability."""
        cfg = curved_config().to_dict()
        total = sum(self.coef.values())
        for m, spec in cfg["stages"]["all"]["components"]["health"]["metrics"].items():
            spec["weight"] = self.coef[m] / total
            spec["transform"] = self.transforms[m]
        cfg["stages"]["all"]["probability"] = {"intercept": self.intercept,
                                               "slope": -total / 100.0}
        cfg["name"] = f"truth-{self.shape}"
        return config_from_dict(cfg)

    def probability(self, frame: pd.DataFrame) -> np.ndarray:
        """True churn probability of each row."""
        return HealthScorer(self.as_config()).score(frame, trend=False)[
            "churn_probability"].to_numpy()


@dataclass
class CurvedBook:
    """The snapshot table, the truth that labelled it and the analyst's linear config."""

    frame: pd.DataFrame
    truth: CurvedTruth
    config: Config = field(repr=False)
    horizon_days: int = 30


def _raw(z: np.ndarray) -> dict[str, np.ndarray]:
    """Raw metric values from latent normals ``z`` (columns in metric order), with
    distributions that put each curve's bend well inside the data."""
    from scipy.special import ndtr   # synth is not the light scoring path

    q = ndtr(z)
    return {
        "logins_30d": np.round(np.exp(np.log(10.0) + 0.9 * z[:, 0])),
        "seat_utilization": np.clip(q[:, 1] ** 1.3, 0.0, 1.0),
        "days_since_touch": np.round(-45.0 * np.log1p(-np.clip(q[:, 2], 0, 0.999))),
        "open_tickets": np.round(-4.0 * np.log1p(-np.clip(q[:, 3], 0, 0.999))),
        "nps": np.round(-100 + 200 * q[:, 4]),
        "csat": np.round(1 + 4 * q[:, 5], 1),
    }


def make_curved_book(n_accounts: int = 3000, months: int = 12, *, seed: int = 0,
                     shape: str = "curved", base_rate: float = 0.08,
                     start: str = "2024-01-01", missing_rate: float = 0.02) -> CurvedBook:
    """A monthly book (stage ``all``) whose churn follows :class:`CurvedTruth`.

    Accounts join at random months (some before the first snapshot), leave after churning,
    and carry a persistent habit per metric that drifts month to month (AR(1), 0.8), so an
    account's snapshots resemble each other. The last month is censored.

    Parameters
    ----------
    n_accounts : int
    months : int
        Monthly snapshots from ``start``.
    seed : int
        Same seed, same frame.
    shape : {"curved", "linear"}
        "linear": every true curve is the configured linear transform.
    base_rate : float
        Mean monthly churn probability (the intercept is solved on a fixed pilot sample).
    missing_rate : float
        Share of metric values left empty, at random.
    """
    if shape not in ("curved", "linear"):
        raise HScoreError(f"shape: use 'curved' or 'linear', got {shape!r}")
    config = curved_config()
    names = list(_METRICS)
    linear = {m: {"kind": "linear", "lo": lo, "hi": hi}
              for m, (_, lo, hi, _) in _METRICS.items()}
    transforms = {m: (linear[m] if shape == "linear" or m in ("nps", "csat")
                      else {"kind": "piecewise", "points": _true_points(m)}) for m in names}
    truth = CurvedTruth(shape, 0.0, dict(CURVED_STRENGTH), transforms)
    b = np.array([CURVED_STRENGTH[m] for m in names])

    def curves(raw: dict[str, np.ndarray]) -> np.ndarray:
        return np.column_stack([truth.curve(m, raw[m]) for m in names]) / 100.0

    pilot_rng = np.random.default_rng(20240101)
    pilot = curves(_raw(pilot_rng.standard_normal((20000, len(names)))))
    eta = pilot @ b
    a = float(np.log(base_rate / (1 - base_rate)) + eta.mean())
    for _ in range(50):     # Newton on the mean probability
        p = 1 / (1 + np.exp(-(a - eta)))
        a -= (p.mean() - base_rate) / (p * (1 - p)).mean()
    truth.intercept = a

    rng = np.random.default_rng(seed)
    dates = pd.date_range(pd.Timestamp(start), periods=months, freq="MS")
    joined = rng.integers(-months, months, n_accounts)
    z = rng.standard_normal((n_accounts, len(names)))
    rows = []
    alive = np.ones(n_accounts, dtype=bool)
    for t, date in enumerate(dates):
        z = 0.8 * z + 0.6 * rng.standard_normal(z.shape)
        here = np.flatnonzero(alive & (joined <= t))
        raw = _raw(z[here])
        p = 1 / (1 + np.exp(-(a - curves(raw) @ b)))
        churned = (rng.random(len(here)) < p).astype(float)
        if t == months - 1:
            churned[:] = np.nan     # label window not over
        alive[here[churned == 1]] = False
        block = pd.DataFrame({"account_id": [f"K-{i:05d}" for i in here],
                              "snapshot_date": date, "churned": churned})
        for m in names:
            x = raw[m].astype(np.float64)
            x[rng.random(len(x)) < missing_rate] = np.nan
            block[m] = x
        rows.append(block)
    frame = pd.concat(rows, ignore_index=True)
    return CurvedBook(frame, truth, config)

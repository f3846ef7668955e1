"""Learned monotone transforms: per metric, a ``piecewise`` curve where the data bend.

A straight ``linear`` transform says every extra login is worth as much as the first; when
the churn effect saturates (or only starts past a threshold), the weighted sum of straight
sub-scores cannot follow it. For each metric of a cell this module learns a monotone
piecewise-linear sub-score curve from the training rows:

1. quantile bins of the measured raw values (about 15 churn events per bin, at most
   ``max_bins``), each bin's churn rate smoothed toward the base rate;
2. an isotonic fit of ``-logit(churn rate)`` on the bin means, in the metric's direction
   (the fit is additive in log-odds, as the calibration's model is);
3. rescaled to 0-100 (the least healthy bin 0, the healthiest 100) with knots at the bin
   means; flat runs collapse to their ends, so a saturating curve keeps few knots.

Missing values stay missing: the config's ``missing`` rule treats them as before.

Whether the learned curve replaces the configured transform is decided per metric by
account-grouped cross-validation: in each fold the curves are learned on the training
folds only, the sign-constrained logistic model of the cell is fitted with the metric's
configured sub-score and with its learned one (the other metrics as configured), and the
held-out log-likelihoods are compared. The curve is taken when its summed held-out gain
(in nats) exceeds ``penalty`` nats per knot beyond the two a straight line has.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> x = rng.uniform(0, 40, 6000)
>>> p = 1 / (1 + np.exp(-(-1.0 - 3.0 * (1 - np.exp(-x / 5)))))   # saturates by x ~ 15
>>> y = (rng.uniform(size=x.size) < p).astype(float)
>>> t, bins = learn_piecewise(x, y, "higher_is_better")
>>> t.points[0][1], t.points[-1][1]
(0.0, 100.0)
>>> bool(t.points[-1][0] < 30)           # flat beyond the saturation: no knot up there
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hscore.calibration.shrinkage import fit_logistic
from hscore.config import Config, Metric, PiecewiseTransform, config_from_dict
from hscore.scoring.transforms import subscore

__all__ = ["TransformChoice", "learn_piecewise", "choose_transforms", "learn_transforms",
           "learn_for_holdout", "choice_table",
           "DEFAULT_PENALTY", "EVENTS_PER_BIN"]

#: Nats of held-out log-likelihood a learned curve must gain per knot beyond two.
DEFAULT_PENALTY = 1.0
#: Churn events per bin aimed at (fewer bins on thin data).
EVENTS_PER_BIN = 15
#: A cell with fewer churn events in training keeps its transforms.
MIN_EVENTS = 2 * EVENTS_PER_BIN
#: Pseudo-rows at the base rate that smooth each bin's churn rate.
_PRIOR_ROWS = 10.0


@dataclass(frozen=True)
class TransformChoice:
    """What cross-validation chose for one metric of one cell.

    ``chosen`` is ``"piecewise"`` (the learned curve replaces the configured transform) or
    ``"configured"``; ``cv_gain`` is the held-out log-likelihood gain of the learned curve
    over the configured transform summed over folds (nats), ``penalty`` what its extra
    knots cost; ``transform`` the curve learned on every training row (None when none
    could be learned); ``bins`` the training rows' churn rate per bin, for plots.
    """

    stage: str
    metric: str
    direction: str
    configured: str
    chosen: str
    cv_gain: float
    penalty: float
    reason: str
    transform: PiecewiseTransform | None = None
    bins: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    @property
    def knots(self) -> int:
        return 0 if self.transform is None else len(self.transform.points)

    def line(self) -> str:
        """One line: ``stage.metric: piecewise (5 knots), CV gain 12.3 nats > penalty 3``."""
        return f"{self.stage}.{self.metric}: {self.chosen} ({self.reason})"


def _bins(x: np.ndarray, y: np.ndarray, max_bins: int) -> np.ndarray:
    """Bin index of each value: quantile bins with about :data:`EVENTS_PER_BIN` events."""
    n_bins = int(np.clip(y.sum() // EVENTS_PER_BIN, 2, max_bins))
    edges = np.unique(np.quantile(x, np.linspace(0, 1, n_bins + 1)[1:-1]))
    return np.searchsorted(edges, x, side="right")


def learn_piecewise(x, y, direction: str, *, max_bins: int = 10,
                    base_rate: float | None = None
                    ) -> tuple[PiecewiseTransform | None, pd.DataFrame]:
    """A monotone 0-100 sub-score curve of raw values ``x`` from churn labels ``y``.

    Parameters
    ----------
    x, y : array_like
        Raw values (NaN: not measured, left out) and 0/1 labels.
    direction : {"higher_is_better", "lower_is_better"}
    max_bins : int, default 10
    base_rate : float, optional
        The rate bins are smoothed toward; default the mean of ``y``.

    Returns
    -------
    transform : PiecewiseTransform or None
        None when the curve is flat (the isotonic fit finds no effect) or fewer than two
        distinct values are measured.
    bins : DataFrame
        Per bin: ``x_lo``, ``x_hi``, ``x`` (mean), ``rows``, ``events``, ``churn_rate``
        (raw) and ``subscore`` (the curve at ``x``).
    """
    from sklearn.isotonic import IsotonicRegression

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    seen = ~np.isnan(x)
    x, y = x[seen], y[seen]
    empty = pd.DataFrame(columns=["x_lo", "x_hi", "x", "rows", "events", "churn_rate",
                                  "subscore"])
    if len(np.unique(x)) < 2 or y.sum() == 0 or y.sum() == len(y):
        return None, empty
    rate = float(y.mean()) if base_rate is None else float(base_rate)
    b = _bins(x, y, max_bins)
    frame = pd.DataFrame({"b": b, "x": x, "y": y}).groupby("b").agg(
        x_lo=("x", "min"), x_hi=("x", "max"), x=("x", "mean"), rows=("y", "size"),
        events=("y", "sum"))
    frame["churn_rate"] = frame["events"] / frame["rows"]
    smoothed = (frame["events"] + _PRIOR_ROWS * rate) / (frame["rows"] + _PRIOR_ROWS)
    health = -np.log(smoothed / (1 - smoothed)).to_numpy()
    fitted = IsotonicRegression(increasing=direction == "higher_is_better").fit_transform(
        frame["x"].to_numpy(), health, sample_weight=frame["rows"].to_numpy())
    lo, hi = fitted.min(), fitted.max()
    if not hi - lo > 1e-9:
        frame["subscore"] = np.nan
        return None, frame.reset_index(drop=True)
    sub = 100.0 * (fitted - lo) / (hi - lo)
    frame["subscore"] = sub
    points = _knots(frame["x"].to_numpy(), sub)
    if len(points) < 2:
        return None, frame.reset_index(drop=True)
    return (PiecewiseTransform(kind="piecewise", points=points),
            frame.reset_index(drop=True))


def _knots(xs: np.ndarray, ys: np.ndarray) -> list[list[float]]:
    """Readable knots: x to 4 significant digits, sub-scores to 0.1, and each flat run
    reduced to its two ends (the outer runs to their inner end: flat outside anyway)."""
    xs = np.array([float(f"{v:.4g}") for v in xs])
    ys = np.round(ys, 1)
    keep = np.r_[True, np.diff(xs) > 0]       # rounding may merge neighbouring bin means
    xs, ys = xs[keep], ys[keep]
    out: list[list[float]] = []
    for i in range(len(xs)):
        same_before = i > 0 and ys[i] == ys[i - 1]
        same_after = i < len(xs) - 1 and ys[i] == ys[i + 1]
        if same_before and (same_after or i == len(xs) - 1):
            continue                          # inside a flat run, or the flat tail
        if same_after and i == 0:
            continue                          # the flat head: its inner end is kept
        out.append([float(xs[i]), float(ys[i])])
    return out


def _heldout_loglik(X: np.ndarray, y: np.ndarray, tr: np.ndarray, te: np.ndarray) -> float:
    fit = fit_logistic(X[tr], y[tr])
    eta = fit.a - X[te] @ fit.b
    return -float(np.sum(np.logaddexp(0.0, eta) - y[te] * eta))


def choose_transforms(X: np.ndarray, measured: np.ndarray, raw: np.ndarray, y: np.ndarray,
                      groups: np.ndarray, metrics: list[str], specs: list[Metric], stage: str,
                      *, cv_folds: int = 5, penalty: float = DEFAULT_PENALTY,
                      max_bins: int = 10) -> list[TransformChoice]:
    """Per metric, learned curve or configured transform, by account-grouped CV.

    ``X`` holds the configured sub-scores / 100 with missing values filled (a calibration
    design), ``raw`` the raw values the transforms read (per-seat already divided),
    ``measured`` where they were measured; rows are training rows in canonical order.
    """
    from sklearn.model_selection import GroupKFold

    m = len(metrics)
    eligible = [spec.transform.kind != "boolean" and len(np.unique(raw[measured[:, j], j])) > 2
                for j, spec in enumerate(specs)]
    gain = np.zeros(m)
    failed = np.zeros(m, dtype=bool)
    n_folds = min(cv_folds, len(np.unique(groups)))
    base_rate = float(y.mean())
    for tr, te in GroupKFold(n_splits=n_folds).split(X, y, groups):
        base = _heldout_loglik(X, y, tr, te)
        for j in np.flatnonzero(eligible):
            t, _ = learn_piecewise(raw[tr, j], y[tr], specs[j].direction, max_bins=max_bins,
                                   base_rate=base_rate)
            if t is None:
                failed[j] = True
                continue
            Xj = X.copy()
            seen = measured[:, j]
            Xj[seen, j] = subscore(t, specs[j].direction, raw[seen, j]) / 100.0
            gain[j] += _heldout_loglik(Xj, y, tr, te) - base
    choices = []
    for j, (name, spec) in enumerate(zip(metrics, specs)):
        kind = spec.transform.kind
        if not eligible[j]:
            why = ("a 0/1 metric has nothing to bend" if kind == "boolean" else
                   "fewer than three distinct values measured")
            choices.append(TransformChoice(stage, name, spec.direction, kind, "configured",
                                           math.nan, math.nan, why))
            continue
        t, bins = learn_piecewise(raw[measured[:, j], j], y[measured[:, j]], spec.direction,
                                  max_bins=max_bins, base_rate=base_rate)
        if t is None or failed[j]:
            choices.append(TransformChoice(stage, name, spec.direction, kind, "configured",
                                           float(gain[j]), math.nan,
                                           "no monotone effect found to learn", None, bins))
            continue
        cost = penalty * max(len(t.points) - 2, 0)
        take = gain[j] > cost
        why = (f"{len(t.points)} knots; CV gain {gain[j]:.1f} nats "
               f"{'>' if take else '<='} penalty {cost:g}")
        choices.append(TransformChoice(stage, name, spec.direction, kind,
                                       "piecewise" if take else "configured",
                                       float(gain[j]), cost, why, t, bins))
    return choices


def learn_transforms(config: Config, designs, raw_values, splits, *, cv_folds: int = 5,
                     penalty: float = DEFAULT_PENALTY
                     ) -> tuple[Config, tuple[TransformChoice, ...]]:
    """The config with each cell's chosen learned curves, and every choice.

    ``designs`` maps cell key to its design (:func:`~hscore.calibration.design.build_designs`),
    ``raw_values(design)`` gives the (rows x metrics) raw values the transforms read and
    ``splits[key]`` the cell's training mask: curves are learned on training rows only,
    so the holdout stays unseen.
    """
    data = config.to_dict()
    choices: list[TransformChoice] = []
    for key, d in designs.items():
        train = splits[key]
        stage = config.weights_of(d.cell)
        specs = [stage.components[stage.component_of(mname)].metrics[mname]
                 for mname in d.layout.metrics]
        events = int(d.y[train].sum())
        if events < MIN_EVENTS or len(np.unique(d.groups[train])) < 2:
            choices += [TransformChoice(d.cell.stage, m, spec.direction, spec.transform.kind,
                                        "configured", math.nan, math.nan,
                                        f"only {events} churn events in training (fewer than "
                                        f"{MIN_EVENTS}): nothing learned")
                        for m, spec in zip(d.layout.metrics, specs)]
            continue
        cell_choices = choose_transforms(
            d.X[train], d.measured[train], raw_values(d)[train], d.y[train], d.groups[train],
            list(d.layout.metrics), specs, d.cell.stage, cv_folds=cv_folds, penalty=penalty)
        comps = data["stages"][d.cell.stage]["components"]
        for c in cell_choices:
            if c.chosen == "piecewise":
                comps[stage.component_of(c.metric)]["metrics"][c.metric]["transform"] = \
                    c.transform.model_dump(mode="python")
        choices += cell_choices
    return config_from_dict(data), tuple(choices)


def learn_for_holdout(config: Config, dset, holdout, cv_folds: int = 5,
                      penalty: float = DEFAULT_PENALTY
                      ) -> tuple[Config, tuple[TransformChoice, ...]]:
    """:func:`learn_transforms` on the training rows of ``holdout`` (a
    :class:`~hscore.calibration.split.Holdout`) of a :class:`~hscore.calibration.design.DesignSet`."""
    checked = dset.checked
    ids = checked.frame["account_id"].to_numpy()

    def raw_values(d) -> np.ndarray:
        cols = []
        stage = config.weights_of(d.cell)
        for mname in d.layout.metrics:
            x = checked.metrics[mname][d.rows].astype(np.float64)
            if stage.components[stage.component_of(mname)].metrics[mname].per_seat:
                with np.errstate(divide="ignore", invalid="ignore"):
                    x = x / checked.seats[d.rows]
            cols.append(x)
        return np.column_stack(cols)

    # A stage's design holds all its rows, its segments' included, and transforms belong to
    # the stage: learn once per stage, never again per segment.
    designs = {key: d for key, d in dset.designs.items() if d.cell.segment is None}
    splits = {key: holdout.split(d.days, ids[d.rows]).train for key, d in designs.items()}
    return learn_transforms(config, designs, raw_values, splits, cv_folds=cv_folds,
                            penalty=penalty)


def choice_table(choices) -> pd.DataFrame:
    """One row per (stage, metric): configured kind, chosen, CV gain, penalty, knots."""
    return pd.DataFrame([{"stage": c.stage, "metric": c.metric, "configured": c.configured,
                          "chosen": c.chosen, "cv_gain": c.cv_gain, "penalty": c.penalty,
                          "knots": c.knots if c.chosen == "piecewise" else None,
                          "points": (c.transform.points if c.chosen == "piecewise" else None)}
                         for c in choices],
                        columns=["stage", "metric", "configured", "chosen", "cv_gain",
                                 "penalty", "knots", "points"])

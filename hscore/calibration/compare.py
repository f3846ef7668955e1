"""Is signal A more predictive of churn than signal B in one stage?

The seeds' question ("you may find that product usage rate is a far more
predictive indicator than NPS ... 85% of churned customers had a low usage
rate, only 40% a low CSM pulse") answered with the evidence an analyst can
defend. A signal is a metric's sub-score or a component's score (0-100,
higher = healthier) in one stage of a config. :func:`compare` reports

- a **lift table**: the share of churned and of retained snapshots whose
  signal lies in the at-risk range (below the config's ``bands.at_risk``),
  the churn rate inside and outside that range, and the lift; and the same
  shares of accounts, each read at the snapshot it churned in (or its latest);
- **univariate AUCs**: how well each signal alone ranks churned above
  retained snapshots (risk = -signal);
- the **joint logistic model** ``logit P(churn) = c + beta_a z_a + beta_b z_b``
  on the standardized signals (statsmodels ``Logit``), with a **Wald test**
  of ``beta_a = beta_b`` and a **likelihood-ratio test** for dropping each;
- a **paired account bootstrap** of ``AUC_a - AUC_b``: whole accounts are
  resampled (all their snapshots together) and both AUCs are computed on the
  same resample; the percentile CI decides the verdict.

Rows with an unknown label (``churned`` empty: censored) and rows where a
signal was not measured are left out and counted. A metric's signal is its
sub-score where it was measured; a component's signal is the component
score the scorer computes under the config's ``missing`` rule (under
``reweight`` it is missing only when none of the component's metrics was).

Examples
--------
>>> import numpy as np, pandas as pd
>>> from hscore import load_config
>>> rng = np.random.default_rng(0)
>>> n = 4000
>>> frame = pd.DataFrame({"account_id": [f"a{i}" for i in range(n)],
...                       "snapshot_date": "2025-01-01", "stage": "maturity", "seats": 10})
>>> for metric in load_config("lifecycle").stages["maturity"].metric_names:
...     frame[metric] = np.nan                               # not measured
>>> frame["csm_pulse"] = rng.integers(1, 6, n).astype(float)            # 1-5
>>> frame["feature_adoption_rate"] = rng.uniform(0, 100, n)              # 0-100
>>> eta = 1.0 - 0.05 * frame["feature_adoption_rate"] - 0.1 * frame["csm_pulse"]
>>> frame["churned"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
>>> result = compare(frame, "lifecycle", "maturity", "feature_adoption_rate", "csm_pulse",
...                  n_bootstrap=200)
>>> bool(result.delta_auc_ci[0] > 0)
True
>>> result.verdict.startswith("In stage 'maturity', feature_adoption_rate is more predictive")
True
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hscore.config import Cell, Config, load_config
from hscore.calibration.design import account_ranks, canonical_order, labels
from hscore.errors import DataError, HScoreError, HScoreWarning
from hscore.calibration.evaluation import auc, with_single_threaded_blas
from hscore.calibration.evidence import (NO_EVIDENCE, deciding_snapshots, lift_table,
                                         logit_tests, paired_delta_auc,
                                         verdict_sentence)
from hscore.calibration.validation import (HORIZON, Integral, Interval, Real,
                                           bootstrap_count, horizon_line, resolve_horizon,
                                           validate_params)
from hscore import progress
from hscore.display import ResultDisplay, Section
from hscore.scoring.scorer import HealthScorer

__all__ = ["compare", "ComparisonResult", "ComparisonWarning", "NO_EVIDENCE"]


#: What the settings of :func:`compare` may be (a CI from fewer than 10 resamples is noise).
_PARAMETER_CONSTRAINTS = {
    "n_bootstrap": [bootstrap_count(10)],
    "seed": [Interval(Integral, 0, None)],
    "horizon_days": [None, HORIZON],
    "alpha": [Interval(Real, 0, 1, closed="neither")],
}


class ComparisonWarning(HScoreWarning):
    """Something that weakens a comparison (separation, a signal running backwards...)."""


@dataclass(frozen=True)
class ComparisonResult(ResultDisplay):
    """The evidence on whether signal ``a`` predicts churn better than signal ``b``.

    Attributes
    ----------
    stage, a, b : str
        The stage and the two signals compared.
    kinds : dict[str, str]
        ``"metric"`` or ``"component"`` for each signal.
    lift : DataFrame
        Per signal (index): ``at_risk_below`` (the band threshold, points), ``churned_at_risk``
        and ``retained_at_risk`` (share of churned / retained snapshots in the at-risk range),
        ``churned_n``/``retained_n`` (those snapshots counted), ``churn_rate_at_risk``,
        ``churn_rate_otherwise`` and ``lift`` (churn rate in the range / overall churn rate);
        ``churned_accounts_at_risk`` / ``retained_accounts_at_risk`` (the same shares of
        accounts, each read at the snapshot it churned in, else its latest) and
        ``churned_accounts`` / ``retained_accounts``.
    auc : dict[str, float]
        Univariate AUC of each signal (risk = -signal; 0.5 = no better than chance).
    joint : DataFrame
        The joint statsmodels ``Logit`` of churn on the standardized signals (z = (x - mean) /
        std, population std), in the calibration's sign (``logit P = const - sum coef z``):
        ``coef`` is the drop in churn log-odds per standard deviation of the signal
        (positive = protective; statsmodels' coefficient with the sign flipped), ``se``,
        ``z``, ``p``, ``ci_low``, ``ci_high``; rows ``const``, ``a``, ``b`` (by name).
    wald : dict
        Test of equal standardized coefficients: ``statistic`` (chi2), ``df`` (1), ``p_value``,
        ``difference`` (coef_a - coef_b, in the same sign).
    likelihood_ratio : DataFrame
        Per signal dropped from the joint model: ``statistic`` = 2 (llf_joint - llf_without),
        ``df`` (1), ``p_value``.
    delta_auc : float
        ``auc[a] - auc[b]`` on all rows.
    delta_auc_ci : tuple[float, float]
        Percentile CI (level ``1 - alpha``) of the paired account bootstrap.
    delta_auc_boot : ndarray
        The bootstrap replicates of the difference.
    verdict : str
        One sentence; says "no evidence of a difference" when the CI covers 0.
    n_rows, n_accounts, n_events : int
        Snapshots, accounts and churn events used.
    n_censored, n_unmeasured : int
        Stage rows left out: label unknown; a or b not measured (among labelled rows).
    horizon_days : int or None
        The label horizon the labels are read with (for the text only).
    config_horizon_days : int or None
        The config's ``label_horizon_days`` (the first line says where the horizon came from).
    alpha, n_bootstrap, seed
        The settings used.
    warnings : list[str]
        Notes on anything that weakens the comparison.
    """

    stage: str
    a: str
    b: str
    kinds: dict[str, str]
    lift: pd.DataFrame
    auc: dict[str, float]
    joint: pd.DataFrame
    wald: dict
    likelihood_ratio: pd.DataFrame
    delta_auc: float
    delta_auc_ci: tuple[float, float]
    delta_auc_boot: np.ndarray = field(repr=False)
    verdict: str
    n_rows: int
    n_accounts: int
    n_events: int
    n_censored: int
    n_unmeasured: int
    horizon_days: int | None
    alpha: float
    n_bootstrap: int
    seed: int
    config_name: str = ""
    warnings: list[str] = field(default_factory=list)
    config_horizon_days: int | None = None
    segment: str | None = None

    @property
    def where(self) -> str:
        """The rows compared: ``stage 'maturity'`` or ``stage 'maturity', segment 'enterprise'``."""
        return _where(self.stage, self.segment)

    @property
    def ci_covers_zero(self) -> bool:
        lo, hi = self.delta_auc_ci
        return not (lo > 0 or hi < 0)

    # ----------------------------------------------------------- tables
    def summary(self) -> pd.DataFrame:
        """One row per signal: kind, at-risk shares and lift, AUC, the joint model's
        standardized coefficient (``coef_per_sd``: drop in churn log-odds per standard
        deviation, positive = protective) with SE, z and p, and the likelihood-ratio test for
        dropping it."""
        rows = []
        for name in (self.a, self.b):
            lift = self.lift.loc[name]
            coef = self.joint.loc[name]
            lr = self.likelihood_ratio.loc[name]
            rows.append({"signal": name, "kind": self.kinds[name],
                         "churned_at_risk": lift["churned_at_risk"],
                         "retained_at_risk": lift["retained_at_risk"], "lift": lift["lift"],
                         "auc": self.auc[name], "coef_per_sd": coef["coef"], "se": coef["se"],
                         "z": coef["z"], "p": coef["p"], "lr_drop": lr["statistic"],
                         "lr_p": lr["p_value"]})
        return pd.DataFrame(rows).set_index("signal")

    def tests(self) -> pd.DataFrame:
        """The comparison tests, one row each: the Wald test of equal standardized coefficients,
        the two likelihood-ratio tests and the bootstrap ΔAUC with its CI."""
        level = f"{100 * (1 - self.alpha):g}%"
        lo, hi = self.delta_auc_ci
        rows = [
            {"test": f"wald: coef[{self.a}] = coef[{self.b}]",
             "estimate": self.wald["difference"], "statistic": self.wald["statistic"],
             "df": self.wald["df"], "p_value": self.wald["p_value"],
             "ci_low": np.nan, "ci_high": np.nan},
        ]
        for name in (self.a, self.b):
            lr = self.likelihood_ratio.loc[name]
            rows.append({"test": f"likelihood ratio: drop {name}", "estimate": np.nan,
                         "statistic": lr["statistic"], "df": lr["df"], "p_value": lr["p_value"],
                         "ci_low": np.nan, "ci_high": np.nan})
        rows.append({"test": f"bootstrap AUC[{self.a}] - AUC[{self.b}] ({level} CI, "
                             f"{self.n_bootstrap} account resamples)",
                     "estimate": self.delta_auc, "statistic": np.nan, "df": np.nan,
                     "p_value": np.nan, "ci_low": lo, "ci_high": hi})
        return pd.DataFrame(rows).set_index("test")

    # ---------------------------------------------------------- display
    @property
    def horizon_line(self) -> str:
        """What ``churned`` means here: the first line of the summary."""
        return horizon_line(self.horizon_days, self.config_name, self.config_horizon_days)

    def _header(self) -> str:
        cfg = f" of '{self.config_name}'" if self.config_name else ""
        return (f"{self.horizon_line}\n"
                f"compare {self.a} ({self.kinds[self.a]}) vs {self.b} ({self.kinds[self.b]}) "
                f"in {self.where}{cfg}: {self.n_rows} snapshots of "
                f"{self.n_accounts} accounts, {self.n_events} churn events; left out: "
                f"{self.n_censored} censored, {self.n_unmeasured} not measured")

    def _lift_lines(self) -> list[str]:
        lines = []
        for name in (self.a, self.b):
            r = self.lift.loc[name]
            lines.append(f"  {name}: {r['churned_at_risk']:.0%} of churned vs "
                         f"{r['retained_at_risk']:.0%} of retained snapshots below "
                         f"{r['at_risk_below']:g} points (lift {r['lift']:.2f})")
            lines.append(f"  {' ' * len(name)}  {r['churned_accounts_at_risk']:.0%} of "
                         f"{int(r['churned_accounts'])} churned vs "
                         f"{r['retained_accounts_at_risk']:.0%} of {int(r['retained_accounts'])}"
                         " retained accounts (each at the snapshot it churned in, else its "
                         "latest)")
        return lines

    def _sections(self) -> list[Section]:
        return [Section("at-risk range (sub-score below the at_risk band)",
                        lines=self._lift_lines()),
                Section(None, self.summary(), index=True),
                Section(None, self.tests(), index=True)]

    def _footer(self) -> list[str]:
        return [f"verdict: {self.verdict}"]

    def _warnings(self) -> list[str]:
        return list(self.warnings)

    def __repr__(self) -> str:
        lo, hi = self.delta_auc_ci
        return (f"ComparisonResult(stage={self.stage!r}, a={self.a!r}, b={self.b!r}, "
                f"auc=({self.auc[self.a]:.3f}, {self.auc[self.b]:.3f}), "
                f"delta_auc={self.delta_auc:+.3f} [{lo:+.3f}, {hi:+.3f}], "
                f"verdict={self.verdict!r})")


# ---------------------------------------------------------------- inputs
def _resolve(config: Config, stage: str, field_name: str, name) -> str:
    """'metric' or 'component' for ``name`` in ``stage``; a clear error otherwise."""
    st = config.stages[stage]
    if not isinstance(name, str) or not name:
        raise HScoreError(f"{field_name}: expected a metric or component name of stage "
                          f"'{stage}', got {name!r}")
    is_metric = name in st.metric_names
    is_component = name in st.components
    if is_metric and is_component:
        raise HScoreError(f"{field_name}: '{name}' is both a metric and a component of stage "
                          f"'{stage}'; rename one in the config to compare it")
    if not (is_metric or is_component):
        raise HScoreError(
            f"{field_name}: '{name}' is neither a metric nor a component of stage '{stage}' "
            f"(components: {', '.join(st.components)}; metrics: {', '.join(st.metric_names)})")
    return "metric" if is_metric else "component"


def _where(stage: str, segment: str | None) -> str:
    return f"stage '{stage}'" + ("" if segment is None else f", segment '{segment}'")


def _segment_rows(checked, stage: str, segment: str, rows: np.ndarray) -> np.ndarray:
    """(len(rows),) bool: which of the stage's ``rows`` have ``segment``; an error naming the
    column when there is no segment column or no such row."""
    frame = checked.frame
    if "segment" not in frame.columns:
        raise DataError("segment", f"required column is missing: comparing in segment "
                                   f"'{segment}' needs each row's segment", len(rows))
    mine = (frame["segment"].to_numpy(dtype=object)[rows] == segment)
    if not mine.any():
        seen = sorted({str(v) for v in frame["segment"].to_numpy(dtype=object)[rows]
                       if isinstance(v, str)})
        raise DataError("segment", f"no rows of stage '{stage}' have segment '{segment}' "
                                   f"(its segments in the data: {', '.join(seen) or 'none'})",
                        len(rows))
    return mine


def _signals(scorer: HealthScorer, checked, stage: str, names: list[str],
             kinds: dict[str, str], segment: str | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the stage (and segment) and (rows, 2) signals in points, NaN where not
    measured. A component's score uses the segment's weights when the stage has them."""
    sub = scorer.subscores(checked, stages=[stage])[stage]
    rows, values, cell = sub.rows, sub.values, stage
    if segment is not None:
        mine = _segment_rows(checked, stage, segment, rows)
        rows, values = rows[mine], values[mine]
        if segment in (scorer.config.stages[stage].segments or {}):
            cell = Cell(stage, segment).key
    parts = None
    out = np.empty((len(rows), len(names)))
    for j, name in enumerate(names):
        if kinds[name] == "metric":
            out[:, j] = values[:, sub.metrics.index(name)]
        else:
            if parts is None:
                parts = scorer.combine(cell, values)
            ci = list(scorer.config.stages[stage].components).index(name)
            out[:, j] = parts["components"][:, ci]
    return rows, out


# ------------------------------------------------------------------- api
@with_single_threaded_blas
def compare(frame: pd.DataFrame, config, stage: str, a: str, b: str, *, n_bootstrap: int = 500,
            seed: int = 0, horizon_days: int | None = None,
            alpha: float = 0.05, segment: str | None = None) -> ComparisonResult:
    """Compare how well two metrics or components of a stage predict churn.

    Parameters
    ----------
    frame : DataFrame
        Snapshot table (see the data contract) with a ``churned`` column.
    config : Config, str or path
        The config whose transforms (and, for components, weights) turn raw metrics into
        signals, and whose ``bands.at_risk`` defines the at-risk range.
    stage : str
        A stage of ``config``.
    a, b : str
        Two different metric or component names of ``stage``.
    n_bootstrap : int, default 500
        Paired account-bootstrap resamples for the ΔAUC CI.
    seed : int, default 0
    horizon_days : int, optional
        The label horizon (default: the config's ``label_horizon_days``); used in the text.
    alpha : float, default 0.05
        The CI has level ``1 - alpha``.
    segment : str, optional
        Compare on the stage's rows whose ``segment`` column has this value only; a
        component's score then uses the segment's weights when the stage declares them.

    Returns
    -------
    ComparisonResult

    Raises
    ------
    HScoreError
        Unknown stage, a name that is not a metric or component of the stage, ``a == b``,
        bad settings.
    DataError
        No ``churned`` column, labels that are not 0/1, no churn events (or no retained rows)
        in the stage, a signal that is constant.
    """
    cfg = load_config(config)
    if not isinstance(stage, str) or stage not in cfg.stages:
        raise HScoreError(f"stage: {stage!r} is not a stage of config '{cfg.name}' "
                          f"(stages: {', '.join(cfg.stages)})")
    kinds_a = _resolve(cfg, stage, "a", a)
    kinds_b = _resolve(cfg, stage, "b", b)
    if a == b:
        raise HScoreError(f"a, b: both name '{a}'; compare two different metrics or components")
    kinds = {a: kinds_a, b: kinds_b}
    if segment is not None and (not isinstance(segment, str) or not segment):
        raise HScoreError(f"segment: expected a segment name (text), got {segment!r}")
    validate_params({"n_bootstrap": n_bootstrap, "seed": seed, "horizon_days": horizon_days,
                     "alpha": alpha}, _PARAMETER_CONSTRAINTS)
    horizon = resolve_horizon(horizon_days, cfg.label_horizon_days, required=False)
    if isinstance(frame, pd.DataFrame) and "churned" not in frame.columns:
        raise DataError("churned", "required column is missing: compare needs churn labels "
                                   "(1 = churned within the label horizon, 0 = retained, "
                                   "empty = not yet known)")

    with progress.current().phase("design"):
        scorer = HealthScorer(cfg)
        checked = scorer.check(frame)
        y_all = labels(frame)
        if stage not in checked.stages or not (checked.stage_codes
                                               == checked.stages.index(stage)).any():
            raise DataError("stage", f"no rows of stage '{stage}' in the data")
        names = [a, b]
        rows, signals = _signals(scorer, checked, stage, names, kinds, segment)
        y = y_all[rows]
        labelled = ~np.isnan(y)
        n_censored = int((~labelled).sum())
        measured = ~np.isnan(signals).any(axis=1)
        n_unmeasured = int((labelled & ~measured).sum())
        keep = labelled & measured
        # Canonical (account, date) order: the paired resamples do not depend on the file's order.
        ranks = account_ranks(checked)
        keep = np.flatnonzero(keep)
        keep = keep[canonical_order(ranks, checked.days, rows[keep])]
        y, signals, rows = y[keep], signals[keep], rows[keep]
        groups = ranks[rows]

    n_events = int(y.sum())
    where = _where(stage, segment)
    if len(y) == 0:
        raise DataError("churned", f"no row of {where} has both a known label and "
                                   f"measured {a} and {b}", n_censored + n_unmeasured)
    if n_events == 0:
        raise DataError("churned", f"no churn events in {where} among the rows with "
                                   f"measured {a} and {b}: nothing to compare",
                        len(y), list(frame["account_id"].to_numpy()[rows[:3]]))
    if n_events == len(y):
        raise DataError("churned", f"every row of {where} churned: nothing to compare",
                        len(y), list(frame["account_id"].to_numpy()[rows[:3]]))
    for j, name in enumerate(names):
        if np.ptp(signals[:, j]) == 0:
            raise DataError(name, f"the {kinds[name]}'s signal is constant "
                                  f"({signals[0, j]:g} points) on the {len(y)} compared rows of "
                                  f"{where}: it cannot predict anything")

    notes: list[str] = []
    with progress.current().phase("tests"):
        lift, aucs, (joint, wald, lr) = _tests(y, signals, names, groups, checked.days[rows],
                                               cfg, notes)
    deltas = paired_delta_auc(y, signals, groups, n_bootstrap, seed)   # counts on progress
    lo, hi = (float(q) for q in np.nanquantile(deltas, [alpha / 2, 1 - alpha / 2]))
    delta = aucs[a] - aucs[b]
    n_accounts = len(np.unique(groups))
    if n_accounts < 30:
        notes.append(f"only {n_accounts} accounts: the bootstrap CI is rough")
    if n_events < 20:
        notes.append(f"only {n_events} churn events in {where}: the tests have little "
                     "power")
    for note in notes:
        warnings.warn(f"compare {a} vs {b} in {where}: {note}", ComparisonWarning,
                      stacklevel=2)

    return ComparisonResult(
        stage=stage, a=a, b=b, kinds=kinds, lift=lift, auc=aucs, joint=joint, wald=wald,
        likelihood_ratio=lr, delta_auc=float(delta), delta_auc_ci=(lo, hi),
        delta_auc_boot=deltas,
        verdict=verdict_sentence(stage, a, b, aucs[a], aucs[b], delta, (lo, hi), alpha,
                                 where),
        n_rows=len(y), n_accounts=n_accounts, n_events=n_events, n_censored=n_censored,
        n_unmeasured=n_unmeasured, horizon_days=horizon, alpha=float(alpha),
        n_bootstrap=int(n_bootstrap), seed=seed, config_name=cfg.name, warnings=notes,
        config_horizon_days=cfg.label_horizon_days, segment=segment)


def _tests(y, signals, names, groups, days, cfg: Config, notes: list[str]):
    """The lift table, the univariate AUCs and the joint logit tests (notes appended)."""
    lift = lift_table(y, signals, names, cfg.bands.at_risk,
                      deciding_snapshots(y, groups, days))
    aucs = {name: auc(y, -signals[:, j]) for j, name in enumerate(names)}
    for name, value in aucs.items():
        if value < 0.5:
            notes.append(f"higher {name} goes with more churn here (AUC {value:.3f} < 0.5): it "
                         "runs against its configured direction")
    return lift, aucs, logit_tests(y, signals, names, notes)

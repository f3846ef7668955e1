"""The statistics behind :func:`~hscore.calibration.compare.compare`: at-risk lift per
snapshot and per account, the joint logistic model with its Wald and likelihood-ratio tests,
the paired account bootstrap of the AUC difference, and the verdict sentence.

Coefficients are in the calibration's sign (see :mod:`hscore.calibration.records`): the
drop in churn log-odds per standard deviation of a signal, positive = protective.

Examples
--------
>>> import numpy as np
>>> y = np.array([1.0, 0.0, 1.0, 0.0]); groups = np.array([0, 0, 1, 1])
>>> days = np.array([1, 2, 1, 2])
>>> deciding_snapshots(y, groups, days).tolist()    # the snapshot each account churned in
[0, 2]
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from hscore.calibration.evaluation import bootstrap_auc

__all__ = ["NO_EVIDENCE", "deciding_snapshots", "lift_table", "standardize", "logit_tests",
           "paired_delta_auc", "verdict_sentence"]

#: The phrase the verdict uses when the ΔAUC confidence interval covers 0.
NO_EVIDENCE = "no evidence of a difference"


def deciding_snapshots(y: np.ndarray, groups: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Per account, the position of the snapshot that decides it: the latest one it churned in,
    else its latest one. Accounts, not snapshots, are what the seeds' "85% of churned customers"
    counts; a long-lived account would otherwise count once per month."""
    order = np.lexsort((days, y, groups))            # by account, retained before churned, date
    last_of_group = np.r_[groups[order][1:] != groups[order][:-1], True]
    return order[last_of_group]


def lift_table(y: np.ndarray, signals: np.ndarray, names: list[str], at_risk_below: float,
               deciding: np.ndarray | None = None) -> pd.DataFrame:
    """Share of churned and of retained snapshots whose signal is below ``at_risk_below``,
    and, given ``deciding`` (see :func:`deciding_snapshots`), the same shares of accounts."""
    churned = y == 1
    base_rate = churned.mean()
    rows = []
    for j, name in enumerate(names):
        low = signals[:, j] < at_risk_below
        n_low, n_high = low.sum(), (~low).sum()
        rate_low = churned[low].mean() if n_low else np.nan
        rate_high = churned[~low].mean() if n_high else np.nan
        row = {"signal": name, "at_risk_below": at_risk_below,
               "churned_at_risk": (low & churned).sum() / churned.sum(),
               "retained_at_risk": (low & ~churned).sum() / (~churned).sum(),
               "churned_n": int(churned.sum()), "retained_n": int((~churned).sum()),
               "churn_rate_at_risk": rate_low, "churn_rate_otherwise": rate_high,
               "lift": rate_low / base_rate if n_low else np.nan}
        if deciding is not None:
            acc_low, acc_churned = low[deciding], churned[deciding]
            n_churned, n_retained = acc_churned.sum(), (~acc_churned).sum()
            row.update({
                "churned_accounts_at_risk": ((acc_low & acc_churned).sum() / n_churned
                                             if n_churned else np.nan),
                "retained_accounts_at_risk": ((acc_low & ~acc_churned).sum() / n_retained
                                              if n_retained else np.nan),
                "churned_accounts": int(n_churned), "retained_accounts": int(n_retained)})
        rows.append(row)
    return pd.DataFrame(rows).set_index("signal")


def standardize(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(axis=0)) / x.std(axis=0)


def logit_tests(y: np.ndarray, signals: np.ndarray, names: list[str], notes: list[str]):
    """Joint Logit on standardized signals, Wald test of equal coefficients, LR drop tests."""
    import statsmodels.api as sm
    from scipy import stats

    z = standardize(signals)
    exog = np.column_stack([np.ones(len(y)), z])
    index = ["const", *names]
    nan_joint = pd.DataFrame(np.nan, index=index,
                             columns=["coef", "se", "z", "p", "ci_low", "ci_high"])
    nan_lr = pd.DataFrame({"statistic": np.nan, "df": 1, "p_value": np.nan}, index=names)
    nan_wald = {"statistic": np.nan, "df": 1, "p_value": np.nan, "difference": np.nan}
    corr = float(np.corrcoef(signals, rowvar=False)[0, 1])
    if abs(corr) > 0.999:
        notes.append(f"'{names[0]}' and '{names[1]}' are collinear (correlation {corr:.4f}): "
                     "the joint model cannot separate them; Wald and likelihood-ratio tests "
                     "are not reported")
        return nan_joint, nan_wald, nan_lr

    def fit(cols):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = sm.Logit(y, exog[:, cols]).fit(disp=0, maxiter=200)
        for w in caught:
            text = str(w.message).lower()
            if "separation" in text or "converge" in text:
                notes.append(f"the logistic fit on {', '.join(index[c] for c in cols[1:])} did "
                             f"not settle ({' '.join(str(w.message).split())[:120]}); its "
                             "tests are unreliable")
                break
        return res

    try:
        joint = fit([0, 1, 2])
        drops = {names[0]: fit([0, 2]), names[1]: fit([0, 1])}
    except (np.linalg.LinAlgError, ValueError) as err:
        notes.append(f"the joint logistic model could not be fitted ({err}); Wald and "
                     "likelihood-ratio tests are not reported")
        return nan_joint, nan_wald, nan_lr

    # The calibration's sign: statsmodels' signal coefficients flipped (const stays).
    sign = np.array([1.0, -1.0, -1.0])
    ci = np.sort(np.asarray(joint.conf_int()) * sign[:, None], axis=1)
    params = np.asarray(joint.params) * sign
    table = pd.DataFrame({"coef": params, "se": np.asarray(joint.bse),
                          "z": np.asarray(joint.tvalues) * sign, "p": np.asarray(joint.pvalues),
                          "ci_low": ci[:, 0], "ci_high": ci[:, 1]}, index=index)
    wald = joint.wald_test(np.array([[0.0, 1.0, -1.0]]), scalar=True)
    wald_out = {"statistic": float(np.squeeze(wald.statistic)), "df": 1,
                "p_value": float(np.squeeze(wald.pvalue)),
                "difference": float(params[1] - params[2])}
    lr_rows = {}
    for name, reduced in drops.items():
        stat = max(2.0 * (joint.llf - reduced.llf), 0.0)
        lr_rows[name] = {"statistic": stat, "df": 1, "p_value": float(stats.chi2.sf(stat, 1))}
    return table, wald_out, pd.DataFrame.from_dict(lr_rows, orient="index")


def paired_delta_auc(y: np.ndarray, signals: np.ndarray, groups: np.ndarray, n_bootstrap: int,
                      seed: int, chunk: int = 50) -> np.ndarray:
    """AUC_a - AUC_b over account resamples (both AUCs on the same resample).

    Resamples are drawn in chunks from one generator: the same draws as one call, with a
    (chunk x rows) weight matrix in memory instead of (n_bootstrap x rows). Each chunk
    advances the counted step ``bootstrap`` of the progress reporter.
    """
    from hscore import progress

    rng = np.random.default_rng(seed)
    risks = [-signals[:, 0], -signals[:, 1]]
    parts = []
    steps = progress.current().steps("bootstrap", n_bootstrap)
    for start in range(0, n_bootstrap, chunk):
        boot = bootstrap_auc(y, risks, groups, min(chunk, n_bootstrap - start), rng)
        parts.append(boot[:, 0] - boot[:, 1])
        steps.advance(len(boot))
    return np.concatenate(parts)


def verdict_sentence(stage: str, a: str, b: str, auc_a: float, auc_b: float, delta: float,
             ci: tuple[float, float], alpha: float, where: str | None = None) -> str:
    """The verdict in one sentence; ``where`` replaces ``stage '<stage>'`` (a segment)."""
    lo, hi = ci
    place = where or f"stage '{stage}'"
    level = f"{100 * (1 - alpha):g}%"
    if not (lo > 0 or hi < 0):
        return (f"In {place} there is {NO_EVIDENCE} between {a} and {b} in predicting "
                f"churn: AUC {auc_a:.3f} vs {auc_b:.3f}, difference {delta:+.3f} "
                f"({level} CI {lo:+.3f} to {hi:+.3f}).")
    if lo > 0:
        better, worse, auc_better, auc_worse, gap_lo, gap_hi = a, b, auc_a, auc_b, lo, hi
    else:
        better, worse, auc_better, auc_worse, gap_lo, gap_hi = b, a, auc_b, auc_a, -hi, -lo
    return (f"In {place}, {better} is more predictive of churn than {worse}: AUC "
            f"{auc_better:.3f} vs {auc_worse:.3f}, higher by {abs(delta):.3f} "
            f"({level} CI {gap_lo:.3f} to {gap_hi:.3f}).")

"""hscore.calibration.compare: lift, AUCs, Wald and likelihood-ratio tests, paired account bootstrap, verdict.

Reference numbers come from a plain statsmodels / scikit-learn fit or a pandas count written
here, or from the known truth of hscore.synth data.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from sklearn.metrics import roc_auc_score

import hscore
from hscore import load_config, synth
from hscore.cli import main
from hscore.calibration.compare import NO_EVIDENCE, ComparisonResult, ComparisonWarning, compare
from hscore.errors import DataError, HScoreError

MATURITY = load_config("lifecycle").stages["maturity"]


def _maturity_frame(n_accounts=600, per_account=3, seed=0, censored=0.05, missing=0.04,
                    pulse_effect=0.25, adoption_effect=0.04):
    """Maturity snapshots: several per account, churn driven by feature_adoption_rate (strong)
    and csm_pulse (weak); other maturity metrics not measured except key_feature_users_share.

    csm_pulse (1-5) and feature_adoption_rate (0-100) have linear transforms over their whole
    domain, so the sub-scores are affine in the raw values (no clipping) and the at-risk range
    (sub-score < 50) is pulse < 3 and adoption < 50.
    """
    rng = np.random.default_rng(seed)
    n = n_accounts * per_account
    account = np.repeat(np.arange(n_accounts), per_account)
    dates = pd.date_range("2025-01-01", periods=per_account, freq="MS")
    frame = pd.DataFrame({
        "account_id": [f"acct-{a:04d}" for a in account],
        "snapshot_date": np.tile(dates, n_accounts),
        "stage": "maturity", "seats": 10})
    for m in MATURITY.metric_names:
        frame[m] = np.nan
    level = rng.normal(size=n_accounts)[account]           # snapshots of an account resemble
    pulse = np.clip(np.round(3 + level + rng.normal(size=n)), 1, 5)
    # Sixteenths of 100 and eighths of 1: every sub-score and component score is exact in
    # floating point whatever the order of operations, so ties stay ties in hand computations.
    adoption = 6.25 * np.round(16 / (1 + np.exp(-(0.8 * level + rng.normal(size=n)))))
    frame["csm_pulse"] = pulse
    frame["feature_adoption_rate"] = adoption
    frame["key_feature_users_share"] = rng.integers(0, 9, n) / 8
    eta = 1.5 - adoption_effect * adoption - pulse_effect * pulse
    frame["churned"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
    frame.loc[rng.uniform(size=n) < censored, "churned"] = np.nan
    frame.loc[rng.uniform(size=n) < missing, "csm_pulse"] = np.nan
    return frame


@pytest.fixture(scope="module")
def hand():
    frame = _maturity_frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN metric columns
        result = compare(frame, "lifecycle", "maturity", "feature_adoption_rate", "csm_pulse",
                         n_bootstrap=200, seed=1)
    return frame, result


def _complete(frame, columns):
    keep = frame["churned"].notna() & frame[columns].notna().all(axis=1)
    return frame[keep]


# ------------------------------------------------------------ against references
def test_wald_and_lr_equal_plain_statsmodels_fit(hand):
    frame, result = hand
    d = _complete(frame, ["feature_adoption_rate", "csm_pulse"])
    y = d["churned"].to_numpy()
    # Standardizing is unchanged by the affine sub-score transform, so raw values do.
    z = d[["feature_adoption_rate", "csm_pulse"]].to_numpy()
    z = (z - z.mean(0)) / z.std(0)
    full = sm.Logit(y, sm.add_constant(z)).fit(disp=0)
    # reference: sm.Logit(y, add_constant(z)).fit().wald_test([[0, 1, -1]], scalar=True)
    wald = full.wald_test(np.array([[0.0, 1.0, -1.0]]), scalar=True)
    assert result.wald["statistic"] == pytest.approx(float(wald.statistic), rel=1e-6)
    assert result.wald["p_value"] == pytest.approx(float(wald.pvalue), rel=1e-6, abs=1e-300)
    # The calibration's sign: a signal's coef is minus statsmodels' (protective > 0), the
    # const is statsmodels' own, and the CI flips with the coefficient.
    sign = np.array([1.0, -1.0, -1.0])
    assert result.wald["difference"] == pytest.approx(full.params[2] - full.params[1], rel=1e-6)
    np.testing.assert_allclose(result.joint["coef"].to_numpy(), sign * full.params, rtol=1e-6)
    np.testing.assert_allclose(result.joint["se"].to_numpy(), full.bse, rtol=1e-6)
    np.testing.assert_allclose(result.joint["z"].to_numpy(), sign * full.tvalues, rtol=1e-6)
    ci = full.conf_int()
    np.testing.assert_allclose(result.joint["ci_low"].to_numpy(),
                               [ci[0, 0], -ci[1, 1], -ci[2, 1]], rtol=1e-6)
    np.testing.assert_allclose(result.joint["ci_high"].to_numpy(),
                               [ci[0, 1], -ci[1, 0], -ci[2, 0]], rtol=1e-6)
    assert (result.joint.loc[["feature_adoption_rate", "csm_pulse"], "coef"] > 0).all()
    for j, name in enumerate(["feature_adoption_rate", "csm_pulse"]):
        keep_other = [c for c in (0, 1) if c != j]
        reduced = sm.Logit(y, sm.add_constant(z[:, keep_other])).fit(disp=0)
        lr = 2 * (full.llf - reduced.llf)       # reference: 2 (llf_joint - llf_without)
        assert result.likelihood_ratio.loc[name, "statistic"] == pytest.approx(lr, rel=1e-6)
        assert result.likelihood_ratio.loc[name, "p_value"] == pytest.approx(
            stats.chi2.sf(lr, 1), rel=1e-6, abs=1e-300)
        assert result.likelihood_ratio.loc[name, "df"] == 1


def test_univariate_auc_equals_sklearn(hand):
    frame, result = hand
    d = _complete(frame, ["feature_adoption_rate", "csm_pulse"])
    for name in ("feature_adoption_rate", "csm_pulse"):
        # reference: roc_auc_score(churned, -value) (higher value = healthier)
        ref = roc_auc_score(d["churned"], -d[name])
        assert result.auc[name] == pytest.approx(ref, abs=1e-12)
    assert result.delta_auc == pytest.approx(
        roc_auc_score(d["churned"], -d["feature_adoption_rate"])
        - roc_auc_score(d["churned"], -d["csm_pulse"]), abs=1e-12)


def test_component_signal_auc_equals_sklearn():
    frame = _maturity_frame(seed=3, missing=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = compare(frame, "lifecycle", "maturity", "product_usage", "csm_pulse",
                         n_bootstrap=50)
    d = _complete(frame, ["csm_pulse"])
    # product_usage = equal-weight mean of its two metrics' sub-scores (both measured here)
    usage = (100 * d["key_feature_users_share"] + d["feature_adoption_rate"]) / 2
    assert result.kinds == {"product_usage": "component", "csm_pulse": "metric"}
    assert result.auc["product_usage"] == pytest.approx(roc_auc_score(d["churned"], -usage),
                                                        abs=1e-12)
    churned = d["churned"] == 1
    share = ((usage < 50) & churned).sum() / churned.sum()
    assert result.lift.loc["product_usage", "churned_at_risk"] == pytest.approx(share, abs=1e-12)


def test_lift_shares_equal_hand_count(hand):
    frame, result = hand
    d = _complete(frame, ["feature_adoption_rate", "csm_pulse"])
    churned, retained = d["churned"] == 1, d["churned"] == 0
    at_risk = {"feature_adoption_rate": d["feature_adoption_rate"] < 50,   # sub-score < 50
               "csm_pulse": d["csm_pulse"] < 3}                           # (3 - 1) / 4 = 50%
    for name, low in at_risk.items():
        row = result.lift.loc[name]
        assert row["at_risk_below"] == load_config("lifecycle").bands.at_risk
        assert row["churned_at_risk"] == pytest.approx((low & churned).sum() / churned.sum())
        assert row["retained_at_risk"] == pytest.approx((low & retained).sum() / retained.sum())
        assert row["churned_n"] == churned.sum() and row["retained_n"] == retained.sum()
        assert row["churn_rate_at_risk"] == pytest.approx(d.loc[low, "churned"].mean())
        assert row["churn_rate_otherwise"] == pytest.approx(d.loc[~low, "churned"].mean())
        assert row["lift"] == pytest.approx(d.loc[low, "churned"].mean() / d["churned"].mean())


def test_account_lift_shares_equal_hand_count(hand):
    """Each account counts once, at the snapshot it churned in, else at its latest snapshot."""
    frame, result = hand
    d = _complete(frame, ["feature_adoption_rate", "csm_pulse"])
    d = d.assign(date=pd.to_datetime(d["snapshot_date"]))
    deciding = (d.sort_values(["account_id", "churned", "date"])
                .groupby("account_id").tail(1))
    churned, retained = deciding["churned"] == 1, deciding["churned"] == 0
    for name, low in {"feature_adoption_rate": deciding["feature_adoption_rate"] < 50,
                      "csm_pulse": deciding["csm_pulse"] < 3}.items():
        row = result.lift.loc[name]
        assert row["churned_accounts"] == churned.sum() > 0
        assert row["retained_accounts"] == retained.sum() > 0
        assert row["churned_accounts_at_risk"] == pytest.approx((low & churned).sum()
                                                                / churned.sum())
        assert row["retained_accounts_at_risk"] == pytest.approx((low & retained).sum()
                                                                 / retained.sum())


def test_censored_and_unmeasured_rows_are_left_out_and_counted(hand):
    frame, result = hand
    labelled = frame["churned"].notna()
    unmeasured = labelled & frame[["feature_adoption_rate", "csm_pulse"]].isna().any(axis=1)
    assert result.n_censored == (~labelled).sum() > 0
    assert result.n_unmeasured == unmeasured.sum() > 0
    used = labelled & ~unmeasured
    assert result.n_rows == used.sum()
    assert result.n_events == frame.loc[used, "churned"].sum()
    assert result.n_accounts == frame.loc[used, "account_id"].nunique()


def test_bootstrap_resamples_accounts_not_rows():
    """Giving every account a second, identical snapshot changes nothing when whole accounts
    are resampled (each resample doubles every drawn account's weight); a row bootstrap would
    narrow the CI by about 1/sqrt(2)."""
    one = _maturity_frame(n_accounts=400, per_account=1, seed=5, censored=0, missing=0)
    two = pd.concat([one, one.assign(snapshot_date=one["snapshot_date"] + pd.Timedelta("31D"))])
    two = two.sort_values(["account_id", "snapshot_date"], kind="stable")
    kwargs = dict(n_bootstrap=300, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r1 = compare(one, "lifecycle", "maturity", "feature_adoption_rate", "csm_pulse",
                     **kwargs)
        r2 = compare(two, "lifecycle", "maturity", "feature_adoption_rate", "csm_pulse",
                     **kwargs)
    assert r2.n_rows == 2 * r1.n_rows and r2.n_accounts == r1.n_accounts
    np.testing.assert_allclose(r2.delta_auc_ci, r1.delta_auc_ci, atol=1e-12)
    lo, hi = r1.delta_auc_ci
    assert lo < r1.delta_auc < hi
    assert r1.delta_auc_boot.shape == (300,)


def test_the_same_rows_in_any_order_give_the_same_resamples(hand):
    """Resamples follow (account_id, snapshot_date), not the order of the file: the shuffled
    frame gives the bit-identical bootstrap distribution (first-appearance account numbering
    would draw other accounts for the same seed)."""
    frame, result = hand
    shuffled = frame.sample(frac=1.0, random_state=2).reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        again = compare(shuffled, "lifecycle", "maturity", "feature_adoption_rate",
                        "csm_pulse", n_bootstrap=200, seed=1)
    np.testing.assert_array_equal(again.delta_auc_boot, result.delta_auc_boot)
    assert again.delta_auc_ci == result.delta_auc_ci


# ------------------------------------------------------------------- verdicts
def test_verdict_names_the_stronger_signal_from_either_side(hand):
    frame, result = hand
    assert result.delta_auc_ci[0] > 0
    assert result.verdict.startswith("In stage 'maturity', feature_adoption_rate is more "
                                     "predictive of churn than csm_pulse")
    assert NO_EVIDENCE not in result.verdict
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        swapped = compare(frame, "lifecycle", "maturity", "csm_pulse", "feature_adoption_rate",
                          n_bootstrap=200, seed=1)
    assert swapped.delta_auc == pytest.approx(-result.delta_auc)
    assert swapped.delta_auc_ci[1] < 0
    assert "feature_adoption_rate is more predictive of churn than csm_pulse" in swapped.verdict


def test_verdict_says_no_evidence_when_ci_covers_zero():
    frame = _maturity_frame(n_accounts=150, seed=8, pulse_effect=0.0, adoption_effect=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", ComparisonWarning)   # AUCs near 0.5 may dip below
        result = compare(frame, "lifecycle", "maturity", "feature_adoption_rate", "csm_pulse",
                         n_bootstrap=200)
    lo, hi = result.delta_auc_ci
    assert lo <= 0 <= hi
    assert NO_EVIDENCE in result.verdict


@pytest.fixture(scope="module")
def synthetic():
    return synth.make_stage_sample(20000, seed=0)


def test_finds_the_strong_true_difference_on_synthetic_data(synthetic):
    h = synthetic
    coef = h.truth.coef["maturity"]
    usage = list(MATURITY.components["product_usage"].metrics)
    strong = coef[usage].idxmax()                  # feature_adoption_rate under "shifted"
    assert coef[strong] > 5 * coef["csm_pulse"]    # the truth this test relies on
    result = compare(h.frame, h.config, "maturity", strong, "csm_pulse", horizon_days=30,
                     n_bootstrap=300)
    assert result.n_rows >= 19000
    assert result.delta_auc_ci[0] > 0
    assert f"{strong} is more predictive of churn than csm_pulse" in result.verdict
    assert result.wald["p_value"] < 0.001
    assert result.joint.loc[strong, "coef"] > result.joint.loc["csm_pulse", "coef"] > 0
    # the seed's picture: the strong signal is in the at-risk range for more of the churned
    assert (result.lift.loc[strong, "churned_at_risk"]
            > result.lift.loc["csm_pulse", "churned_at_risk"])


def test_component_comparison_on_synthetic_data(synthetic):
    h = synthetic
    result = compare(h.frame, h.config, "maturity", "customer_engagement", "product_usage",
                     horizon_days=30, n_bootstrap=300)
    assert result.delta_auc_ci[1] < 0
    assert "product_usage is more predictive of churn than customer_engagement" in result.verdict


def test_no_evidence_for_equal_true_weights_on_synthetic_data(synthetic):
    h = synthetic
    coef = h.truth.coef["maturity"]
    assert coef["events_30d"] == coef["stickiness"] > 0   # equal true weight
    result = compare(h.frame, h.config, "maturity", "events_30d", "stickiness",
                     horizon_days=30, n_bootstrap=300)
    lo, hi = result.delta_auc_ci
    assert lo <= 0 <= hi
    assert NO_EVIDENCE in result.verdict
    assert result.wald["p_value"] > 0.05


# -------------------------------------------------------------- result object
def test_result_object_tables_and_display(hand):
    _, result = hand
    assert isinstance(result, ComparisonResult)
    s = result.summary()
    assert isinstance(s, pd.DataFrame)
    assert list(s.index) == ["feature_adoption_rate", "csm_pulse"]
    assert s.loc["csm_pulse", "auc"] == result.auc["csm_pulse"]
    assert s.loc["csm_pulse", "lr_drop"] == result.likelihood_ratio.loc["csm_pulse", "statistic"]
    t = result.tests()
    assert len(t) == 4 and t["ci_low"].iloc[3] == result.delta_auc_ci[0]
    html = result._repr_html_()
    assert "<table" in html and "feature_adoption_rate" in html
    assert "more predictive" in html
    assert "delta_auc=" in repr(result) and "maturity" in repr(result)
    assert result.horizon_days == load_config("lifecycle").label_horizon_days
    assert str(result).endswith(f"verdict: {result.verdict}")   # no warnings on this data
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.verdict = "A wins"


def test_package_exports_the_function_after_the_submodule_is_imported():
    assert hscore.calibration.compare is compare
    assert hscore.ComparisonResult is ComparisonResult


def test_print_summary_shows_lift_and_verdict(hand, capsys):
    _, result = hand
    result.print_summary()
    out = capsys.readouterr().out
    share = result.lift.loc["feature_adoption_rate", "churned_at_risk"]
    assert f"feature_adoption_rate: {share:.0%} of churned vs" in out
    assert f"verdict: {result.verdict}" in out
    assert "likelihood ratio: drop csm_pulse" in out


def test_collinear_signals_warn_and_report_no_difference():
    frame = _maturity_frame(seed=2, missing=0)
    frame["key_feature_users_share"] = np.nan     # product_usage = feature_adoption_rate now
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.warns(ComparisonWarning, match="collinear"):
            result = compare(frame, "lifecycle", "maturity", "feature_adoption_rate",
                             "product_usage", n_bootstrap=50)
    assert np.isnan(result.wald["statistic"])
    assert NO_EVIDENCE in result.verdict


def test_signal_running_backwards_warns():
    frame = _maturity_frame(seed=6, missing=0, pulse_effect=-0.8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.warns(ComparisonWarning, match="higher csm_pulse goes with more churn"):
            compare(frame, "lifecycle", "maturity", "feature_adoption_rate", "csm_pulse",
                    n_bootstrap=50)


def test_perfect_separation_warns_and_still_gives_a_verdict():
    frame = _maturity_frame(seed=3, missing=0, censored=0)
    frame["churned"] = (frame["feature_adoption_rate"] < 30).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.warns(ComparisonWarning, match="separation"):
            result = compare(frame, "lifecycle", "maturity", "feature_adoption_rate",
                             "csm_pulse", n_bootstrap=50)
    assert result.auc["feature_adoption_rate"] == 1.0
    assert "feature_adoption_rate is more predictive" in result.verdict


# ------------------------------------------------------------------ bad input
@pytest.fixture
def small():
    return _maturity_frame(n_accounts=60, per_account=2, seed=9)


@pytest.mark.parametrize("stage, a, b, match", [
    ("growth", "csm_pulse", "feature_adoption_rate", r"^stage: 'growth' is not a stage"),
    ("maturity", "nps", "csm_pulse", r"^a: 'nps' is neither a metric nor a component of "
                                     r"stage 'maturity'"),
    ("maturity", "csm_pulse", "setup_checklist_done", r"^b: 'setup_checklist_done' is neither"),
    ("maturity", "csm_pulse", "csm_pulse", r"^a, b: both name 'csm_pulse'"),
])
def test_bad_names(small, stage, a, b, match):
    with pytest.raises(HScoreError, match=match):
        compare(small, "lifecycle", stage, a, b)


def test_stage_absent_from_the_data(small):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(DataError, match=r"column 'stage': no rows of stage 'renewal'"):
            compare(small, "lifecycle", "renewal", "csat", "csm_sentiment")


def test_no_churned_column(small):
    with pytest.raises(DataError, match=r"^column 'churned': required column is missing"):
        compare(small.drop(columns="churned"), "lifecycle", "maturity", "csm_pulse",
                "feature_adoption_rate")


def test_no_churn_events(small):
    frame = small.assign(churned=np.where(small["churned"].isna(), np.nan, 0.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(DataError, match=r"column 'churned': no churn events in stage "
                                            r"'maturity'.*\(\d+ rows; first accounts: acct-"):
            compare(frame, "lifecycle", "maturity", "csm_pulse", "feature_adoption_rate")


def test_constant_signal(small):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(DataError, match=r"column 'csm_pulse': the metric's signal is "
                                            r"constant"):
            compare(small.assign(csm_pulse=4.0), "lifecycle", "maturity", "csm_pulse",
                    "feature_adoption_rate")


@pytest.mark.parametrize("kwargs, match", [
    ({"alpha": 1.5}, r"^alpha: must be a number in \(0, 1\), got 1.5$"),
    ({"n_bootstrap": 0}, r"^n_bootstrap:"),
    ({"n_bootstrap": 9}, r"^n_bootstrap: must be a whole number >= 10, got 9$"),
    ({"seed": -1}, r"^seed: must be a whole number >= 0"),
    ({"horizon_days": -3}, r"^horizon_days: must be a whole number >= 1 or None, got -3$"),
])
def test_bad_settings(small, kwargs, match):
    with pytest.raises(HScoreError, match=match):
        compare(small, "lifecycle", "maturity", "csm_pulse", "feature_adoption_rate", **kwargs)


# ------------------------------------------------------------------------ CLI
@pytest.fixture(scope="module")
def snapshots_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("compare") / "snapshots.csv"
    synth.make_stage_sample(3000, seed=11).frame.to_csv(path, index=False)
    return path


def test_cli_prints_table_and_verdict(snapshots_csv, capsys):
    from hscore.scoring.snapshots import read_snapshots

    rc = main(["compare", "--snapshots", str(snapshots_csv), "--config", "lifecycle",
               "--stage", "maturity", "feature_adoption_rate", "csm_pulse",
               "--bootstrap", "100", "--seed", "3", "--horizon-days", "30"])
    out = capsys.readouterr().out
    assert rc == 0
    expected = compare(read_snapshots(snapshots_csv), "lifecycle", "maturity",
                       "feature_adoption_rate", "csm_pulse", n_bootstrap=100, seed=3)
    assert "churn within 30 days" in out
    assert f"verdict: {expected.verdict}" in out
    assert "more predictive" in expected.verdict
    assert "wald: coef[feature_adoption_rate] = coef[csm_pulse]" in out
    assert "churned_at_risk" in out and "of churned vs" in out


def test_cli_prints_each_warning_once(tmp_path, capsys):
    """Warnings go to stderr; the printed summary on stdout does not repeat them."""
    frame = _maturity_frame(n_accounts=20, per_account=2, seed=4)
    path = tmp_path / "few.csv"
    frame.to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = compare(frame, "lifecycle", "maturity", "feature_adoption_rate",
                           "csm_pulse", n_bootstrap=50, seed=1).warnings
    assert any("only 20 accounts" in w for w in expected)
    rc = main(["compare", "--snapshots", str(path), "--config", "lifecycle", "--stage",
               "maturity", "feature_adoption_rate", "csm_pulse", "--bootstrap", "50",
               "--seed", "1"])
    captured = capsys.readouterr()
    assert rc == 0 and "verdict:" in captured.out
    for w in expected:
        assert (captured.out + captured.err).count(w) == 1, w
        assert w in captured.err


@pytest.mark.parametrize("args, field", [
    (["--stage", "maturity", "feature_adoption_rate", "nps"], "b: 'nps'"),
    (["--stage", "maturity", "csm_pulse", "csm_pulse"], "a, b:"),
    (["--stage", "growth", "csm_pulse", "feature_adoption_rate"], "stage: 'growth'"),
])
def test_cli_bad_input_exits_2_with_one_line(snapshots_csv, capsys, args, field):
    rc = main(["compare", "--snapshots", str(snapshots_csv), "--config", "lifecycle", *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith(f"error: {field}") and err.count("\n") == 1


def test_cli_without_churned_column_exits_2(tmp_path, capsys):
    path = tmp_path / "unlabelled.csv"
    _maturity_frame(n_accounts=30, per_account=1).drop(columns="churned").to_csv(path,
                                                                                 index=False)
    rc = main(["compare", "--snapshots", str(path), "--config", "lifecycle",
               "--stage", "maturity", "csm_pulse", "feature_adoption_rate"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(f"error: {path}: column 'churned'") and err.count("\n") == 1


def test_importing_compare_loads_no_heavy_dependency():
    """statsmodels loads only when a comparison runs, so the package may import compare eagerly."""
    import subprocess
    import sys

    code = ("import sys, hscore.calibration.compare; print(sorted(m for m in ('statsmodels', 'sklearn', "
            "'mlflow', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

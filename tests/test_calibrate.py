"""Calibration (hscore.calibration.calibrator) on hand-built data whose truth is known.

The config here gives every metric a linear [0, 1] -> [0, 100] transform, so the
sub-scores the model is fitted on are the raw columns themselves and the references
(statsmodels, scipy, scikit-learn) can be fitted on the frame directly.
"""

from __future__ import annotations

import dataclasses
import pickle
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.optimize import minimize
from scipy.special import expit
from scipy.stats import rankdata
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.metrics import log_loss as sk_log_loss

from hscore import HealthScorer
from hscore.calibration import (CalibrationResult, CalibrationWarning, Calibrator,
                                NotFittedError, Status, calibrate)
from hscore.config import config_from_dict, load_config, save_config
from hscore.errors import DataError, HScoreError

LAYOUT = {"s1": {"c1": (0.6, {"m1": 0.5, "m2": 0.5}), "c2": (0.4, {"m3": 1.0})},
          "s2": {"c1": (0.5, {"m4": 0.5, "m5": 0.5}), "c2": (0.5, {"m6": 1.0})}}
TRUTH = {"s1": (0.5, {"m1": 2.5, "m2": 1.0, "m3": 1.5}),
         "s2": (0.0, {"m4": 1.0, "m5": 0.7, "m6": 2.5})}
HOLDOUT = "2024-08-01"


def make_config(layout=LAYOUT, horizon=30):
    stages = {}
    for s, comps in layout.items():
        stages[s] = {"components": {
            c: {"weight": cw, "metrics": {
                m: {"weight": mw, "direction": "higher_is_better", "domain": [0, 1],
                    "transform": {"kind": "linear", "lo": 0, "hi": 1}} for m, mw in ms.items()}}
            for c, (cw, ms) in comps.items()}}
    return config_from_dict({"schema_version": 1, "name": "hand", "label_horizon_days": horizon,
                             "stages": stages})


def make_frame(truth=TRUTH, n_accounts=300, months=10, seed=0, missing_rate=0.0,
               start="2024-01-01"):
    """Each account sits in one stage and has a snapshot on the 1st of every month; the label
    of the last month is unknown (censored). Metrics are uniform on [0, 1]."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=months, freq="MS")
    metrics = sorted({m for _, b in truth.values() for m in b})
    parts = []
    for stage, (a, b) in truth.items():
        n = n_accounts * months
        names = list(b)
        X = rng.uniform(size=(n, len(names)))
        p = expit(a - X @ np.array([b[m] for m in names]))
        frame = pd.DataFrame({
            "account_id": np.repeat([f"{stage}-{i:04d}" for i in range(n_accounts)], months),
            "snapshot_date": np.tile(dates, n_accounts), "stage": stage})
        for m in metrics:
            frame[m] = X[:, names.index(m)] if m in names else np.nan
        if missing_rate:
            for m in names:
                frame.loc[rng.uniform(size=n) < missing_rate, m] = np.nan
        churned = (rng.uniform(size=n) < p).astype(float)
        churned[frame["snapshot_date"].to_numpy() == dates[-1]] = np.nan
        frame["churned"] = churned
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def fit_quietly(frame, config=None, **kwargs):
    kwargs.setdefault("holdout_from", HOLDOUT)
    kwargs.setdefault("n_bootstrap", 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        return calibrate(frame, config if config is not None else make_config(), **kwargs)


def train_xy(frame, fit):
    rows = frame.iloc[fit.train_rows]
    return rows[list(fit.layout.metrics)].to_numpy(), rows["churned"].to_numpy()


def labelled_xy(frame, fit):
    """Every labelled row of the fit's stage (training, holdout and straddling): the rows of
    the refit that the exported weights come from."""
    rows = frame[(frame["stage"] == fit.cell.stage) & frame["churned"].notna()]
    return rows[list(fit.layout.metrics)].to_numpy(), rows["churned"].to_numpy()


@pytest.fixture(scope="module")
def frame():
    return make_frame()


@pytest.fixture(scope="module")
def result(frame):
    return fit_quietly(frame, n_bootstrap=30, seed=3)


# --------------------------------------------------------------- 1. limits
def test_huge_strength_returns_the_input_weights(frame):
    cfg = make_config()
    near = fit_quietly(frame, strengths=[1e9], n_bootstrap=0)
    exact = fit_quietly(frame, strengths=[np.inf], n_bootstrap=0)
    for s, fit in near.fits.items():
        np.testing.assert_allclose(fit.estimate.weights, fit.layout.input_weights, atol=1e-6)
        assert np.array_equal(exact.fits[s].estimate.weights, fit.layout.input_weights)
        for comp, spec in cfg.stages[s].components.items():
            got = near.config.stages[s].components[comp]
            assert got.weight == pytest.approx(spec.weight, abs=1e-6)
            for m, mspec in spec.metrics.items():
                assert got.metrics[m].weight == pytest.approx(mspec.weight, abs=1e-6)


def test_zero_strength_is_the_plain_logistic_fit_when_no_bound_is_active(frame):
    res = fit_quietly(frame, strengths=[0.0], n_bootstrap=0)
    for s, fit in res.fits.items():
        X, y = train_xy(frame, fit)
        # reference: sm.Logit(y, sm.add_constant(X)).fit(); b = -coefficient
        ref = sm.Logit(y, sm.add_constant(X)).fit(disp=0)
        assert np.all(ref.params[1:] < -0.3)               # every true b clearly positive
        np.testing.assert_allclose(fit.estimate.coef, -ref.params[1:], atol=1e-4)
        assert fit.estimate.intercept == pytest.approx(ref.params[0], abs=1e-4)
        np.testing.assert_allclose(fit.estimate.weights, fit.estimate.coef / fit.estimate.coef.sum(), rtol=1e-12)
        # The exported weights: the same (unpenalized) model on every labelled row.
        X, y = labelled_xy(frame, fit)
        ref = sm.Logit(y, sm.add_constant(X)).fit(disp=0)
        assert fit.exported is fit.refit and len(y) == fit.counts.n_labelled > fit.counts.n_rows
        np.testing.assert_allclose(fit.refit.coef, -ref.params[1:], atol=1e-4)
        assert fit.refit.intercept == pytest.approx(ref.params[0], abs=1e-4)
        exported = res.config.stages[s].metric_weights()
        np.testing.assert_allclose([exported[m] for m in fit.layout.metrics], fit.refit.weights, atol=1e-12)
    trained = fit_quietly(frame, strengths=[0.0], n_bootstrap=0, refit="train")
    for s, fit in trained.fits.items():
        exported = trained.config.stages[s].metric_weights()
        np.testing.assert_allclose([exported[m] for m in fit.layout.metrics], fit.estimate.weights, atol=1e-12)
        np.testing.assert_array_equal(fit.refit.weights, res.fits[s].refit.weights)
    assert (res.config.provenance.exported_fit, trained.config.provenance.exported_fit) == \
        ("all", "train")


def test_zero_strength_with_an_active_bound_matches_bounded_lbfgsb():
    truth = {"s1": (0.5, {"m1": 2.5, "m2": -1.5, "m3": 1.5}), "s2": TRUTH["s2"]}
    frame = make_frame(truth, seed=11)
    res = fit_quietly(frame, strengths=[0.0], n_bootstrap=0)
    fit = res.fits["s1"]
    X, y = train_xy(frame, fit)

    def nll(theta):   # the same likelihood, written out
        eta = theta[0] - X @ theta[1:]
        return np.mean(np.logaddexp(0, eta) - y * eta)

    ref = minimize(nll, np.zeros(4), method="L-BFGS-B",
                   bounds=[(None, None)] + [(0, None)] * 3,
                   options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 10000})
    assert ref.x[2] == 0.0 and fit.estimate.coef[1] == 0.0
    np.testing.assert_allclose(fit.estimate.coef, ref.x[1:], atol=1e-4)
    assert fit.estimate.intercept == pytest.approx(ref.x[0], abs=1e-4)
    assert fit.estimate.weights[1] == 0.0


# ------------------------------------------------------------ 2. result
def test_calibrate_returns_the_frozen_result_of_the_estimator(frame):
    estimator = Calibrator(make_config(), holdout_from=HOLDOUT, n_bootstrap=0,
                           strengths=[np.inf])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        assert estimator.fit(frame) is estimator
    result = estimator.result_
    assert isinstance(result, CalibrationResult) and not isinstance(result, Calibrator)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.seed = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.fits["s1"].status = Status.THIN_DATA
    with pytest.raises(TypeError):
        result.fits["s3"] = result.fits["s1"]            # a read-only mapping
    with pytest.raises(ValueError, match="read-only"):
        result.fits["s1"].estimate.weights[0] = 0.5
    assert set(estimator.timings_) >= {"design", "evaluation", "total"}
    back = pickle.loads(pickle.dumps(result))             # notebooks save results
    assert back.config == result.config and list(back.fits) == list(result.fits)
    with pytest.raises(TypeError):
        back.fits["s3"] = back.fits["s1"]


def test_unfitted_estimator_says_what_to_call_first():
    estimator = Calibrator(make_config())
    for name in ("result_", "timings_"):
        with pytest.raises(NotFittedError, match=r"^Calibrator is not fitted yet: call "
                                                 r"fit\(frame\) first"):
            getattr(estimator, name)
    assert isinstance(NotFittedError("x"), HScoreError)    # the CLI prints it as one line
    assert repr(estimator) == "Calibrator(base_config=" + repr(estimator.base_config) + ")"


def test_derived_quantities_are_computed_from_the_per_stage_fits(result):
    """Every derived quantity equals its recomputation from the fits' records."""
    assert result.chosen_strength == {s: f.estimate.strength for s, f in result.fits.items()}
    assert result.probability_mapping == {s: f.refit.probability
                                          for s, f in result.fits.items()}
    assert result.n_censored == sum(f.counts.n_censored for f in result.fits.values())
    assert result.n_straddling == sum(f.counts.n_straddling for f in result.fits.values())
    assert (result.horizon_days, result.holdout_from) == (30, pd.Timestamp(HOLDOUT))
    per_stage = pd.concat([f.holdout.quality for f in result.fits.values()], ignore_index=True)
    pd.testing.assert_frame_equal(result.quality.iloc[:len(per_stage)].drop(columns="holdout"),
                                  per_stage)
    assert (result.quality["holdout"] == "out_of_time").all()
    assert list(result.quality["stage"].iloc[len(per_stage):]) == ["all"] * 3
    for s, fit in result.fits.items():
        assert fit.estimate.strength in fit.cv.table["strength"].tolist()
        part = result.summary().query("stage == @s")
        np.testing.assert_array_equal(part["weight"], fit.refit.weights)
        np.testing.assert_array_equal(part["ci_low"], fit.refit.ci[:, 0])
        np.testing.assert_array_equal(part["weight_all"], fit.refit.weights)
        np.testing.assert_array_equal(part["weight_train"], fit.estimate.weights)
        assert fit.estimate.ci is None            # only the exported fit is bootstrapped
        comp = result.component_summary().query("stage == @s")
        np.testing.assert_allclose(comp["weight"], [
            fit.refit.weights[np.array(fit.layout.component_of) == c].sum()
            for c in range(len(fit.layout.components))], rtol=1e-15)
    assert result.train_window == (pd.Timestamp("2024-01-01"), pd.Timestamp("2024-07-01"))


@pytest.mark.parametrize("status, kept", [(Status.CALIBRATED, False), (Status.NO_EVENTS, True),
                                          (Status.THIN_DATA, True), (Status.NO_SIGNAL, True)])
def test_status_values_are_stable_text_and_say_whether_the_input_was_kept(status, kept):
    # The values land in tracking params and config provenance: they are part of the contract.
    assert status.kept_input is kept
    assert status == status.value and str(status) == status.value
    assert Status(status.value) is status


def test_coefficient_table_equals_a_plain_statsmodels_fit(frame, result):
    for s, fit in result.fits.items():
        X, y = train_xy(frame, fit)
        ref = sm.Logit(y, sm.add_constant(X)).fit(disp=0)
        table = fit.reference.table.set_index("term")
        assert list(table.index) == ["const", *fit.layout.metrics]
        # One sign throughout: b = -(statsmodels coef) for a metric, the const is a.
        sign = np.r_[1.0, -np.ones(3)]
        np.testing.assert_allclose(table["coef"], sign * ref.params, rtol=1e-6)
        assert (table["coef"].iloc[1:] > 0).all()                # every true b > 0
        np.testing.assert_allclose(table["std_err"], ref.bse, rtol=1e-6)
        np.testing.assert_allclose(table["z"], sign * ref.tvalues, rtol=1e-6)
        np.testing.assert_allclose(table["p"], ref.pvalues, rtol=1e-5, atol=1e-300)
        ci = ref.conf_int(0.05)
        np.testing.assert_allclose(table["ci_low"], np.where(sign > 0, ci[:, 0], -ci[:, 1]),
                                   rtol=1e-6)
        np.testing.assert_allclose(table["ci_high"], np.where(sign > 0, ci[:, 1], -ci[:, 0]),
                                   rtol=1e-6)
    coefs = result.coefficients()
    assert list(coefs.columns[:2]) == ["stage", "term"] and len(coefs) == 2 * 4


def test_bootstrap_cis_are_reproducible_and_configurable(frame):
    a = fit_quietly(frame, n_bootstrap=25, seed=5)
    b = fit_quietly(frame, n_bootstrap=25, seed=5)
    c = fit_quietly(frame, n_bootstrap=25, seed=6)
    for s in a.fits:
        assert a.fits[s].exported.draws.shape == (25, 3)
        np.testing.assert_array_equal(a.fits[s].exported.ci, b.fits[s].exported.ci)
        assert not np.array_equal(a.fits[s].exported.ci, c.fits[s].exported.ci)
        ci = a.fits[s].exported.ci
        assert np.all(ci[:, 0] <= ci[:, 1])
        # same weights whatever the bootstrap: it only adds CIs
        np.testing.assert_array_equal(a.fits[s].exported.weights, c.fits[s].exported.weights)
    pd.testing.assert_frame_equal(a.quality, b.quality)


def test_probability_mapping_is_the_logistic_fit_of_churn_on_the_calibrated_score(frame, result):
    for s, fit in result.fits.items():
        X, y = labelled_xy(frame, fit)           # the exported fit's rows: every labelled one
        score = 100 * X @ fit.refit.weights
        ref = sm.Logit(y, sm.add_constant(score)).fit(disp=0)
        prob = result.config.stages[s].probability
        assert prob.intercept == pytest.approx(ref.params[0], abs=1e-6)
        assert prob.slope == pytest.approx(ref.params[1], abs=1e-8)
        scored = HealthScorer(result.config).score(frame.iloc[fit.holdout.rows], trend=False)
        np.testing.assert_allclose(scored["churn_probability"],
                                   expit(prob.intercept + prob.slope * scored["score"]),
                                   rtol=1e-12)


def test_counts_of_snapshots_accounts_events_and_censored(frame, result):
    dates = frame["snapshot_date"]
    for s, fit in result.fits.items():
        mine = frame["stage"] == s
        labelled = mine & frame["churned"].notna()
        train = labelled & (dates + pd.Timedelta(days=30) <= pd.Timestamp(HOLDOUT))
        hold = labelled & (dates >= pd.Timestamp(HOLDOUT))
        assert fit.counts.n_rows == train.sum() and fit.counts.n_events == frame.loc[train, "churned"].sum()
        assert fit.counts.n_accounts == frame.loc[train, "account_id"].nunique()
        assert fit.holdout.n_rows == hold.sum()
        assert fit.holdout.n_events == frame.loc[hold, "churned"].sum()
        assert fit.counts.n_censored == (mine & frame["churned"].isna()).sum() == 300
    table = result.stage_table().set_index("stage")
    assert table.loc["s1", "rows"] == result.fits["s1"].counts.n_rows
    assert table.loc["s2", "censored"] == 300
    assert result.n_censored == 600


def test_holdout_quality_matches_scikit_learn_for_all_three_models(frame, result):
    base = make_config()
    # The holdout judges the train-window fit: the config that ships it (refit "train") scores
    # the holdout as the "calibrated" rows say; the refit changes nothing in the evaluation.
    trained = fit_quietly(frame, n_bootstrap=30, seed=3, refit="train")
    pd.testing.assert_frame_equal(trained.quality, result.quality)
    result = trained
    for s, fit in result.fits.items():
        hold = frame.iloc[fit.holdout.rows]
        y = hold["churned"].to_numpy()
        q = result.quality.set_index(["stage", "model"])
        calibrated = HealthScorer(result.config).score(hold, trend=False)
        assert q.loc[(s, "calibrated"), "auc"] == pytest.approx(
            roc_auc_score(y, -calibrated["score"]), abs=1e-12)
        p = calibrated["churn_probability"].to_numpy()
        assert q.loc[(s, "calibrated"), "brier"] == pytest.approx(brier_score_loss(y, p))
        assert q.loc[(s, "calibrated"), "log_loss"] == pytest.approx(sk_log_loss(y, p))
        # input config: its score, probability from a logistic fit of churn on it (training)
        X, y_train = train_xy(frame, fit)
        inp = HealthScorer(base).score(hold, trend=False)["score"].to_numpy()
        assert q.loc[(s, "input"), "auc"] == pytest.approx(roc_auc_score(y, -inp), abs=1e-12)
        k_ref = sm.Logit(y_train, sm.add_constant(100 * X @ fit.layout.input_weights)).fit(disp=0)
        p_inp = k_ref.predict(sm.add_constant(inp))
        assert q.loc[(s, "input"), "log_loss"] == pytest.approx(sk_log_loss(y, p_inp), rel=1e-5)
        # reference: the unconstrained statsmodels model's predictions
        ref = sm.Logit(y_train, sm.add_constant(X)).fit(disp=0)
        p_ref = ref.predict(sm.add_constant(hold[list(fit.layout.metrics)].to_numpy()))
        assert q.loc[(s, "reference"), "auc"] == pytest.approx(roc_auc_score(y, p_ref))
        assert q.loc[(s, "reference"), "log_loss"] == pytest.approx(sk_log_loss(y, p_ref),
                                                                     rel=1e-6)
        for model in ("calibrated", "input", "reference"):
            row = q.loc[(s, model)]
            assert row["auc_low"] <= row["auc"] <= row["auc_high"]
            table = result.calibration_table
            part = table[(table["stage"] == s) & (table["model"] == model)]
            assert part["rows"].sum() == len(hold)
    pooled = result.quality.set_index(["stage", "model"]).loc[("all", "calibrated")]
    assert pooled["rows"] == sum(f.holdout.n_rows for f in result.fits.values())


def test_summary_print_summary_and_html(frame, result, capsys):
    table = result.summary()
    assert list(table.columns[:8]) == ["stage", "component", "metric", "input_weight", "weight",
                                       "ci_low", "ci_high", "b"]
    assert len(table) == 6 and table["weight"].notna().all()
    for s, fit in result.fits.items():
        part = table[table["stage"] == s]
        assert part["weight"].sum() == pytest.approx(1.0)
        X, y = train_xy(frame, fit)
        ref = sm.Logit(y, sm.add_constant(X)).fit(disp=0)
        np.testing.assert_allclose(part["b_unconstrained"], -ref.params[1:], rtol=1e-6)
    result.print_summary()
    out = capsys.readouterr().out
    assert "0.300 -> " in out and "holdout quality" in out and "reference" in out
    assert out == str(result) + "\n"
    html = result._repr_html_()
    # stages, each stage's implied band thresholds, bands on the holdout, holdout quality
    assert html.count("<table") == 4 and "s2" in html and "0.300 -&gt; " in html
    assert "bands on the holdout" in out
    assert "holdout from 2024-08-01" in repr(result)


def test_config_round_trips_and_carries_provenance(frame, result, tmp_path):
    cfg = result.config
    path = save_config(cfg, tmp_path / "calibrated.yaml")
    assert load_config(path) == cfg
    assert config_from_dict(cfg.to_dict()) == cfg
    prov = cfg.provenance
    assert prov.source == "calibration" and "shrunk toward" in prov.method
    window = prov.data_window
    train = np.concatenate([f.train_rows for f in result.fits.values()])
    dates = frame["snapshot_date"].iloc[train]
    assert window.train == [str(dates.min().date()), str(dates.max().date())]
    assert window.holdout_from == HOLDOUT and window.horizon_days == 30
    assert window.holdout_kind == "out_of_time"
    for s, fit in result.fits.items():
        assert prov.rows[s].train == fit.counts.n_rows
        assert prov.rows[s].holdout_events == fit.holdout.n_events
        assert prov.status[s] == "calibrated"
        q = result.quality.set_index(["stage", "model"]).loc[(s, "calibrated")]
        assert prov.quality[s].auc == pytest.approx(q["auc"], abs=1e-6)
        assert prov.strength[s] == fit.estimate.strength
    assert cfg.label_horizon_days == 30


def test_scoring_with_the_calibrated_config_ranks_like_the_fitted_model(frame, result):
    for s, fit in result.fits.items():
        hold = frame.iloc[fit.holdout.rows]
        X = hold[list(fit.layout.metrics)].to_numpy()
        eta = fit.exported.linear_predictor(X)                      # a - X b: churn risk
        score = HealthScorer(result.config).score(hold, trend=False)["score"].to_numpy()
        np.testing.assert_array_equal(rankdata(-score), rankdata(eta))
        np.testing.assert_allclose(fit.exported.intercept - fit.exported.coef.sum() * score / 100, eta,
                                   atol=1e-10)


def test_holdout_is_scored_by_the_calibrated_config_when_metrics_are_missing():
    frame = make_frame(missing_rate=0.15, seed=4)
    res = fit_quietly(frame, n_bootstrap=0, refit="train")   # the config of the judged fit
    input_scored = HealthScorer(make_config()).score(frame, trend=False)["score"].notna()
    for s, fit in res.fits.items():
        hold = frame.iloc[fit.holdout.rows]
        assert hold[list(fit.layout.metrics)].isna().any(axis=1).mean() > 0.2
        scored = HealthScorer(res.config).score(hold, trend=False)
        y = hold["churned"].to_numpy()
        q = res.quality.set_index(["stage", "model"]).loc[(s, "calibrated")]
        assert q["auc"] == pytest.approx(roc_auc_score(y, -scored["score"]), abs=1e-12)
        assert q["log_loss"] == pytest.approx(sk_log_loss(y, scored["churn_probability"]))
        # rows the calibrated config leaves without a score are counted, not evaluated
        eligible = ((frame["stage"] == s) & frame["churned"].notna() & input_scored
                    & (frame["snapshot_date"] >= pd.Timestamp(HOLDOUT)))
        assert fit.holdout.n_rows + fit.holdout.n_unscored == eligible.sum()
        assert q["rows"] == fit.holdout.n_rows


# ------------------------------------------------------------ 3. leakage
def test_training_uses_only_rows_whose_label_window_ends_before_the_holdout():
    frame = make_frame(seed=5)
    res = fit_quietly(frame, horizon_days=45, n_bootstrap=0)
    start = pd.Timestamp(HOLDOUT)
    dates = frame["snapshot_date"]
    for s, fit in res.fits.items():
        train_dates = dates.iloc[fit.train_rows]
        assert (train_dates + pd.Timedelta(days=45) <= start).all()
        assert (dates.iloc[fit.holdout.rows] >= start).all()
        assert frame["churned"].iloc[np.r_[fit.train_rows, fit.holdout.rows]].notna().all()
        # July's label window (45 days) runs past August 1st: neither train nor holdout
        july = (frame["stage"] == s) & (dates == "2024-07-01")
        assert fit.counts.n_straddling == july.sum() > 0
        assert not set(np.flatnonzero(july)) & (set(fit.train_rows) | set(fit.holdout.rows))
        eligible = ((frame["stage"] == s) & frame["churned"].notna()
                    & (dates + pd.Timedelta(days=45) <= start))
        assert set(fit.train_rows) == set(np.flatnonzero(eligible))
    assert res.n_straddling == sum(f.counts.n_straddling for f in res.fits.values())
    assert res.config.provenance.left_out.straddling_holdout == res.n_straddling


def test_labels_after_the_training_window_do_not_change_the_weights():
    frame = make_frame(seed=6)
    before = fit_quietly(frame, horizon_days=45, n_bootstrap=10)
    changed = frame.copy()
    late = changed["snapshot_date"] + pd.Timedelta(days=45) > pd.Timestamp(HOLDOUT)
    known = changed["churned"].notna()
    changed.loc[late & known, "churned"] = 1 - changed.loc[late & known, "churned"]
    changed.loc[late, "m1"] = 1 - changed.loc[late, "m1"]
    after = fit_quietly(changed, horizon_days=45, n_bootstrap=10)
    for s in before.fits:
        np.testing.assert_array_equal(before.fits[s].estimate.weights, after.fits[s].estimate.weights)
        np.testing.assert_array_equal(before.fits[s].estimate.ci, after.fits[s].estimate.ci)
    assert not before.quality.equals(after.quality)      # the holdout did change


def test_cross_validation_folds_are_grouped_by_account(frame):
    # Rows in no particular order (sorted rows would let any contiguous split look grouped).
    shuffled = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    res = fit_quietly(shuffled, n_bootstrap=0)
    for fit in res.fits.values():
        accounts = shuffled["account_id"].to_numpy()[fit.train_rows]
        folds = fit.cv.fold_of
        assert folds.min() == 0 and len(np.unique(folds)) == 5
        per_account = pd.Series(folds).groupby(accounts).nunique()
        assert (per_account == 1).all()                    # never in two folds' test sets
        for f in np.unique(folds):
            test_acc = set(accounts[folds == f])
            train_acc = set(accounts[folds != f])
            assert not test_acc & train_acc


def test_bootstrap_resamples_whole_accounts(frame):
    # Give every account a second copy of each snapshot (one day later). Resampling whole
    # accounts then draws the same accounts as before and only doubles every weight, which
    # leaves each refit, and so the CIs, unchanged; resampling rows would not.
    twin = frame.assign(snapshot_date=frame["snapshot_date"] + pd.Timedelta(days=1))
    doubled = pd.concat([frame, twin], ignore_index=True)
    once = fit_quietly(frame, n_bootstrap=20, seed=8)
    twice = fit_quietly(doubled, n_bootstrap=20, seed=8)
    for s, fit in once.fits.items():
        assert twice.fits[s].counts.n_rows == 2 * fit.counts.n_rows
        assert twice.fits[s].estimate.strength == fit.estimate.strength
        np.testing.assert_allclose(twice.fits[s].estimate.weights, fit.estimate.weights, atol=1e-7)
        np.testing.assert_allclose(twice.fits[s].exported.weights, fit.exported.weights, atol=1e-7)
        np.testing.assert_allclose(twice.fits[s].exported.ci, fit.exported.ci, atol=1e-4)


def test_cross_validation_pulls_each_fold_toward_its_own_k(frame, result):
    """At infinite strength the fold's model is b = k_f v0 with the intercept refitted, i.e.
    the two-parameter logistic fit of churn on the input score over the fold's training rows
    alone. Its held-out log-loss is the CV table's ``inf`` row; a k fitted on every training
    row (the test fold's labels included) gives a different number."""
    for s, fit in result.fits.items():
        X, y = train_xy(frame, fit)
        score = X @ fit.layout.input_weights
        total = 0.0
        for f in np.unique(fit.cv.fold_of):
            tr, te = fit.cv.fold_of != f, fit.cv.fold_of == f
            # sm.Logit(y[tr], add_constant(score[tr])).fit(): the fold's own k (= -slope)
            ref = sm.Logit(y[tr], sm.add_constant(score[tr])).fit(disp=0)
            p = ref.predict(sm.add_constant(score[te]))
            total += sk_log_loss(y[te], p, normalize=False)
        got = fit.cv.table.set_index("strength").loc[np.inf, "cv_log_loss"]
        assert got == pytest.approx(total / len(y), rel=1e-7), s


def thin_s2_frame():
    """Stage s2 has too few churn events to calibrate: it keeps the input weights (with a
    probability mapping from k) and has no unconstrained reference model."""
    truth = {"s1": TRUTH["s1"], "s2": (-2.0, {"m4": 1.0, "m5": 0.7, "m6": 2.5})}
    return make_frame(truth, n_accounts=100, seed=7)


def test_pooled_rows_compare_every_model_on_the_same_rows(result):
    frame = thin_s2_frame()
    res = fit_quietly(frame, n_bootstrap=0, refit="train")   # the config of the judged fit
    assert res.fits["s2"].status is Status.THIN_DATA and res.fits["s2"].reference is None
    q = res.quality.set_index(["stage", "model"])
    held = sum(f.holdout.n_rows for f in res.fits.values())
    pooled = q.loc["all"]
    # No pooled reference row: it would cover stage s1 only.
    assert set(pooled.index) == {"calibrated", "input"}
    assert (pooled["rows"] == held).all()
    # The pooled calibrated figures are those of the whole holdout as the calibrated
    # config scores it, each stage with its own probability mapping.
    rows = np.concatenate([f.holdout.rows for f in res.fits.values()])
    hold = frame.iloc[rows]
    y = hold["churned"].to_numpy()
    p = HealthScorer(res.config).score(hold, trend=False)["churn_probability"].to_numpy()
    assert pooled.loc["calibrated", "brier"] == pytest.approx(brier_score_loss(y, p), rel=1e-9)
    assert pooled.loc["calibrated", "auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    # Where every stage has every model, all three are pooled, on the same rows.
    pooled = result.quality.set_index(["stage", "model"]).loc["all"]
    assert set(pooled.index) == {"calibrated", "input", "reference"}
    assert (pooled["rows"] == sum(f.holdout.n_rows for f in result.fits.values())).all()


def test_weights_fixed_at_the_input_report_no_ci_not_a_zero_width_one():
    res = fit_quietly(thin_s2_frame(), n_bootstrap=10)
    kept, fitted = res.fits["s2"], res.fits["s1"]
    assert kept.estimate.ci is None and kept.estimate.component_ci is None
    assert fitted.exported.ci.shape == (3, 2) and np.all(fitted.exported.ci[:, 1]
                                                        > fitted.exported.ci[:, 0])
    assert kept.refit is None and kept.exported is kept.estimate
    table = res.summary()
    ci = table[["ci_low", "ci_high"]]
    assert ci[table["stage"] == "s2"].isna().all().all()
    assert ci[table["stage"] == "s1"].notna().all().all()
    comp = res.component_summary()
    assert comp.loc[comp["stage"] == "s2", ["ci_low", "ci_high"]].isna().all().all()
    lines = res.weight_lines().splitlines()
    for j, w in enumerate(kept.layout.input_weights):
        line = next(x for x in lines if f" m{4 + j} " in x)
        assert line.endswith(f"{w:.3f} -> {w:.3f} (fixed at the input weights; no bootstrap CI)")
    for j, (lo, hi) in enumerate(fitted.exported.ci):
        line = next(x for x in lines if f" m{1 + j} " in x)
        assert f"[{lo:.3f}, {hi:.3f}]  (train fit {fitted.estimate.weights[j]:.3f})" in line


def test_infinite_strength_reports_no_ci_and_no_bootstrap_no_note(frame):
    res = fit_quietly(frame, strengths=[np.inf], n_bootstrap=10)
    for fit in res.fits.values():
        assert fit.estimate.strength == np.inf and fit.estimate.ci is None
        np.testing.assert_array_equal(fit.estimate.weights, fit.layout.input_weights)
    assert res.summary()[["ci_low", "ci_high"]].isna().all().all()
    assert res.weight_lines().count("(fixed at the input weights; no bootstrap CI)") == 6
    bare = fit_quietly(frame, strengths=[np.inf], n_bootstrap=0)
    assert "no bootstrap CI" not in bare.weight_lines() and "[" not in bare.weight_lines()


def test_print_summary_can_leave_the_warnings_to_the_caller(capsys):
    res = fit_quietly(thin_s2_frame(), n_bootstrap=0)
    warning = "warning: stage 's2': only"
    res.print_summary()
    assert capsys.readouterr().out.count(warning) == 1
    res.print_summary(warnings=False)
    out = capsys.readouterr().out
    assert warning not in out and "holdout quality" in out


# ------------------------------------------------------ 4. thin / awkward
def _assert_finite(res, tmp_path):
    """No NaN weight anywhere, and the config still round-trips through YAML."""
    path = save_config(res.config, tmp_path / "config.yaml")
    assert load_config(path) == res.config
    for fit in res.fits.values():
        assert np.all(np.isfinite(fit.exported.weights)) and fit.exported.weights.sum() == pytest.approx(1.0)
        # A stage kept at the input weights has no CI at all (not a zero-width one).
        kept = fit.status.kept_input
        assert (fit.exported.ci is None) if kept else np.all(np.isfinite(fit.exported.ci))
    for stage in res.config.stages.values():
        assert all(np.isfinite(w) for w in stage.metric_weights().values())


def test_thin_stage_keeps_the_input_weights_with_a_warning(tmp_path):
    truth = {"s1": TRUTH["s1"], "s2": (-2.0, {"m4": 1.0, "m5": 0.7, "m6": 2.5})}
    frame = make_frame(truth, n_accounts=100, seed=7)
    with pytest.warns(CalibrationWarning, match=r"stage 's2': only \d+ churn events .*fewer "
                                                r"than 20"):
        res = calibrate(frame, make_config(), holdout_from=HOLDOUT, n_bootstrap=10)
    fit = res.fits["s2"]
    assert 0 < fit.counts.n_events < 20
    assert np.array_equal(fit.estimate.weights, fit.layout.input_weights)
    assert fit.status is Status.THIN_DATA and fit.reason == fit.warnings[-1]
    assert res.fits["s1"].status is Status.CALIBRATED
    assert res.config.provenance.status == {"s1": "calibrated", "s2": "thin_data"}
    _assert_finite(res, tmp_path)


def test_perfect_separation_warns_and_stays_finite(tmp_path):
    frame = make_frame(seed=8)
    s1 = frame["stage"] == "s1"
    known = frame["churned"].notna()
    frame.loc[s1 & known, "churned"] = (frame.loc[s1 & known, "m1"] < 0.15).astype(float)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = calibrate(frame, make_config(), holdout_from=HOLDOUT, n_bootstrap=10)
    messages = [str(w.message) for w in caught if w.category is CalibrationWarning]
    assert any(m.startswith("stage 's1': perfect or quasi-complete separation") for m in messages)
    assert any(m.startswith("stage 's1': the unconstrained reference model is separated")
               for m in messages)
    assert not any("'s2'" in m for m in messages)
    fit = res.fits["s1"]
    assert fit.separated and fit.estimate.strength > 0
    assert fit.estimate.weights[0] == fit.estimate.weights.max()           # m1 carries the stage
    _assert_finite(res, tmp_path)


def test_constant_metric_warns_and_is_held_at_its_input_share(tmp_path):
    frame = make_frame(seed=9)
    frame.loc[frame["stage"] == "s1", "m2"] = 0.5
    with pytest.warns(CalibrationWarning, match="stage 's1': metric 'm2' is constant"):
        res = calibrate(frame, make_config(), holdout_from=HOLDOUT, n_bootstrap=10)
    fit = res.fits["s1"]
    assert fit.diagnostics.frozen == ("m2",)
    assert fit.estimate.coef[1] == pytest.approx(fit.estimate.k * fit.layout.input_weights[1])
    _assert_finite(res, tmp_path)


def test_collinear_metrics_warn_and_stay_finite(tmp_path):
    frame = make_frame(seed=10)
    s2 = frame["stage"] == "s2"
    frame.loc[s2, "m5"] = frame.loc[s2, "m4"]
    with pytest.warns(CalibrationWarning, match="stage 's2': metrics 'm4' and 'm5' are "
                                                "collinear"):
        res = calibrate(frame, make_config(), holdout_from=HOLDOUT, n_bootstrap=10)
    fit = res.fits["s2"]
    assert fit.diagnostics.collinear == (("m4", "m5"),) and fit.estimate.strength > 0
    # equal input weights and identical columns: the pull splits their weight evenly
    assert fit.estimate.weights[0] == pytest.approx(fit.estimate.weights[1], rel=1e-6)
    inf = fit.reference.table.set_index("term")
    assert np.isnan(inf.loc["m5", "coef"]) and np.isfinite(inf.loc["m4", "coef"])
    _assert_finite(res, tmp_path)


# ------------------------------------------------------------ 9. bad input
def test_missing_churned_column_is_a_clear_error(frame):
    with pytest.raises(DataError, match="column 'churned': required column is missing"):
        calibrate(frame.drop(columns="churned"), make_config(), holdout_from=HOLDOUT)


@pytest.mark.parametrize("bad", [2, "yes"])
def test_churned_not_zero_or_one_is_a_clear_error(frame, bad):
    broken = frame.copy()
    broken["churned"] = broken["churned"].astype(object)
    broken.loc[[5, 17], "churned"] = bad
    with pytest.raises(DataError, match=r"column 'churned': .*\(2 rows; first accounts: "
                                        r"s1-0000, s1-0001; first rows: 5, 17\)"):
        calibrate(broken, make_config(), holdout_from=HOLDOUT)


def test_stage_without_churn_warns_and_keeps_the_input_weights(frame, tmp_path):
    quiet = frame.copy()
    s2 = (quiet["stage"] == "s2") & quiet["churned"].notna()
    quiet.loc[s2, "churned"] = 0.0
    with pytest.warns(CalibrationWarning, match="stage 's2': no churn events in the training"):
        res = calibrate(quiet, make_config(), holdout_from=HOLDOUT, n_bootstrap=10)
    fit = res.fits["s2"]
    assert np.array_equal(fit.estimate.weights, fit.layout.input_weights) and fit.estimate.probability is None
    assert fit.status is Status.NO_EVENTS
    assert res.fits["s1"].status is Status.CALIBRATED
    assert res.config.stages["s2"].probability is None
    _assert_finite(res, tmp_path)


def test_no_churn_at_all_is_an_error(frame):
    quiet = frame.copy()
    quiet.loc[quiet["churned"].notna(), "churned"] = 0.0
    with pytest.raises(DataError, match="column 'churned': no churn events at all"):
        calibrate(quiet, make_config(), holdout_from=HOLDOUT)


@pytest.mark.parametrize("date", ["2023-01-01", "2024-01-15", "2024-10-02", "2031-01-01"])
def test_holdout_date_outside_the_data_is_a_clear_error(frame, date):
    with pytest.raises(HScoreError, match=r"holdout_from: .* is outside the labelled data"):
        calibrate(frame, make_config(), holdout_from=date)


def test_holdout_date_that_is_not_a_date(frame):
    with pytest.raises(HScoreError, match=r"^holdout_from: must be a date \(YYYY-MM-DD\) or None, "
                                          r"got 'soon'"):
        calibrate(frame, make_config(), holdout_from="soon")


def test_config_metric_absent_from_the_frame_is_a_clear_error(frame):
    with pytest.raises(DataError, match="column 'm6': metric column is missing"):
        calibrate(frame.drop(columns="m6"), make_config(), holdout_from=HOLDOUT)


def test_never_measured_metric_warns_and_is_held(frame, tmp_path):
    empty = frame.copy()
    empty["m6"] = np.nan
    with pytest.warns(CalibrationWarning, match="stage 's2': metric 'm6' is never measured"):
        res = calibrate(empty, make_config(), holdout_from=HOLDOUT, n_bootstrap=10)
    assert res.fits["s2"].diagnostics.frozen == ("m6",)
    _assert_finite(res, tmp_path)


BAD_PARAMETERS = [
    ("base_config", 3, "a Config, a shipped default's name or a path"),
    ("holdout_from", "soon", "a date"), ("holdout_from", 20240801, "a date"),
    ("holdout", "random", "one of 'out_of_time', 'accounts', 'none'"),
    ("refit", "both", "one of 'all', 'train'"), ("refit", None, "one of 'all', 'train'"),
    ("horizon_days", 0, "a whole number >= 1"), ("horizon_days", 1.5, "a whole number >= 1"),
    ("horizon_days", True, "a whole number >= 1"),
    ("strengths", [-1.0], "penalty strengths >= 0"), ("strengths", [], "penalty strengths"),
    ("strengths", [float("nan")], "penalty strengths"), ("strengths", "0.1", "penalty"),
    ("cv_folds", 1, "a whole number >= 2"), ("cv_folds", 2.0, "a whole number >= 2"),
    ("n_bootstrap", -1, "a whole number >= 0"), ("n_bootstrap", True, "a whole number >= 0"),
    ("seed", -1, "a whole number >= 0"), ("seed", 0.5, "a whole number >= 0"),
    ("min_events", -1, "a whole number >= 0"),
    ("holdout_share", 1.0, "a number in (0, 1)"), ("holdout_share", 0, "a number in (0, 1)"),
    ("holdout_share", float("nan"), "a number in (0, 1)"),
    ("n_jobs", 0, "a whole number >= 1"), ("n_jobs", 1.5, "a whole number <= -1"),
    ("n_jobs", True, "a whole number >= 1"),
    ("transforms", "bend", "one of 'keep', 'learn'"),
    ("at_risk_share", 1.0, "a number in (0, 1)"), ("risk_multiple", 0, "a number > 0"),
    ("take_bands", "yes", "True or False"),
]


@pytest.mark.parametrize("name, value, allowed", BAD_PARAMETERS,
                         ids=[f"{n}={v!r}" for n, v, _ in BAD_PARAMETERS])
def test_each_constraint_violation_names_the_parameter(frame, name, value, allowed):
    params = {"base_config": make_config(), name: value}
    estimator = Calibrator(**params)
    with pytest.raises(HScoreError, match=f"^{name}: must be .*{re.escape(allowed)}.*, got "
                                          f"{re.escape(repr(value))}$"):
        estimator.fit(frame)
    with pytest.raises(NotFittedError):                   # a failed fit leaves it unfitted
        estimator.result_


def test_every_parameter_has_a_constraint_and_a_violation_test():
    params = set(Calibrator().get_params())
    assert set(Calibrator._parameter_constraints) == params
    assert {name for name, _, _ in BAD_PARAMETERS} == params


def test_unknown_horizon_is_a_clear_error(frame):
    data = make_config().to_dict()
    del data["label_horizon_days"]
    with pytest.raises(HScoreError, match="horizon_days: the label horizon is unknown"):
        calibrate(frame, config_from_dict(data))


def test_default_holdout_leaves_about_a_fifth_of_labelled_rows(frame):
    res = fit_quietly(frame, holdout_from=None, n_bootstrap=0)
    labelled = frame["churned"].notna().sum()
    held = sum(f.holdout.n_rows for f in res.fits.values())
    assert 0.1 < held / labelled < 0.35
    assert res.holdout_from in set(frame["snapshot_date"])


def test_single_stage_all_config_needs_no_stage_column(frame):
    single = frame[frame["stage"] == "s1"].drop(columns="stage")
    res = fit_quietly(single, make_config({"all": LAYOUT["s1"]}), n_bootstrap=10)
    assert list(res.fits) == ["all"]
    assert list(res.quality["model"]) == ["calibrated", "input", "reference"]   # no pooled
    two_stage = fit_quietly(frame, n_bootstrap=10)
    # the same rows and config as stage s1 of the two-stage fit: the same weights
    np.testing.assert_allclose(res.fits["all"].estimate.weights, two_stage.fits["s1"].estimate.weights,
                               rtol=1e-9)


def test_every_training_row_churned_keeps_the_input_weights(frame, tmp_path):
    doomed = frame.copy()
    doomed.loc[(doomed["stage"] == "s2") & doomed["churned"].notna(), "churned"] = 1.0
    with pytest.warns(CalibrationWarning, match="stage 's2': every row churned"):
        res = calibrate(doomed, make_config(), holdout_from=HOLDOUT, n_bootstrap=10)
    assert np.array_equal(res.fits["s2"].estimate.weights, res.fits["s2"].layout.input_weights)
    _assert_finite(res, tmp_path)


# ------------------------------------------------------------ 10. row order
def test_the_same_rows_in_any_order_calibrate_to_the_same_config():
    """Folds, resamples and sums follow (account_id, snapshot_date), not the file's order.

    On this small frame the old first-appearance order moved stage s2's cross-validated
    strength (0 vs 0.01) and so its weights by 0.12. The comparison is exact: the same
    rows in the same canonical order give bit-identical fits.
    """
    frame = make_frame(n_accounts=60, seed=3)
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    a = fit_quietly(frame, n_bootstrap=20, seed=0)
    b = fit_quietly(shuffled, n_bootstrap=20, seed=0)
    assert a.config.stages == b.config.stages                 # weights and probability
    for s in a.fits:
        np.testing.assert_array_equal(a.fits[s].estimate.weights, b.fits[s].estimate.weights)
        np.testing.assert_array_equal(a.fits[s].exported.weights, b.fits[s].exported.weights)
        np.testing.assert_array_equal(a.fits[s].exported.ci, b.fits[s].exported.ci)
    pd.testing.assert_frame_equal(a.quality, b.quality, check_exact=True)
    assert a.config.provenance.model_dump(exclude={"created"}) == \
        b.config.provenance.model_dump(exclude={"created"})


def test_a_metric_filled_on_many_training_rows_is_named_with_its_count():
    """Missing values are filled by the config's rule (what the scorer will do), which can
    cost a gappy metric weight: from a tenth of the training rows on, the warning says so."""
    frame = make_frame(n_accounts=200, months=8, seed=4)
    rng = np.random.default_rng(0)
    s1 = (frame["stage"] == "s1").to_numpy()
    blank = s1 & (rng.random(len(frame)) < 0.25)
    few = ~s1 & (rng.random(len(frame)) < 0.03)
    frame.loc[blank, "m2"] = np.nan
    frame.loc[few, "m5"] = np.nan
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # no holdout: every labelled row of the stage trains, so the counts are plain to see
        result = calibrate(frame, make_config(), holdout="none", strengths=(0.01,),
                           n_bootstrap=0)
    said = [str(w.message) for w in caught if "not measured on" in str(w.message)]
    labelled_s1 = s1 & frame["churned"].notna().to_numpy()
    train, n = int(labelled_s1.sum()), int((labelled_s1 & blank).sum())
    assert result.fits["s1"].counts.n_rows == train and n >= 0.1 * train
    assert said == [f"stage 's1': not measured on 10% or more of the {train:,} training rows: "
                    f"m2 {n:,} ({n / train:.0%}); filled by the config's missing rule "
                    f"'reweight' as the scorer fills them, so their weights are the ones that "
                    f"scorer needs"]                      # m5, 3% missing in s2: not said
    assert said[0].removeprefix("stage 's1': ") in result.fits["s1"].warnings

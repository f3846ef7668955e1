"""Calibration is correct on synthetic data whose truth is known (hscore.synth).

~20,000 labelled snapshots per stage (``synth.make_stage_sample(20000)``):

- "shifted" truth: every exported effective weight is within 0.03 of the true
  weight, and the calibrated config's holdout AUC is within 0.01 of the true
  model's on the same holdout rows;
- "defaults" truth (the truth equals the input weights): shrinkage does no harm,
  the calibrated config's holdout log-loss is at most 0.002 above the input config's.

Measured over seeds 0-4 when these tests were written: worst weight error 0.023 (about 3
bootstrap SEs of the unpenalized fit at this size), worst AUC gap 0.0014, worst
log-loss excess 0.0001. The tests use seed 0 and 20 bootstrap resamples.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from hscore import synth
from hscore.calibration import CalibrationWarning, Status, calibrate
from hscore.calibration.evaluation import auc, log_loss

pytestmark = pytest.mark.slow

N_PER_STAGE = 20000


def _calibrate(history):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        return calibrate(history.frame, "lifecycle", horizon_days=history.horizon_days,
                         n_bootstrap=20, seed=0)


@pytest.fixture(scope="module")
def shifted():
    history = synth.make_stage_sample(N_PER_STAGE, seed=0, truth="shifted")
    return history, _calibrate(history)


@pytest.fixture(scope="module")
def defaults():
    history = synth.make_stage_sample(N_PER_STAGE, seed=0, truth="defaults")
    return history, _calibrate(history)


def test_sample_has_about_20000_training_snapshots_per_stage(shifted):
    _, result = shifted
    for fit in result.fits.values():
        assert fit.counts.n_rows + fit.holdout.n_rows + fit.counts.n_straddling > 0.9 * N_PER_STAGE
        assert fit.counts.n_events > 1000 and fit.status is Status.CALIBRATED


def test_exported_weights_are_within_003_of_the_truth(shifted):
    history, result = shifted
    for stage in result.fits:
        exported = pd.Series(result.config.stages[stage].metric_weights())
        truth = history.truth.weights(stage)[exported.index]
        err = (exported - truth).abs()
        assert err.max() <= 0.03, f"{stage}: {err.idxmax()} off by {err.max():.4f}"
        assert exported.idxmax() == truth.idxmax()


def test_maturity_usage_beats_pulse_as_in_the_truth(shifted):
    _, result = shifted
    w = pd.Series(result.config.stages["maturity"].metric_weights())
    assert w["feature_adoption_rate"] > 0.25 and w["csm_pulse"] < 0.05
    fit = result.fits["maturity"]
    ci = dict(zip(fit.layout.metrics, fit.exported.ci))     # the exported fit's CIs
    assert ci["feature_adoption_rate"][0] > ci["csm_pulse"][1]


def test_holdout_auc_is_within_001_of_the_true_model(shifted):
    history, result = shifted
    q = result.quality.set_index(["stage", "model"])
    for stage, fit in result.fits.items():
        hold = history.frame.iloc[fit.holdout.rows]
        y = hold["churned"].to_numpy()
        true_auc = auc(y, history.truth.probability(hold))
        gap = true_auc - q.loc[(stage, "calibrated"), "auc"]
        assert abs(gap) <= 0.01, f"{stage}: AUC gap {gap:.4f}"
        # and calibration beats the documented defaults on this truth
        assert q.loc[(stage, "calibrated"), "auc"] > q.loc[(stage, "input"), "auc"]


def test_truth_as_config_scores_the_holdout_like_the_true_probability(shifted):
    history, result = shifted
    fit = result.fits["renewal"]
    hold = history.frame.iloc[fit.holdout.rows]
    from hscore import HealthScorer

    scored = HealthScorer(history.truth.as_config()).score(hold, trend=False)
    np.testing.assert_allclose(scored["churn_probability"], history.truth.probability(hold))


def test_shrinkage_does_no_harm_when_the_truth_is_the_input(defaults):
    history, result = defaults
    q = result.quality.set_index(["stage", "model"])
    for stage in list(result.fits) + ["all"]:
        excess = q.loc[(stage, "calibrated"), "log_loss"] - q.loc[(stage, "input"), "log_loss"]
        assert excess <= 0.002, f"{stage}: calibrated log-loss {excess:.4f} above the input's"
    for stage in result.fits:
        exported = pd.Series(result.config.stages[stage].metric_weights())
        truth = history.truth.weights(stage)[exported.index]
        assert (exported - truth).abs().max() <= 0.03
        # and the fit is no worse than the truth itself by more than noise
        fit = result.fits[stage]
        hold = history.frame.iloc[fit.holdout.rows]
        y = hold["churned"].to_numpy()
        true_ll = log_loss(y, history.truth.probability(hold))
        assert q.loc[(stage, "calibrated"), "log_loss"] - true_ll <= 0.002

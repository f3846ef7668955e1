"""The bounded, shrunk logistic fit (hscore.calibration.logistic) against independent references:
statsmodels Logit / GLM for the unpenalized and intercept-only limits, scipy L-BFGS-B on a
log-likelihood written out here for the bound-active and penalized cases."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.optimize import minimize
from scipy.special import expit

from hscore.calibration.logistic import LogisticFit, fit_logistic, mean_log_loss


def _data(n, b, a=1.0, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, len(b)))
    y = (rng.uniform(size=n) < expit(a - X @ np.asarray(b, dtype=float))).astype(float)
    return X, y


def _reference_fit(X, y, w=None, prior=None, strength=0.0, nonneg=True):
    """Independent reference: the same objective written out, minimized by L-BFGS-B."""
    n, m = X.shape
    w = np.ones(n) if w is None else w
    prior = np.zeros(m) if prior is None else prior

    def objective(theta):
        eta = theta[0] - X @ theta[1:]
        loss = np.sum(w * (np.logaddexp(0, eta) - y * eta)) / w.sum()
        return loss + strength * np.sum((theta[1:] - prior) ** 2)

    bounds = [(None, None)] + [(0, None) if nonneg else (None, None)] * m
    res = minimize(objective, np.zeros(m + 1), method="L-BFGS-B", bounds=bounds,
                   options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 10000, "maxfun": 100000})
    return res.x[0], res.x[1:]


def test_zero_strength_equals_statsmodels_logit_when_no_bound_is_active():
    X, y = _data(6000, [2.0, 1.0, 1.5], seed=1)
    fit = fit_logistic(X, y, strength=0.0)
    # reference: sm.Logit(y, sm.add_constant(X)).fit(); b = -coefficient of the sub-score
    ref = sm.Logit(y, sm.add_constant(X)).fit(disp=0)
    assert fit.converged
    assert np.all(ref.params[1:] < -0.3)                  # no bound active
    np.testing.assert_allclose(fit.b, -ref.params[1:], atol=1e-6)
    assert fit.a == pytest.approx(ref.params[0], abs=1e-6)


def test_active_bound_matches_lbfgsb_with_bounds():
    # The second metric truly raises churn risk when healthier: b >= 0 holds it at 0.
    X, y = _data(8000, [2.0, -1.5, 1.0], seed=2)
    fit = fit_logistic(X, y)
    a_ref, b_ref = _reference_fit(X, y)
    assert b_ref[1] == 0.0 and fit.b[1] == 0.0            # the bound is active in both
    np.testing.assert_allclose(fit.b, b_ref, atol=1e-4)
    assert fit.a == pytest.approx(a_ref, abs=1e-4)
    # and it differs from the unconstrained fit, which takes the negative value
    ref = sm.Logit(y, sm.add_constant(X)).fit(disp=0)
    assert -ref.params[2] < -0.5


def test_penalized_fit_matches_reference_minimizer():
    X, y = _data(3000, [2.0, 0.5, 1.0], seed=3)
    prior = np.array([1.0, 1.0, 1.0])
    for strength in (1e-3, 3e-2):
        fit = fit_logistic(X, y, prior=prior, strength=strength)
        a_ref, b_ref = _reference_fit(X, y, prior=prior, strength=strength)
        np.testing.assert_allclose(fit.b, b_ref, atol=1e-4)
        assert fit.a == pytest.approx(a_ref, abs=1e-4)


def test_huge_strength_returns_the_prior_and_inf_returns_it_exactly():
    X, y = _data(3000, [2.0, 0.5, 1.0], seed=4)
    prior = np.array([0.6, 1.2, 0.9])
    near = fit_logistic(X, y, prior=prior, strength=1e9)
    np.testing.assert_allclose(near.b, prior, atol=1e-6)
    exact = fit_logistic(X, y, prior=prior, strength=np.inf)
    assert np.array_equal(exact.b, prior)
    # the intercept alone is fitted: a GLM with offset -X @ prior and only a constant
    glm = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(),
                 offset=-(X @ prior)).fit()
    assert exact.a == pytest.approx(glm.params[0], abs=1e-8)
    assert near.a == pytest.approx(exact.a, abs=1e-5)


def test_frequency_weights_equal_duplicated_rows():
    X, y = _data(2000, [1.0, 2.0], seed=5)
    w = np.random.default_rng(0).integers(0, 4, len(y)).astype(float)
    weighted = fit_logistic(X, y, sample_weight=w, prior=np.ones(2), strength=1e-3)
    rep = np.repeat(np.arange(len(y)), w.astype(int))
    copied = fit_logistic(X[rep], y[rep], prior=np.ones(2), strength=1e-3)
    np.testing.assert_allclose(weighted.b, copied.b, atol=1e-7)
    assert weighted.a == pytest.approx(copied.a, abs=1e-7)


def test_offset_equals_a_column_held_fixed():
    X, y = _data(3000, [1.5, 1.0, 0.8], seed=6)
    held = 0.8
    fit = fit_logistic(X[:, :2], y, offset=-held * X[:, 2])
    without = fit_logistic(X[:, :2], y)

    def objective(theta):
        eta = theta[0] - X[:, :2] @ theta[1:] - held * X[:, 2]
        return np.mean(np.logaddexp(0, eta) - y * eta)

    res = minimize(objective, np.zeros(3), method="L-BFGS-B",
                   bounds=[(None, None), (0, None), (0, None)],
                   options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 10000})
    np.testing.assert_allclose(np.r_[fit.a, fit.b], res.x, atol=1e-4)
    assert not np.allclose(np.r_[without.a, without.b], res.x, atol=1e-2)  # it mattered


def test_warm_started_few_step_refit_is_close_to_the_exact_refit():
    X, y = _data(20000, [2.0, 1.0, 1.5, 0.5], seed=7)
    full = fit_logistic(X, y, prior=np.ones(4), strength=1e-4)
    w = np.random.default_rng(1).poisson(1.0, len(y)).astype(float)
    exact = fit_logistic(X, y, sample_weight=w, prior=np.ones(4), strength=1e-4)
    quick = fit_logistic(X, y, sample_weight=w, prior=np.ones(4), strength=1e-4, start=full,
                         max_iter=3, exact=False)
    # three Newton steps from the full-data fit: far below the resampling spread (~0.1)
    np.testing.assert_allclose(quick.b, exact.b, atol=1e-6)


def test_separated_data_give_finite_coefficients():
    rng = np.random.default_rng(8)
    X = rng.uniform(size=(500, 2))
    y = (X[:, 0] < 0.3).astype(float)                    # churn iff metric 0 is low
    fit = fit_logistic(X, y)
    assert np.all(np.isfinite(fit.b)) and np.isfinite(fit.a)
    assert fit.b[0] > 30                                  # heads off toward infinity
    penalized = fit_logistic(X, y, prior=np.ones(2), strength=1e-3)
    assert np.all(np.isfinite(penalized.b)) and penalized.b[0] < 30


def test_mean_log_loss_matches_direct_formula():
    X, y = _data(500, [1.0, 1.0], seed=9)
    fit = fit_logistic(X, y)
    p = fit.proba(X)
    direct = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert mean_log_loss(y, fit.risk(X)) == pytest.approx(direct, rel=1e-12)


def test_zero_weights_are_rejected():
    X, y = _data(50, [1.0], seed=10)
    with pytest.raises(ValueError, match="sample_weight"):
        fit_logistic(X, y, sample_weight=np.zeros(50))
    assert isinstance(fit_logistic(X, y), LogisticFit)

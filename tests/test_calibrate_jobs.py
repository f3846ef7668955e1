"""Calibration at scale: the worker threads (``n_jobs`` / ``--jobs``) change nothing in the
result, the warm-started bootstrap refits equal exact cold fits, and the prepared problems
that many fits share give the fits of the plain functions."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

from hscore.calibration import CalibrationWarning, Calibrator
from hscore.calibration import shrinkage
from hscore.calibration.design import build_designs
from hscore.calibration.evaluation import account_weight_blocks
from hscore.calibration.inference import bootstrap_weights
from hscore.calibration.logistic import LogisticProblem, fit_logistic
from hscore.calibration.shrinkage import fit_held
from hscore.cli import main
from hscore.config import load_config, save_config
from test_calibrate import HOLDOUT, make_config, make_frame


@pytest.fixture(scope="module")
def frame():
    # A constant metric in s1 is held at its prior: the held-metric path runs in threads too.
    data = make_frame(n_accounts=120, seed=31)
    data.loc[data["stage"] == "s1", "m3"] = 0.5
    return data


def _fit(frame, n_jobs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        return Calibrator(make_config(), holdout_from=HOLDOUT, n_bootstrap=40, seed=3,
                          n_jobs=n_jobs).fit(frame).result_


def test_two_threads_give_bit_identical_cis_cv_and_weights(frame, monkeypatch):
    threads = set()
    fit = shrinkage.HeldProblem.fit

    def spy(self, *args, **kwargs):
        threads.add(threading.current_thread().name)
        return fit(self, *args, **kwargs)

    one = _fit(frame, 1)
    monkeypatch.setattr(shrinkage.HeldProblem, "fit", spy)
    two = _fit(frame, 2)
    assert len({t for t in threads if t.startswith("hscore")}) == 2   # both threads worked
    assert one.fits["s1"].diagnostics.frozen                          # a held metric ran
    for key in one.fits:
        a, b = one.fits[key], two.fits[key]
        assert a.exported.draws is not None and len(a.exported.draws) == 40
        assert np.array_equal(a.exported.draws, b.exported.draws)
        assert np.array_equal(a.exported.ci, b.exported.ci)
        assert np.array_equal(a.exported.component_ci, b.exported.component_ci)
        assert np.array_equal(a.exported.weights, b.exported.weights)
        assert a.cv.table.equals(b.cv.table)
    assert one.summary().equals(two.summary())


def test_every_core_is_the_same_as_one(frame):
    assert _fit(frame, -1).summary().equals(_fit(frame, None).summary())


@pytest.fixture(scope="module")
def design(frame):
    return build_designs(frame, make_config()).designs["s2"]


def test_warm_started_bootstrap_refits_equal_exact_cold_fits(design):
    X, y, held = design.X, design.y, np.zeros(design.X.shape[1], bool)
    v0 = design.layout.input_weights
    prior = fit_logistic((X @ v0)[:, None], y).b[0] * v0
    strength = 1e-3
    full = fit_held(X, y, None, prior, strength, held)
    draws = bootstrap_weights(design, prior, strength, held, full, 12, seed=5)[0]
    blocks = account_weight_blocks(design.groups, 12, np.random.default_rng(5))
    cold = [fit_held(X, y, w, prior, strength, held) for w in np.concatenate(list(blocks))]
    assert all(c.converged for c in cold)
    cold_v = np.array([c.b / c.b.sum() for c in cold])
    # The warm refits (chord steps from the full fit) stop at a projected gradient of 1e-6,
    # the cold ones at 1e-10: they agree to a hundredth of the spread between resamples,
    # far inside what the percentile CIs resolve.
    spread = cold_v.std(axis=0).max()
    assert spread > 1e-3                                               # resamples differ
    np.testing.assert_allclose(draws, cold_v, atol=spread / 100)
    assert not np.array_equal(draws, cold_v)                           # two different paths


def test_zero_weight_rows_count_for_nothing():
    rng = np.random.default_rng(2)
    X = rng.uniform(size=(3000, 3))
    y = (rng.uniform(size=3000) < 1 / (1 + np.exp(-(0.5 - X @ [2.0, 1.0, 0.5])))).astype(float)
    w = rng.integers(0, 3, 3000).astype(float)
    kept = w > 0
    weighted = LogisticProblem(X, y).fit(sample_weight=w, prior=np.ones(3), strength=1e-3)
    dropped = fit_logistic(X[kept], y[kept], sample_weight=w[kept], prior=np.ones(3),
                           strength=1e-3)
    np.testing.assert_allclose(np.r_[weighted.a, weighted.b], np.r_[dropped.a, dropped.b],
                               atol=1e-8)


def test_a_held_problem_reused_across_strengths_equals_fresh_fits(design):
    X, y = design.X, design.y
    held = np.zeros(X.shape[1], bool)
    held[1] = True
    prior = np.array([1.0, 0.5, 1.5])
    problem = shrinkage.HeldProblem(X, y, prior, held)
    for s in (np.inf, 0.1, 0.0):
        reused, fresh = problem.fit(None, s), fit_held(X, y, None, prior, s, held)
        assert reused.b[1] == prior[1]
        np.testing.assert_allclose(np.r_[reused.a, reused.b], np.r_[fresh.a, fresh.b],
                                   atol=1e-12)


def test_cli_jobs_writes_the_same_config(tmp_path, frame):
    frame.to_csv(tmp_path / "snapshots.csv", index=False)
    save_config(make_config(), tmp_path / "hand.yaml")

    def run(*extra):
        return main(["calibrate", "--snapshots", str(tmp_path / "snapshots.csv"), "--config",
                     str(tmp_path / "hand.yaml"), "--holdout-from", HOLDOUT, "--bootstrap",
                     "10", "--no-track", "--quiet", *extra])

    assert run("--out", str(tmp_path / "one.yaml")) == 0
    assert run("--out", str(tmp_path / "two.yaml"), "--jobs", "2") == 0
    one, two = load_config(tmp_path / "one.yaml"), load_config(tmp_path / "two.yaml")
    for s in one.stages:
        assert one.stages[s].metric_weights() == two.stages[s].metric_weights()


def test_cli_jobs_zero_is_one_error_line(tmp_path, frame, capsys):
    code = main(["calibrate", "--snapshots", str(tmp_path / "x.csv"), "--out",
                 str(tmp_path / "o.yaml"), "--jobs", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("error:") and "--jobs" in err[0] and "got '0'" in err[0]

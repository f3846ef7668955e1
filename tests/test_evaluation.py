"""AUC, account bootstrap, Brier, log-loss and calibration tables (hscore.calibration.evaluation) against
scikit-learn and hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.metrics import log_loss as sk_log_loss

from hscore.calibration.evaluation import (account_weight_blocks, account_weights, auc, auc_ci, auc_cis,
                               bootstrap_auc, brier, calibration_table, log_loss)


def _sample(n=400, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    if ties:
        risk = np.round(risk, 1)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-risk))).astype(float)
    groups = rng.integers(0, n // 4, n)
    return y, risk, groups


def test_auc_by_hand():
    # 3 of the 4 (churned, retained) pairs are ordered right; a tie counts half
    assert auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert auc([0, 1], [0.5, 0.5]) == 0.5
    assert np.isnan(auc([1, 1], [0.1, 0.2]))


@pytest.mark.parametrize("ties", [False, True])
def test_auc_matches_sklearn_with_ties_and_weights(ties):
    y, risk, _ = _sample(ties=ties)
    w = np.random.default_rng(1).integers(0, 4, len(y)).astype(float)
    assert auc(y, risk) == pytest.approx(roc_auc_score(y, risk), abs=1e-12)
    assert auc(y, risk, w) == pytest.approx(roc_auc_score(y, risk, sample_weight=w), abs=1e-12)


def test_account_weights_resample_whole_accounts():
    groups = np.array(["a", "a", "b", "c", "c", "c", "d"])
    w = account_weights(groups, 50, seed=3)
    assert w.shape == (50, len(groups))
    for code in np.unique(groups):
        rows = w[:, groups == code]
        assert np.all(rows == rows[:, :1])      # every snapshot of an account moves together
    # each resample draws as many accounts as there are (with replacement)
    per_account = np.stack([w[:, groups == g][:, 0] for g in np.unique(groups)], axis=1)
    assert np.all(per_account.sum(axis=1) == 4)
    assert np.array_equal(w, account_weights(groups, 50, seed=3))
    assert not np.array_equal(w, account_weights(groups, 50, seed=4))


def test_weight_blocks_do_not_depend_on_block_size():
    groups = np.repeat(np.arange(30), 3)
    blocks = list(account_weight_blocks(groups, 70, np.random.default_rng(5)))
    assert [len(b) for b in blocks] == [32, 32, 6]
    whole = np.concatenate(blocks)
    assert np.array_equal(whole[:20], account_weights(groups, 20, 5))


def test_bootstrap_auc_equals_weighted_auc_of_each_resample():
    y, risk, groups = _sample(ties=True)
    other = risk + np.random.default_rng(2).normal(size=len(y))
    boot = bootstrap_auc(y, [risk, other], groups, n_boot=40, seed=7)
    weights = account_weights(groups, 40, seed=7)
    for r in range(40):
        # reference: sklearn's weighted AUC on the same resample
        assert boot[r, 0] == pytest.approx(roc_auc_score(y, risk, sample_weight=weights[r]),
                                           abs=1e-12)
        assert boot[r, 1] == pytest.approx(roc_auc_score(y, other, sample_weight=weights[r]),
                                           abs=1e-12)


def test_auc_ci_is_reproducible_and_brackets_the_estimate():
    y, risk, groups = _sample(n=2000)
    a, lo, hi = auc_ci(y, risk, groups, n_boot=200, seed=0)
    assert a == pytest.approx(roc_auc_score(y, risk))
    assert lo < a < hi
    assert (a, lo, hi) == auc_ci(y, risk, groups, n_boot=200, seed=0)
    # paired: the first risk's CI is the same when computed alongside another
    both = auc_cis(y, [risk, -risk], groups, n_boot=200, seed=0)
    assert both[0] == (a, lo, hi)
    assert both[1][0] == pytest.approx(1 - a)


def test_brier_and_log_loss_match_sklearn():
    rng = np.random.default_rng(4)
    p = rng.uniform(0.01, 0.99, 300)
    y = (rng.uniform(size=300) < p).astype(float)
    assert brier(y, p) == pytest.approx(brier_score_loss(y, p), rel=1e-12)
    assert log_loss(y, p) == pytest.approx(sk_log_loss(y, p), rel=1e-12)
    # probabilities of exactly 0 / 1 are clipped, not infinite
    assert np.isfinite(log_loss(np.array([1.0, 0.0]), np.array([0.0, 1.0])))


def test_calibration_table_by_hand():
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    y = np.array([0, 0, 1, 0, 1, 1], dtype=float)
    table = calibration_table(y, p, bins=3)
    expected = pd.DataFrame({"bin": [1, 2, 3], "rows": [2, 2, 2],
                             "mean_predicted": [0.15, 0.35, 0.55],
                             "observed_rate": [0.0, 0.5, 1.0]})
    pd.testing.assert_frame_equal(table, expected)
    assert calibration_table(y[:0], p[:0]).empty

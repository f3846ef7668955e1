"""hscore.synth: the synthetic histories follow the documented generative model."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from hscore import HealthScorer, synth
from hscore.errors import HScoreError
from hscore.scoring.snapshots import check_snapshots

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def history():
    return synth.make_history(n_accounts=400, months=18, seed=11)


def test_same_seed_same_bytes(tmp_path):
    a = synth.make_history(n_accounts=120, months=10, seed=5)
    b = synth.make_history(n_accounts=120, months=10, seed=5)
    pa, pb = tmp_path / "a.csv", tmp_path / "b.csv"
    a.frame.to_csv(pa, index=False)
    b.frame.to_csv(pb, index=False)
    assert pa.read_bytes() == pb.read_bytes()
    c = synth.make_history(n_accounts=120, months=10, seed=6)
    assert not a.frame.equals(c.frame)


def test_committed_sample_regenerates_byte_for_byte(tmp_path):
    fresh = synth.write_sample(tmp_path / "sample.csv")
    committed = REPO / "data" / "sample_snapshots.csv"
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (fresh, committed)]
    assert digest[0] == digest[1]


def test_frame_meets_the_data_contract(history):
    checked = check_snapshots(history.frame, history.config)   # raises on any bad input
    assert checked.n_rows == len(history.frame)
    f = history.frame
    assert set(f["stage"]) == {"onboarding", "adoption", "maturity", "renewal"}
    assert f["seats"].ge(1).all()
    assert set(f["churned"].dropna().unique()) <= {0.0, 1.0}


def test_stage_follows_contract_tenure():
    # days since the contract started -> stage; renewal is the 90 days before each anniversary
    tenure = np.array([0, 90, 91, 274, 275, 364, 365, 455, 639, 640, 729])
    # 365 - 275 = 90 days to renewal -> renewal; 365 - 274 = 91 -> adoption
    expected = ["onboarding", "onboarding", "adoption", "adoption", "renewal", "renewal",
                "maturity", "maturity", "maturity", "renewal", "renewal"]
    stages = np.array(["onboarding", "adoption", "maturity", "renewal"])
    assert list(stages[synth._stage_of_tenure(tenure)]) == expected


def test_stages_move_forward_through_the_first_year(history):
    order = {"onboarding": 0, "adoption": 1, "renewal": 3}
    f = history.frame.sort_values(["account_id", "snapshot_date"])
    first_year = f[f["stage"].isin(list(order))].groupby("account_id")["stage"]
    for _, stages in first_year:
        codes = stages.map(order).to_numpy()
        # within the first contract year the codes never go back (onboarding -> adoption -> renewal)
        head = codes[: np.argmax(codes == 3) + 1] if (codes == 3).any() else codes
        assert np.all(np.diff(head) >= 0)


def test_no_snapshot_after_churn_and_last_month_censored(history):
    f = history.frame.sort_values(["account_id", "snapshot_date"])
    churn_rows = f[f["churned"] == 1]
    last_date = f.groupby("account_id")["snapshot_date"].max()
    assert (churn_rows["snapshot_date"].to_numpy()
            == last_date.loc[churn_rows["account_id"]].to_numpy()).all()
    final_month = f["snapshot_date"].max()
    assert f.loc[f["snapshot_date"] == final_month, "churned"].isna().all()
    assert f.loc[f["snapshot_date"] < final_month, "churned"].notna().all()


def test_missing_rate_is_respected():
    h = synth.make_history(n_accounts=300, months=12, seed=2, missing_rate=0.1)
    cfg = h.config
    shares = []
    for stage, st in cfg.stages.items():
        rows = h.frame[h.frame["stage"] == stage]
        shares.append(rows[st.metric_names].isna().to_numpy().mean())
    assert 0.08 < np.mean(shares) < 0.12


def test_truth_weights_documented():
    h = synth.make_stage_sample(200, seed=0)
    w = h.truth.weights("maturity")
    assert w["feature_adoption_rate"] == pytest.approx(synth.TRUE_WEIGHTS["maturity"]["feature_adoption_rate"])
    assert w["events_30d"] == pytest.approx(w["stickiness"])
    assert (w == 0).any()
    for stage in h.config.stages:
        assert h.truth.weights(stage).sum() == pytest.approx(1.0)
    d = synth.make_stage_sample(200, seed=0, truth="defaults")
    for stage, st in d.config.stages.items():
        expected = pd.Series(st.metric_weights())
        assert np.allclose(d.truth.weights(stage)[expected.index], expected, atol=1e-12)


def test_truth_config_reproduces_true_probability():
    h = synth.make_stage_sample(300, seed=4, missing_rate=0.0)
    cfg = h.truth.as_config()
    scorer = HealthScorer(h.config)
    p = h.truth.probability(h.frame)
    for stage, sub in scorer.subscores(h.frame).items():
        eta = h.truth.linear_risk(stage, sub.values / 100.0)
        assert np.allclose(p[sub.rows], 1 / (1 + np.exp(-eta)), rtol=1e-9, atol=1e-12)
        # its weights are the true effective weights
        got = pd.Series(cfg.stages[stage].metric_weights())
        assert np.allclose(got[sub.metrics], h.truth.weights(stage)[sub.metrics], atol=1e-12)


@pytest.mark.slow
def test_labels_follow_the_documented_model():
    """A plain logistic regression on the sub-scores recovers the true weights."""
    h = synth.make_stage_sample(20000, seed=3)
    lab = h.frame.dropna(subset=["churned"]).reset_index(drop=True)
    for stage, sub in HealthScorer(h.config).subscores(lab).items():
        X, y = sub.values / 100.0, lab["churned"].to_numpy()[sub.rows]
        # reference: statsmodels Logit(y, add_constant(X)).fit()
        fit = sm.Logit(y, sm.add_constant(X)).fit(disp=0)
        b = -fit.params[1:]
        err = np.abs(b / b.sum() - h.truth.weights(stage)[sub.metrics].to_numpy())
        assert err.max() < 0.03, (stage, err.max())
        assert abs(fit.params[0] - h.truth.intercept[stage]) < 5 * fit.bse[0]


def test_stage_sample_counts():
    h = synth.make_stage_sample(1000, seed=9)
    counts = h.frame.dropna(subset=["churned"]).groupby("stage").size()
    assert counts.between(900, 1150).all(), counts
    assert h.frame.groupby("account_id")["stage"].nunique().eq(1).all()


@pytest.mark.parametrize("kwargs, field", [
    ({"n_accounts": 0}, "n_accounts"), ({"months": 1}, "months"),
    ({"truth": "magic"}, "truth"), ({"missing_rate": 1.5}, "missing_rate"),
])
def test_bad_arguments_are_named(kwargs, field):
    with pytest.raises(HScoreError, match=field):
        synth.make_history(**{"n_accounts": 10, "months": 6, **kwargs})

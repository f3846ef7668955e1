"""Learned monotone transforms and proposed bands, against known truth (hscore.synth.shapes),
hand computations, and the one scoring path (config file, pyfunc model, MLflow run)."""

from __future__ import annotations

import dataclasses
import math
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from hscore import HealthScorer, plots
from hscore.calibration import Calibrator
from hscore.calibration import take_bands
from hscore.calibration.design import build_designs
from hscore.calibration.learned import learn_for_holdout, learn_piecewise
from hscore.cli import main
from hscore.config import load_config, save_config
from hscore.errors import HScoreError
from hscore.synth import make_curved_book

BENT = ("logins_30d", "seat_utilization")   # the strongest bends of the curved truth


def _fit(book, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Calibrator(book.config, n_bootstrap=0, refit="train", **kwargs).fit(
            book.frame).result_


@pytest.fixture(scope="module")
def curved():
    return make_curved_book(n_accounts=1500, months=10, seed=3)


@pytest.fixture(scope="module")
def learned(curved):
    return _fit(curved, transforms="learn")


@pytest.fixture(scope="module")
def kept(curved):
    return _fit(curved, transforms="keep")


# ------------------------------------------------------------------ the curve itself
def test_learned_curve_recovers_a_saturating_truth():
    rng = np.random.default_rng(5)
    x = np.round(rng.lognormal(np.log(10), 0.9, 30000))
    truth = 100 * (1 - np.exp(-x / 8))                  # the curved book's logins curve
    p = 1 / (1 + np.exp(-(-1.0 - 3.0 * truth / 100)))
    y = (rng.uniform(size=x.size) < p).astype(float)
    t, bins = learn_piecewise(x, y, "higher_is_better")
    grid = np.array([2.0, 4.0, 8.0, 16.0, 30.0])
    from hscore.scoring.transforms import subscore

    got = subscore(t, "higher_is_better", grid)
    # the learned curve is rescaled to its own data range: compare with the truth rescaled
    # over the same range (the means of the first and last bins)
    lo, hi = (100 * (1 - np.exp(-bins["x"].iloc[[0, -1]].to_numpy() / 8)))
    want = np.clip(100 * (100 * (1 - np.exp(-grid / 8)) - lo) / (hi - lo), 0, 100)
    assert np.max(np.abs(got - want)) < 12, (got, want)
    assert all(b >= a for a, b in zip(got, got[1:]))          # monotone


def test_learned_curve_for_a_lower_is_better_metric_falls():
    rng = np.random.default_rng(6)
    days = rng.uniform(0, 120, 20000)
    p = 1 / (1 + np.exp(-(-3.0 + 2.5 * np.clip((days - 30) / 60, 0, 1))))
    y = (rng.uniform(size=days.size) < p).astype(float)
    t, _ = learn_piecewise(days, y, "lower_is_better")
    ys = [pt[1] for pt in t.points]
    assert ys[0] == 100.0 and ys[-1] == 0.0 and all(b <= a for a, b in zip(ys, ys[1:]))


def test_no_effect_learns_no_curve():
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 10, 5000)
    t, _ = learn_piecewise(x, np.zeros(5000), "higher_is_better")
    assert t is None


# -------------------------------------------------------- choosing by cross-validation
def _choices(book):
    dset = build_designs(book.frame, book.config)
    from hscore.calibration.split import choose_holdout

    d = dset.designs["all"]
    holdout = choose_holdout(None, d.days, 30, 0.2)
    return {c.metric: c for c in learn_for_holdout(book.config, dset, holdout)[1]}


def test_cv_keeps_linear_when_the_truth_is_linear():
    choices = _choices(make_curved_book(n_accounts=1500, months=10, seed=4, shape="linear"))
    assert {m: c.chosen for m, c in choices.items()} == dict.fromkeys(choices, "configured")


def test_cv_takes_the_curve_where_the_truth_bends(learned):
    chosen = {c.metric: c.chosen for c in learned.transforms}
    assert all(chosen[m] == "piecewise" for m in BENT), chosen
    cfg = learned.config
    metrics = cfg.stages["all"].components["health"].metrics
    assert metrics["logins_30d"].transform.kind == "piecewise"
    # taken or not, the choice and its reason are recorded in the provenance
    assert set(cfg.provenance.learned_transforms) == {f"all.{m}" for m in chosen}


def test_learning_beats_the_straight_lines_on_the_holdout(curved, learned, kept):
    frame = curved.frame
    labelled = frame[frame["churned"].notna()].reset_index(drop=True)
    days = labelled["snapshot_date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    hold = labelled[learned.holdout.split(days).holdout]
    aucs = {}
    for name, result in (("learn", learned), ("keep", kept)):
        score = HealthScorer(result.config).score(hold, trend=False)["score"].to_numpy()
        ok = ~np.isnan(score)
        aucs[name] = roc_auc_score(hold["churned"].to_numpy()[ok], -score[ok])
    assert aucs["learn"] >= aucs["keep"], aucs


def test_learned_config_round_trips_and_scores_like_the_pyfunc(initialized_store, curved, learned,
                                                               tmp_path):
    import mlflow

    from hscore.mlops import model
    from hscore.mlops.tracking import log_calibration

    path = save_config(learned.config, tmp_path / "learned.yaml")
    again = load_config(path)
    assert again == learned.config
    frame = curved.frame.head(400)
    direct = HealthScorer(learned.config).score(frame)
    from_file = HealthScorer(again).score(frame)
    pd.testing.assert_frame_equal(direct, from_file, check_exact=True)
    info = log_calibration(learned, frame=curved.frame)
    run = mlflow.MlflowClient().get_run(info.run_id)
    assert run.data.params["transforms"] == "learn"
    assert run.data.params["transform.all.logins_30d"] == "piecewise"
    assert "bands.proposed_at_risk" in run.data.metrics
    predicted = mlflow.pyfunc.load_model(info.model_uri).predict(frame).reset_index(drop=True)
    pd.testing.assert_frame_equal(predicted, model.pyfunc_output(from_file), check_exact=True)


def test_transforms_plot_draws_each_learned_curve_with_its_bins(learned, kept):
    fig = plots.transforms(learned)
    drawn = [c for c in learned.transforms if c.transform is not None]
    assert len([ax for ax in fig.axes if ax.get_ylabel() == "sub-score (0–100)"]) == len(drawn)
    assert len(plots.transforms(kept).axes) == 1     # says there is nothing to draw


def test_transforms_plot_names_the_metrics_it_learned_no_curve_for(learned):
    # as if one metric had yielded no curve: it is named under the panels, not left out
    first = learned.transforms[0]
    none = dataclasses.replace(first, transform=None, reason="no monotone effect found")
    fake = SimpleNamespace(transforms=[none, *learned.transforms[1:]],
                           input_config=learned.input_config, base_config=learned.base_config,
                           horizon_days=learned.horizon_days)
    fig = plots.transforms(fake)
    assert fig.get_supxlabel() == (f"no curve learned: {first.stage}.{first.metric} "
                                   "(no monotone effect found)")
    assert not plots.transforms(learned).get_supxlabel()


def test_bad_transforms_parameter_is_named(curved):
    with pytest.raises(HScoreError, match="transforms"):
        Calibrator(curved.config, transforms="bend").fit(curved.frame)


# ------------------------------------------------------------------------ bands
def test_proposed_bands_follow_the_probability_mapping_and_stay_proposed(curved, learned):
    cfg = learned.config
    bands = learned.bands
    assert (cfg.bands.healthy, cfg.bands.at_risk) == (75.0, 50.0)       # not taken
    prop = cfg.provenance.proposed_bands
    assert (prop.healthy, prop.at_risk) == (bands.healthy, bands.at_risk)
    scored = HealthScorer(cfg).score(curved.frame, trend=False)
    y = curved.frame["churned"][scored["score"].notna()]     # labelled rows with a score
    base = float(y[y.notna()].mean())
    assert prop.base_rate == pytest.approx(base, abs=1e-6)
    # one stage: "predicted churn >= 2 x base rate" is "score below the score where the
    # mapping reaches 2 x base rate"; the threshold falls between the book's neighbours
    p = cfg.stages["all"].probability
    s_star = (math.log(2 * base / (1 - 2 * base)) - p.intercept) / p.slope
    book = scored[(scored["snapshot_date"] == scored["snapshot_date"].max())
                  & scored["score"].notna()]["score"].to_numpy()
    assert ((book < bands.at_risk) == (book < s_star)).all()
    assert bands.at_risk_rows == int((book < bands.at_risk).sum())


def test_band_table_is_the_holdout_churn_rate_and_lift_per_band(curved, learned):
    from dataclasses import replace

    from hscore.calibration.records import ExportedFit

    table = learned.bands.table.set_index(["thresholds", "band"])
    train_cfg = replace(learned, refit=ExportedFit.TRAIN).config
    frame = curved.frame
    labelled = frame[frame["churned"].notna()].reset_index(drop=True)
    days = labelled["snapshot_date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    hold = labelled[learned.holdout.split(days).holdout]
    score = HealthScorer(train_cfg).score(hold, trend=False)["score"].to_numpy()
    ok = ~np.isnan(score)
    score, y = score[ok], hold["churned"].to_numpy()[ok]
    healthy, at_risk = table.loc[("proposed", "at_risk"), ["healthy", "at_risk"]]
    mine = score < at_risk
    assert table.loc[("proposed", "at_risk"), "rows"] == mine.sum()
    assert table.loc[("proposed", "at_risk"), "churn_rate"] == pytest.approx(y[mine].mean())
    assert table.loc[("proposed", "at_risk"), "lift"] == pytest.approx(y[mine].mean() / y.mean())
    current = score >= 75
    assert table.loc[("current", "healthy"), "rows"] == current.sum()
    assert table.loc[("proposed", "at_risk"), "lift"] > 1 > table.loc[("proposed", "healthy"),
                                                                       "lift"]


def test_bands_scored_in_blocks_of_rows_are_the_bands_scored_at_once(curved, learned,
                                                                    monkeypatch):
    """The proposal scores the book a block of rows at a time (memory); blocks of 997 rows
    (not a divisor of the book) give the very proposal one block gives."""
    import hscore.calibration.bands as bands

    monkeypatch.setattr(bands, "_BLOCK_ROWS", 10**9)
    whole = bands.propose_bands(learned, curved.frame)
    monkeypatch.setattr(bands, "_BLOCK_ROWS", 997)
    blocks = bands.propose_bands(learned, curved.frame)
    assert len(curved.frame) > 3 * 997
    assert (blocks.healthy, blocks.at_risk, blocks.at_risk_rows) == (
        whole.healthy, whole.at_risk, whole.at_risk_rows)
    pd.testing.assert_frame_equal(blocks.table, whole.table)
    pd.testing.assert_frame_equal(blocks.per_stage, whole.per_stage)


def test_bands_book_is_the_latest_date_that_has_scores(curved, learned):
    """The proposal scores the last date's rows first; when none of them has a score the
    book is the latest date that has, as scoring every row says."""
    from hscore.calibration.bands import propose_bands

    frame = curved.frame.copy()
    last_date = pd.Timestamp(frame["snapshot_date"].max())
    last = (pd.to_datetime(frame["snapshot_date"]) == last_date).to_numpy()
    frame.loc[last, list(learned.config.weights_of("all").metric_names)] = np.nan
    scored = HealthScorer(learned.config).score(frame, trend=False)
    scored = scored[scored["score"].notna()]
    latest = scored["snapshot_date"].max()
    assert latest < last_date
    proposal = propose_bands(learned, frame)
    assert proposal.book_date == str(latest.date())
    assert proposal.book_rows == int((scored["snapshot_date"] == latest).sum())


def test_take_bands_moves_the_proposal_into_bands(learned):
    taken = take_bands(learned.config)
    prop = learned.config.provenance.proposed_bands
    assert (taken.bands.healthy, taken.bands.at_risk) == (prop.healthy, prop.at_risk)
    assert taken.provenance.proposed_bands.taken is True
    with pytest.raises(HScoreError, match="no proposed bands"):
        take_bands("lifecycle")


def test_cli_learns_proposes_a_share_and_takes_the_bands(curved, tmp_path, capsys):
    book = curved.frame
    book.to_csv(tmp_path / "book.csv", index=False)
    save_config(curved.config, tmp_path / "linear.yaml")
    out = tmp_path / "out.yaml"
    assert main(["calibrate", "--snapshots", str(tmp_path / "book.csv"), "--config",
                 str(tmp_path / "linear.yaml"), "--out", str(out), "--bootstrap", "0",
                 "--transforms", "learn", "--at-risk-share", "0.1", "--take-bands",
                 "--no-track", "--quiet", "--strengths", "0.001",
                 "--plots", str(tmp_path / "figs")]) == 0
    printed = capsys.readouterr().out
    assert (tmp_path / "figs" / "transforms.png").read_bytes()[:4] == b"\x89PNG"
    assert "proposed bands" in printed and "bands on the holdout" in printed
    cfg = load_config(out)
    assert cfg.bands.at_risk == cfg.provenance.proposed_bands.at_risk
    assert "riskiest 10%" in cfg.provenance.proposed_bands.rule
    scored = HealthScorer(cfg).score(book, trend=False)
    latest = scored[scored["snapshot_date"] == scored["snapshot_date"].max()]
    share = (latest["score"] < cfg.bands.at_risk).sum() / latest["score"].notna().sum()
    assert abs(share - 0.1) < 0.01


@pytest.mark.parametrize("value", ["1.5", "0", "ten"])
def test_cli_bad_at_risk_share_is_one_error_line(curved, tmp_path, capsys, value):
    assert main(["calibrate", "--snapshots", "x.csv", "--out", str(tmp_path / "o.yaml"),
                 "--at-risk-share", value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "--at-risk-share" in err[0]


def test_without_a_holdout_the_proposal_has_no_holdout_figures(curved):
    result = _fit(curved, holdout="none", strengths=[0.001])
    prop = result.config.provenance.proposed_bands
    assert prop.book_rows == result.bands.book_rows > 0
    assert prop.holdout_at_risk_lift is None and not len(result.bands.table)

"""Real books in (issue #9): a cross-sectional CRM export calibrates with an account-grouped
holdout; ``--holdout none``; errors whose suggestions work; the horizon as the first line of
calibrate and compare; progress on stderr; the worse-than-input flag.

Numbers are checked against the generator's truth (``synth.CRM_TRUE_WEIGHTS``), plain
statsmodels fits or scikit-learn, never against the code's own output.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.metrics import log_loss as sk_log_loss

import hscore
from hscore import synth
from hscore.calibration import CalibrationWarning, calibrate
from hscore.cli import main
from hscore.config import load_config
from test_calibrate import HOLDOUT, TRUTH, make_config, make_frame

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "data" / "crm_export.csv"
CONFIG = REPO / "data" / "crm_export.yaml"
HORIZON_LINE = ("churned = churn within 90 days after the snapshot (label_horizon_days of "
                "'crm-export')")


def _main(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def crm(tmp_path_factory):
    """``hscore calibrate`` on the CRM export as a user types it: no holdout option."""
    out_file = tmp_path_factory.mktemp("crm") / "crm-calibrated.yaml"
    code, out, err = _main(["calibrate", "--snapshots", str(BOOK), "--config", str(CONFIG),
                            "--out", str(out_file), "--no-track"])
    return code, out, err, out_file


@pytest.fixture(scope="module")
def labelled_design():
    """The book's sub-scores as the calibration fits them (missing values reweighted)."""
    from hscore.calibration.design import build_designs

    cfg = load_config(CONFIG)
    return build_designs(hscore.read_snapshots(BOOK), cfg).designs["all"]


# ------------------------------------------------------------------ the CRM book
def test_the_crm_export_calibrates_with_an_account_holdout_and_says_so(crm):
    code, out, err, out_file = crm
    assert code == 0, err
    written = load_config(out_file)
    window = written.provenance.data_window
    assert window.holdout_kind == "accounts" and window.holdout_from is None
    assert (window.holdout_share, window.holdout_seed) == (0.2, 0)
    assert "span too little time for an out-of-time holdout" in window.holdout_note
    # the one-line notice on stderr, and the same words in the summary on stdout
    notice = [x for x in err.splitlines() if x.startswith("holdout: ")]
    assert len(notice) == 1 and window.holdout_note in notice[0]
    assert f"holdout chosen: {window.holdout_note}" in out
    # every quality table says which holdout it was
    assert "holdout quality of the train-window fit, account-grouped random holdout (about " \
           "20% of accounts, seed 0)" in out
    quality = out.split("holdout quality")[1]
    assert quality.count("accounts") >= 3         # the holdout column of each model's row
    assert written.provenance.exported_fit == "all"
    assert written.provenance.rows["all"].labelled == 1500


def test_the_crm_accounts_holdout_holds_out_about_a_fifth_of_whole_accounts(crm):
    written = load_config(crm[3])
    rows = written.provenance.rows["all"]
    frame = pd.read_csv(BOOK)
    # held out: the accounts the hash draw picks; scored rows evaluated, one row per account
    held = hscore.calibration.Holdout.accounts(90, 0.2, 0).select(frame)
    assert rows.holdout + rows.holdout_unscored == len(held)
    assert rows.train + len(held) == 1500 and rows.straddling_holdout == 0
    assert 0.15 < len(held) / 1500 < 0.25


def test_first_stdout_line_is_the_horizon_and_progress_goes_to_stderr(crm):
    code, out, err, _ = crm
    assert out.splitlines()[0] == HORIZON_LINE
    lines = err.splitlines()
    # a phase says how long it took when it ends (its start only when counted steps follow)
    first = {p: next(i for i, line in enumerate(lines) if line.startswith(p))
             for p in ("design done in", "cross-validation all done in", "evaluation all done in",
                       "bootstrap all 200/200")}
    # the bootstrap is the exported refit's: it runs after the holdout evaluation
    assert first["evaluation all done in"] < first["bootstrap all 200/200"]


def test_recovered_crm_weights_are_near_the_truth(crm, labelled_design):
    """The exported weights against the generator's truth, with tolerances from the CIs.

    On this book (1,500 accounts, 223 churn events) the 95% bootstrap CIs of the exported
    weights have half-widths 0.045-0.06 (SE about 0.025). Five of the six truths lie inside
    their CI; invoice_days_late (exported 0.18, truth 0.10) does not, and a plain statsmodels
    fit of the same rows puts it at 0.19 too: this draw of the book, not the calibration (over
    20 generator seeds the plain fit's invoice_days_late weight averages 0.106, SD 0.043).
    So: at least 5 of 6 truths inside the 95% CI, every truth within two CI half-widths (about
    4 SE), and the exported weights within one half-width of the plain fit on the same rows
    (the chosen pull toward the team's guess is weak).
    """
    written = load_config(crm[3])
    exported = pd.Series(written.stages["all"].metric_weights())
    truth = pd.Series(synth.CRM_TRUE_WEIGHTS)[exported.index]
    # the CIs as written in the summary: "0.200 -> 0.318 [0.254, 0.373]  (train fit 0.314)"
    ci = {}
    for line in crm[1].splitlines():
        parts = line.split()
        if len(parts) > 5 and parts[1] in truth.index and parts[3] == "->":
            ci[parts[1]] = (float(parts[5].strip("[,")), float(parts[6].strip("]")))
    ci = pd.DataFrame(ci, index=["low", "high"]).T.loc[exported.index]
    half = (ci["high"] - ci["low"]) / 2
    inside = (ci["low"] <= truth) & (truth <= ci["high"])
    assert inside.sum() >= 5, inside
    assert ((exported - truth).abs() <= 2 * half).all(), (exported - truth)
    assert exported.idxmax() == truth.idxmax() == "logins_per_user_30d"
    d = labelled_design
    plain = sm.Logit(d.y, sm.add_constant(d.X)).fit(disp=0)
    b = pd.Series(-plain.params[1:], index=list(d.layout.metrics))[exported.index]
    assert ((exported - b / b.sum()).abs() <= half).all()


def test_holdout_from_on_a_cross_sectional_book_suggests_what_works(tmp_path):
    code, out, err = _main(["calibrate", "--snapshots", str(BOOK), "--config", str(CONFIG),
                            "--out", str(tmp_path / "x.yaml"), "--no-track", "--quiet",
                            "--holdout-from", "2024-12-01"])
    assert code == 2 and not (tmp_path / "x.yaml").exists()
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: holdout_from: 2024-12-01 cannot work")
    assert "no date does; use --holdout accounts" in lines[0]
    assert "2024-12-31" not in lines[0]                     # the old impossible range
    # and the suggestion runs
    code, _, err = _main(["calibrate", "--snapshots", str(BOOK), "--config", str(CONFIG),
                          "--out", str(tmp_path / "x.yaml"), "--no-track", "--quiet",
                          "--holdout", "accounts", "--bootstrap", "0"])
    assert code == 0, err
    assert "holdout: " not in err                          # asked for: no notice
    window = load_config(tmp_path / "x.yaml").provenance.data_window
    assert window.holdout_kind == "accounts" and window.holdout_note is None


def test_holdout_none_evaluates_nothing_and_trains_on_every_row(tmp_path, labelled_design):
    code, out, err = _main(["calibrate", "--snapshots", str(BOOK), "--config", str(CONFIG),
                            "--out", str(tmp_path / "none.yaml"), "--no-track",
                            "--holdout", "none", "--strengths", "0", "--bootstrap", "20"])
    assert code == 0, err
    assert "evaluation" not in err                                # nothing evaluated
    assert "holdout quality:\n  none: --holdout none" in out
    written = load_config(tmp_path / "none.yaml")
    assert written.provenance.data_window.holdout_kind == "none"
    rows = written.provenance.rows["all"]
    assert (rows.train, rows.holdout, rows.labelled, rows.exported) == (1500, 0, 1500, "all")
    assert written.provenance.quality == {}
    # strength 0 on every row is the plain logistic fit of every row (no bound active)
    d = labelled_design
    plain = sm.Logit(d.y, sm.add_constant(d.X)).fit(disp=0)
    b = -plain.params[1:]
    got = written.stages["all"].metric_weights()
    np.testing.assert_allclose([got[m] for m in d.layout.metrics], b / b.sum(), atol=1e-5)


def test_holdout_none_through_the_api_has_no_holdout_rows_and_an_empty_quality_table():
    frame = make_frame(n_accounts=80, seed=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        res = calibrate(frame, make_config(), holdout="none", n_bootstrap=10,
                        strengths=[0.01])
    labelled = frame["churned"].notna()
    for s, fit in res.fits.items():
        assert fit.counts.n_rows == fit.counts.n_labelled == (labelled & (frame["stage"] == s)).sum()
        assert fit.holdout.n_rows == 0 and not fit.holdout.predictions
        assert fit.refit is None and fit.exported is fit.estimate
        assert fit.exported.ci is not None                    # the exported fit's bootstrap
    assert res.quality.empty and "holdout" in res.quality.columns
    assert res.holdout_from is None and res.n_straddling == 0
    assert (res.stage_table()["holdout"] == "none").all()
    assert res.config.provenance.quality == {}


def test_the_account_holdout_does_not_depend_on_the_row_order():
    frame = make_frame(n_accounts=80, seed=13)
    shuffled = frame.sample(frac=1.0, random_state=1).reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        a = calibrate(frame, make_config(), holdout="accounts", n_bootstrap=10, seed=4)
        b = calibrate(shuffled, make_config(), holdout="accounts", n_bootstrap=10, seed=4)
    assert a.config.stages == b.config.stages
    pd.testing.assert_frame_equal(a.quality, b.quality)
    for s, fit in a.fits.items():
        held = set(frame["account_id"].iloc[fit.holdout.rows])
        trained = set(frame["account_id"].iloc[fit.train_rows])
        assert held and trained and not held & trained
        assert held == set(shuffled["account_id"].iloc[b.fits[s].holdout.rows])


# ----------------------------------------------------------------- MLflow params
def test_tracking_params_and_tags_say_which_holdout_and_which_fit():
    from hscore.mlops.tracking import _params

    frame = make_frame(n_accounts=60, seed=14)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        accounts = calibrate(frame, make_config(), holdout="accounts", refit="train",
                             n_bootstrap=0, seed=3)
        dated = calibrate(frame, make_config(), holdout_from=HOLDOUT, n_bootstrap=0)
    params = _params(accounts)
    assert (params["holdout_kind"], params["holdout_share"], params["holdout_seed"],
            params["exported_fit"]) == ("accounts", "0.2", "3", "train")
    assert "holdout_from" not in params
    params = _params(dated)
    assert (params["holdout_kind"], params["holdout_from"], params["exported_fit"]) == \
        ("out_of_time", HOLDOUT, "all")


def test_promotion_says_when_the_challenger_was_refitted_on_its_own_window():
    from types import SimpleNamespace

    from hscore.mlops.promotion import _refit_note

    frame = make_frame(n_accounts=40, seed=17)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        refit = calibrate(frame, make_config(), holdout_from=HOLDOUT, n_bootstrap=0)
        train = calibrate(frame, make_config(), holdout_from=HOLDOUT, n_bootstrap=0,
                          refit="train")
    window = frame[(frame["snapshot_date"] >= pd.Timestamp(HOLDOUT)) & frame["churned"].notna()]
    version = SimpleNamespace(version="7")
    note = _refit_note(version, refit.config, window)
    assert note.startswith("note: challenger v7 was refitted on every labelled row up to "
                           "2024-09-01 (exported_fit: all)")
    assert _refit_note(version, train.config, window) is None
    later = window.assign(snapshot_date=window["snapshot_date"] + pd.DateOffset(years=1))
    assert _refit_note(version, refit.config, later) is None


# ---------------------------------------------------------------- worse than input
def test_a_stage_worse_than_the_input_on_the_holdout_is_flagged(capsys):
    """Training follows one truth, the holdout another (the input config's weights): the
    calibrated weights of stage s1 learn the training truth and lose to the input on the
    holdout, beyond the bootstrap noise; stage s2 keeps one truth and is not flagged."""
    input_like = {"s1": (0.5, {"m1": 0.9, "m2": 0.9, "m3": 1.2}), "s2": TRUTH["s2"]}
    trained_on = {"s1": (0.5, {"m1": 3.0, "m2": 0.0, "m3": 0.0}), "s2": TRUTH["s2"]}
    before = make_frame(trained_on, n_accounts=300, seed=15)
    after = make_frame(input_like, n_accounts=300, seed=16)
    late = before["snapshot_date"] >= pd.Timestamp(HOLDOUT)
    frame = pd.concat([before[~late], after[after["snapshot_date"] >= pd.Timestamp(HOLDOUT)]],
                      ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        res = calibrate(frame, make_config(), holdout_from=HOLDOUT, n_bootstrap=100)
    table = res.stage_table().set_index("stage")
    assert table.loc["s1", "worse_than_input"] and not table.loc["s2", "worse_than_input"]
    assert list(res.worse_than_input) == ["s1"]
    # the log-loss difference is the quality table's, which scikit-learn checks elsewhere;
    # here against sklearn directly on the holdout predictions of both models
    hold = res.fits["s1"].holdout
    y = hold.y
    expected = (sk_log_loss(y, hold.predictions["calibrated"].probability)
                - sk_log_loss(y, hold.predictions["input"].probability))
    assert table.loc["s1", "d_log_loss"] == pytest.approx(expected, rel=1e-9) and expected > 0
    lo, _ = hold.versus_input.log_loss_ci
    assert lo > 0 or hold.versus_input.auc_ci[1] < 0
    res.print_summary(warnings=False)
    out = capsys.readouterr().out
    flagged = out.split("flagged:\n")[1].splitlines()[0]
    assert flagged.startswith("  stage 's1': worse than the input weights on the holdout "
                              "beyond the bootstrap noise: log-loss +")
    assert "consider keeping the input weights" in flagged
    # a stage lower only within the noise is said in a section of its own, never flagged
    within = [k for k, f in res.fits.items() if f.holdout.versus_input.lower_within_noise]
    assert "s1" not in within
    assert ("lower than the input, within the noise:" in out) == bool(within)


def test_lower_than_the_input_within_the_noise_is_said_not_flagged():
    from hscore.calibration.records import InputComparison

    # the newcomer's ramp stage: AUC 0.652 against 0.664, CIs straddling 0
    within = InputComparison(0.007, (-0.002, 0.016), -0.012, (-0.041, 0.018))
    assert within.lower_within_noise and not within.worse
    assert within.noise_line() == (
        "lower than the input weights on the holdout, within the bootstrap noise (not "
        "flagged): log-loss +0.0070 [-0.0020, +0.0160], AUC -0.0120 [-0.0410, +0.0180] "
        "(calibrated - input, 95% paired account bootstrap)")
    beyond = InputComparison(0.02, (0.005, 0.035), -0.03, (-0.06, -0.001))
    better = InputComparison(-0.01, (-0.02, 0.001), 0.02, (-0.005, 0.04))
    assert beyond.worse and not beyond.lower_within_noise
    assert not better.worse and not better.lower_within_noise


# ------------------------------------------------------------------------ compare
def test_compare_prints_the_horizon_first_and_progress_on_stderr(tmp_path):
    args = ["compare", "--snapshots", str(BOOK), "--config", str(CONFIG), "--stage", "all",
            "logins_per_user_30d", "exec_nps", "--bootstrap", "100"]
    code, out, err = _main(args)
    assert code == 0, err
    assert out.splitlines()[0] == HORIZON_LINE
    lines = err.splitlines()
    for expected in ("design done in", "tests done in", "bootstrap 100/100"):
        assert any(line.startswith(expected) for line in lines), expected
    code, out, err = _main([*args, "--horizon-days", "60", "--quiet"])
    assert code == 0 and err == ""
    assert out.splitlines()[0] == ("churned = churn within 60 days after the snapshot "
                                   "(horizon_days given; 'crm-export' says 90)")

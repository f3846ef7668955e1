"""``hscore calibrate`` end to end (no tracking): the written config, the printed table, and
bad input as one ``error:`` line with exit code 2."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hscore.calibration import CalibrationWarning, calibrate
from hscore.cli import main
from hscore.config import load_config, save_config
from test_calibrate import HOLDOUT, make_config, make_frame


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_calibrate")
    frame = make_frame(n_accounts=150, seed=21)
    frame.to_csv(folder / "snapshots.csv", index=False)
    save_config(make_config(), folder / "hand.yaml")
    return folder, frame


def _run(files, *extra, snapshots="snapshots.csv", quiet=True):
    folder, _ = files
    return main(["calibrate", "--snapshots", str(folder / snapshots), "--config",
                 str(folder / "hand.yaml"), "--out", str(folder / "out.yaml"),
                 "--holdout-from", HOLDOUT, "--bootstrap", "15", "--no-track",
                 *(["--quiet"] if quiet else []), *extra])


def test_cli_writes_the_same_config_as_the_api_and_prints_the_weights(files, capsys):
    folder, frame = files
    assert _run(files) == 0
    out = capsys.readouterr().out
    assert "  c1                     m1                               0.300 -> " in out
    assert "holdout quality" in out and f"wrote calibrated config to {folder / 'out.yaml'}" in out
    written = load_config(folder / "out.yaml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        api = calibrate(frame, make_config(), holdout_from=HOLDOUT, n_bootstrap=15)
    for s in ("s1", "s2"):
        got, want = written.stages[s].metric_weights(), api.config.stages[s].metric_weights()
        np.testing.assert_allclose([got[m] for m in want], list(want.values()), rtol=1e-12)
        got_p, want_p = written.stages[s].probability, api.config.stages[s].probability
        assert got_p.intercept == pytest.approx(want_p.intercept, rel=1e-9)
        assert got_p.slope == pytest.approx(want_p.slope, rel=1e-9)
    assert written.provenance.data_window == api.config.provenance.data_window


def test_cli_single_strength_skips_cross_validation(files, capsys):
    folder, _ = files
    assert _run(files, "--strengths", "inf") == 0
    written = load_config(folder / "out.yaml")
    assert written.stages["s1"].metric_weights() == make_config().stages["s1"].metric_weights()
    assert "strength inf" in capsys.readouterr().out


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ")
    return err[0]


@pytest.mark.parametrize("change, expected", [
    (lambda f: f.drop(columns="churned"), "error: column 'churned': required column is missing"),
    (lambda f: f.assign(churned=f["churned"].astype(object).where(f.index != 3, "yes")),
     "error: column 'churned': values that are not 0/1: 'yes' (1 row); write 1 = churned, "
     "0 = retained, empty = not yet known (1 row; first accounts: s1-0000; first rows: 3)"),
    (lambda f: f.drop(columns="m6"), "error: column 'm6': metric column is missing"),
    (lambda f: f.assign(churned=f["churned"] * 0), "error: column 'churned': no churn events"),
])
def test_cli_bad_input_is_one_error_line(files, capsys, change, expected):
    folder, frame = files
    change(frame).to_csv(folder / "bad.csv", index=False)
    assert _run(files, snapshots="bad.csv") == 2
    # the file first, then what is wrong in it
    assert _one_error_line(capsys).startswith(expected.replace("error: ",
                                                               f"error: {folder / 'bad.csv'}: "))


def test_cli_holdout_outside_the_data(files, capsys):
    folder, _ = files
    code = main(["calibrate", "--snapshots", str(folder / "snapshots.csv"), "--config",
                 str(folder / "hand.yaml"), "--out", str(folder / "out.yaml"),
                 "--holdout-from", "2030-01-01", "--no-track", "--quiet"])
    assert code == 2
    assert _one_error_line(capsys).startswith("error: holdout_from: 2030-01-01 is outside the "
                                              "labelled data")


def test_cli_stage_without_churn_warns_and_succeeds(files, capsys):
    folder, frame = files
    quiet = frame.copy()
    quiet.loc[(quiet["stage"] == "s2") & quiet["churned"].notna(), "churned"] = 0.0
    quiet.to_csv(folder / "quiet.csv", index=False)
    assert _run(files, snapshots="quiet.csv") == 0
    err = capsys.readouterr().err
    assert "warning: stage 's2': no churn events in the training window" in err
    written = load_config(folder / "out.yaml")
    assert written.stages["s2"].metric_weights() == make_config().stages["s2"].metric_weights()


def test_cli_prints_each_warning_once(files, capsys):
    """Warnings go to stderr; the printed summary on stdout does not repeat them."""
    folder, frame = files
    quiet = frame.copy()
    quiet.loc[(quiet["stage"] == "s2") & quiet["churned"].notna(), "churned"] = 0.0
    quiet.to_csv(folder / "quiet.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        api = calibrate(quiet, make_config(), holdout_from=HOLDOUT, n_bootstrap=15)
    expected = [f"warning: stage '{s}': {w}" for s, f in api.fits.items() for w in f.warnings]
    assert expected
    assert _run(files, snapshots="quiet.csv") == 0
    captured = capsys.readouterr()
    for line in expected:
        assert captured.err.count(line) == 1, line
        assert line not in captured.out


def test_cli_shows_progress_on_stderr_and_the_horizon_first_on_stdout(files, capsys):
    assert _run(files, quiet=False) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == ("churned = churn within 30 days after the snapshot "
                                            "(label_horizon_days of 'hand')")
    err = captured.err.splitlines()
    for start in ("design done in", "cross-validation s1 done in", "bootstrap s1 15/15",
                  "evaluation s2 done in", "evaluation (all stages) done in"):
        assert any(line.startswith(start) for line in err), start
    assert _run(files) == 0                                      # --quiet
    assert not [x for x in capsys.readouterr().err.splitlines() if not x.startswith("warning")]


def test_cli_bad_data_after_progress_ends_with_the_one_error_line(files, capsys):
    """Without --quiet the phases that started are on stderr before the error: the error is
    still one line, the last, and there is no traceback."""
    folder, frame = files
    frame.drop(columns="churned").to_csv(folder / "bad.csv", index=False)
    assert _run(files, snapshots="bad.csv", quiet=False) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: {folder / 'bad.csv'}: column 'churned': required "
                              "column is missing")
    assert [x for x in err if x.startswith("error")] == err[-1:]
    assert all(x.endswith(" ...") or " done in " in x for x in err[:-1])


def test_cli_holdout_from_and_holdout_together_is_a_usage_error(files, capsys):
    assert _run(files, "--holdout", "accounts") == 2
    assert "argument --holdout: not allowed with argument --holdout-from" in \
        _one_error_line(capsys)


def test_cli_refit_train_ships_the_validated_fit_and_says_so(files, capsys):
    folder, frame = files
    assert _run(files, "--refit", "train") == 0
    out = capsys.readouterr().out
    assert "exported: the validated train-window fit (refit 'train')" in out
    assert "(exported fit: train)" in out
    train = load_config(folder / "out.yaml")
    assert _run(files) == 0
    capsys.readouterr()
    refit = load_config(folder / "out.yaml")
    assert (train.provenance.exported_fit, refit.provenance.exported_fit) == ("train", "all")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        api = calibrate(frame, make_config(), holdout_from=HOLDOUT, n_bootstrap=15)
    for s, fit in api.fits.items():
        metrics = fit.layout.metrics
        np.testing.assert_allclose([train.stages[s].metric_weights()[m] for m in metrics],
                                   fit.estimate.weights, rtol=1e-12)
        np.testing.assert_allclose([refit.stages[s].metric_weights()[m] for m in metrics],
                                   fit.refit.weights, rtol=1e-12)
        assert train.provenance.rows[s].exported == "train"
        assert refit.provenance.rows[s].exported == "all"
        assert refit.provenance.rows[s].labelled == fit.counts.n_labelled

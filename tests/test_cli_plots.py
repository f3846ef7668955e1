"""Plots from the command line (issue 9, item 7): ``--plots DIR`` on score, calibrate and
compare writes PNG files (atomically, never over an input or into the store) and prints
their paths; a tracked calibration prints where its run's artifacts are."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hscore.config import save_config
from hscore.mlops.store import artifact_location
from cli_probe import SAMPLE, one_error, run
from test_calibrate import HOLDOUT, make_config, make_frame

PNG = b"\x89PNG\r\n\x1a\n"


def _assert_pngs(out: str, folder: Path, names) -> None:
    for name in names:
        path = folder / f"{name}.png"
        assert path.read_bytes()[:8] == PNG, path
        assert f"wrote plot {path}" in out.splitlines(), out
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.png" for n in names)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plots")
    make_frame(n_accounts=80, seed=5).to_csv(folder / "snapshots.csv", index=False)
    save_config(make_config(), folder / "hand.yaml")
    return folder


def test_score_writes_the_score_distribution(tmp_path, capsys):
    rc, out, err = run(capsys, "score", "--config", "lifecycle", "--snapshots", SAMPLE,
                       "--plots", tmp_path / "figs")
    assert rc == 0, err
    _assert_pngs(out, tmp_path / "figs", ["score_distribution"])


def test_calibrate_writes_weights_calibration_curve_and_roc(history, tmp_path, capsys):
    rc, out, err = run(capsys, "calibrate", "--snapshots", history / "snapshots.csv",
                       "--config", history / "hand.yaml", "--out", tmp_path / "out.yaml",
                       "--holdout-from", HOLDOUT, "--bootstrap", "5", "--strengths", "inf",
                       "--no-track", "--plots", tmp_path / "figs")
    assert rc == 0, err
    _assert_pngs(out, tmp_path / "figs", ["weights", "calibration_curve", "roc"])


def test_compare_writes_the_lift(history, tmp_path, capsys):
    rc, out, err = run(capsys, "compare", "--snapshots", history / "snapshots.csv",
                       "--config", history / "hand.yaml", "--stage", "s1", "m1", "m3",
                       "--bootstrap", "20", "--plots", tmp_path / "figs")
    assert rc == 0, err
    _assert_pngs(out, tmp_path / "figs", ["compare_lift"])


def test_plots_over_a_file_or_into_the_store_are_refused_before_any_work(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    one_error(capsys, "score", "--config", "lifecycle", "--snapshots", SAMPLE,
              "--plots", taken, fragments=["--plots", "is a file, not a folder"])
    store = Path(artifact_location().removeprefix("file://"))
    one_error(capsys, "score", "--config", "lifecycle", "--snapshots", SAMPLE,
              "--plots", store / "figs", fragments=["--plots", "MLflow artifacts folder"])
    assert not (store / "figs").exists()
    # an existing figure is replaced whole
    figs = tmp_path / "figs"
    figs.mkdir()
    (figs / "score_distribution.png").write_bytes(b"old")
    rc, out, err = run(capsys, "score", "--config", "lifecycle", "--snapshots", SAMPLE,
                       "--plots", figs)
    assert rc == 0, err
    _assert_pngs(out, figs, ["score_distribution"])


def test_a_tracked_calibration_prints_where_its_artifacts_are(initialized_store, history, tmp_path,
                                                             capsys):
    import mlflow

    rc, out, err = run(capsys, "calibrate", "--snapshots", history / "snapshots.csv",
                       "--config", history / "hand.yaml", "--out", tmp_path / "out.yaml",
                       "--holdout-from", HOLDOUT, "--bootstrap", "5", "--strengths", "inf",
                       "--plots", tmp_path / "figs")
    assert rc == 0, err
    run_id = re.search(r"tracked run (\w+) in", out).group(1)
    line = next(line for line in out.splitlines() if line.startswith("run artifacts: "))
    folder = Path(line.removeprefix("run artifacts: ").split(" (")[0])
    expected = mlflow.MlflowClient().get_run(run_id).info.artifact_uri
    assert folder.as_uri() == expected
    for name in ("weights.png", "calibration_curve.png", "roc.png"):
        assert (folder / "plots" / name).read_bytes()[:8] == PNG
        assert (tmp_path / "figs" / name).read_bytes()[:8] == PNG
    assert (folder / "calibration" / "config.yaml").is_file()

"""Tracked calibration on a real embedded MLflow store (SQLite in a temp dir).

A calibration fitted and tracked once per session (conftest.py); the tests read the run and
the registered version back through MLflow's own client and compare them with the
calibration result and with values computed here (file hashes, holdout rows, scores).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from hscore import synth
from hscore.config import load_config
from hscore.mlops import model, store, tracking
from hscore.scoring.scorer import HealthScorer
from hscore.scoring.snapshots import write_frame

# ---------------------------------------------------------------- fixtures
# The book, its calibrations and the store come from conftest.py: the run under test is the
# ``full`` calibration (strengths inf, 0.01 and 0 by CV, 10 bootstrap resamples, seed 3),
# tracked into the registered template as version 2; each test reads its own copy.
STRENGTHS = "inf,0.01,0.0"


@pytest.fixture
def result(calibrations):
    return calibrations["full"]


@pytest.fixture
def tracked(registered_template):
    return registered_template.infos["full"]


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG header (IHDR)."""
    head = path.read_bytes()[16:24]
    return int.from_bytes(head[:4], "big"), int.from_bytes(head[4:], "big")


# ---------------------------------------------------------------- the store
def test_default_store_is_one_absolute_sqlite_file_with_artifacts_beside_it(tmp_path,
                                                                           monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.setenv("HSCORE_HOME", str(tmp_path / "." / "home"))
    home = (tmp_path / "home").resolve()
    assert store.tracking_uri() == f"sqlite:///{home}/mlruns.db"
    assert store.artifact_location() == (home / "mlartifacts").as_uri()
    text = store.describe_store()
    assert (f"mlflow ui --backend-store-uri sqlite:///{home}/mlruns.db "
            f"--default-artifact-root {(home / 'mlartifacts').as_uri()}") in text

    # Without HSCORE_HOME: the checkout hscore is installed from (editable install).
    monkeypatch.delenv("HSCORE_HOME")
    checkout = Path(store.__file__).resolve().parents[2]
    assert store.tracking_uri() == f"sqlite:///{checkout}/mlruns.db"


def test_tracking_uri_env_overrides_the_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/elsewhere.db")
    assert store.tracking_uri() == f"sqlite:///{tmp_path}/elsewhere.db"
    assert store.artifact_location() == (tmp_path / "mlartifacts").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example:5000")
    assert store.artifact_location() is None
    assert "http://tracking.example:5000" in store.describe_store()


def test_the_printed_ui_store_is_the_store_the_run_went_to(tracked, registered_store, client,
                                                          registered_template):
    """The URI that describe_store() prints opens the store that holds the run, and the run's
    artifacts went beside the database it was logged to (not to ./mlruns)."""
    from mlflow import MlflowClient

    uri = store.describe_store().split("--backend-store-uri ")[1].split()[0]
    assert uri == f"sqlite:///{registered_store / 'mlruns.db'}"
    assert MlflowClient(tracking_uri=uri).get_run(tracked.run_id).info.status == "FINISHED"
    run = client.get_run(tracked.run_id)
    assert run.info.artifact_uri.startswith((registered_template.home / "mlartifacts").as_uri())
    assert not (Path.cwd() / "mlruns").exists()


@pytest.mark.parametrize("uri, limited", [("http://tracking.example:5000", True),
                                           ("https://tracking.example", True),
                                           ("sqlite:///{tmp}/mlruns.db", False)])
def test_configure_limits_retries_and_timeout_for_a_tracking_server(tmp_path, monkeypatch,
                                                                    uri, limited):
    names = ["MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"]
    for name in names:   # set, then unset: monkeypatch restores "unset" after the test
        monkeypatch.setenv(name, "x")
        monkeypatch.delenv(name)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri.format(tmp=tmp_path))
    store.configure()
    from mlflow.environment_variables import (MLFLOW_HTTP_REQUEST_MAX_RETRIES,
                                              MLFLOW_HTTP_REQUEST_TIMEOUT)

    # mlflow's own readers see the values (so the names are the ones it reads).
    if limited:
        assert (MLFLOW_HTTP_REQUEST_MAX_RETRIES.get(), MLFLOW_HTTP_REQUEST_TIMEOUT.get()) == (1, 15)
    else:
        assert not any(name in os.environ for name in names)
        assert MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() > 1
    # A value the user set is kept.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    store.configure()
    assert MLFLOW_HTTP_REQUEST_TIMEOUT.get() == 60


def test_the_store_lock_can_be_taken_again_by_its_holder(tmp_path, monkeypatch):
    """promote() holds the lock and opens the store again inside: taking it again in the
    same thread must not wait for itself (flock would), while another thread must wait."""
    import threading

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns.db'}")
    events = []

    def other_thread():
        with store.store_lock():
            events.append("other")

    def holder():
        with store.store_lock():
            with store.store_lock():
                events.append("inner")
            waiting = threading.Thread(target=other_thread)
            waiting.start()
            waiting.join(timeout=0.5)
            events.append("still held")
        waiting.join(timeout=10)

    thread = threading.Thread(target=holder)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive(), "the holder waited for its own lock"
    assert events == ["inner", "still held", "other"]


def test_quiet_mlflow_outlasts_importing_mlflow():
    """quiet_mlflow() in a fresh process, before anything imported mlflow (as the CLI calls
    it): MLflow's INFO lines (e.g. "Creating initial MLflow database tables" from
    mlflow.store.db.utils) must stay off stderr after mlflow is imported."""
    code = ("import logging; from hscore.mlops import store; store.quiet_mlflow(); "
            "import mlflow; print(logging.getLogger('mlflow').getEffectiveLevel()); "
            "logging.getLogger('mlflow.store.db.utils').info('INFO chatter')")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_REGISTRY_URI"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=True)
    assert done.stdout.split() == [str(logging.WARNING)]
    assert "INFO" not in done.stderr, done.stderr


# ---------------------------------------------------------------- the run
def test_run_params_record_the_calibration_settings(client, tracked, result):
    params = client.get_run(tracked.run_id).data.params
    assert params["stages"] == ",".join(result.fits)
    assert params["n_bootstrap"] == "10" and params["seed"] == "3"
    assert params["horizon_days"] == "30"
    assert params["holdout_from"] == str(result.holdout_from.date())
    assert params["strengths_tried"] == STRENGTHS
    for stage, fit in result.fits.items():
        assert float(params[f"strength.{stage}"]) == fit.estimate.strength
        assert params[f"status.{stage}"] == fit.status.value


def test_run_records_the_input_data(client, tracked, book):
    path, frame = book.path, book.frame
    run = client.get_run(tracked.run_id)
    tags = run.data.tags
    assert tags["data.path"] == str(path.resolve())
    assert tags["data.rows"] == str(len(frame))
    assert tags["data.sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    inputs = run.inputs.dataset_inputs
    assert len(inputs) == 1
    assert inputs[0].dataset.name == path.name
    assert {t.key: t.value for t in inputs[0].tags}["mlflow.data.context"] == "calibration"


def test_run_metrics_are_the_holdout_quality_per_stage(client, tracked, result):
    metrics = client.get_run(tracked.run_id).data.metrics
    q = result.quality
    checked = 0
    for _, row in q.iterrows():
        for k in ("auc", "brier", "log_loss"):
            key = f"{row['stage']}.{k}_{row['model']}"
            if pd.isna(row[k]):
                assert key not in metrics
            else:
                assert metrics[key] == pytest.approx(row[k], rel=1e-12)
                checked += 1
    assert checked >= 20
    for stage, fit in result.fits.items():
        assert metrics[f"{stage}.train_events"] == fit.counts.n_events
        assert metrics[f"{stage}.holdout_events"] == fit.holdout.n_events


def test_run_artifacts_hold_config_tables_and_plots(client, tracked, result, tmp_path):
    import mlflow

    local = Path(mlflow.artifacts.download_artifacts(run_id=tracked.run_id, dst_path=tmp_path))
    cal = local / "calibration"
    assert load_config(cal / "config.yaml") == result.config
    weights = pd.read_csv(cal / "weights.csv")
    pd.testing.assert_frame_equal(weights[["stage", "metric", "weight"]],
                                  result.summary()[["stage", "metric", "weight"]],
                                  check_exact=False, rtol=1e-12)
    coefs = pd.read_csv(cal / "coefficients.csv")
    want = result.coefficients()
    assert list(coefs.columns) == ["stage", "term", "coef", "std_err", "z", "p", "ci_low",
                                   "ci_high"] == list(want.columns)
    assert len(coefs) == len(want) == sum(len(f.layout.metrics) + 1 for f in result.fits.values()
                                          if f.reference is not None) > 0
    # The b sign, as in weights.csv: a metric's coef is minus the statsmodels coefficient.
    b = result.summary().set_index(["stage", "metric"])["b_unconstrained"]
    metric_rows = coefs[coefs["term"] != "const"].set_index(["stage", "term"])["coef"]
    np.testing.assert_allclose(metric_rows.to_numpy(), b.loc[metric_rows.index].to_numpy(),
                               rtol=1e-12)
    numeric = want.select_dtypes("number").columns
    np.testing.assert_allclose(coefs[numeric].to_numpy(float), want[numeric].to_numpy(float),
                               rtol=1e-12)
    assert (cal / "component_weights.csv").is_file() and (cal / "quality.csv").is_file()
    pngs = sorted(p.name for p in (local / "plots").glob("*.png"))
    assert pngs == ["calibration_curve.png", "roc.png", "weights.png"]
    assert all((local / "plots" / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    # weights.png is the figure plots.weights draws for this result, not any picture.
    from hscore import plots

    want = tmp_path / "weights.png"
    plots.weights(result).savefig(want, dpi=100)
    assert _png_size(local / "plots" / "weights.png") == _png_size(want)


def test_run_keeps_the_holdout_window_for_promotion(client, tracked, result, book):
    frame = book.frame
    held = tracking.load_holdout(tracked.run_id)
    # Calibrate's holdout: every labelled snapshot on or after holdout_from.
    expected = frame[(frame["snapshot_date"] >= result.holdout_from)
                     & frame["churned"].notna()].reset_index(drop=True)
    assert len(held) > 0
    pd.testing.assert_frame_equal(held, expected, check_dtype=False)
    assert client.get_run(tracked.run_id).data.tags["holdout.rows"] == str(len(expected))


# ---------------------------------------------------------------- the model
def test_new_version_is_registered_as_challenger(client, tracked, result):
    v = client.get_model_version_by_alias(model.MODEL_NAME, "challenger")
    assert str(v.version) == tracked.model_version
    assert v.run_id == tracked.run_id
    assert v.tags["holdout_from"] == str(result.holdout_from.date())
    auc = result.quality.query("stage == 'maturity' and model == 'calibrated'")["auc"].iloc[0]
    assert float(v.tags["holdout_auc.maturity"]) == pytest.approx(auc, abs=5e-5)
    pooled = result.quality.query("stage == 'all' and model == 'calibrated'")["auc"].iloc[0]
    assert float(v.tags["holdout_auc.all"]) == pytest.approx(pooled, abs=5e-5)


def test_registered_model_is_code_with_the_config_as_only_artifact(client, tracked, result,
                                                                    tmp_path):
    import mlflow

    root = client.get_model_version_download_uri(model.MODEL_NAME, tracked.model_version)
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=root, dst_path=tmp_path))
    assert sorted(p.name for p in (local / "artifacts").iterdir()) == ["config.yaml"]
    assert load_config(local / "artifacts" / "config.yaml") == result.config
    mlmodel = yaml.safe_load((local / "MLmodel").read_text())
    flavor = mlmodel["flavors"]["python_function"]
    assert flavor["artifacts"]["config"]["path"] == "artifacts/config.yaml"
    # models-from-code: the model is the source file, not a pickle
    assert (local / "pyfunc_model.py").read_text() == model.PYFUNC_CODE.read_text()
    assert not list(local.rglob("*.pkl"))
    assert mlmodel["signature"]["inputs"] and mlmodel["signature"]["outputs"]
    assert (local / "input_example.json").is_file()
    # `make test` runs from the checkout, a uv project: MLflow would copy its lock and
    # pyproject into every version unless told not to.
    assert not {"uv.lock", "pyproject.toml", ".python-version"} & {p.name for p in local.iterdir()}


def test_register_false_logs_the_run_only(client, registered_template, book):
    """The template's run of the ``fast`` calibration, logged with register=False from the
    frame (no file)."""
    info = registered_template.infos["unregistered"]
    assert info.model_version is None and info.model_uri is None
    run = client.get_run(info.run_id)
    assert run.data.tags["data.path"] == "(in memory)"
    assert run.data.tags["data.sha256"] == tracking.frame_sha256(book.frame)
    assert "registered_version" not in run.data.tags
    assert not client.search_model_versions(f"run_id='{info.run_id}'")


# ---------------------------------------------------------------- concurrency
@pytest.mark.slow
def test_two_processes_tracking_at_once_both_land(tmp_path):
    """Two `hscore calibrate` processes against one fresh SQLite store (the first one to get
    the lock also creates the schema): both runs finish, both versions exist, the database
    passes SQLite's integrity check and MLflow can still read it. (A small book: what is
    checked is the store, not the fit.)"""
    from mlflow import MlflowClient

    snapshots = write_frame(synth.make_history(n_accounts=150, months=12, seed=11).frame,
                            tmp_path / "snapshots.csv")
    home = tmp_path / "shared"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_REGISTRY_URI"}
    env.update(HSCORE_HOME=str(home), MPLBACKEND="Agg",
               MLFLOW_TRACKING_URI=f"sqlite:///{home / 'mlruns.db'}")
    procs = [subprocess.Popen(
        [sys.executable, "-m", "hscore.cli", "calibrate", "--snapshots", str(snapshots),
         "--horizon-days", "30", "--bootstrap", "0", "--strengths", str(strength),
         "--seed", str(i), "--require-tracking", "--out", str(tmp_path / f"out{i}.yaml")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i, strength in enumerate(("inf", "0.01"))]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
        assert "registered customer-health-score version" in out

    with sqlite3.connect(home / "mlruns.db") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    uri = env["MLFLOW_TRACKING_URI"]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.get_experiment_by_name(store.EXPERIMENT_NAME)
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    versions = client.search_model_versions(f"name='{model.MODEL_NAME}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    assert {v.run_id for v in versions} == {r.info.run_id for r in runs}
    for i in range(2):
        assert (tmp_path / f"out{i}.yaml").is_file()

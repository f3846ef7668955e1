"""Command-line wiring: calibrate / promote / export / compare / score, exit codes, and what
happens to `hscore calibrate` when the tracking store cannot be written."""

from __future__ import annotations

import contextlib
import io
import re
import socket
import subprocess
import sys
import warnings

import pandas as pd
import pytest

from hscore.calibration.compare import compare
from hscore.cli import main
from hscore.config import load_config
from hscore.mlops import store
from hscore.mlops.model import MODEL_NAME as NAME
from hscore.scoring.scorer import HealthScorer
from hscore.scoring.snapshots import read_snapshots
from mlflow_store import damage, new_store, point_at

#: What conftest.py's ``calibrations["fast"]`` computes in Python.
FAST = ["--horizon-days", "30", "--bootstrap", "0", "--strengths", "0.01"]


def _run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    return lines[0]


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def data(book):
    return book.path


@pytest.fixture(scope="module")
def expected_config(calibrations):
    """What `hscore calibrate ... FAST` must write, computed through the Python API."""
    return calibrations["fast"].config


@pytest.fixture(scope="module")
def loop(tmp_path_factory, data):
    """calibrate (tracked) -> promote -> export through the CLI, once, on a new store."""
    home = new_store(tmp_path_factory, "cli_store")
    steps = {}
    with pytest.MonkeyPatch.context() as mp:
        point_at(mp, home)
        steps["calibrate"] = _run(["calibrate", "--snapshots", str(data), *FAST,
                                   "--out", str(home / "calibrated.yaml")])
        steps["promote"] = _run(["promote"])
        steps["export"] = _run(["export", "--model", f"models:/{NAME}@champion",
                                "--out", str(home / "prod" / "champion.yaml")])
    return home, steps


# ---------------------------------------------------------------- the loop
def test_calibrate_tracks_registers_and_writes_the_config(loop, expected_config):
    home, steps = loop
    code, out, err = steps["calibrate"]
    assert code == 0, err
    written = load_config(home / "calibrated.yaml")
    assert written.stages == expected_config.stages
    assert f"registered {NAME} version 1 as @challenger" in out
    assert f"mlflow ui --backend-store-uri sqlite:///{home}/mlruns.db" in out
    assert f"wrote calibrated config to {home / 'calibrated.yaml'}" in out


def test_tracked_calibrate_records_its_run_and_version_in_the_written_config(loop,
                                                                             monkeypatch):
    from mlflow import MlflowClient

    from hscore.mlops.registry import version_config

    home, _steps = loop
    point_at(monkeypatch, home)
    store.configure()
    version = MlflowClient().get_model_version(NAME, "1")
    written = load_config(home / "calibrated.yaml")
    prov = written.provenance
    assert prov.run_id == version.run_id
    assert prov.model.name == NAME and prov.model.version == "1"
    # Otherwise the file is the registered config: same weights, same calibration record.
    registered = version_config(version)
    assert written.stages == registered.stages
    added = {"run_id", "model"}
    assert registered.provenance.run_id is None and registered.provenance.model is None
    assert prov.model_dump(exclude=added) == registered.provenance.model_dump(exclude=added)


def test_promote_and_export_through_the_cli(loop, expected_config):
    home, steps = loop
    code, out, err = steps["promote"]
    assert code == 0, err
    assert "challenger v1 vs champion (none)" in out
    assert "decision: first champion -> @champion is v1" in out
    code, out, err = steps["export"]
    assert code == 0, err
    exported = load_config(home / "prod" / "champion.yaml")
    assert exported.stages == expected_config.stages
    assert exported.provenance.model.version == "1"
    assert f"exported {NAME} version 1" in out and str(home / "prod" / "champion.yaml") in out


def test_promote_options_reach_promotion(promoted_store, data):
    from mlflow import MlflowClient

    code, out, err = _run(["promote", "--version", "1", "--tolerance", "0.02", "--force",
                           "--snapshots", str(data), "--bootstrap", "0"])
    assert code == 0, err
    assert "decision: already champion" in out
    assert f"({data})" in out                  # the window came from --snapshots
    store.configure()
    assert "promotion.window_source" in MlflowClient().get_model_version(NAME, "1").tags


def test_calibrate_no_track_writes_the_config_and_no_store(data, tmp_path, monkeypatch,
                                                          expected_config):
    point_at(monkeypatch, tmp_path)
    code, out, err = _run(["calibrate", "--snapshots", str(data), *FAST, "--no-track",
                           "--out", str(tmp_path / "c.yaml")])
    assert code == 0, err
    assert load_config(tmp_path / "c.yaml").stages == expected_config.stages
    assert not (tmp_path / "mlruns.db").exists()
    assert "tracked run" not in out


def test_score_and_compare_wiring(data, tmp_path):
    code, out, err = _run(["score", "--config", "lifecycle", "--snapshots", str(data),
                           "--out", str(tmp_path / "scores.csv")])
    assert code == 0, err
    frame = read_snapshots(data)
    want = HealthScorer("lifecycle").score(frame)
    got = pd.read_csv(tmp_path / "scores.csv")
    pd.testing.assert_series_equal(got["score"], want["score"], check_exact=False, rtol=1e-12)

    args = ["--snapshots", str(data), "--config", "lifecycle", "--stage", "maturity",
            "feature_adoption_rate", "csm_pulse", "--bootstrap", "50", "--seed", "2",
            "--horizon-days", "30"]
    code, out, err = _run(["compare", *args])
    assert code == 0, err
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verdict = compare(frame, "lifecycle", "maturity", "feature_adoption_rate", "csm_pulse",
                          n_bootstrap=50, seed=2, horizon_days=30).verdict
    assert f"verdict: {verdict}" in out


@pytest.mark.slow
def test_demo_reads_without_mlflow_chatter(tmp_path):
    """`hscore demo` in a real process on a fresh store: the analyst sees the demo's own
    sections, not MLflow's logged INFO lines (database creation, input example validation)
    nor the lines it prints itself on registering a model."""
    env = {k: v for k, v in __import__("os").environ.items() if k != "MLFLOW_REGISTRY_URI"}
    env.update(HSCORE_HOME=str(tmp_path), MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlruns.db")
    done = subprocess.run([sys.executable, "-m", "hscore.cli", "demo", "--accounts", "300",
                           "--months", "12", "--out-dir", str(tmp_path / "demo")],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "== 7. latest month" in done.stdout
    assert "registered customer-health-score version 1 as @challenger" in done.stdout
    both = done.stdout + done.stderr
    for chatter in ("INFO", "Creating initial MLflow database tables", "Validating input",
                    "Successfully registered model", "Created version"):
        assert chatter not in both, chatter
    # stderr holds the demo's progress and nothing else: a phase per step, in order
    phases = [re.sub(r" done in \d+\.\d s$", "", line) for line in done.stderr.splitlines()
              if re.search(r" done in \d+\.\d s$", line)]
    others = [line for line in done.stderr.splitlines()
              if not re.search(r"( done in \d+\.\d s| \.\.\.| \d+/\d+)$", line)]
    assert others == [], done.stderr
    steps = ["synthetic history", "score with the defaults", "calibrate", "track and register",
             "promote", "export", "score the latest month"]
    assert [p for p in phases if p in steps] == steps


# ---------------------------------------------------------------- exit codes
@pytest.mark.parametrize("args, words", [
    (["export", "--model", f"models:/{NAME}@nope", "--out", "{tmp}/x.yaml"], "@nope"),
    (["export", "--model", "99", "--out", "{tmp}/x.yaml"], "99"),
    (["export", "--model", "models:/other@champion", "--out", "{tmp}/x.yaml"], "'other'"),
    (["export", "--model", "best-one", "--out", "{tmp}/x.yaml"], "cannot read 'best-one'"),
    (["export", "--model", f"models:/{NAME}@champion"], "--out"),
    (["promote", "--version", "99"], "99"),
    (["promote", "--tolerance", "-1"], "tolerance"),
    (["promote", "--tolerance", "lots"], "--tolerance"),
    (["promote", "--snapshots", "{tmp}/missing.csv"], "missing.csv"),
    (["calibrate", "--snapshots", "{tmp}/missing.csv", "--out", "{tmp}/c.yaml"], "missing.csv"),
    (["calibrate", "--snapshots", "{data}", "--strengths", "-1", "--out", "{tmp}/c.yaml"],
     "--strengths"),
    (["compare", "--snapshots", "{data}", "--config", "lifecycle", "--stage", "maturity",
      "csm_pulse", "no_such_metric"], "no_such_metric"),
    (["demo", "--accounts", "many"], "--accounts"),
])
def test_user_fixable_failures_exit_2_with_one_error_line(promoted_store, data, tmp_path, args,
                                                          words):
    args = [a.format(tmp=tmp_path, data=data) for a in args]
    code, _out, err = _run(args)
    assert code == 2
    assert words in _one_error_line(err)
    assert not (tmp_path / "x.yaml").exists() and not (tmp_path / "c.yaml").exists()


def test_export_without_a_store_exits_2(tmp_path, monkeypatch):
    point_at(monkeypatch, tmp_path)
    code, _out, err = _run(["export", "--model", f"models:/{NAME}@champion",
                            "--out", str(tmp_path / "x.yaml")])
    assert code == 2
    assert "no MLflow store" in _one_error_line(err)


def test_a_real_process_prints_one_line_and_no_traceback(promoted_store, tmp_path):
    """MLflow's own logging must not add lines to a failing command's stderr."""
    env = {k: v for k, v in __import__("os").environ.items() if k != "MLFLOW_REGISTRY_URI"}
    done = subprocess.run([sys.executable, "-m", "hscore.cli", "export", "--model",
                           f"models:/{NAME}@nope", "--out", str(tmp_path / "x.yaml")],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 2
    assert "@nope" in _one_error_line(done.stderr)
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------- tracking failures
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]      # closed again when we return: nothing listens


@pytest.fixture(params=["unreachable server", "read-only sqlite"])
def broken_store(request, tmp_path_factory, monkeypatch):
    if request.param == "unreachable server":
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{_closed_port()}")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    else:
        home = new_store(tmp_path_factory, "ro_store")
        # MLflow makes the folder of a sqlite file it cannot find: for "file:/..." that is a
        # relative "file:" folder in the working directory, so work somewhere disposable.
        monkeypatch.chdir(home)
        # SQLite's read-only mode: refused writes even when the tests run as root.
        monkeypatch.setenv("MLFLOW_TRACKING_URI",
                           f"sqlite:///file:{home / 'mlruns.db'}?mode=ro&uri=true")
    return request.param


def test_unreachable_tracking_server_fails_fast_on_its_own(data, tmp_path):
    """Without MLFLOW_HTTP_REQUEST_* in the environment, hscore itself limits the retries and
    the timeout for a tracking server: MLflow's defaults (7 retries with backoff, 120 s per
    request) would keep the command waiting for minutes. A real process, so nothing set
    in this test process can help it."""
    env = {k: v for k, v in __import__("os").environ.items()
           if not k.startswith(("MLFLOW_HTTP_REQUEST", "MLFLOW_REGISTRY_URI"))}
    uri = f"http://127.0.0.1:{_closed_port()}"
    env["MLFLOW_TRACKING_URI"] = uri
    out_file = tmp_path / "calibrated.yaml"
    done = subprocess.run([sys.executable, "-m", "hscore.cli", "calibrate", "--snapshots",
                           str(data), *FAST, "--out", str(out_file)],
                          capture_output=True, text=True, env=env, timeout=150)
    assert done.returncode == 0, done.stderr
    assert load_config(out_file).stages
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"warning: tracking failed ({uri})"), done.stderr
    assert "max retries" in last.lower() or "connection" in last.lower(), last


@pytest.mark.parametrize("require", [False, True])
def test_tracking_failure_keeps_the_config_and_says_so(broken_store, data, tmp_path, require,
                                                      expected_config):
    out_file = tmp_path / "calibrated.yaml"
    args = ["calibrate", "--snapshots", str(data), *FAST, "--out", str(out_file)]
    code, out, err = _run(args + (["--require-tracking"] if require else []))
    assert code == (1 if require else 0)
    assert load_config(out_file).stages == expected_config.stages
    line = err.strip().splitlines()[-1]
    prefix = "error" if require else "warning"
    assert line.startswith(f"{prefix}: tracking failed ({store.tracking_uri()})"), err
    assert f"the calibrated config is written to {out_file}" in line
    assert "registered" not in out


def test_store_failures_outside_calibrate_exit_2_with_one_line(tmp_path, monkeypatch):
    uri = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    for args in (["export", "--model", f"models:/{NAME}@champion", "--out",
                  str(tmp_path / "x.yaml")], ["promote"]):
        code, _out, err = _run(args)
        assert code == 2
        assert _one_error_line(err).startswith(f"error: MLflow store {uri}: "), err
    assert not (tmp_path / "x.yaml").exists()


def test_unwritable_export_target_exits_2(promoted_store, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _out, err = _run(["export", "--model", "1", "--out", str(blocker / "x.yaml")])
    assert code == 2
    assert str(blocker) in _one_error_line(err)
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize("args", [["promote"], ["export", "--model", "1", "--out", "{tmp}/x.yaml"]])
def test_a_damaged_store_exits_2_with_one_line_naming_it(promoted_store, tmp_path, args):
    db = promoted_store / "mlruns.db"
    damage(db)
    code, _out, err = _run([a.format(tmp=tmp_path) for a in args])
    assert code == 2
    line = _one_error_line(err)
    assert line.startswith(f"error: MLflow store {db}: the file is damaged"), line
    assert not (tmp_path / "x.yaml").exists()

"""Model registry and promotion on a real SQLite MLflow store.

Two calibrations of the same synthetic history are tracked once per module: version 1
keeps the input weights (strength inf), version 2 is the sign-constrained MLE (strength 0).
Each test works on its own copy of that store's database, so aliases moved by one test do
not leak into the next. Expected AUCs come from scikit-learn on the scores of the two
configs, computed here.
"""

from __future__ import annotations

import math
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from hscore import synth
from hscore.mlops import tracking
from hscore.calibration import calibrate
from hscore.errors import HScoreError
from hscore.mlops.registry import (PromotionResult, comparison_window, promote, resolve_model,
                             resolve_version, version_config)
from hscore.scoring.scorer import HealthScorer
from hscore.scoring.snapshots import read_snapshots, write_frame
from mlflow_store import new_store, point_at

NAME = tracking.MODEL_NAME


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("registry_data")
    path = write_frame(synth.make_history(n_accounts=300, months=12, seed=21).frame,
                       folder / "snapshots.csv")
    return path, read_snapshots(path)


@pytest.fixture(scope="module")
def results(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {s: calibrate(data[1], "lifecycle", horizon_days=30, n_bootstrap=0,
                             strengths=(s,)) for s in (math.inf, 0.0)}


@pytest.fixture(scope="module")
def master(tmp_path_factory, data, results):
    """A store holding version 1 (strength inf) and version 2 (strength 0), no champion."""
    home = new_store(tmp_path_factory, "registry_master")
    with pytest.MonkeyPatch.context() as mp:
        point_at(mp, home)
        for strength in (math.inf, 0.0):
            tracking.log_calibration(results[strength], frame=data[1], snapshots_path=data[0])
    return home


@pytest.fixture
def store(master, tmp_path, monkeypatch):
    """This test's own copy of the master database (artifacts stay in the master's folder)."""
    home = tmp_path / "store"
    home.mkdir()
    shutil.copy(master / "mlruns.db", home / "mlruns.db")
    point_at(monkeypatch, home)
    return home


@pytest.fixture
def client(store):
    from mlflow import MlflowClient

    tracking.configure()
    return MlflowClient()


@pytest.fixture(scope="module")
def expected(data, results):
    """Per stage and pooled, scikit-learn's AUC of each version on the holdout window rows
    that both versions score."""
    frame = data[1]
    v1, v2 = results[math.inf], results[0.0]
    assert v1.holdout_from == v2.holdout_from
    window = frame[(frame["snapshot_date"] >= v1.holdout_from)
                   & frame["churned"].notna()].reset_index(drop=True)
    s1 = HealthScorer(v1.config).score(window, trend=False)
    s2 = HealthScorer(v2.config).score(window, trend=False)
    ok = (s1["score"].notna() & s2["score"].notna()).to_numpy()
    y = window["churned"].to_numpy()
    out = {}
    for stage in v1.config.stages:
        m = ok & (s1["stage"] == stage).to_numpy()
        if 0 < y[m].sum() < m.sum():
            out[stage] = (roc_auc_score(y[m], -s1["score"][m]),
                          roc_auc_score(y[m], -s2["score"][m]), int(m.sum()))
    out["all"] = (roc_auc_score(y[ok], s1["churn_probability"][ok]),
                  roc_auc_score(y[ok], s2["churn_probability"][ok]), int(ok.sum()))
    return out


def _aliases(client) -> dict[str, str]:
    return {a: str(v) for a, v in client.get_registered_model(NAME).aliases.items()}


# ---------------------------------------------------------------- resolving
def test_resolve_accepts_alias_uri_version_and_run_id(client):
    challenger = client.get_model_version_by_alias(NAME, "challenger")
    assert str(challenger.version) == "2"
    for text in (f"models:/{NAME}@challenger", f"models:/{NAME}/2", "2", 2, challenger.run_id):
        assert str(resolve_version(text).version) == "2"


@pytest.mark.parametrize("text, words", [
    (f"models:/{NAME}@nope", "no version with the alias @nope"),
    ("models:/other-model@champion", "no registered model 'other-model'"),
    (f"models:/{NAME}/99", "99"),
    ("99", "99"),
    ("0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"),
    ("the-best-one", "cannot read"),
    ("models:/", "cannot read"),
])
def test_unknown_models_are_clear_errors(client, text, words):
    with pytest.raises(HScoreError, match="^model: ") as err:
        resolve_version(text)
    assert words in str(err.value)


def test_no_store_yet_is_an_error_not_anew_store(tmp_path, monkeypatch):
    point_at(monkeypatch, tmp_path)
    with pytest.raises(HScoreError, match="no MLflow store"):
        promote()
    assert not (tmp_path / "mlruns.db").exists()


def test_version_config_is_the_calibrated_config(client, results):
    assert version_config(resolve_version(1)) == results[math.inf].config
    assert version_config(resolve_version(2)) == results[0.0].config


# ---------------------------------------------------------------- the window
def test_window_is_the_holdout_the_run_logged_or_the_same_rows_of_a_file(client, data, results):
    v2 = resolve_version(2)
    logged, start, source = comparison_window(v2)
    assert start == results[0.0].holdout_from
    assert source.startswith(f"runs:/{v2.run_id}/")
    again, _, source2 = comparison_window(v2, snapshots=data[0])
    assert source2 == str(data[0])
    pd.testing.assert_frame_equal(logged, again, check_dtype=False)
    frame = data[1]
    assert len(logged) == int(((frame["snapshot_date"] >= start) & frame["churned"].notna()).sum())


def test_a_run_without_the_holdout_artifact_is_a_clear_error(client, data):
    """A version whose run logged no holdout (made outside `hscore calibrate`): one
    HScoreError that says to pass --snapshots, not MLflow's own exception."""
    v2 = resolve_version(2)
    exp = client.get_experiment_by_name(tracking.EXPERIMENT_NAME)
    bare_run = client.create_run(exp.experiment_id)
    client.set_terminated(bare_run.info.run_id)
    bare = client.create_model_version(NAME, v2.source, run_id=bare_run.info.run_id)
    with pytest.raises(HScoreError, match=r"^snapshots: the run of version 3 holds no "
                                          r"holdout/snapshots.parquet .*pass --snapshots"):
        comparison_window(bare, version_config(v2))
    window, _, source = comparison_window(bare, version_config(v2), snapshots=data[0])
    assert source == str(data[0]) and len(window) > 0


# ---------------------------------------------------------------- promotion
def test_first_version_becomes_champion(client, expected):
    result = promote(1)
    assert (result.decision, result.promoted, result.champion) == ("first champion", True, None)
    assert _aliases(client)["champion"] == "1"
    table = result.summary().set_index("stage")
    assert "auc_champion" not in table
    for stage, (auc1, _auc2, rows) in expected.items():
        assert table.loc[stage, "auc_challenger"] == pytest.approx(auc1, abs=1e-12)
        assert table.loc[stage, "rows"] == rows
    tags = client.get_model_version(NAME, "1").tags
    assert tags["promotion.decision"] == "first champion"
    assert tags["promotion.auc_challenger"] == f"{expected['all'][0]:.4f}"


def test_challenger_and_champion_side_by_side_on_the_same_rows(client, expected):
    client.set_registered_model_alias(NAME, "champion", "1")
    result = promote(tolerance=0.0)          # the challenger is @challenger = version 2
    assert (result.challenger, result.champion) == ("2", "1")
    table = result.summary().set_index("stage")
    assert list(table.index) == list(expected)    # stages in config order, then pooled
    for stage, (auc1, auc2, rows) in expected.items():
        assert table.loc[stage, "auc_champion"] == pytest.approx(auc1, abs=1e-12)
        assert table.loc[stage, "auc_challenger"] == pytest.approx(auc2, abs=1e-12)
        assert table.loc[stage, "delta_auc"] == pytest.approx(auc2 - auc1, abs=1e-12)
        assert table.loc[stage, "rows"] == rows
        assert table.loc[stage, "delta_auc_low"] <= table.loc[stage, "delta_auc_high"]
    want = "promoted" if expected["all"][1] >= expected["all"][0] else "kept champion"
    assert result.decision == want
    text = str(result)
    assert "challenger v2 vs champion v1" in text and f"decision: {want}" in text
    assert "<table" in result._repr_html_()


def test_tolerance_and_force_decide(client, expected):
    auc1, auc2, _ = expected["all"]
    gap = abs(auc2 - auc1)
    assert gap > 1e-4, "the two versions must differ for this test to mean anything"
    worse, better = ("2", "1") if auc2 < auc1 else ("1", "2")

    client.set_registered_model_alias(NAME, "champion", better)
    kept = promote(worse, tolerance=gap / 2)
    assert (kept.decision, kept.promoted) == ("kept champion", False)
    assert _aliases(client)["champion"] == better
    assert client.get_model_version(NAME, worse).tags["promotion.decision"] == "kept champion"

    within = promote(worse, tolerance=gap * 2)
    assert (within.decision, within.promoted) == ("promoted", True)
    assert _aliases(client)["champion"] == worse

    client.set_registered_model_alias(NAME, "champion", better)
    forced = promote(worse, tolerance=0.0, force=True)
    assert (forced.decision, forced.promoted) == ("forced", True)
    assert _aliases(client)["champion"] == worse

    back = promote(better, tolerance=0.0)
    assert back.decision == "promoted" and _aliases(client)["champion"] == better


def test_decision_and_figures_are_version_tags(client, expected):
    client.set_registered_model_alias(NAME, "champion", "1")
    result = promote(2, tolerance=1.0)      # any AUC passes
    assert result.decision == "promoted"
    tags = client.get_model_version(NAME, "2").tags
    auc1, auc2, rows = expected["all"]
    assert tags["promotion.decision"] == "promoted"
    assert tags["promotion.previous_champion"] == "1"
    assert tags["promotion.auc_challenger"] == f"{auc2:.4f}"
    assert tags["promotion.auc_champion"] == f"{auc1:.4f}"
    assert tags["promotion.rows"] == str(rows)
    assert tags["promotion.window"] == f"{result.window[0]}..{result.window[1]}"
    assert tags["promotion.auc.maturity"] == (f"{expected['maturity'][1]:.4f} vs "
                                              f"{expected['maturity'][0]:.4f}")
    assert client.get_model_version(NAME, "1").tags["replaced_by"] == "2"


def test_promoting_the_champion_again_changes_nothing(client):
    client.set_registered_model_alias(NAME, "champion", "2")
    before = client.get_model_version(NAME, "2").tags
    result = promote(2)
    assert (result.decision, result.promoted) == ("already champion", False)
    assert client.get_model_version(NAME, "2").tags == before


def test_no_challenger_and_bad_tolerance_are_clear_errors(client):
    client.delete_registered_model_alias(NAME, "challenger")
    with pytest.raises(HScoreError, match="no version with the alias @challenger"):
        promote()
    with pytest.raises(HScoreError, match="tolerance"):
        promote(2, tolerance=-0.1)


def test_run_id_without_a_version_resolves_to_the_run(client, data, results):
    info = tracking.log_calibration(results[0.0], frame=data[1], register=False)
    assert resolve_model(info.run_id) == (None, info.run_id)
    with pytest.raises(HScoreError, match="has no registered version"):
        resolve_version(info.run_id)


def test_result_object_conventions():
    table = pd.DataFrame({"stage": ["all"], "rows": [10], "events": [2],
                          "auc_challenger": [0.7]})
    result = PromotionResult("3", None, "first champion", True, table, "2024-01-01",
                             ("2024-01-01", "2024-02-01"), "runs:/x", 0.005)
    assert result.summary() is not result.table
    pd.testing.assert_frame_equal(result.summary(), table)
    assert "challenger v3 vs champion (none)" in str(result)
    assert np.isclose(result.tolerance, 0.005)

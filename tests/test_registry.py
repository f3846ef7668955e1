"""Model registry and promotion on a real SQLite MLflow store.

The registered template of conftest.py holds version 1 (the input weights, strength inf) and
version 2 (strength by CV, @challenger), no champion; each test works on its own copy of it,
so aliases moved by one test do not leak into the next. Expected AUCs come from scikit-learn
on the scores of the two configs, computed here.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from hscore.errors import HScoreError
from hscore.mlops import store
from hscore.mlops.comparison import comparison_window
from hscore.mlops.model import MODEL_NAME as NAME
from hscore.mlops.promotion import promote
from hscore.mlops.registry import resolve_model, resolve_version, version_config
from hscore.scoring.scorer import HealthScorer
from mlflow_store import damage, point_at


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def results(calibrations):
    """The calibrations behind version 1 and version 2."""
    return {1: calibrations["inf"], 2: calibrations["full"]}


@pytest.fixture(scope="module")
def expected(book, results):
    """Per stage and pooled, scikit-learn's AUC of each version on the holdout window rows
    that both versions score."""
    frame = book.frame
    v1, v2 = results[1], results[2]
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
    ("models:/other-model@champion",     # the names that are there, not advice to calibrate
     f"no registered model 'other-model' (registered: {NAME}; pick one with --model-name)"),
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


def test_no_store_yet_is_an_error_not_a_new_store(tmp_path, monkeypatch):
    point_at(monkeypatch, tmp_path)
    with pytest.raises(HScoreError, match="no MLflow store"):
        promote()
    assert not (tmp_path / "mlruns.db").exists()


def test_version_config_is_the_calibrated_config(client, results):
    assert version_config(resolve_version(1)) == results[1].config
    assert version_config(resolve_version(2)) == results[2].config


# ---------------------------------------------------------------- the window
def test_window_is_the_holdout_the_run_logged_or_the_same_rows_of_a_file(client, book, results):
    v2 = resolve_version(2)
    logged, start, source = comparison_window(v2)
    assert start == results[2].holdout_from
    assert source.startswith(f"runs:/{v2.run_id}/")
    again, _, source2 = comparison_window(v2, snapshots=book.path)
    assert source2 == str(book.path)
    pd.testing.assert_frame_equal(logged, again, check_dtype=False)
    frame = book.frame
    assert len(logged) == int(((frame["snapshot_date"] >= start) & frame["churned"].notna()).sum())


def test_a_run_without_the_holdout_artifact_is_a_clear_error(client, book):
    """A version whose run logged no holdout (made outside `hscore calibrate`): one
    HScoreError that says to pass --snapshots, not MLflow's own exception."""
    v2 = resolve_version(2)
    exp = client.get_experiment_by_name(store.EXPERIMENT_NAME)
    bare_run = client.create_run(exp.experiment_id)
    client.set_terminated(bare_run.info.run_id)
    bare = client.create_model_version(NAME, v2.source, run_id=bare_run.info.run_id)
    with pytest.raises(HScoreError, match=r"^snapshots: the run of version 3 holds no "
                                          r"holdout/snapshots.parquet .*pass --snapshots"):
        comparison_window(bare, version_config(v2))
    window, _, source = comparison_window(bare, version_config(v2), snapshots=book.path)
    assert source == str(book.path) and len(window) > 0


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
    assert result.promoted == (want == "promoted")
    assert result.delta_auc == pytest.approx(expected["all"][1] - expected["all"][0], abs=1e-12)


def test_the_promotion_result_is_frozen_and_shows_itself(client, capsys):
    client.set_registered_model_alias(NAME, "champion", "1")
    result = promote(2, tolerance=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.decision = "kept champion"
    shown = result.summary()
    shown.loc[:, "auc_challenger"] = 0.0              # the caller's copy, not the result
    assert (result.summary()["auc_challenger"] > 0).all()
    text = str(result)
    head = f"{NAME}: challenger v2 vs champion v1 on the snapshots from "
    assert text.startswith(head) and f"({result.source})" in text.splitlines()[0]
    assert "decision: promoted -> @champion is v2 (tolerance 1 AUC)" in text
    assert "delta_auc" in text and "brier" not in text          # AUC figures in the text
    result.print_summary()
    assert capsys.readouterr().out == text + "\n"
    html = result._repr_html_()
    assert f"<h4>{head}" in html and html.count("<table") == 1
    assert "<b>decision: promoted -&gt; @champion is v2 (tolerance 1 AUC)</b>" in html


def test_tolerance_and_force_decide(client, expected):
    auc1, auc2, _ = expected["all"]
    gap = abs(auc2 - auc1)
    assert gap > 1e-4, "the two versions must differ for this test to mean anything"
    worse, better = ("2", "1") if auc2 < auc1 else ("1", "2")

    client.set_registered_model_alias(NAME, "champion", better)
    kept = promote(worse, tolerance=gap / 2, n_bootstrap=0)     # the decision reads AUCs only
    assert (kept.decision, kept.promoted) == ("kept champion", False)
    assert _aliases(client)["champion"] == better
    assert client.get_model_version(NAME, worse).tags["promotion.decision"] == "kept champion"

    within = promote(worse, tolerance=gap * 2, n_bootstrap=0)
    assert (within.decision, within.promoted) == ("promoted", True)
    assert _aliases(client)["champion"] == worse

    client.set_registered_model_alias(NAME, "champion", better)
    forced = promote(worse, tolerance=0.0, force=True, n_bootstrap=0)
    assert (forced.decision, forced.promoted) == ("forced", True)
    assert _aliases(client)["champion"] == worse

    back = promote(better, tolerance=0.0, n_bootstrap=0)
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


def test_run_id_without_a_version_resolves_to_the_run(client, registered_template):
    run_id = registered_template.infos["unregistered"].run_id     # tracked with register=False
    assert resolve_model(run_id) == (None, run_id)
    with pytest.raises(HScoreError, match="has no registered version"):
        resolve_version(run_id)


# ---------------------------------------------------------------- the store
def test_a_damaged_store_is_one_error_that_names_the_file(registered_store):
    db = registered_store / "mlruns.db"
    damage(db)
    with pytest.raises(HScoreError, match="damaged") as err:
        promote(2, force=True)
    assert f"MLflow store {db}" in str(err.value)


#: Runs `hscore <args>` once the other process has started too: both import first (seconds,
#: and not the same number of them), then meet at a file barrier, so the two promotions
#: really run at the same time.
_AT_ONCE = """
import sys, time
from pathlib import Path
import mlflow, hscore.mlops.promotion
from hscore.cli import main
barrier = Path(sys.argv[1])
(barrier / sys.argv[2]).touch()
while len(list(barrier.iterdir())) < 2:
    time.sleep(0.005)
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.slow
def test_two_forced_promotions_at_once_decide_one_after_the_other(client, tmp_path):
    """`hscore promote --version 2 --force & hscore promote --version 3 --force` in two real
    processes while version 1 is champion: the one that gets the store first replaces
    version 1; the other compares its version with that new champion, records it as the
    previous one and replaces it. (Deciding outside the lock, both compared with version 1,
    both recorded it as the previous champion and both said they had replaced it.)"""
    v2 = client.get_model_version(NAME, "2")
    client.create_model_version(NAME, v2.source, run_id=v2.run_id)     # version 3: a copy
    client.set_registered_model_alias(NAME, "champion", "1")
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_REGISTRY_URI"}
    procs = {v: subprocess.Popen([sys.executable, "-c", _AT_ONCE, str(barrier), v, "promote",
                                  "--version", v, "--force"], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for v in ("2", "3")}
    outs = {v: p.communicate(timeout=300) for v, p in procs.items()}
    for v, p in procs.items():
        assert p.returncode == 0, outs[v][1]
    tags = {v: client.get_model_version(NAME, v).tags for v in procs}
    previous = {v: tags[v]["promotion.previous_champion"] for v in procs}
    assert sorted(previous.values()) in (["1", "2"], ["1", "3"]), \
        f"both promotions decided on the same champion: {previous}"
    (first,) = [v for v in procs if previous[v] == "1"]
    (second,) = [v for v in procs if v != first]
    assert previous[second] == first, previous
    assert {tags[v]["promotion.decision"] for v in procs} <= {"promoted", "forced"}
    assert client.get_model_version(NAME, "1").tags["replaced_by"] == first
    assert tags[first]["replaced_by"] == second
    assert _aliases(client)["champion"] == second
    assert f"challenger v{first} vs champion v1" in outs[first][0]
    assert f"challenger v{second} vs champion v{first}" in outs[second][0]
    assert f"-> @champion is v{second}" in outs[second][0]

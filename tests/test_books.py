"""One registered model per book (issue #9): the lifecycle sample and the CRM export
calibrated into one store through the CLI land on two models, named from their configs;
promote and export take the name; a challenger that scores other metrics is refused; with
several models and no name, the commands list the names instead of guessing.

Every step runs once, in order, in the module's fixture (a real SQLite store in a temp
folder, real fits); the tests read what each step printed and what the store holds. The
fits are lean (``--strengths inf``: the input weights; no bootstrap): what is tested here is
where versions land, not the weights.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from hscore.cli import main
from hscore.config import load_config
from hscore.errors import HScoreError
from mlflow_store import new_store, point_at

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample_snapshots.csv"
CRM = REPO / "data" / "crm_export.csv"
CRM_CONFIG = REPO / "data" / "crm_export.yaml"
LEAN = ["--strengths", "inf", "--bootstrap", "0"]
LIFECYCLE, BOOK = "customer-health-score", "crm-export"


def _run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def _error(step) -> str:
    code, out, err = step
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    return lines[0]


def _ok(step) -> str:
    code, out, err = step
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    """The steps, in order, on one new store: ``(home, {step: (code, stdout, stderr)})``."""
    home = new_store(tmp_path_factory, "books_store")
    steps = {}
    with pytest.MonkeyPatch.context() as mp:
        point_at(mp, home)

        def run(key, *args):
            steps[key] = _run(list(args))

        run("calibrate sample", "calibrate", "--snapshots", SAMPLE, *LEAN, "--quiet",
            "--out", home / "sample.yaml")
        run("calibrate crm", "calibrate", "--snapshots", CRM, "--config", CRM_CONFIG, *LEAN,
            "--quiet", "--out", home / "crm.yaml")
        run("promote, no name", "promote")
        run("export, no name", "export", "--model", "1", "--out", home / "x.yaml")
        run("promote crm", "promote", "--model-name", BOOK, "--bootstrap", "5")
        run("promote sample", "promote", "--model-name", LIFECYCLE, "--bootstrap", "5",
            "--quiet")
        run("export crm", "export", "--model", f"models:/{BOOK}@champion",
            "--out", home / "prod" / "crm.yaml")
        run("export sample", "export", "--model-name", LIFECYCLE,
            "--out", home / "prod" / "sample.yaml")
        # Recalibrating the book from its calibrated config lands on the same model.
        run("recalibrate crm", "calibrate", "--snapshots", CRM, "--config", home / "crm.yaml",
            *LEAN, "--quiet", "--out", home / "crm2.yaml")
        run("promote crm again", "promote", "--model-name", BOOK, "--bootstrap", "5")
        # The CRM book registered under the lifecycle model's name: a challenger with
        # other metrics.
        run("crm as lifecycle", "calibrate", "--snapshots", CRM, "--config", CRM_CONFIG,
            *LEAN, "--quiet", "--model-name", LIFECYCLE, "--out", home / "crm-misfiled.yaml")
        run("promote misfiled", "promote", "--model-name", LIFECYCLE, "--quiet")
        run("promote misfiled, forced", "promote", "--model-name", LIFECYCLE, "--force",
            "--quiet")
    return home, steps


@pytest.fixture
def store_of(books, monkeypatch):
    home, _ = books
    point_at(monkeypatch, home)
    from mlflow import MlflowClient

    from hscore.mlops import store

    store.configure()
    return MlflowClient()


# ---------------------------------------------------------------- one model per book
def test_two_books_land_on_two_registered_models(books, store_of):
    home, steps = books
    assert f"registered {LIFECYCLE} version 1 as @challenger" in _ok(steps["calibrate sample"])
    assert f"registered {BOOK} version 1 as @challenger" in _ok(steps["calibrate crm"])
    assert sorted(m.name for m in store_of.search_registered_models()) == [BOOK, LIFECYCLE]
    # Each version holds its own book's config, and the written file says where it went.
    for name, written in ((LIFECYCLE, "sample.yaml"), (BOOK, "crm.yaml")):
        cfg = load_config(home / written)
        assert cfg.provenance.model.name == name and cfg.provenance.model.version == "1"
        version = store_of.get_model_version(name, "1")
        assert version.run_id == cfg.provenance.run_id
    assert set(load_config(home / "crm.yaml").stages) == {"all"}
    assert set(load_config(home / "sample.yaml").stages) == set(load_config("lifecycle").stages)


def test_without_a_name_several_models_are_listed_not_guessed(books):
    _, steps = books
    for key in ("promote, no name", "export, no name"):
        line = _error(steps[key])
        assert f"2 registered models ({BOOK}, {LIFECYCLE})" in line, line
        assert "--model-name" in line


def test_promote_and_export_each_book_by_name(books, store_of):
    home, steps = books
    assert f"{BOOK}: challenger v1 vs champion (none)" in _ok(steps["promote crm"])
    assert f"{LIFECYCLE}: challenger v1 vs champion (none)" in _ok(steps["promote sample"])
    for name, written, exported in ((BOOK, "crm.yaml", "crm.yaml"),
                                    (LIFECYCLE, "sample.yaml", "sample.yaml")):
        out = load_config(home / "prod" / exported)
        assert (out.provenance.model.name, out.provenance.model.version) == (name, "1")
        assert "champion" in out.provenance.model.aliases
        assert out.stages == load_config(home / written).stages
    assert f"exported {LIFECYCLE} version 1 (@challenger, @champion)" in _ok(steps["export sample"])


def test_recalibrating_a_book_lands_on_its_model(books, store_of):
    home, steps = books
    assert f"registered {BOOK} version 2 as @challenger" in _ok(steps["recalibrate crm"])
    assert load_config(home / "crm2.yaml").name == "crm-export-calibrated-calibrated"
    out = _ok(steps["promote crm again"])
    assert f"{BOOK}: challenger v2 vs champion v1" in out
    # Its exported fit was refitted on every labelled row, its holdout included (the default
    # --refit all): promotion says so, in one line.
    notes = [line for line in out.splitlines() if "refitted on every labelled row" in line]
    assert len(notes) == 1 and "optimistic" in notes[0]


def test_a_challenger_scoring_other_metrics_is_refused_in_one_line(books, store_of):
    _, steps = books
    assert f"registered {LIFECYCLE} version 2 as @challenger" in _ok(steps["crm as lifecycle"])
    for key in ("promote misfiled", "promote misfiled, forced"):
        line = _error(steps[key])
        assert f"challenger v2 of {LIFECYCLE} scores stages {{all}}" in line, line
        assert "the champion v1 scores stages {onboarding, adoption, maturity, renewal}" in line
        assert "product_logins" in line or "exec_sponsor" in line or "metrics {" in line
        assert line.endswith("register it under its own name with --model-name")
    # Refused means nothing moved.
    assert str(store_of.get_model_version_by_alias(LIFECYCLE, "champion").version) == "1"
    assert "promotion.decision" not in store_of.get_model_version(LIFECYCLE, "2").tags


def test_promote_shows_its_phases_on_stderr_and_quiet_silences_them(books):
    _, steps = books

    ours = ["resolve", "read snapshots", "score champion and challenger", "move alias"]

    def phases(err):       # promote's own, in order (the PSI check reports its own too)
        return [p for p in (re.sub(r" done in .*", "", line) for line in err.splitlines()
                            if " done in " in line) if p in ours]

    first, second = steps["promote crm"][2], steps["promote crm again"][2]
    assert phases(first) == ours
    assert "bootstrap" not in first            # a first champion has no one to compare with
    assert phases(second) == phases(first)
    # the comparison counts one paired bootstrap per stage row (the CRM book: one, `all`)
    assert "bootstrap (5 resamples per stage) 1/1" in second.splitlines()
    assert steps["promote sample"][2] == ""     # --quiet


# ---------------------------------------------------------------- names
def test_a_bad_model_name_is_refused_before_the_work(tmp_path):
    line = _error(_run(["calibrate", "--snapshots", CRM, "--config", CRM_CONFIG,
                        "--model-name", "emea/book", "--out", tmp_path / "c.yaml"]))
    assert "--model-name: 'emea/book'" in line and "'emea-book'" in line
    assert not (tmp_path / "c.yaml").exists()


def test_python_api_takes_model_name(books, store_of, tmp_path):
    from hscore.mlops.export import export_config
    from hscore.mlops.registry import resolve_version

    with pytest.raises(HScoreError, match=re.escape(f"({BOOK}, {LIFECYCLE})")):
        resolve_version(1)
    assert resolve_version(1, model_name=BOOK).name == BOOK
    with pytest.raises(HScoreError, match=f"is a version of {BOOK}, not of {LIFECYCLE}"):
        resolve_version(f"models:/{BOOK}/1", model_name=LIFECYCLE)
    path = export_config(None, tmp_path / "crm.yaml", model_name=BOOK)
    assert load_config(path).provenance.model.version == "2"      # the champion now

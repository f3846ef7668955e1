"""Export of a registered config for production, on a real SQLite MLflow store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hscore.config import load_config
from hscore.errors import HScoreError
from hscore.mlops import export, model, store
from hscore.mlops.export import export_config
from hscore.scoring.scorer import HealthScorer
from mlflow_store import damage, point_at

NAME = model.MODEL_NAME


# ---------------------------------------------------------------- fixtures
# The promoted template of conftest.py: version 1 (the ``inf`` calibration) promoted to the
# first @champion, version 2 @challenger, and a run tracked without a version.
@pytest.fixture
def result(calibrations):
    return calibrations["inf"]


@pytest.fixture
def at_store(promoted_store, promoted_template):
    """``(home, the run of version 1, the run without a version)``."""
    infos = promoted_template.infos
    return promoted_store, infos["inf"].run_id, infos["unregistered"].run_id


# ---------------------------------------------------------------- what is exported
@pytest.mark.parametrize("form", ["alias", "uri", "number", "run"])
def test_export_writes_the_version_config_with_provenance(at_store, result, tmp_path, form):
    _home, run_id, _ = at_store
    model = {"alias": f"models:/{NAME}@champion", "uri": f"models:/{NAME}/1", "number": "1",
             "run": run_id}[form]
    out = export_config(model, tmp_path / "prod" / "health.yaml")
    assert out == tmp_path / "prod" / "health.yaml"
    cfg = load_config(out)
    assert cfg.stages == result.config.stages          # weights, transforms, probability
    prov = cfg.provenance
    calibrated = result.config.provenance
    assert prov.run_id == run_id
    assert prov.model.model_dump() == {"name": NAME, "version": "1", "aliases": ["champion"],
                                       "uri": f"models:/{NAME}/1"}
    assert prov.data_window == calibrated.data_window
    assert prov.quality == calibrated.quality
    assert prov.promotion["decision"] == "first champion"
    assert prov.exported.from_ == model
    assert prov.exported.tracking_uri == store.tracking_uri()
    pooled = prov.quality["all"].auc
    assert export.describe_export(out) == (
        f"exported {NAME} version 1 (@champion) from run {run_id} to {out} on "
        f"{prov.data_window.holdout[0]}..{prov.data_window.holdout[1]}, "
        f"pooled holdout AUC {pooled:.3f}")


def test_export_of_an_unregistered_run_uses_the_run_config(at_store, calibrations, tmp_path):
    _home, _, run_id = at_store
    cfg = load_config(export_config(run_id, tmp_path / "run.yaml"))
    assert cfg.stages == calibrations["fast"].config.stages
    assert cfg.provenance.run_id == run_id and cfg.provenance.model is None


def test_exported_file_scores_exactly_like_the_pyfunc_model(at_store, book, tmp_path):
    import mlflow

    frame = book.frame
    uri = f"models:/{NAME}@champion"
    out = export_config(uri, tmp_path / "champion.yaml")
    predicted = mlflow.pyfunc.load_model(uri).predict(frame).reset_index(drop=True)
    scored = model.pyfunc_output(HealthScorer(load_config(out)).score(frame))
    assert list(predicted.columns) == list(scored.columns)
    numbers = [c for c in scored.columns if pd.api.types.is_float_dtype(scored[c])]
    assert {"score", "churn_probability", "coverage"} <= set(numbers)
    for col in numbers:      # exact, not approximately equal
        np.testing.assert_array_equal(predicted[col].to_numpy(), scored[col].to_numpy(),
                                      err_msg=col)
    pd.testing.assert_frame_equal(predicted, scored, check_exact=True)


def test_scoring_the_export_needs_no_mlflow_statsmodels_or_sklearn(at_store, book, tmp_path):
    out = export_config(f"models:/{NAME}@champion", tmp_path / "champion.yaml")
    code = (
        "import sys\n"
        "from hscore import HealthScorer, load_config\n"
        "from hscore.scoring.snapshots import read_snapshots\n"
        f"s = HealthScorer(load_config({str(out)!r})).score(read_snapshots({str(book.path)!r}))\n"
        "assert s['score'].notna().any()\n"
        "heavy = [m for m in ('mlflow', 'statsmodels', 'sklearn', 'matplotlib')\n"
        "         if m in sys.modules]\n"
        "assert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------- atomic write
def _crash(*_args, **_kwargs):
    raise KeyboardInterrupt   # as if the user hit Ctrl-C in the middle of the export


@pytest.mark.parametrize("where", ["fsync", "replace"])
@pytest.mark.parametrize("existing", [True, False])
def test_interrupted_export_leaves_the_file_untouched(at_store, tmp_path, monkeypatch, where,
                                                      existing):
    target = tmp_path / "health.yaml"
    if existing:
        target.write_text("previous export\n")
    # "fsync": the new text is in the temp file but not yet renamed; "replace": the rename
    # into place is interrupted.
    if where == "fsync":
        monkeypatch.setattr(export.os, "fsync", _crash)
    else:
        real = os.replace
        monkeypatch.setattr(export.os, "replace", lambda src, dst: _crash() if Path(dst) == target
                            else real(src, dst))
    with pytest.raises(KeyboardInterrupt):
        export_config(f"models:/{NAME}@champion", target)
    if existing:
        assert target.read_text() == "previous export\n"
    else:
        assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == (["health.yaml"] if existing else [])


def test_unknown_model_writes_nothing(at_store, tmp_path):
    target = tmp_path / "health.yaml"
    with pytest.raises(HScoreError, match="@nope"):
        export_config(f"models:/{NAME}@nope", target)
    assert not target.exists()


def test_export_reads_the_store_it_is_pointed_at(at_store, tmp_path, monkeypatch):
    """MLFLOW_TRACKING_URI picks the store: an empty one has nothing to export."""
    empty = tmp_path / "empty"
    empty.mkdir()
    point_at(monkeypatch, empty)
    with pytest.raises(HScoreError, match="no MLflow store"):
        export_config(f"models:/{NAME}@champion", tmp_path / "x.yaml")
    assert not os.path.exists(tmp_path / "x.yaml")


def test_a_damaged_store_is_one_error_that_names_the_file(at_store, tmp_path):
    db = at_store[0] / "mlruns.db"
    damage(db)
    target = tmp_path / "health.yaml"
    with pytest.raises(HScoreError, match="damaged") as err:
        export_config(f"models:/{NAME}@champion", target)
    assert f"MLflow store {db}" in str(err.value)
    assert not target.exists()

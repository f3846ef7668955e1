"""The analyst notebooks run end to end on small data, and are committed without outputs.

Each notebook is executed with nbclient in a fresh kernel that runs this very interpreter
(the project's virtualenv), against the temp MLflow store the autouse fixture of conftest.py
sets up (HSCORE_HOME, MLFLOW_TRACKING_URI are inherited by the kernel); the tracking notebook's
store starts as a copy of an empty, initialized one (``initialized_store``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest

from hscore import synth

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAMES = ["scoring_quickstart.ipynb", "quarterly_recalibration.ipynb"]

#: Small enough for CI, big enough that maturity and renewal get calibrated.
SMALL = {"HSCORE_NB_ACCOUNTS": "400", "HSCORE_NB_MONTHS": "15", "HSCORE_NB_BOOTSTRAP": "10",
         "HSCORE_NB_SEED": "0"}


@pytest.fixture
def venv_kernel(tmp_path, monkeypatch):
    """Make kernel name ``python3`` launch this interpreter, whatever kernelspecs the machine
    has: JUPYTER_PATH is searched first, so a spec there wins over a user's own python3."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (hscore test)", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    assert Path(KernelSpecManager().find_kernel_specs()["python3"]) == spec_dir
    assert KernelManager(kernel_name="python3").format_kernel_cmd()[0] == sys.executable
    return "python3"


def _run(name: str, kernel: str) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    # One extra cell, in memory only: which interpreter did the kernel run on?
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(f'kernel: {sys.executable}')"))
    NotebookClient(nb, kernel_name=kernel, timeout=300,
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    probe = nb.cells.pop()
    assert probe.outputs[0]["text"].strip() == f"kernel: {sys.executable}"
    return nb


def _outputs(nb, mime: str) -> list:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
            if mime in out.get("data", {})]


def _stdout(nb) -> str:
    return "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for out in cell.outputs if out.get("name") == "stdout")


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_has_no_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    for cell in code:
        assert cell.outputs == [], cell.source[:60]
        assert cell.execution_count is None, cell.source[:60]
    assert nb.metadata.kernelspec.name == "python3"
    # Sizes are parameters the tests can set: the tagged cell reads them from the environment.
    (params,) = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    for var in ("HSCORE_NB_ACCOUNTS", "HSCORE_NB_SEED"):
        assert var in params.source


@pytest.mark.slow
def test_scoring_quickstart_runs(venv_kernel, monkeypatch, tmp_path):
    for key, value in SMALL.items():
        monkeypatch.setenv(key, value)
    before = sorted(p.name for p in NOTEBOOKS.iterdir())
    nb = _run("scoring_quickstart.ipynb", venv_kernel)
    out = _stdout(nb)
    # The parameters reached the kernel: the small synthetic book, not the default one.
    frame = synth.make_history(400, 15, seed=0).frame
    assert (f"{len(frame)} snapshots of {frame['account_id'].nunique()} accounts, "
            "2024-01-01 to 2025-03-01") in out
    assert "sum of contributions = " in out
    assert len(_outputs(nb, "image/png")) == 1            # the score distribution
    assert len(_outputs(nb, "text/html")) >= 5            # tables
    assert sorted(p.name for p in NOTEBOOKS.iterdir()) == before   # wrote nothing beside it


@pytest.mark.slow
def test_scoring_quickstart_reads_a_snapshot_file(venv_kernel, monkeypatch):
    from hscore.scoring.snapshots import read_snapshots

    sample = ROOT / "data" / "sample_snapshots.csv"
    if not sample.is_file():
        pytest.skip("data/sample_snapshots.csv is not in this checkout")
    monkeypatch.setenv("HSCORE_NB_SNAPSHOTS", str(sample))
    nb = _run("scoring_quickstart.ipynb", venv_kernel)
    frame = read_snapshots(sample)
    assert (f"{len(frame)} snapshots of {frame['account_id'].nunique()} accounts"
            in _stdout(nb))


@pytest.mark.slow
def test_quarterly_recalibration_runs(venv_kernel, monkeypatch, initialized_store):
    import mlflow
    from mlflow import MlflowClient

    for key, value in SMALL.items():
        monkeypatch.setenv(key, value)
    before = sorted(p.name for p in NOTEBOOKS.iterdir())
    nb = _run("quarterly_recalibration.ipynb", venv_kernel)
    out = _stdout(nb)
    assert "exported file == registered model: True" in out
    assert "In stage 'maturity'" in out                   # the compare verdict
    assert len(_outputs(nb, "image/png")) == 4            # weights, calibration, ROC, compare
    assert sorted(p.name for p in NOTEBOOKS.iterdir()) == before

    # Everything landed in the temp store: the defaults baseline (v1, first champion) and
    # the calibration (v2, challenger), and the export in <HSCORE_HOME>/out.
    home = Path(os.environ["HSCORE_HOME"])
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    client = MlflowClient(registry_uri=mlflow.get_tracking_uri())
    versions = client.search_model_versions("name='customer-health-score'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    challenger = client.get_model_version_by_alias("customer-health-score", "challenger")
    assert str(challenger.version) == "2"
    first = client.get_model_version("customer-health-score", "1")
    assert first.tags["promotion.decision"] == "first champion"
    second = client.get_model_version("customer-health-score", "2")
    assert second.tags["promotion.decision"] in ("promoted", "kept champion")
    champion = str(client.get_model_version_by_alias("customer-health-score", "champion").version)
    assert champion == ("2" if second.tags["promotion.decision"] == "promoted" else "1")
    from hscore import load_config

    exported = load_config(home / "out" / "champion.yaml")
    assert exported.provenance.model.version == champion

"""The analyst notebooks run end to end on both shipped books, and are committed without outputs.

Each notebook is executed with nbclient in a fresh kernel that runs this very interpreter
(the project's virtualenv), against the temp MLflow store the autouse fixture of conftest.py
sets up (HSCORE_HOME, MLFLOW_TRACKING_URI are inherited by the kernel); the tracking notebook's
store starts as a copy of an empty, initialized one (``initialized_store``).

Parameters reach a notebook the way papermill passes them, without needing papermill: a cell
tagged ``injected-parameters`` right after the cell tagged ``parameters`` reassigns them. So
the notebooks read no environment variables, an analyst sees every knob as a plain assignment,
and ``papermill -p NAME VALUE`` works on them unchanged.

The two books: the lifecycle sample (monthly history, four stages, 30-day labels: the
notebooks' defaults) and the CRM export (one snapshot date, the single stage ``all``, its own
metric names, 90-day labels, so an account-grouped holdout).
"""

from __future__ import annotations

import ast
import json
import os
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
import yaml

import hscore

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAMES = ["scoring_quickstart.ipynb", "quarterly_recalibration.ipynb"]

#: Per book, the parameters that point the notebooks at it (none: the defaults).
BOOKS = {
    "lifecycle": {},
    "crm": {"CONFIG": str(ROOT / "data" / "crm_export.yaml"),
            "SNAPSHOTS": str(ROOT / "data" / "crm_export.csv")},
}
#: The smallest bootstrap compare accepts: CIs are rough, the notebook runs in seconds.
FAST = {"N_BOOTSTRAP": 10}


def _book(params: dict) -> tuple:
    """The book's config and snapshot table, read here the way an analyst would."""
    config = hscore.load_config(params.get("CONFIG", "lifecycle"))
    frame = hscore.read_snapshots(params.get("SNAPSHOTS", NOTEBOOKS / "../data/sample_snapshots.csv"))
    return config, frame


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


def _parameters_cell(nb) -> int:
    (index,) = [i for i, c in enumerate(nb.cells)
                if "parameters" in c.metadata.get("tags", [])]
    return index


def _assigned(source: str) -> dict[str, object]:
    """The names a parameters cell assigns, with their literal values."""
    out = {}
    for stmt in ast.parse(source).body:
        assert isinstance(stmt, ast.Assign) and len(stmt.targets) == 1, ast.unparse(stmt)
        out[stmt.targets[0].id] = ast.literal_eval(stmt.value)
    return out


def _run(name: str, kernel: str, params: dict) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    at = _parameters_cell(nb)
    unknown = set(params) - set(_assigned(nb.cells[at].source))
    assert not unknown, f"{name} has no parameter {unknown}"
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(
        "\n".join(f"{k} = {v!r}" for k, v in params.items()),
        metadata={"tags": ["injected-parameters"]}))
    # One extra cell, in memory only: which interpreter did the kernel run on?
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(f'kernel: {sys.executable}')"))
    NotebookClient(nb, kernel_name=kernel, timeout=300,
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    probe = nb.cells.pop()
    assert probe.outputs[0]["text"].strip() == f"kernel: {sys.executable}"
    return nb


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def _outputs(nb, mime: str) -> list:
    return [out for cell in _code(nb) for out in cell.outputs if mime in out.get("data", {})]


def _stdout(nb) -> str:
    return "".join(out.get("text", "") for cell in _code(nb) for out in cell.outputs
                   if out.get("name") == "stdout")


def _cell(nb, text: str):
    (cell,) = [c for c in _code(nb) if text in c.source]
    return cell


class _RowLabels(HTMLParser):
    """The row labels (``<th>`` in ``<tbody>``) of a DataFrame's HTML."""

    def __init__(self):
        super().__init__()
        self.labels, self._body, self._th = [], False, False

    def handle_starttag(self, tag, attrs):
        self._body |= tag == "tbody"
        self._th = self._body and tag == "th"

    def handle_endtag(self, tag):
        self._th = False if tag == "th" else self._th

    def handle_data(self, data):
        if self._th and data.strip():
            self.labels.append(data.strip())


def _row_labels(cell) -> list[str]:
    (html,) = [out["data"]["text/html"] for out in cell.outputs if "text/html" in out.get("data", {})]
    parser = _RowLabels()
    parser.feed(html)
    return parser.labels


def _assert_clean_run(nb, images: int, before: list[str]) -> None:
    """No cell raised or wrote to stderr through a warning, the plots are images, and nothing
    was written beside the notebooks."""
    errors = [out for cell in _code(nb) for out in cell.outputs if out["output_type"] == "error"]
    assert not errors, errors[0]["evalue"] if errors else ""
    assert len(_outputs(nb, "image/png")) == images
    assert sorted(p.name for p in NOTEBOOKS.iterdir()) == before


# ------------------------------------------------------------------ committed form
@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_has_no_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = _code(nb)
    assert code
    for cell in code:
        assert cell.outputs == [], cell.source[:60]
        assert cell.execution_count is None, cell.source[:60]
    assert nb.metadata.kernelspec.name == "python3"
    # papermill's convention: one tagged cell of plain literal assignments, whose defaults run
    # the shipped lifecycle sample from the notebook's folder.
    params = _assigned(nb.cells[_parameters_cell(nb)].source)
    assert params["CONFIG"] == "lifecycle"
    assert (NOTEBOOKS / params["SNAPSHOTS"]).resolve() == (ROOT / "data" / "sample_snapshots.csv")
    assert params["DATE_FORMAT"] is None


@pytest.mark.parametrize("name", NAMES)
def test_notebook_names_no_stage_or_metric_of_a_book(name):
    """Below the parameters, every stage, component and metric comes from the config: no
    string literal in the code is a name of either shipped book."""
    names = set()
    for config in (hscore.load_config("lifecycle"), hscore.load_config(BOOKS["crm"]["CONFIG"])):
        for stage, spec in config.stages.items():
            names |= {stage, *spec.components, *spec.metric_names}
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    below = [c for c in nb.cells[_parameters_cell(nb) + 1:] if c.cell_type == "code"]
    source = "\n".join(line for c in below for line in c.source.splitlines()
                       if not line.lstrip().startswith("%"))
    tree = ast.parse(source)
    literals = {node.value for node in ast.walk(tree)
                if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    assert not literals & names
    # The horizon too: every horizon_days= passed on is a name (the parameter or the config's).
    horizons = [kw.value for node in ast.walk(tree) if isinstance(node, ast.Call)
                for kw in node.keywords if kw.arg == "horizon_days"]
    assert all(isinstance(v, ast.Name) for v in horizons)


# ------------------------------------------------------------------ executed
@pytest.mark.slow
@pytest.mark.parametrize("book", BOOKS)
def test_scoring_quickstart_runs(book, venv_kernel, tmp_path):
    params = BOOKS[book]
    config, frame = _book(params)
    if book == "crm":
        # The same book with day-first dates: DATE_FORMAT reaches the reader (ISO is the
        # default, and 01/12/2024 is never guessed).
        text = Path(params["SNAPSHOTS"]).read_text("utf-8")
        assert text.count(",2024-12-01,") == len(frame)
        params = {**params, "DATE_FORMAT": "%d/%m/%Y",
                  "SNAPSHOTS": str(tmp_path / "crm_day_first.csv")}
        Path(params["SNAPSHOTS"]).write_text(text.replace(",2024-12-01,", ",01/12/2024,"), "utf-8")
        # ... and its component weights typed as percentages: NORMALIZE_WEIGHTS rescales them
        pct = config.to_dict()
        for stage in pct["stages"].values():
            for comp in stage["components"].values():
                comp["weight"] *= 100
        params["CONFIG"] = str(tmp_path / "crm_percent.yaml")
        Path(params["CONFIG"]).write_text(yaml.safe_dump(pct, sort_keys=False), "utf-8")
        params["NORMALIZE_WEIGHTS"] = True
    before = sorted(p.name for p in NOTEBOOKS.iterdir())
    nb = _run("scoring_quickstart.ipynb", venv_kernel, params)
    _assert_clean_run(nb, images=1, before=before)            # the score distribution
    if params.get("NORMALIZE_WEIGHTS"):
        said = [out["text"] for cell in _code(nb) for out in cell.outputs
                if out.get("name") == "stderr"]
        assert any("normalized weights: 1 level(s) rescaled" in text for text in said), said
    out = _stdout(nb)
    dates = frame["snapshot_date"]
    assert (f"{len(frame)} snapshots of {frame['account_id'].nunique()} accounts, "
            f"{dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d} "
            f"({dates.nunique()} snapshot dates)") in out
    assert f"churned = churned within {config.label_horizon_days} days" in out
    assert "sum of contributions = " in out
    # The book's own stages, components and metrics, from its config.
    assert set(_row_labels(_cell(nb, "score_summary(scores)"))) == set(config.stages)
    assert set(_row_labels(_cell(nb, "comp.weight for name, comp"))) == {
        c for spec in config.stages.values() for c in spec.components}
    weights = _row_labels(_cell(nb, '"effective weight": spec.metric_weights()'))
    assert set(config.metric_names) <= set(weights)
    if dates.nunique() == 1:      # no earlier score, so no trend
        assert (f"0 trend alerts on {dates.max():%Y-%m-%d} among 0 accounts with an earlier "
                "score") in out


@pytest.mark.slow
@pytest.mark.parametrize("book", BOOKS)
def test_quarterly_recalibration_runs(book, venv_kernel, initialized_store):
    import mlflow
    from mlflow import MlflowClient

    from hscore.mlops.model import MODEL_NAME, model_name_for

    params = BOOKS[book]
    config, frame = _book(params)
    # one registered model per book: the lifecycle book's is customer-health-score
    assert (model_name_for(config.name) == MODEL_NAME) == (book != "crm")
    MODEL_NAME = model_name_for(config.name)  # noqa: N806
    before = sorted(p.name for p in NOTEBOOKS.iterdir())
    nb = _run("quarterly_recalibration.ipynb", venv_kernel, {**params, **FAST})
    _assert_clean_run(nb, images=4, before=before)    # weights, calibration, ROC, compare
    out = _stdout(nb)
    assert "exported file == registered model: True" in out

    # The calibration table lists the book's own stages; the horizon and the holdout follow
    # from its config and its dates.
    assert set(_row_labels(_cell(nb, "result.stage_table()"))) == set(config.stages)
    assert f"churned = churned within {config.label_horizon_days} days" in out
    one_date = frame["snapshot_date"].nunique() == 1
    assert ("holdout: account-grouped random holdout" if one_date
            else "holdout: out-of-time holdout from") in out
    # The question of step 6: the stage with the most churn events among scored, labelled
    # rows, and its two heaviest components.
    scores = hscore.HealthScorer(config).score(frame)
    known = frame["churned"].notna() & scores["score"].notna()
    stage = frame.loc[known, "churned"].groupby(scores.loc[known, "stage"], observed=True).sum().idxmax()
    components = config.stages[stage].components
    a, b = sorted(components, key=lambda c: -components[c].weight)[:2]
    assert f"In stage '{stage}', is {a} more predictive of churn than {b}?" in out

    # Everything landed in the temp store: the input-weights baseline (v1, first champion) and
    # the calibration (v2, challenger), and the export in <HSCORE_HOME>/out.
    home = Path(os.environ["HSCORE_HOME"])
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    client = MlflowClient(registry_uri=mlflow.get_tracking_uri())
    versions = client.search_model_versions(f"name='{MODEL_NAME}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    challenger = client.get_model_version_by_alias(MODEL_NAME, "challenger")
    assert str(challenger.version) == "2"
    first = client.get_model_version(MODEL_NAME, "1")
    assert first.tags["promotion.decision"] == "first champion"
    second = client.get_model_version(MODEL_NAME, "2")
    assert second.tags["promotion.decision"] in ("promoted", "kept champion")
    champion = str(client.get_model_version_by_alias(MODEL_NAME, "champion").version)
    assert champion == ("2" if second.tags["promotion.decision"] == "promoted" else "1")

    exported = hscore.load_config(home / "out" / f"{config.name}-champion.yaml")
    assert exported.provenance.model.version == champion
    assert exported.label_horizon_days == config.label_horizon_days
    assert list(exported.stages) == list(config.stages)
    assert set(exported.metric_names) == set(config.metric_names)

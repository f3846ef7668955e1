"""experiments/: each runs by one command on tiny sizes and logs what it computed to MLflow
(the temp store of conftest.py, a copy of an empty initialized one where it is written)."""

from __future__ import annotations

import importlib
import io
import os
import subprocess
import sys
import warnings
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hscore import synth

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def experiments(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))

    def load(name):
        return importlib.import_module(f"experiments.{name}")
    return load


def _client():
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    return MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"],
                        registry_uri=os.environ["MLFLOW_TRACKING_URI"])


def _artifact_csv(client, run_id: str, path: str, tmp_path: Path) -> pd.DataFrame:
    local = client.download_artifacts(run_id, path, str(tmp_path))
    return pd.read_csv(local)


# ------------------------------------------------------------ usage vs pulse
def test_usage_vs_pulse_logs_the_comparisons(experiments, tmp_path, initialized_store):
    from hscore.calibration.compare import compare

    module = experiments("usage_vs_pulse")
    out = io.StringIO()
    with redirect_stdout(out):
        code = module.main(["--sizes", "150", "--seeds", "0", "1", "--months", "12",
                            "--bootstrap", "50"])
    assert code == 0
    client = _client()
    exp = client.get_experiment_by_name("usage-vs-pulse")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 2
    parent = parents[0]
    assert parent.data.params["sizes"] == "150" and parent.data.params["seeds"] == "0 1"

    # The logged numbers are compare()'s on the same synthetic history.
    history = synth.make_history(150, 12, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = compare(history.frame, "lifecycle", "maturity", "product_usage", "csm_pulse",
                         n_bootstrap=50, seed=1, horizon_days=30)
    (child,) = [r for r in children if r.data.params["seed"] == "1"]
    m = child.data.metrics
    assert m["auc_a"] == pytest.approx(direct.auc["product_usage"], abs=1e-12)
    assert m["auc_b"] == pytest.approx(direct.auc["csm_pulse"], abs=1e-12)
    assert (m["ci_low"], m["ci_high"]) == pytest.approx(direct.delta_auc_ci, abs=1e-12)
    # True weights from synth.TRUE_WEIGHTS["maturity"]: key_feature_users_share 0.20 +
    # feature_adoption_rate 0.30 for the product_usage component; csm_pulse 0.02.
    assert m["true_weight_a"] == pytest.approx(0.50)
    assert m["true_weight_b"] == pytest.approx(0.02)

    table = _artifact_csv(client, parent.info.run_id, "results.csv", tmp_path)
    assert len(table) == 2
    power = np.mean([c.data.metrics["ci_low"] > 0 for c in children])
    assert parent.data.metrics["power_a_better.n150"] == pytest.approx(power)
    assert table["a_found_better"].mean() == pytest.approx(power)
    assert any(a.path.startswith("compare_lift_n150")
               for a in client.list_artifacts(parent.info.run_id))
    assert "power" in out.getvalue()


def test_usage_vs_pulse_runs_as_a_script(tmp_path):
    # `python experiments/usage_vs_pulse.py` from the checkout, nothing tracked.
    proc = subprocess.run(
        [sys.executable, "experiments/usage_vs_pulse.py", "--sizes", "120", "--seeds", "3",
         "--months", "12", "--bootstrap", "20", "--no-track"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "n=  120 seed=3" in proc.stdout
    assert "logged MLflow run" not in proc.stdout


# -------------------------------------------------------- quarterly recalibration
def test_quarter_starts_are_calendar_quarters_with_training_data_before(experiments):
    module = experiments("quarterly_recalibration")
    frame = synth.make_history(60, 15, seed=0).frame      # labelled 2024-01-01 .. 2025-02-01
    starts = module.quarter_starts(frame, 30, 3)
    assert [str(s.date()) for s in starts] == ["2024-07-01", "2024-10-01", "2025-01-01"]
    from hscore.errors import HScoreError

    with pytest.raises(HScoreError, match="quarters: .* holds 4 quarters"):
        module.quarter_starts(frame, 30, 5)


def test_quarterly_store_defaults_to_its_own(experiments, monkeypatch):
    module = experiments("quarterly_recalibration")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    uri = module.use_store(None)
    expected = Path(os.environ["HSCORE_HOME"]) / "out" / "experiments" / \
        "quarterly_recalibration" / "mlruns.db"
    assert uri == f"sqlite:///{expected}"
    assert os.environ["MLFLOW_REGISTRY_URI"] == uri      # registry and tracking together
    # An explicit store wins over the environment.
    other = Path(os.environ["HSCORE_HOME"]) / "other"
    other.mkdir()
    assert module.use_store(f"sqlite:///{other / 'x.db'}") == f"sqlite:///{other / 'x.db'}"


@pytest.mark.slow
def test_quarterly_recalibration_registers_promotes_and_reports(experiments, tmp_path,
                                                               initialized_store):
    from sklearn.metrics import roc_auc_score

    module = experiments("quarterly_recalibration")
    out = io.StringIO()
    with redirect_stdout(out):
        code = module.main(["--accounts", "300", "--months", "15", "--quarters", "2",
                            "--bootstrap", "10", "--seed", "1"])
    assert code == 0
    client = _client()
    name = "customer-health-score"
    versions = {str(v.version): v for v in client.search_model_versions(f"name='{name}'")}
    assert sorted(versions) == ["1", "2", "3"]              # baseline + one per quarter
    assert versions["1"].tags["promotion.decision"] == "first champion"
    decisions = [versions[v].tags["promotion.decision"] for v in ("2", "3")]
    assert set(decisions) <= {"promoted", "kept champion"}
    champion = "1"
    for v, d in zip(("2", "3"), decisions):
        champion = v if d == "promoted" else champion
    assert str(client.get_model_version_by_alias(name, "champion").version) == champion
    assert str(client.get_model_version_by_alias(name, "challenger").version) == "3"

    exp = client.get_experiment_by_name("quarterly-recalibration")
    (summary,) = client.search_runs([exp.experiment_id])
    report = _artifact_csv(client, summary.info.run_id, "auc_by_quarter.csv", tmp_path)
    assert list(report["holdout_from"]) == ["2024-10-01", "2025-01-01"]
    assert list(report["decision"]) == decisions
    # Each quarter's AUC is the one its calibration run logged (pooled holdout AUC).
    run_ids = summary.data.tags["calibration_runs"].split(",")
    for (_, row), run_id in zip(report.iterrows(), run_ids):
        metrics = client.get_run(run_id).data.metrics
        (key,) = [k for k in metrics if k.startswith("all.") and "auc" in k
                  and "calibrated" in k and not any(w in k for w in ("low", "high"))]
        logged = metrics[key]
        assert row["auc_calibrated"] == pytest.approx(logged, abs=1e-12)
    # The ceiling: the true churn probability's AUC on the quarter (sklearn as reference).
    history = synth.make_history(300, 15, seed=1)
    f = history.frame
    last = f[(f["snapshot_date"] >= "2025-01-01") & f["churned"].notna()]
    prob = history.truth.probability(last)
    scored = ~np.isnan(prob)                                # too thinly measured to score
    expected = roc_auc_score(last["churned"][scored], prob[scored])
    assert report["auc_truth"].iat[1] == pytest.approx(expected, abs=1e-12)
    assert "holdout AUC per quarter" in out.getvalue()


def test_quarterly_recalibration_help_as_module():
    proc = subprocess.run([sys.executable, "-m", "experiments.quarterly_recalibration", "--help"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--quarters" in proc.stdout and "--start-from" in proc.stdout

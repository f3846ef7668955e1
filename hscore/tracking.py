"""MLflow tracking and registration of calibrations, on an embedded SQLite store by default.

The store is one SQLite file per checkout (``<checkout>/mlruns.db``, absolute
path) with artifacts beside it (``<checkout>/mlartifacts``), shared by the CLI
and the notebooks; no server to start. ``MLFLOW_TRACKING_URI`` overrides it
(a ``sqlite:///`` URI keeps its artifacts beside the database file).
Open the same store in the browser with::

    mlflow ui --backend-store-uri sqlite:///$PWD/mlruns.db --default-artifact-root $PWD/mlartifacts

Writes to a SQLite store are serialized with a file lock next to the
database, so two calibrations tracked at once both land.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hscore.config import save_config

__all__ = ["MODEL_NAME", "EXPERIMENT_NAME", "store_root", "tracking_uri", "configure",
           "store_lock", "log_calibration", "TrackingInfo", "pyfunc_output", "describe_store"]

MODEL_NAME = "customer-health-score"
EXPERIMENT_NAME = "hscore-calibration"
PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")


def store_root() -> Path:
    """The checkout that holds the embedded store: ``HSCORE_HOME``, else the source checkout
    hscore is installed from (editable install), else the working directory."""
    if os.environ.get("HSCORE_HOME"):
        return Path(os.environ["HSCORE_HOME"]).resolve()
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").exists():
        return checkout
    return Path.cwd().resolve()


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{store_root() / 'mlruns.db'}"


def _sqlite_path(uri: str) -> Path | None:
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///"):].split("?")[0])
    return None


def artifact_location(uri: str | None = None) -> str | None:
    """Where experiment artifacts go: beside the SQLite file, explicitly (never ./mlruns)."""
    db = _sqlite_path(uri or tracking_uri())
    return (db.parent / "mlartifacts").resolve().as_uri() if db is not None else None


def configure() -> str:
    """Point mlflow at the store (tracking and registry) and return its URI."""
    import mlflow

    uri = tracking_uri()
    db = _sqlite_path(uri)
    if db is not None and not db.parent.is_dir():
        raise OSError(f"tracking store directory does not exist: {db.parent}")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


@contextlib.contextmanager
def store_lock():
    """Serialize writers of a SQLite store (other stores handle their own concurrency)."""
    db = _sqlite_path(tracking_uri())
    if db is None or not db.parent.is_dir():
        yield
        return
    with open(db.with_name(db.name + ".lock"), "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_experiment(name: str = EXPERIMENT_NAME) -> str:
    import mlflow

    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    return mlflow.create_experiment(name, artifact_location=artifact_location())


def describe_store() -> str:
    uri = tracking_uri()
    db = _sqlite_path(uri)
    if db is None:
        return f"MLflow store: {uri}"
    return (f"MLflow store: {uri}\n  open it with: mlflow ui --backend-store-uri {uri} "
            f"--default-artifact-root {artifact_location(uri)}")


def pyfunc_output(scores: pd.DataFrame) -> pd.DataFrame:
    """The scorer's frame with categoricals as plain strings (what MLflow schemas know)."""
    out = scores.copy()
    for col in ("stage", "band"):
        if col in out.columns:
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


@dataclass
class TrackingInfo:
    run_id: str
    model_version: str
    tracking_uri: str
    experiment_id: str

    @property
    def model_uri(self) -> str:
        return f"models:/{MODEL_NAME}/{self.model_version}"

    def __str__(self) -> str:
        return (f"tracked run {self.run_id}; registered {MODEL_NAME} version "
                f"{self.model_version} as @challenger ({self.tracking_uri})")


def _content_hash(path: str | os.PathLike | None, frame: pd.DataFrame | None) -> str:
    if path is not None and Path(path).is_file():
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return f"sha256:{h.hexdigest()}"
    if frame is not None:
        digest = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        return f"pandas-sha256:{hashlib.sha256(digest.tobytes()).hexdigest()}"
    return "unknown"


def _write_artifacts(result, folder: Path) -> None:
    from hscore import plots

    save_config(result.config, folder / "config.yaml")
    result.summary().to_csv(folder / "weights.csv", index=False)
    result.component_summary().to_csv(folder / "component_weights.csv", index=False)
    result.quality_.to_csv(folder / "quality.csv", index=False)
    result.stage_table().to_csv(folder / "stages.csv", index=False)
    coefs = [f.inference.assign(stage=s) for s, f in result.stages_.items()
             if f.inference is not None]
    if coefs:
        pd.concat(coefs, ignore_index=True).to_csv(folder / "coefficients.csv", index=False)
    cal = [f.calibration for f in result.stages_.values() if f.calibration is not None]
    if cal:
        pd.concat(cal, ignore_index=True).to_csv(folder / "calibration_table.csv", index=False)
    for name, make in (("weights.png", plots.weights), ("calibration_curve.png",
                                                        plots.calibration_curve),
                       ("roc.png", plots.roc)):
        fig = make(result)
        fig.savefig(folder / name, dpi=110, bbox_inches="tight")


def _metrics(result) -> dict[str, float]:
    out = {}
    for _, r in result.quality_.iterrows():
        for k in ("auc", "brier", "log_loss"):
            if pd.notna(r.get(k)):
                out[f"{r['stage']}.{k}.{r['model']}"] = float(r[k])
    for s, f in result.stages_.items():
        out[f"{s}.events"] = f.n_events
        out[f"{s}.rows"] = f.n_rows
        out[f"{s}.holdout_events"] = f.n_holdout_events
    return out


def log_calibration(result, *, frame: pd.DataFrame, snapshots_path=None,
                    register: bool = True, run_name: str | None = None) -> TrackingInfo:
    """Log a fitted :class:`~hscore.calibrate.Calibrator` as one MLflow run and register its
    config as a new version of the pyfunc model ``customer-health-score`` with alias
    ``challenger``.

    The run holds params (stages, strengths, bootstrap n, seed, holdout date, horizon), the
    input data's path, row count and content hash, per-stage metrics (holdout AUC of the
    calibrated / input / reference model, Brier, log-loss, events) and artifacts: the config
    YAML, weight / coefficient / quality tables (CSV) and plots (PNG).
    """
    import mlflow
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    from hscore.scorer import HealthScorer

    with store_lock():
        uri = configure()
        exp_id = ensure_experiment()
        cfg = result.config
        prov = cfg.provenance or {}
        window = prov.get("data_window", {})
        name = run_name or f"calibrate {result.base_config_.name}"
        with mlflow.start_run(experiment_id=exp_id, run_name=name) as run:
            params = {
                "input_config": result.base_config_.name,
                "stages": ",".join(result.stages_),
                "holdout_from": str(result.holdout_from_.date()),
                "horizon_days": result.horizon_days_,
                "n_bootstrap": result.n_bootstrap, "seed": result.seed,
                "cv_folds": result.cv_folds, "min_events": result.min_events,
            }
            params.update({f"strength.{s}": f.strength for s, f in result.stages_.items()})
            mlflow.log_params(params)
            mlflow.set_tags({
                "data.path": str(Path(snapshots_path).resolve()) if snapshots_path else "(in memory)",
                "data.rows": str(len(frame)),
                "data.hash": _content_hash(snapshots_path, frame),
                "data.train_window": str(window.get("train")),
                "data.holdout_window": str(window.get("holdout")),
            })
            mlflow.log_metrics(_metrics(result))
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                _write_artifacts(result, folder)
                mlflow.log_artifacts(tmp, artifact_path="calibration")
                if not register:
                    return TrackingInfo(run.info.run_id, "", uri, exp_id)
                example = frame.head(5).reset_index(drop=True)
                example_out = pyfunc_output(HealthScorer(cfg).score(example))
                info = mlflow.pyfunc.log_model(
                    name="health-score",
                    python_model=str(PYFUNC_CODE),
                    artifacts={"config": str(folder / "config.yaml")},
                    signature=infer_signature(example, example_out),
                    input_example=example,
                    registered_model_name=MODEL_NAME,
                    pip_requirements=["hscore", "numpy", "pandas", "pyyaml", "pydantic"],
                )
            version = str(info.registered_model_version)
            client = MlflowClient()
            client.set_registered_model_alias(MODEL_NAME, "challenger", version)
            tags = {"run_id": run.info.run_id, "input_config": result.base_config_.name,
                    "holdout_from": str(result.holdout_from_.date()),
                    "data.hash": _content_hash(snapshots_path, frame)}
            q = result.quality_
            for _, r in q[q["model"] == "calibrated"].iterrows():
                if pd.notna(r["auc"]):
                    tags[f"holdout_auc.{r['stage']}"] = f"{r['auc']:.4f}"
            for k, v in tags.items():
                client.set_model_version_tag(MODEL_NAME, version, k, v)
            mlflow.set_tag("registered_version", version)
    return TrackingInfo(run.info.run_id, version, uri, exp_id)


"""MLflow tracking of calibrations, on an embedded SQLite store by default.

The store
---------
One SQLite file per checkout holds the tracking runs and the model registry,
shared by the CLI and the notebooks; there is no server to start:

- database: ``<root>/mlruns.db`` (an absolute path);
- artifacts: ``<root>/mlartifacts/<experiment>`` (set explicitly on the
  experiment by :func:`ensure_experiment`, never the working directory's ``./mlruns``);
- ``<root>`` is ``$HSCORE_HOME`` if set, else the source checkout hscore is
  installed from (editable install), else the working directory.

``MLFLOW_TRACKING_URI`` overrides the whole store (a ``sqlite:///`` URI keeps
its artifacts in ``mlartifacts`` beside the database file; any other store
decides for itself). :func:`describe_store` prints the ``mlflow ui`` command
that opens the same store.

Writes are serialized with a file lock beside the SQLite file
(``mlruns.db.lock``), so two calibrations tracked at once both land and the
store stays readable.

What a calibration run holds
----------------------------
See :func:`log_calibration`. In short: params, data provenance, per-stage
holdout metrics, the config and tables as artifacts, plots, the holdout
snapshots (``holdout/snapshots.parquet``, the window ``hscore promote`` scores
again later), and a registered pyfunc version with the alias ``challenger``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hscore.config import save_config

__all__ = ["MODEL_NAME", "EXPERIMENT_NAME", "HOLDOUT_ARTIFACT", "store_root", "tracking_uri",
           "sqlite_path", "artifact_location", "configure", "store_lock", "ensure_experiment",
           "ui_command", "describe_store", "quiet_mlflow", "log_calibration", "TrackingInfo",
           "HTTP_ENV_DEFAULTS",
           "load_holdout", "holdout_rows", "pyfunc_output", "file_sha256", "frame_sha256"]

MODEL_NAME = "customer-health-score"
EXPERIMENT_NAME = "hscore-calibration"
#: Where a calibration run keeps its holdout snapshots (run-relative artifact path).
HOLDOUT_ARTIFACT = "holdout/snapshots.parquet"
PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")
DB_NAME = "mlruns.db"
ARTIFACTS_DIR = "mlartifacts"


# ------------------------------------------------------------------ the store
def store_root() -> Path:
    """The folder that holds the embedded store (absolute).

    ``HSCORE_HOME`` if set; else the source checkout hscore is installed from
    (an editable install: the folder with ``pyproject.toml`` above the package);
    else the working directory.

    Examples
    --------
    >>> from hscore.mlops.tracking import store_root
    >>> store_root()                    # doctest: +SKIP
    PosixPath('/home/me/hscore')
    """
    if os.environ.get("HSCORE_HOME"):
        return Path(os.environ["HSCORE_HOME"]).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[2]     # hscore/mlops/tracking.py -> checkout
    if (checkout / "pyproject.toml").is_file() and (checkout / "hscore").is_dir():
        return checkout
    return Path.cwd().resolve()


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<root>/mlruns.db``.

    Examples
    --------
    >>> from hscore.mlops.tracking import tracking_uri
    >>> tracking_uri()                  # doctest: +SKIP
    'sqlite:////home/me/hscore/mlruns.db'
    """
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{store_root() / DB_NAME}"


def sqlite_path(uri: str | None = None) -> Path | None:
    """The database file of a ``sqlite:///`` URI (``None`` for any other store).

    Examples
    --------
    >>> from hscore.mlops.tracking import sqlite_path
    >>> str(sqlite_path("sqlite:////data/hscore/mlruns.db"))
    '/data/hscore/mlruns.db'
    >>> str(sqlite_path("sqlite:///file:/data/hscore/mlruns.db?mode=ro&uri=true"))
    '/data/hscore/mlruns.db'
    >>> sqlite_path("http://mlflow.example:5000") is None
    True
    """
    uri = uri or tracking_uri()
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///"):].split("?", 1)[0]
    if path.startswith("file:"):          # sqlite:///file:/abs/path?mode=ro&uri=true
        path = path[len("file:"):]
    return Path(path)


def artifact_location(uri: str | None = None, experiment: str | None = None) -> str | None:
    """Where artifacts go: ``mlartifacts`` beside a SQLite file (``mlartifacts/<experiment>``
    for one experiment), as a ``file://`` URI; ``None`` (the store's default) otherwise.

    Examples
    --------
    >>> from hscore.mlops.tracking import artifact_location
    >>> artifact_location("sqlite:////data/hscore/mlruns.db", "hscore-calibration")
    'file:///data/hscore/mlartifacts/hscore-calibration'
    >>> artifact_location("http://mlflow.example:5000") is None
    True
    """
    db = sqlite_path(uri)
    if db is None:
        return None
    root = (db.parent / ARTIFACTS_DIR).resolve()
    return (root / _key(experiment).replace(" ", "_") if experiment else root).as_uri()


#: For a tracking server: MLflow's defaults (7 retries with exponential backoff, a 120 s
#: timeout per request) keep a command waiting for minutes on a server that is down.
#: Set only when the environment does not set them already.
HTTP_ENV_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "15"}


def configure() -> str:
    """Point mlflow's tracking and registry at the store and return its URI.

    (mlflow records this in ``os.environ``, so child processes inherit the store.)
    Raises ``OSError`` when a SQLite store's folder does not exist (SQLite would
    otherwise fail later with a less helpful message). For an ``http(s)`` store it
    sets :data:`HTTP_ENV_DEFAULTS` (one retry, 15 s timeout) unless the environment
    sets those variables, so an unreachable server fails in seconds.

    Examples
    --------
    >>> from hscore.mlops import tracking
    >>> tracking.configure()            # doctest: +SKIP
    'sqlite:////home/me/hscore/mlruns.db'
    """
    import mlflow

    uri = tracking_uri()
    db = sqlite_path(uri)
    if db is not None and not db.parent.is_dir():
        raise OSError(f"tracking store folder does not exist: {db.parent} (from {uri})")
    if uri.lower().startswith(("http://", "https://")):
        for name, value in HTTP_ENV_DEFAULTS.items():
            os.environ.setdefault(name, value)
    # One store for runs and registry. (MLFLOW_REGISTRY_URI is not read: mlflow's own
    # set_registry_uri writes it into os.environ, so it leaks into child processes.)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


@contextlib.contextmanager
def store_lock():
    """Hold an exclusive lock on the SQLite store while writing to it.

    SQLite serializes single statements, but an MLflow run is many of them
    (and a fresh database runs its schema migration on first use), so two
    processes writing at once can hit "database is locked" or a half-migrated
    schema. Other stores (a tracking server) handle their own concurrency.

    Examples
    --------
    >>> import mlflow                   # doctest: +SKIP
    >>> from hscore.mlops.tracking import configure, store_lock
    >>> with store_lock():              # doctest: +SKIP
    ...     configure()
    ...     with mlflow.start_run():
    ...         mlflow.log_metric("auc", 0.91)
    """
    db = sqlite_path()
    try:
        import fcntl
    except ImportError:     # Windows: no flock; SQLite's own locking is all there is
        fcntl = None
    if db is None or not db.parent.is_dir() or fcntl is None:
        yield
        return
    with open(db.with_name(db.name + ".lock"), "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ui_command(uri: str | None = None) -> str:
    """The ``mlflow ui`` command that opens this store in the browser.

    Examples
    --------
    >>> from hscore.mlops.tracking import ui_command
    >>> print(ui_command("sqlite:////data/hscore/mlruns.db"))
    mlflow ui --backend-store-uri sqlite:////data/hscore/mlruns.db --default-artifact-root file:///data/hscore/mlartifacts
    """
    uri = uri or tracking_uri()
    if sqlite_path(uri) is None:
        return f"open {uri} in a browser (a tracking server)" if uri.startswith("http") \
            else f"mlflow ui --backend-store-uri {uri}"
    return (f"mlflow ui --backend-store-uri {uri} "
            f"--default-artifact-root {artifact_location(uri)}")


def describe_store() -> str:
    """Where the MLflow store is and the command that opens it (for the README and demo).

    Examples
    --------
    >>> from hscore.mlops.tracking import describe_store
    >>> print(describe_store())         # doctest: +SKIP
    MLflow store: sqlite:////home/me/hscore/mlruns.db
      artifacts:  file:///home/me/hscore/mlartifacts
      open it with: mlflow ui --backend-store-uri sqlite:////home/me/hscore/mlruns.db ...
    """
    uri = tracking_uri()
    lines = [f"MLflow store: {uri}"]
    if sqlite_path(uri) is not None:
        lines.append(f"  artifacts:  {artifact_location(uri)}")
    lines.append(f"  open it with: {ui_command(uri)}")
    return "\n".join(lines)


def quiet_mlflow() -> None:
    """Keep MLflow's logged INFO chatter ("Creating initial MLflow database tables",
    "Validating input example ...") off the console; the CLI prints its own one-line
    summaries.

    ``import mlflow`` configures its loggers (level INFO), so it is imported first:
    levels set before that import would be reset by it. The lines MLflow prints
    itself ("Successfully registered model", "Created version") are not logged;
    redirect stderr around the call that registers to keep them off.

    Examples
    --------
    >>> import logging
    >>> from hscore.mlops.tracking import quiet_mlflow
    >>> quiet_mlflow()
    >>> logging.getLogger("mlflow").getEffectiveLevel() == logging.WARNING
    True
    """
    import importlib

    importlib.import_module("mlflow")   # sets mlflow's logger levels; ours must come after

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def ensure_experiment(name: str = EXPERIMENT_NAME) -> str:
    """The experiment's id, creating it with an explicit artifact location
    (``mlartifacts/<name>`` beside a SQLite store) if needed. Call :func:`configure` first.

    Notebooks and ``experiments/`` should create their experiments with this rather than
    ``mlflow.set_experiment``, whose default artifact location is ``./mlruns`` of the
    working directory.

    Examples
    --------
    >>> import mlflow                   # doctest: +SKIP
    >>> from hscore.mlops.tracking import configure, ensure_experiment
    >>> configure()                     # doctest: +SKIP
    >>> exp_id = ensure_experiment("usage-vs-pulse")            # doctest: +SKIP
    >>> with mlflow.start_run(experiment_id=exp_id):            # doctest: +SKIP
    ...     mlflow.log_metric("delta_auc", 0.04)
    """
    import mlflow

    exp = mlflow.get_experiment_by_name(name)
    if exp is None:
        return mlflow.create_experiment(name, artifact_location=artifact_location(
            experiment=name))
    if exp.lifecycle_stage == "deleted":
        mlflow.MlflowClient().restore_experiment(exp.experiment_id)
    return exp.experiment_id


# --------------------------------------------------------------- the pyfunc
@contextlib.contextmanager
def _without_mlflow_hints():
    """Silence MLflow's advice that does not apply here: the frame is typed by an explicit
    signature (not by predict's type hints), seats is a whole number by contract, and MLflow
    registers its local-file dataset source twice, then warns that a path is ambiguous."""
    with warnings.catch_warnings():
        for text in ("(?s).*[Ii]nteger column", "(?s).*type hint",
                     "(?s).*interpreted in multiple ways"):
            warnings.filterwarnings("ignore", message=text, category=UserWarning)
        yield


def pyfunc_output(scores: pd.DataFrame) -> pd.DataFrame:
    """The scorer's frame with categoricals as plain strings (what MLflow schemas know).

    Examples
    --------
    >>> import pandas as pd
    >>> from hscore.mlops.tracking import pyfunc_output
    >>> scores = pd.DataFrame({"score": [71.5, None],
    ...                        "band": pd.Categorical(["healthy", None])})
    >>> out = pyfunc_output(scores)
    >>> out["band"].tolist(), str(out["band"].dtype)
    (['healthy', None], 'object')
    """
    out = scores.copy()
    for col in ("stage", "band"):
        if col in out.columns:
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


#: Input columns typed by the example in the signature; every other column is numeric.
_TYPED_INPUTS = ("account_id", "snapshot_date", "stage", "segment")
_REQUIRED_INPUTS = {"account_id", "snapshot_date", "stage", "seats"}


def _input_example(frame: pd.DataFrame, per_stage: int = 2) -> pd.DataFrame:
    """A few rows of each stage (so the example exercises every stage of the config).

    Whole-number columns (seats, counts) become float64: a later frame may miss values
    in them, and an integer example would suggest they cannot be missing.
    """
    if "stage" in frame.columns:
        rows = frame.groupby("stage", sort=False, observed=True).head(per_stage)
    else:
        rows = frame.head(per_stage * 2)
    rows = rows.reset_index(drop=True)
    for col in rows.columns:
        if col not in _TYPED_INPUTS and (pd.api.types.is_integer_dtype(rows[col])
                                         or pd.api.types.is_bool_dtype(rows[col])):
            rows[col] = rows[col].to_numpy(dtype="float64", na_value=float("nan"))
    return rows


def _signature(example: pd.DataFrame, output: pd.DataFrame):
    """Input and output schema. Only the identifying columns are required: a frame without,
    say, the churn label or a metric still scores.

    The identifying columns are typed like the example. The numeric columns (metrics,
    seats, the label) accept any type: MLflow's ``double`` refuses ``int64`` and nullable
    ``Int64`` columns and ``long`` refuses missing values, while the scorer reads all of
    these (and names the column of a bad value itself), so the registered model accepts
    every frame :class:`~hscore.scoring.scorer.HealthScorer` accepts.
    """
    from mlflow.models import infer_signature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    with _without_mlflow_hints():
        sig = infer_signature(example, output)
    sig.inputs = Schema([
        ColSpec(spec.type if spec.name in _TYPED_INPUTS else AnyType(), spec.name,
                required=spec.name in _REQUIRED_INPUTS)
        for spec in sig.inputs.inputs])
    return sig


# --------------------------------------------------------------- the run
@dataclass
class TrackingInfo:
    """Where a tracked calibration landed (what :func:`log_calibration` returns).

    Examples
    --------
    >>> from hscore.mlops.tracking import TrackingInfo
    >>> info = TrackingInfo("3f2a9c", "4", "sqlite:////data/hscore/mlruns.db", "1")
    >>> info.model_uri
    'models:/customer-health-score/4'
    >>> print(info)
    tracked run 3f2a9c in sqlite:////data/hscore/mlruns.db; registered customer-health-score version 4 as @challenger
    """

    run_id: str
    model_version: str | None
    tracking_uri: str
    experiment_id: str

    @property
    def model_uri(self) -> str | None:
        return f"models:/{MODEL_NAME}/{self.model_version}" if self.model_version else None

    def __str__(self) -> str:
        text = f"tracked run {self.run_id} in {self.tracking_uri}"
        if self.model_version:
            text += f"; registered {MODEL_NAME} version {self.model_version} as @challenger"
        return text


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, as hex (the ``data.sha256`` tag of a run).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from hscore.mlops.tracking import file_sha256
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "snapshots.csv"
    ...     _ = path.write_bytes(b"abc")
    ...     file_sha256(path)
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def frame_sha256(frame: pd.DataFrame) -> str:
    """A content hash of a frame (values and column names, not the index).

    Examples
    --------
    >>> import pandas as pd
    >>> from hscore.mlops.tracking import frame_sha256
    >>> frame = pd.DataFrame({"seats": [10, 25]})
    >>> frame_sha256(frame) == frame_sha256(frame.set_axis([7, 8]))     # the index does not count
    True
    >>> frame_sha256(frame) == frame_sha256(frame.rename(columns={"seats": "users"}))
    False
    """
    h = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()


def holdout_rows(frame: pd.DataFrame, holdout) -> pd.DataFrame:
    """The labelled snapshots of ``frame`` in ``holdout`` (a
    :class:`~hscore.calibration.split.Holdout`, the one holdout rule): the calibration's
    holdout window, the rows promotion compares challenger and champion on.

    Examples
    --------
    >>> import pandas as pd
    >>> from hscore.calibration.split import Holdout
    >>> from hscore.mlops.tracking import holdout_rows
    >>> frame = pd.DataFrame({"account_id": ["a", "a", "a"],
    ...                       "snapshot_date": ["2025-01-01", "2025-02-01", "2025-03-01"],
    ...                       "churned": [0.0, 1.0, None]})          # March: not yet known
    >>> holdout_rows(frame, Holdout(pd.Timestamp("2025-02-01"), horizon_days=30))
      account_id snapshot_date  churned
    0          a    2025-02-01      1.0
    """
    return holdout.select(frame)


_NAME_OK = re.compile(r"[^0-9A-Za-z_\-. /]")


def _key(text: str) -> str:
    return _NAME_OK.sub("_", str(text))


def _params(result) -> dict[str, object]:
    strengths = result.strengths
    holdout = result.holdout
    params = {
        "input_config": result.base_config.name,
        "stages": ",".join(result.fits),
        **_holdout_keys(holdout),
        "exported_fit": result.refit.value,
        "horizon_days": result.horizon_days,
        "n_bootstrap": result.n_bootstrap,
        "seed": result.seed,
        "cv_folds": result.cv_folds,
        "min_events": result.min_events,
        "strengths_tried": "default" if strengths is None else ",".join(map(str, strengths)),
    }
    for fit in result.fits.values():
        params[f"strength.{_key(fit.cell.key)}"] = fit.estimate.strength
        params[f"status.{_key(fit.cell.key)}"] = fit.status.value
    return params


def _holdout_keys(holdout) -> dict[str, str]:
    """The holdout as params and version tags: its kind and what that kind needs (the keys
    :meth:`~hscore.calibration.split.Holdout.recorded` reads back)."""
    keys = {"holdout_kind": holdout.kind.value}
    if holdout.start is not None:
        keys["holdout_from"] = str(holdout.start.date())
    if holdout.share is not None:
        keys.update(holdout_share=str(holdout.share), holdout_seed=str(holdout.seed))
    return keys


def _metrics(result) -> dict[str, float]:
    """Per stage (and pooled as ``all``): holdout AUC [CI], Brier and log-loss of the calibrated
    config, the input config and the unconstrained reference model; rows and events."""
    out: dict[str, float] = {}
    for _, r in result.quality.iterrows():
        stage, model = _key(r["stage"]), r["model"]
        for k in ("auc", "auc_low", "auc_high", "brier", "log_loss"):
            if pd.notna(r.get(k)):
                out[f"{stage}.{k}_{model}"] = float(r[k])
    for fit in result.fits.values():
        s = _key(fit.cell.key)
        out[f"{s}.train_rows"] = fit.counts.n_rows
        out[f"{s}.train_events"] = fit.counts.n_events
        out[f"{s}.holdout_rows"] = fit.holdout.n_rows
        out[f"{s}.holdout_events"] = fit.holdout.n_events
    out["left_out.censored"] = result.n_censored
    out["left_out.no_score"] = result.n_unscored
    out["left_out.straddling_holdout"] = result.n_straddling
    return out


def _write_tables(result, folder: Path) -> None:
    save_config(result.config, folder / "config.yaml")
    result.summary().to_csv(folder / "weights.csv", index=False)
    result.component_summary().to_csv(folder / "component_weights.csv", index=False)
    result.stage_table().to_csv(folder / "stages.csv", index=False)
    result.quality.to_csv(folder / "quality.csv", index=False)
    for table, name in ((result.coefficients(), "coefficients.csv"),
                        (result.calibration_table, "calibration_table.csv"),
                        (result.cv_table(), "cv_strength.csv")):
        if len(table):
            table.to_csv(folder / name, index=False)


def _write_plots(result, folder: Path) -> None:
    """``weights.png``, ``calibration_curve.png`` and ``roc.png``, one panel per stage."""
    from hscore import plots

    plots.weights(result).savefig(folder / "weights.png", dpi=100)
    plots.calibration_curve(result).savefig(folder / "calibration_curve.png", dpi=100)
    plots.roc(result).savefig(folder / "roc.png", dpi=100)


def log_calibration(result, *, frame: pd.DataFrame, snapshots_path=None, register: bool = True,
                    run_name: str | None = None, experiment: str = EXPERIMENT_NAME
                    ) -> TrackingInfo:
    """Log a :class:`~hscore.calibration.results.CalibrationResult` as one MLflow run and register
    its config as a new version of ``customer-health-score`` with the alias ``challenger``.

    Parameters
    ----------
    result : CalibrationResult
        A calibration.
    frame : DataFrame
        The snapshots it was fitted on (for the data hash, row count, holdout window and
        the model's input example).
    snapshots_path : path, optional
        The file ``frame`` was read from; its bytes are hashed and its absolute path recorded.
    register : bool, default True
        Register the pyfunc model version (and move ``challenger`` to it).
    run_name, experiment : str, optional

    Returns
    -------
    TrackingInfo

    Notes
    -----
    The run holds

    - params: input config, stages, strength and status per stage, strengths tried,
      bootstrap n, seed, CV folds, holdout date, horizon;
    - the input data as an MLflow dataset input (``mlflow.log_input``, context
      ``calibration``) and as tags ``data.path``, ``data.rows``, ``data.sha256``,
      ``data.train_window``, ``data.holdout_window``;
    - metrics ``<stage>.auc_<model>`` (with ``auc_low``/``auc_high``), ``brier_<model>``,
      ``log_loss_<model>`` for model in calibrated / input / reference, stage ``all`` pooled,
      and rows / events per stage;
    - artifacts ``calibration/`` (config.yaml, weights.csv, component_weights.csv,
      coefficients.csv, quality.csv, calibration_table.csv, stages.csv, cv_strength.csv),
      ``plots/`` (weights.png: input vs calibrated weights with CIs, calibration_curve.png,
      roc.png; one panel per stage) and
      ``holdout/snapshots.parquet`` (the labelled snapshots on or after the holdout start:
      the window :func:`hscore.mlops.registry.promote` scores challenger and champion on);
    - the registered model: a models-from-code pyfunc (:mod:`hscore.mlops.pyfunc_model`) whose only
      artifact is ``config.yaml``, with signature and input example.

    Examples
    --------
    >>> from hscore.calibration import calibrate
    >>> from hscore.scoring.snapshots import read_snapshots
    >>> from hscore.mlops.tracking import log_calibration
    >>> frame = read_snapshots("snapshots.csv")                              # doctest: +SKIP
    >>> result = calibrate(frame, "lifecycle")                               # doctest: +SKIP
    >>> info = log_calibration(result, frame=frame, snapshots_path="snapshots.csv")  # doctest: +SKIP
    >>> info.model_uri                                                       # doctest: +SKIP
    'models:/customer-health-score/4'
    """
    import mlflow

    from hscore.scoring.scorer import HealthScorer

    cfg = result.config
    window = cfg.provenance.data_window
    data_hash = file_sha256(snapshots_path) if snapshots_path else frame_sha256(frame)
    data_path = str(Path(snapshots_path).resolve()) if snapshots_path else "(in memory)"
    holdout = holdout_rows(frame, result.holdout)

    # Reach the store first: an unreachable or read-only store fails before the work below.
    with store_lock():
        uri = configure()
        exp_id = ensure_experiment(experiment)

    with tempfile.TemporaryDirectory(prefix="hscore-run-") as tmp:
        folder = Path(tmp)
        for sub in ("calibration", "plots", "holdout"):
            (folder / sub).mkdir()
        _write_tables(result, folder / "calibration")
        _write_plots(result, folder / "plots")
        holdout.to_parquet(folder / HOLDOUT_ARTIFACT, index=False)
        example = _input_example(frame)
        signature = _signature(example, pyfunc_output(HealthScorer(cfg).score(example)))
        with _without_mlflow_hints():
            dataset = mlflow.data.from_pandas(
                frame, source=data_path if snapshots_path else None,
                targets="churned" if "churned" in frame else None,
                name=Path(snapshots_path).name if snapshots_path else "snapshots")

        with store_lock():
            name = run_name or f"calibrate {result.base_config.name}"
            with mlflow.start_run(experiment_id=exp_id, run_name=name) as run:
                run_id = run.info.run_id
                mlflow.log_params(_params(result))
                with _without_mlflow_hints():      # the dataset's schema is made here
                    mlflow.log_input(dataset, context="calibration")
                mlflow.set_tags({
                    "data.path": data_path,
                    "data.rows": str(len(frame)),
                    "data.sha256": data_hash,
                    "data.train_window": str(window.train),
                    "data.holdout_window": str(window.holdout),
                    "holdout.rows": str(len(holdout)),
                    "holdout.sha256": frame_sha256(holdout),
                })
                mlflow.log_metrics(_metrics(result))
                mlflow.log_artifacts(str(folder / "calibration"), artifact_path="calibration")
                mlflow.log_artifacts(str(folder / "plots"), artifact_path="plots")
                mlflow.log_artifact(str(folder / HOLDOUT_ARTIFACT), artifact_path="holdout")
                version = None
                if register:
                    version = _register(result, folder, example, signature, run_id, data_hash)
                    mlflow.set_tag("registered_version", version)
    return TrackingInfo(run_id, version, uri, exp_id)


def _register(result, folder: Path, example, signature, run_id: str, data_hash: str) -> str:
    import mlflow
    from mlflow import MlflowClient

    from hscore import __version__

    with _without_mlflow_hints():
        info = mlflow.pyfunc.log_model(
            name="health_score",
            python_model=str(PYFUNC_CODE),
            artifacts={"config": str(folder / "calibration" / "config.yaml")},
            signature=signature,
            input_example=example,
            registered_model_name=MODEL_NAME,
            # hscore is the model's code; pinning it (not inferring) keeps logging fast.
            pip_requirements=[f"hscore=={__version__}", "numpy", "pandas", "pyyaml",
                              "pydantic"],
        )
    version = str(info.registered_model_version)
    client = MlflowClient()
    client.set_registered_model_alias(MODEL_NAME, "challenger", version)
    tags = {"run_id": run_id, "input_config": result.base_config.name,
            **_holdout_keys(result.holdout), "exported_fit": result.refit.value,
            "horizon_days": str(result.horizon_days), "data.sha256": data_hash}
    q = result.quality
    for _, r in q[q["model"] == "calibrated"].iterrows():
        if pd.notna(r["auc"]):
            tags[f"holdout_auc.{_key(r['stage'])}"] = f"{r['auc']:.4f}"
    for k, v in tags.items():
        client.set_model_version_tag(MODEL_NAME, version, k, v)
    return version


def load_holdout(run_id: str) -> pd.DataFrame:
    """The holdout snapshots a calibration run logged (``holdout/snapshots.parquet``).

    Raises MLflow's own error when the run or the artifact does not exist
    (:func:`hscore.mlops.registry.comparison_window` turns it into an ``HScoreError``).

    Examples
    --------
    >>> from hscore.mlops.tracking import load_holdout
    >>> window = load_holdout("3f2a9c0e5b7d4e1f8a6b2c3d4e5f6a7b")     # doctest: +SKIP
    >>> window["snapshot_date"].min()                                  # doctest: +SKIP
    Timestamp('2025-06-01 00:00:00')
    """
    import mlflow

    configure()
    with tempfile.TemporaryDirectory(prefix="hscore-holdout-") as tmp:
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=HOLDOUT_ARTIFACT,
                                                    dst_path=tmp)
        return pd.read_parquet(local)

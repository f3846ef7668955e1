"""MLflow tracking of calibrations: one run per calibration, and its registered version.

Where the store is and how it is opened (an embedded SQLite file by default) is
:mod:`hscore.mlops.store`; the registered pyfunc model is :mod:`hscore.mlops.model`.

What a calibration run holds
----------------------------
See :func:`log_calibration`. In short: params, data provenance, per-stage
holdout metrics, the config and tables as artifacts, plots, the holdout
snapshots (``holdout/snapshots.parquet``, the window ``hscore promote`` scores
again later), and a registered pyfunc version with the alias ``challenger``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hscore.config import save_config
from hscore.mlops import model, store
from hscore.mlops.store import safe_key as _key
# The pyfunc code stored with versions registered earlier imports pyfunc_output from here.
from hscore.mlops.model import MODEL_NAME, pyfunc_output  # noqa: F401

__all__ = ["HOLDOUT_ARTIFACT", "log_calibration", "TrackingInfo", "load_holdout",
           "holdout_rows", "file_sha256", "frame_sha256"]

#: Where a calibration run keeps its holdout snapshots (run-relative artifact path).
HOLDOUT_ARTIFACT = "holdout/snapshots.parquet"


# --------------------------------------------------------------- the run
@dataclass(frozen=True)
class TrackingInfo:
    """Where a tracked calibration landed (what :func:`log_calibration` returns).

    Examples
    --------
    >>> from hscore.mlops.tracking import TrackingInfo
    >>> info = TrackingInfo("3f2a9c", "4", "sqlite:////data/hscore/mlruns.db", "1", "crm-export")
    >>> info.model_uri
    'models:/crm-export/4'
    >>> print(info)
    tracked run 3f2a9c in sqlite:////data/hscore/mlruns.db; registered crm-export version 4 as @challenger
    """

    run_id: str
    model_version: str | None
    tracking_uri: str
    experiment_id: str
    model_name: str | None = MODEL_NAME
    #: Where the run's artifacts are (MLflow's URI for them; ``file:`` for a local store).
    artifact_uri: str | None = None

    @property
    def model_uri(self) -> str | None:
        return (f"models:/{self.model_name}/{self.model_version}" if self.model_version
                else None)

    def __str__(self) -> str:
        text = f"tracked run {self.run_id} in {self.tracking_uri}"
        if self.model_version:
            text += (f"; registered {self.model_name} version {self.model_version} "
                     "as @challenger")
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
    params["transforms"] = "learn" if result.transforms else "keep"
    for c in result.transforms:     # what CV chose per metric (the knots are in the config)
        params[f"transform.{_key(c.stage)}.{c.metric}"] = c.chosen
    if result.bands is not None:
        params.update({"bands_rule": result.bands.rule, "bands_taken": result.take_bands,
                       "bands_proposed": f"{result.bands.healthy:g}/{result.bands.at_risk:g}"})
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
    for c in result.transforms:
        if c.cv_gain == c.cv_gain:      # NaN: nothing was learned for this metric
            out[f"{_key(c.stage)}.{c.metric}.transform_cv_gain"] = c.cv_gain
    bands = result.bands
    if bands is not None:
        out.update({"bands.proposed_healthy": bands.healthy,
                    "bands.proposed_at_risk": bands.at_risk, "bands.base_rate": bands.base_rate,
                    "bands.book_at_risk_rows": bands.at_risk_rows,
                    "bands.book_at_risk_rows_current": bands.current_at_risk_rows})
        for _, r in bands.table.iterrows():
            if r["rows"]:
                out[f"bands.holdout_lift_{r['band']}_{r['thresholds']}"] = float(r["lift"])
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
    if result.transforms:
        result.transform_table().to_csv(folder / "transforms.csv", index=False)
    if result.bands is not None and len(result.bands.table):
        result.bands.table.to_csv(folder / "bands_holdout.csv", index=False)


#: The run's figures (``plots/<name>.png``), drawn by :mod:`hscore.plots`.
PLOTS = ("weights", "calibration_curve", "roc")


def plot_names(result) -> tuple[str, ...]:
    """The figures a run of ``result`` logs: :data:`PLOTS`, and ``transforms`` when
    transforms were learned."""
    return PLOTS + (("transforms",) if result.transforms else ())


def _write_plots(result, folder: Path, drawn: str | os.PathLike | None = None) -> None:
    """``weights.png``, ``calibration_curve.png`` and ``roc.png``, one panel per stage, and
    ``transforms.png`` when transforms were learned.

    Drawing them is most of the time a run takes to log (matplotlib's text layout), so
    figures drawn already for the same result (``drawn``: ``hscore calibrate --plots DIR``)
    are copied instead, and the others are drawn once each (:func:`hscore.plots.save_png`).
    """
    for name in plot_names(result):
        ready = Path(drawn) / f"{name}.png" if drawn else None
        if ready is not None and ready.is_file():
            shutil.copyfile(ready, folder / ready.name)
            continue
        from hscore import plots

        plots.save_png(getattr(plots, name)(result), folder / f"{name}.png")


def _log_batch(client, run_id: str, *, params=(), metrics=(), tags=()) -> None:
    """``client.log_batch`` in pieces the store accepts (at most 100 params or tags and
    1000 values per call)."""
    params, metrics, tags = list(params), list(metrics), list(tags)
    while params or metrics or tags:
        client.log_batch(run_id, params=params[:100], metrics=metrics[:800], tags=tags[:100])
        params, metrics, tags = params[100:], metrics[800:], tags[100:]


def log_calibration(result, *, frame: pd.DataFrame, snapshots_path=None, register: bool = True,
                    run_name: str | None = None, experiment: str = store.EXPERIMENT_NAME,
                    model_name: str | None = None, plots=None,
                    date_format: str | None = None) -> TrackingInfo:
    """Log a :class:`~hscore.calibration.results.CalibrationResult` as one MLflow run and register
    its config as a new version of its book's model with the alias ``challenger``.

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
    model_name : str, optional
        The registered model (one per book); default
        :func:`~hscore.mlops.model.model_name_for` the calibrated config's name:
        ``customer-health-score`` for the shipped lifecycle config, else the config's name
        without ``-calibrated``, so recalibrating a book lands on the same model.
    date_format : str, optional
        The strftime format ``snapshots_path``'s dates were read with (``--date-format``),
        recorded as the tag ``data.date_format`` so that the file can be read back the same
        way (promotion's drift lines re-read the champion's training rows).
    plots : path, optional
        A folder that holds the run's figures drawn already (``weights.png``,
        ``calibration_curve.png``, ``roc.png``; ``hscore calibrate --plots``): logged as they
        are instead of drawn again.

    Returns
    -------
    TrackingInfo

    Notes
    -----
    The run holds

    - params: input config, stages, strength and status per stage, strengths tried,
      bootstrap n, seed, CV folds, holdout date, horizon;
    - the input data as an MLflow dataset input (``mlflow.log_input``, context
      ``calibration``, digest the start of ``data.sha256``) and as tags ``data.path``,
      ``data.rows``, ``data.sha256``, ``data.train_window``, ``data.holdout_window``;
    - metrics ``<stage>.auc_<model>`` (with ``auc_low``/``auc_high``), ``brier_<model>``,
      ``log_loss_<model>`` for model in calibrated / input / reference, stage ``all`` pooled,
      and rows / events per stage (also the registered model's metrics);
    - artifacts ``calibration/`` (config.yaml, weights.csv, component_weights.csv,
      coefficients.csv, quality.csv, calibration_table.csv, stages.csv, cv_strength.csv),
      ``plots/`` (weights.png: input vs calibrated weights with CIs, calibration_curve.png,
      roc.png; one panel per stage) and
      ``holdout/snapshots.parquet`` (the labelled snapshots on or after the holdout start:
      the window :func:`hscore.mlops.promotion.promote` scores challenger and champion on);
    - the registered model (:func:`hscore.mlops.model.register`): a models-from-code pyfunc
      whose only artifact is ``config.yaml``, with signature and input example.

    Params, tags and metrics go in one batch write each: the store is written a handful of
    times per run, not once per value.

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

    cfg = result.config
    name = None
    if register:       # a bad name fails before anything is written
        name = (model.check_model_name(model_name) if model_name
                else model.model_name_for(cfg.name))
    window = cfg.provenance.data_window
    data_hash = file_sha256(snapshots_path) if snapshots_path else frame_sha256(frame)
    data_path = str(Path(snapshots_path).resolve()) if snapshots_path else "(in memory)"
    holdout = holdout_rows(frame, result.holdout)
    tags = {"data.path": data_path, "data.rows": str(len(frame)), "data.sha256": data_hash,
            "data.train_window": str(window.train), "data.holdout_window": str(window.holdout),
            "holdout.rows": str(len(holdout)), "holdout.sha256": frame_sha256(holdout)}
    if date_format and snapshots_path:
        tags["data.date_format"] = date_format
    with model.without_mlflow_hints():
        # The digest is ours: MLflow's own renders every value of the frame as text.
        dataset = mlflow.data.from_pandas(
            frame, source=data_path if snapshots_path else None,
            targets="churned" if "churned" in frame else None,
            name=Path(snapshots_path).name if snapshots_path else "snapshots",
            digest=data_hash[:32])

    # Reach the store first: an unreachable or read-only store fails before the work below.
    with store.opened(create=True, lock=True):
        uri = store.tracking_uri()
        exp_id = store.ensure_experiment(experiment)

    with tempfile.TemporaryDirectory(prefix="hscore-run-") as tmp:
        folder = Path(tmp)
        for sub in ("calibration", "plots", "holdout"):
            (folder / sub).mkdir()
        _write_tables(result, folder / "calibration")
        _write_plots(result, folder / "plots", plots)
        holdout.to_parquet(folder / HOLDOUT_ARTIFACT, index=False)
        with store.opened(create=True, lock=True) as client:
            run_id, version, artifact_uri = _log_run(
                client, result, folder, dataset, tags,
                experiment_id=exp_id, run_name=run_name, model_name=name, frame=frame,
                version_tags={"input_config": result.base_config.name,
                              **_holdout_keys(result.holdout),
                              "exported_fit": result.refit.value,
                              "horizon_days": str(result.horizon_days),
                              "data.sha256": data_hash})
    return TrackingInfo(run_id, version, uri, exp_id, name, artifact_uri)


def _log_run(client, result, folder: Path, dataset, tags: dict, *,
             experiment_id: str, run_name: str | None, model_name: str | None,
             frame: pd.DataFrame, version_tags: dict) -> tuple[str, str | None, str]:
    """The run of :func:`log_calibration` (the store open and locked): ``(run id, version,
    artifact URI)``; ``model_name`` None registers no version."""
    import time

    import mlflow
    from mlflow.entities import Metric, Param, RunTag

    title = run_name or f"calibrate {result.base_config.name}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=title) as run:
        run_id = run.info.run_id
        _log_batch(client, run_id, params=[Param(k, str(v)) for k, v in _params(result).items()],
                   tags=[RunTag(k, v) for k, v in tags.items()])
        with model.without_mlflow_hints():      # the dataset's schema is made here
            mlflow.log_input(dataset, context="calibration")
        mlflow.log_artifacts(str(folder / "calibration"), artifact_path="calibration")
        mlflow.log_artifacts(str(folder / "plots"), artifact_path="plots")
        mlflow.log_artifact(str(folder / HOLDOUT_ARTIFACT), artifact_path="holdout")
        version = model_id = None
        if model_name:
            version, model_id = model.register(
                client, result.config, folder / "calibration" / "config.yaml", frame,
                {"run_id": run_id, **version_tags}, result.quality, model_name=model_name)
        # After the model, with its id: the run's and the model's metrics in one write
        # (logged before it, MLflow reads each one back to link it to the model).
        now = int(time.time() * 1000)
        _log_batch(client, run_id,
                   metrics=[Metric(k, float(v), now, 0, model_id=model_id)
                            for k, v in _metrics(result).items()],
                   tags=[RunTag("registered_version", version)] if version else [])
    return run_id, version, run.info.artifact_uri


def load_holdout(run_id: str) -> pd.DataFrame:
    """The holdout snapshots a calibration run logged (``holdout/snapshots.parquet``).

    Raises MLflow's own error when the run or the artifact does not exist
    (:func:`hscore.mlops.promotion.comparison_window` turns it into an ``HScoreError``).

    Examples
    --------
    >>> from hscore.mlops.tracking import load_holdout
    >>> window = load_holdout("3f2a9c0e5b7d4e1f8a6b2c3d4e5f6a7b")     # doctest: +SKIP
    >>> window["snapshot_date"].min()                                  # doctest: +SKIP
    Timestamp('2025-06-01 00:00:00')
    """
    import mlflow

    with store.opened(), tempfile.TemporaryDirectory(prefix="hscore-holdout-") as tmp:
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=HOLDOUT_ARTIFACT,
                                                    dst_path=tmp)
        return pd.read_parquet(local)

"""The MLflow store: where it is, the one place that opens it, and the lock writers hold.

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

Everything in :mod:`hscore.mlops` reaches the store through :func:`opened`, which
points mlflow at it, holds the writers' lock (``mlruns.db.lock``) when asked, and
turns a damaged database into an :class:`~hscore.errors.HScoreError` naming the file.
A new kind of store (a tracking backend) is added here and nowhere else.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from pathlib import Path

from hscore.errors import HScoreError

__all__ = ["EXPERIMENT_NAME", "DB_NAME", "ARTIFACTS_DIR", "HTTP_ENV_DEFAULTS", "store_root",
           "tracking_uri", "sqlite_path", "artifact_location", "configure", "store_lock",
           "opened", "ensure_experiment", "ui_command", "describe_store", "quiet_mlflow",
           "safe_key", "protected_paths"]

EXPERIMENT_NAME = "hscore-calibration"
DB_NAME = "mlruns.db"
ARTIFACTS_DIR = "mlartifacts"

#: For a tracking server: MLflow's defaults (7 retries with exponential backoff, a 120 s
#: timeout per request) keep a command waiting for minutes on a server that is down.
#: Set only when the environment does not set them already.
HTTP_ENV_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "15"}


# ------------------------------------------------------------------ where it is
def store_root() -> Path:
    """The folder that holds the embedded store (absolute).

    ``HSCORE_HOME`` if set; else the source checkout hscore is installed from
    (an editable install: the folder with ``pyproject.toml`` above the package);
    else the working directory.
    """
    if os.environ.get("HSCORE_HOME"):
        return Path(os.environ["HSCORE_HOME"]).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[2]     # hscore/mlops/store.py -> checkout
    if (checkout / "pyproject.toml").is_file() and (checkout / "hscore").is_dir():
        return checkout
    return Path.cwd().resolve()


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<root>/mlruns.db``.
    """
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{store_root() / DB_NAME}"


def sqlite_path(uri: str | None = None) -> Path | None:
    """The database file of a ``sqlite:///`` URI (``None`` for any other store).

    Examples
    --------
    >>> from hscore.mlops.store import sqlite_path
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


_NAME_OK = re.compile(r"[^0-9A-Za-z_\-. /]")


def safe_key(text: str) -> str:
    """``text`` with every character MLflow refuses in a param, metric or tag key as ``_``.

    Examples
    --------
    >>> from hscore.mlops.store import safe_key
    >>> safe_key("maturity/enterprise: auc")
    'maturity/enterprise_ auc'
    """
    return _NAME_OK.sub("_", str(text))


def artifact_location(uri: str | None = None, experiment: str | None = None) -> str | None:
    """Where artifacts go: ``mlartifacts`` beside a SQLite file (``mlartifacts/<experiment>``
    for one experiment), as a ``file://`` URI; ``None`` (the store's default) otherwise.

    Examples
    --------
    >>> from hscore.mlops.store import artifact_location
    >>> artifact_location("sqlite:////data/hscore/mlruns.db", "hscore-calibration")
    'file:///data/hscore/mlartifacts/hscore-calibration'
    >>> artifact_location("http://mlflow.example:5000") is None
    True
    """
    db = sqlite_path(uri)
    if db is None:
        return None
    root = (db.parent / ARTIFACTS_DIR).resolve()
    return (root / safe_key(experiment).replace(" ", "_") if experiment else root).as_uri()


def protected_paths(uri: str | None = None) -> tuple[dict[str, Path], dict[str, Path]]:
    """The store's files and folders, which no output may overwrite, each under a label for
    the error: the SQLite file (and its journal, WAL and lock files) and the artifacts folder,
    or a file store's folder; nothing for a tracking server.

    Examples
    --------
    >>> from hscore.mlops.store import protected_paths
    >>> files, folders = protected_paths("sqlite:////data/hscore/mlruns.db")
    >>> str(files["the MLflow store"]), str(files["the MLflow store's -wal file"])
    ('/data/hscore/mlruns.db', '/data/hscore/mlruns.db-wal')
    >>> {label: str(path) for label, path in folders.items()}
    {'the MLflow artifacts folder': '/data/hscore/mlartifacts'}
    >>> protected_paths("http://mlflow.example:5000")
    ({}, {})
    """
    from urllib.parse import unquote, urlparse

    uri = uri or tracking_uri()
    db = sqlite_path(uri)
    files, folders = {}, {}
    if db is not None:
        label = "the MLflow store"
        files = {label: db, **{f"{label}'s {s} file": db.with_name(db.name + s)
                               for s in ("-journal", "-wal", "-shm", ".lock")}}
        folders = {"the MLflow artifacts folder": Path(unquote(urlparse(
            artifact_location(uri)).path))}
    elif uri.startswith("file:"):
        folders = {"the MLflow store": Path(unquote(urlparse(uri).path))}
    return files, folders


# ------------------------------------------------------------------ opening it
def configure() -> str:
    """Point mlflow's tracking and registry at the store and return its URI.

    (mlflow records this in ``os.environ``, so child processes inherit the store.)
    Raises ``OSError`` when a SQLite store's folder does not exist (SQLite would
    otherwise fail later with a less helpful message). For an ``http(s)`` store it
    sets :data:`HTTP_ENV_DEFAULTS` (one retry, 15 s timeout) unless the environment
    sets those variables, so an unreachable server fails in seconds.
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


# Lock files this process holds, with how deeply: a holder may take the lock again (promote
# resolves versions, which open the store, while it holds it). The thread lock keeps other
# threads of this process out while one of them holds the file.
_held: dict[Path, int] = {}
_threads = threading.RLock()


@contextlib.contextmanager
def store_lock():
    """Hold an exclusive lock on the SQLite store while writing to it (re-entrant).

    SQLite serializes single statements, but an MLflow run is many of them (and a fresh
    database runs its schema migration on first use), and a promotion reads the champion
    before it moves it: two processes writing at once could hit "database is locked", a
    half-migrated schema or a decision on a champion that has changed since. Other stores
    (a tracking server) handle their own concurrency.

    :func:`opened` with ``lock=True`` holds it for its block; use that.
    """
    db = sqlite_path()
    try:
        import fcntl
    except ImportError:     # Windows: no flock; SQLite's own locking is all there is
        fcntl = None
    if db is None or not db.parent.is_dir() or fcntl is None:
        yield
        return
    lock = db.with_name(db.name + ".lock").resolve()
    with _threads:
        if _held.get(lock):
            _held[lock] += 1
            try:
                yield
            finally:
                _held[lock] -= 1
            return
        with open(lock, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            _held[lock] = 1
            try:
                yield
            finally:
                _held.pop(lock, None)
                fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def opened(*, create: bool = False, lock: bool = False):
    """The store, open: an ``MlflowClient`` on it (mlflow's fluent API points at it too).

    The one place hscore opens the store. ``create`` allows a SQLite store that does
    not exist yet (tracking makes it); otherwise a missing one is an error, not a new
    empty store. ``lock`` holds :func:`store_lock` for the whole block. A database
    error from SQLite inside the block (a damaged or foreign file, a read-only or
    locked database) becomes an :class:`~hscore.errors.HScoreError` that names the file.

    Examples
    --------
    >>> from hscore.mlops.store import opened
    >>> with opened() as client:                                   # doctest: +SKIP
    ...     client.get_registered_model("customer-health-score").aliases
    {'champion': '3', 'challenger': '4'}
    """
    uri = configure()
    db = sqlite_path(uri)
    if not create and db is not None and not db.is_file():
        raise HScoreError(f"model: there is no MLflow store at {db} yet; run "
                          "`hscore calibrate` first (or set MLFLOW_TRACKING_URI)")
    with store_lock() if lock else contextlib.nullcontext():
        try:
            from mlflow import MlflowClient

            yield MlflowClient()
        except Exception as err:
            cause = _database_error(err)
            if cause is None:
                raise
            raise HScoreError(_damaged(db or uri, cause)) from err


def _database_error(err: BaseException) -> BaseException | None:
    """The SQL database error behind ``err`` (raised as is, or wrapped by MLflow), if any."""
    import sqlite3

    from sqlalchemy.exc import DatabaseError

    seen = err
    while seen is not None:
        if isinstance(seen, (DatabaseError, sqlite3.DatabaseError)):
            return seen
        seen = seen.__cause__
    return None


def _damaged(where, err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err).splitlines()[0]
    if any(w in text for w in ("not a database", "malformed", "corrupt")):
        return (f"MLflow store {where}: the file is damaged or is not an MLflow database "
                f"({text}); restore it from a backup, or move it away and track again")
    return f"MLflow store {where}: {text}"


def ensure_experiment(name: str = EXPERIMENT_NAME) -> str:
    """The experiment's id, creating it with an explicit artifact location
    (``mlartifacts/<name>`` beside a SQLite store) if needed. Call inside :func:`opened`.

    Notebooks and ``experiments/`` should create their experiments with this rather than
    ``mlflow.set_experiment``, whose default artifact location is ``./mlruns`` of the
    working directory.

    Examples
    --------
    >>> import mlflow                   # doctest: +SKIP
    >>> from hscore.mlops.store import ensure_experiment, opened
    >>> with opened(create=True, lock=True):                    # doctest: +SKIP
    ...     exp_id = ensure_experiment("usage-vs-pulse")
    ...     with mlflow.start_run(experiment_id=exp_id):
    ...         mlflow.log_metric("delta_auc", 0.04)
    """
    import mlflow

    exp = mlflow.get_experiment_by_name(name)
    if exp is None:
        return mlflow.create_experiment(name, artifact_location=artifact_location(
            experiment=name))
    if exp.lifecycle_stage == "deleted":
        mlflow.MlflowClient().restore_experiment(exp.experiment_id)
    return exp.experiment_id


# ------------------------------------------------------------------ telling the user
def ui_command(uri: str | None = None) -> str:
    """The ``mlflow ui`` command that opens this store in the browser.

    Examples
    --------
    >>> from hscore.mlops.store import ui_command
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
    >>> from hscore.mlops.store import describe_store
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
    >>> from hscore.mlops.store import quiet_mlflow
    >>> quiet_mlflow()
    >>> logging.getLogger("mlflow").getEffectiveLevel() == logging.WARNING
    True
    """
    import importlib

    importlib.import_module("mlflow")   # sets mlflow's logger levels; ours must come after

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)

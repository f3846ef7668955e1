"""Helpers for tests that need a real MLflow SQLite store of their own.

Creating an MLflow schema takes seconds (dozens of migrations), and calibrating, logging and
registering a model takes seconds more; copying a store made once per test session takes
none. :func:`template_db` is the session's empty, initialized store; the templates of
conftest.py (``registered_template``, ``promoted_template``) hold tracked calibrations, and
:func:`copy_store` gives a test its own copy of one.

A copy is the database file only: runs and model versions keep pointing at the template's
artifacts (absolute ``file://`` URIs). Those are never changed (MLflow writes a new run or
version into a new folder), so every copy can read them and no test sees another's writes.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest


def session_root(tmp_path_factory) -> Path:
    """The folder this test session shares: with pytest-xdist, the one above every worker's
    own (so the workers share it); without, the session's own base folder."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def made_once(tmp_path_factory, name: str, make):
    """``make(folder)``, computed once per test session, whichever worker asks first.

    The others wait on a lock and read the pickled value: a session fixture that every
    worker needs (a calibrated book, a store holding registered models) costs its seconds
    once, not once per worker. ``folder`` is where the value may keep files.
    """
    root = session_root(tmp_path_factory)
    value_file = root / f"made-once-{name}.pickle"
    with open(root / f"made-once-{name}.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        if value_file.exists():
            return pickle.loads(value_file.read_bytes())
        folder = root / f"made-once-{name}"
        folder.mkdir()
        value = make(folder)
        value_file.write_bytes(pickle.dumps(value))
        return value


def template_db(tmp_path_factory) -> Path:
    """The session's empty, initialized store (made once, whichever xdist worker asks first)."""
    def make(folder: Path) -> Path:
        from mlflow import MlflowClient

        MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlruns.db'}").search_experiments()
        return folder / "mlruns.db"

    return made_once(tmp_path_factory, "mlflow-template", make)


def new_store(tmp_path_factory, name: str) -> Path:
    """A fresh folder holding a copy of the empty store; point at it with :func:`point_at`."""
    home = tmp_path_factory.mktemp(name)
    shutil.copy(template_db(tmp_path_factory), home / "mlruns.db")
    return home


def copy_store(source: Path, home: Path) -> Path:
    """``home`` (made if needed) with a copy of the database of the store in ``source``."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(source / "mlruns.db", home / "mlruns.db")
    return home


def point_at(mp: pytest.MonkeyPatch, home: Path) -> None:
    """Make hscore (CLI, tracking, registry) use the store in ``home``."""
    uri = f"sqlite:///{home / 'mlruns.db'}"
    mp.setenv("HSCORE_HOME", str(home))
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    mp.setenv("MLFLOW_REGISTRY_URI", uri)


def damage(db: Path) -> None:
    """Overwrite the SQLite header: the file is no longer a database."""
    with open(db, "r+b") as fh:
        fh.write(b"this is not an sqlite database!!")


@dataclass(frozen=True)
class Template:
    """A store made once per session, and what was tracked into it.

    ``infos`` maps each calibration of the ``calibrations`` fixture that was tracked
    (``inf``, ``full``; ``unregistered`` for the run logged without a version) to the
    :class:`~hscore.mlops.tracking.TrackingInfo` that ``log_calibration`` returned.
    """

    home: Path
    infos: dict

    def copy_to(self, home: Path) -> Path:
        return copy_store(self.home, home)

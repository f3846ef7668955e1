"""Helpers for tests that need a real MLflow SQLite store of their own.

Creating an MLflow schema takes seconds (dozens of migrations); copying an empty, initialized
one made once per test session takes none.
"""

from __future__ import annotations

import fcntl
import shutil
from pathlib import Path

import pytest


def template_db(tmp_path_factory) -> Path:
    """The session's empty, initialized store (made once, under a lock for xdist workers)."""
    from mlflow import MlflowClient

    base = tmp_path_factory.getbasetemp()
    template = base / "mlflow-template" / "mlruns.db"
    template.parent.mkdir(exist_ok=True)
    with open(base / "mlflow-template.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        if not template.exists():
            MlflowClient(tracking_uri=f"sqlite:///{template}").search_experiments()
    return template


def new_store(tmp_path_factory, name: str) -> Path:
    """A fresh folder holding a copy of the empty store; point at it with :func:`point_at`."""
    home = tmp_path_factory.mktemp(name)
    shutil.copy(template_db(tmp_path_factory), home / "mlruns.db")
    return home


def point_at(mp: pytest.MonkeyPatch, home: Path) -> None:
    """Make hscore (CLI, tracking, registry) use the store in ``home``."""
    uri = f"sqlite:///{home / 'mlruns.db'}"
    mp.setenv("HSCORE_HOME", str(home))
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    mp.setenv("MLFLOW_REGISTRY_URI", uri)

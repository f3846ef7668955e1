"""Shared fixtures. Every test runs against its own MLflow store, never the checkout's."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path_factory, monkeypatch):
    """Point the embedded MLflow store (and anything keyed on HSCORE_HOME) at a temp dir.

    Tests that need a store of their own can monkeypatch these again.
    """
    home = tmp_path_factory.mktemp("hscore_home")
    monkeypatch.setenv("HSCORE_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlruns.db'}")
    # mlflow.set_registry_uri() exports MLFLOW_REGISTRY_URI; pin it so each test undoes it.
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", f"sqlite:///{home / 'mlruns.db'}")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    yield home

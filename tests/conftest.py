"""Shared fixtures. Every test runs against its own MLflow store, never the checkout's.

The MLflow tests share one synthetic book, its calibrations and two store templates, each
made once per session (see mlflow_store.py): a test that needs a tracked model copies a
template's database instead of calibrating, logging and registering again.
"""

from __future__ import annotations

import importlib.util
import math
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

from mlflow_store import Template, made_once, point_at, template_db


# ---------------------------------------------------------------- compiled bytecode
_saved_bytecode_settings: dict = {}


def pytest_configure(config):
    """Share compiled bytecode between this process and the ones the tests start.

    The tests start Python processes (CLI runs, notebook kernels, experiments) that import
    mlflow, pandas, statsmodels and more. Where the environment forbids writing bytecode
    (PYTHONDONTWRITEBYTECODE) and the virtualenv was installed without it, each of them,
    and this process too, compiles all those modules from source: seconds per process.
    Instead, this process and its children write and read one bytecode cache in a temp
    folder of this session (nothing is written beside the sources), removed at the end.
    Nothing changes where bytecode is there or may be written.
    """
    compiled = Path(importlib.util.cache_from_source(pytest.__file__)).exists()
    if not sys.flags.dont_write_bytecode or compiled or os.environ.get("PYTHONPYCACHEPREFIX"):
        return
    cache = tempfile.mkdtemp(prefix="hscore-tests-pycache-")
    _saved_bytecode_settings.update(cache=cache, prefix=sys.pycache_prefix,
                                    env=os.environ.get("PYTHONDONTWRITEBYTECODE"))
    sys.pycache_prefix, sys.dont_write_bytecode = cache, False
    os.environ["PYTHONPYCACHEPREFIX"] = cache
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def pytest_unconfigure(config):
    saved = _saved_bytecode_settings
    if not saved:
        return
    sys.pycache_prefix, sys.dont_write_bytecode = saved["prefix"], True
    os.environ.pop("PYTHONPYCACHEPREFIX", None)
    if saved["env"] is not None:
        os.environ["PYTHONDONTWRITEBYTECODE"] = saved["env"]
    shutil.rmtree(saved["cache"], ignore_errors=True)
    saved.clear()


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


@pytest.fixture
def initialized_store(_isolated_store, tmp_path_factory):
    """The test's store (``_isolated_store``) starts as a copy of the session's empty,
    initialized database, so the code under test does not create MLflow's schema again."""
    shutil.copy(template_db(tmp_path_factory), _isolated_store / "mlruns.db")
    return _isolated_store


# ---------------------------------------------------------------- the shared book
@pytest.fixture(scope="session")
def book(tmp_path_factory):
    """A synthetic history of 300 accounts over 12 months, as a CSV file (``path``) and as
    read back (``frame``)."""
    from hscore import synth
    from hscore.scoring.snapshots import read_snapshots, write_frame

    def make(folder):
        path = write_frame(synth.make_history(n_accounts=300, months=12, seed=21).frame,
                           folder / "snapshots.csv")
        return SimpleNamespace(path=path, frame=read_snapshots(path))

    return made_once(tmp_path_factory, "book", make)


@pytest.fixture(scope="session")
def calibrations(tmp_path_factory, book):
    """Calibrations of the book: ``inf`` keeps the input weights (strength inf), ``fast`` is
    what test_cli.py's FAST arguments fit, ``full`` picks its strength by CV among inf, 0.01 and 0
    and bootstraps CIs (seed 3)."""
    from hscore.calibration.calibrator import calibrate

    settings = {"inf": dict(strengths=(math.inf,), n_bootstrap=0),
                "fast": dict(strengths=(0.01,), n_bootstrap=0),
                "full": dict(strengths=(math.inf, 0.01, 0.0), n_bootstrap=10, seed=3)}
    def make(folder):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return {k: calibrate(book.frame, "lifecycle", horizon_days=30, **kw)
                    for k, kw in settings.items()}

    return made_once(tmp_path_factory, "calibrations", make)


@pytest.fixture(scope="session")
def registered_template(tmp_path_factory, book, calibrations):
    """Version 1 (``inf``), version 2 (``full``, @challenger), no champion, and a run of
    ``fast`` tracked without registering (from the frame, not the file)."""
    from hscore.mlops import tracking

    def make(home):
        shutil.copy(template_db(tmp_path_factory), home / "mlruns.db")
        with pytest.MonkeyPatch.context() as mp:
            point_at(mp, home)
            infos = {k: tracking.log_calibration(calibrations[k], frame=book.frame,
                                                 snapshots_path=book.path)
                     for k in ("inf", "full")}
            infos["unregistered"] = tracking.log_calibration(calibrations["fast"],
                                                             frame=book.frame, register=False)
        return Template(home, infos)

    return made_once(tmp_path_factory, "registered_template", make)


@pytest.fixture(scope="session")
def promoted_template(tmp_path_factory, registered_template):
    """The registered template after ``promote(1)``: version 1 is the first @champion."""
    from hscore.mlops.promotion import promote

    def make(folder):
        home = registered_template.copy_to(folder)
        with pytest.MonkeyPatch.context() as mp:
            point_at(mp, home)
            promote(1)
        return Template(home, registered_template.infos)

    return made_once(tmp_path_factory, "promoted_template", make)


@pytest.fixture
def registered_store(registered_template, tmp_path_factory, monkeypatch):
    """This test's own copy of the registered template, pointed at (outside tmp_path, which
    stays the test's own)."""
    home = registered_template.copy_to(tmp_path_factory.mktemp("store"))
    point_at(monkeypatch, home)
    return home


@pytest.fixture
def promoted_store(promoted_template, tmp_path_factory, monkeypatch):
    """This test's own copy of the promoted template, pointed at (outside tmp_path)."""
    home = promoted_template.copy_to(tmp_path_factory.mktemp("store"))
    point_at(monkeypatch, home)
    return home


@pytest.fixture
def client(registered_store):
    """An MlflowClient on this test's copy of the registered template."""
    from mlflow import MlflowClient

    from hscore.mlops import store

    store.configure()
    return MlflowClient()


# ---------------------------------------------------------------- order
def pytest_collection_modifyitems(session, config, items):
    """Files holding slow tests first, each file's tests in their own order.

    With ``--dist loadfile`` a worker takes one file at a time: a long file drawn last
    leaves the other worker idle until it ends, while short files at the end even out.
    """
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)      # a stable sort

"""The Examples sections of the docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import hscore

# pyfunc_model registers itself with MLflow on import (models-from-code): not a library module.
SKIP = {"hscore.mlops.pyfunc_model", "hscore.cli"}
# Every module of every sub-package, packages' own docstrings included.
MODULES = sorted(m.name for m in pkgutil.walk_packages(hscore.__path__, "hscore.")
                 if m.name not in SKIP)


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
                             verbose=False)
    assert result.failed == 0, f"{result.failed} failing example(s) in {name}"

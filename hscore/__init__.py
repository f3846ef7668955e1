"""hscore: customer health scores per lifecycle stage, calibrated against churn history.

Sub-packages by concern, dependencies pointing one way:

- ``hscore.config``: the config schema, its checks, YAML files and the shipped defaults;
- ``hscore.scoring``: transforms, snapshot checks, the scorer and table files, the light
  production path (numpy, pandas, pyyaml, pydantic only);
- ``hscore.calibration``: design matrices, the logistic fit, holdout evaluation, the
  calibrator and ``compare`` (scipy, scikit-learn and statsmodels load when a fit runs);
- ``hscore.mlops``: MLflow tracking, registry, promotion, export and the pyfunc model, the
  only place that imports mlflow;
- ``hscore.build``: raw tables -> snapshot table, point in time (DuckDB loads when a build
  runs; ``hscore.build_snapshots`` is exported lazily);
- ``hscore.plots``, ``hscore.synth``, ``hscore.cli`` and ``hscore.demo`` on top.

``import hscore`` loads numpy and pandas and leaves the process environment alone.
"""

from __future__ import annotations

import importlib
from typing import Any

from hscore.config import Config, load_config, save_config, normalize_weights
from hscore.errors import ConfigError, DataError, HScoreError
from hscore.scoring import HealthScorer, read_snapshots, score, write_frame
# Imported eagerly (numpy/pandas only; scipy and statsmodels load when a fit runs): a lazy
# export would be replaced by the submodule of the same name as soon as it is imported.
from hscore.calibration import CalibrationResult, ComparisonResult, calibrate, compare

__version__ = "0.1.0"

_LAZY = {
    "synth": ("hscore.synth", None),
    "plots": ("hscore.plots", None),
    "build_snapshots": ("hscore.build", "build_snapshots"),
}

__all__ = ["Config", "load_config", "save_config", "normalize_weights", "HealthScorer", "score",
           "read_snapshots", "write_frame",
           "ConfigError", "DataError", "HScoreError", "compare", "ComparisonResult",
           "calibrate", "CalibrationResult", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = importlib.import_module(module)
        return mod if attr is None else getattr(mod, attr)
    raise AttributeError(f"module 'hscore' has no attribute {name!r}")

"""hscore: customer health scores per lifecycle stage, calibrated against churn history.

The scoring path (``hscore.config``, ``hscore.transforms``, ``hscore.scorer``)
imports only numpy, pandas, pyyaml and pydantic. Calibration and comparison
load scipy and statsmodels inside the functions that fit; tracking and plots
(mlflow, matplotlib) are separate modules that the scoring path never imports.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

# hscore runs against an embedded store on analysts' machines and in production jobs that may
# have no network: MLflow 3's usage telemetry would try to reach the internet from every run.
# Opt out by default; setting the variable yourself wins.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from hscore.config import Config, load_config, save_config, normalize_weights
from hscore.errors import ConfigError, DataError, HScoreError
from hscore.scorer import HealthScorer, score
# Imported eagerly (numpy/pandas only; scipy and statsmodels load when a fit runs): a lazy
# export would be replaced by the submodule of the same name as soon as it is imported.
from hscore.compare import ComparisonResult, compare
from hscore.calibrate import CalibrationResult, calibrate

__version__ = "0.1.0"

_LAZY = {
    "synth": ("hscore.synth", None),
    "plots": ("hscore.plots", None),
}

__all__ = ["Config", "load_config", "save_config", "normalize_weights", "HealthScorer", "score",
           "ConfigError", "DataError", "HScoreError", "compare", "ComparisonResult",
           "calibrate", "CalibrationResult", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = importlib.import_module(module)
        return mod if attr is None else getattr(mod, attr)
    raise AttributeError(f"module 'hscore' has no attribute {name!r}")

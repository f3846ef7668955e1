"""hscore: customer health scores per lifecycle stage, calibrated against churn history.

The scoring path (``hscore.config``, ``hscore.transforms``, ``hscore.scorer``)
imports only numpy, pandas, pyyaml and pydantic. Calibration, comparison,
tracking and plots load statsmodels, scikit-learn, mlflow and matplotlib, so
they are imported lazily on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from hscore.config import Config, load_config, save_config, normalize_weights
from hscore.errors import ConfigError, DataError, HScoreError
from hscore.scorer import HealthScorer, score
# Imported eagerly (numpy/pandas only; statsmodels loads when a comparison runs): a lazy
# export would be replaced by the submodule ``hscore.compare`` as soon as it is imported.
from hscore.compare import ComparisonResult, compare

__version__ = "0.1.0"

_LAZY = {
    "calibrate": ("hscore.calibrate", "calibrate"),
    "CalibrationResult": ("hscore.calibrate", "CalibrationResult"),
    "synth": ("hscore.synth", None),
    "plots": ("hscore.plots", None),
}

__all__ = ["Config", "load_config", "save_config", "normalize_weights", "HealthScorer", "score",
           "ConfigError", "DataError", "HScoreError", "compare", "ComparisonResult", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = importlib.import_module(module)
        return mod if attr is None else getattr(mod, attr)
    raise AttributeError(f"module 'hscore' has no attribute {name!r}")

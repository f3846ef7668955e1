"""Learning weights from churn history, and testing what predicts it.

``design`` builds per-stage design matrices of sub-scores, ``logistic`` fits the
sign-constrained, shrunk logistic model, ``evaluation`` holds the quality measures
(AUC with account-bootstrap CIs, Brier, log-loss, calibration tables), ``calibrator``
runs the whole per-stage calibration and ``compare`` answers "is A more predictive than B?".

Importing this package loads numpy and pandas only; scipy, scikit-learn and statsmodels
load when a fit runs.
"""

from hscore.calibration.calibrator import CalibrationResult, CalibrationWarning, Calibrator, calibrate
from hscore.calibration.compare import ComparisonResult, ComparisonWarning, compare

__all__ = ["calibrate", "Calibrator", "CalibrationResult", "CalibrationWarning", "compare",
           "ComparisonResult", "ComparisonWarning"]

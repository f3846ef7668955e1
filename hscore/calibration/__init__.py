"""Learning weights from churn history, and testing what predicts it.

Modules, in the order a calibration uses them:

- ``design``: per-cell design matrices of sub-scores, in canonical (account, date) order;
- ``split``: the holdout rule (which labelled rows train and which are held out: out of
  time, an account-grouped random share, or none);
- ``validation``: the parameter-constraint checks the estimators share;
- ``diagnose``, ``shrinkage``, ``logistic``: what the data cannot say, the pull toward the
  input weights with its cross-validated strength, the sign-constrained logistic fit;
- ``inference``: the statsmodels table and the account bootstrap;
- ``evaluation``, ``quality``: AUC, Brier, log-loss, calibration tables; holdout quality;
- ``cell``: one cell's calibration; ``records``: its frozen records;
- ``learned``: learned monotone (``piecewise``) transforms, chosen per metric by CV;
  ``bands``: band thresholds proposed from the probability mapping, and ``take_bands``;
- ``calibrator``: the estimator; ``results``, ``tables``, ``output``: the frozen result,
  its tables, the calibrated config and its provenance;
- ``compare`` (with ``evidence``, the statistics behind it): "is A more predictive of churn
  than B?".

Importing this package loads numpy and pandas only; scipy, scikit-learn and statsmodels
load when a fit runs.
"""

from hscore.calibration.bands import BandProposal, take_bands
from hscore.calibration.calibrator import (CalibrationWarning, Calibrator, NotFittedError,
                                           calibrate)
from hscore.calibration.compare import ComparisonResult, ComparisonWarning, compare
from hscore.calibration.learned import TransformChoice
from hscore.calibration.records import CellFit, ExportedFit, Status
from hscore.calibration.results import CalibrationResult
from hscore.calibration.split import Holdout, HoldoutKind

__all__ = ["calibrate", "Calibrator", "CalibrationResult", "CalibrationWarning", "CellFit",
           "Status", "ExportedFit", "NotFittedError", "Holdout", "HoldoutKind", "compare",
           "ComparisonResult", "ComparisonWarning", "take_bands", "BandProposal",
           "TransformChoice"]

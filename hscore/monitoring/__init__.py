"""Drift monitoring: population stability (PSI) of sub-scores and scores between two windows.

=======================================  ==================================================
:func:`~hscore.monitoring.psi.population_stability`  PSI of two arrays (NaN = missing)
:class:`~hscore.monitoring.psi.ReferenceBins`          the binning, fixed on the reference
:func:`~hscore.monitoring.monitor.monitor`            per stage, every sub-score and the score
:mod:`hscore.monitoring.plots`                        PSI bars, reference vs current scores
=======================================  ==================================================

Light like the scoring path (numpy and pandas; matplotlib only in :mod:`.plots`), so a
production job can monitor the file it scores.
"""

from hscore.monitoring.monitor import SCORE, MonitorResult, monitor
from hscore.monitoring.psi import (EPSILON, FLAGS, THRESHOLDS, ReferenceBins,
                                   population_stability, psi_flag)

__all__ = ["monitor", "MonitorResult", "population_stability", "ReferenceBins", "psi_flag",
           "EPSILON", "THRESHOLDS", "FLAGS", "SCORE"]

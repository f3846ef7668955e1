"""The exported weights are refitted on every labelled row after the holdout evaluation
(``refit="all"``), and that is at least as close to the truth as the train-window fit.

Measured when this was written (``synth.make_stage_sample``, "shifted" truth, default
strengths, no bootstrap; mean absolute weight error per stage, averaged over stages):

============================  ==============  ==============  =================
sample                        train-window     refit on all    max error (train
                              fit              labelled rows   -> all)
============================  ==============  ==============  =================
5,000 per stage, seeds 0-5    0.0113           0.0103          0.0270 -> 0.0239
20,000 per stage, seeds 0-3   0.0061           0.0053          0.0138 -> 0.0118
============================  ==============  ==============  =================

The refit sees about 27% more rows (the holdout and the rows straddling its start); the
error shrinks roughly as 1/sqrt(rows): sqrt(4126 / 5224) = 0.89, measured 0.91.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hscore import synth
from hscore.calibration import CalibrationWarning, calibrate

pytestmark = pytest.mark.slow

SEEDS = (0, 1, 2, 3)


def _errors(seed: int) -> dict[str, float]:
    history = synth.make_stage_sample(5000, seed=seed, truth="shifted")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        result = calibrate(history.frame, "lifecycle", horizon_days=history.horizon_days,
                           n_bootstrap=0, seed=0)
    errors = {"train": [], "all": []}
    for stage, fit in result.fits.items():
        truth = history.truth.weights(stage)[list(fit.layout.metrics)].to_numpy()
        assert fit.refit is not None and fit.exported is fit.refit
        assert fit.counts.n_labelled > 1.2 * fit.counts.n_rows
        errors["train"].append(np.abs(fit.estimate.weights - truth).mean())
        errors["all"].append(np.abs(fit.refit.weights - truth).mean())
        exported = result.config.stages[stage].metric_weights()
        np.testing.assert_allclose([exported[m] for m in fit.layout.metrics],
                                   fit.refit.weights, atol=1e-12)
    return {k: float(np.mean(v)) for k, v in errors.items()}


def test_refit_on_all_labelled_rows_is_not_further_from_the_truth_on_average():
    """Both fits come from one calibration, on overlapping rows, so their errors are paired:
    the per-seed difference (all - train) had mean -0.0010 and SD 0.0011 over seeds 0-5, so
    its mean over four seeds has an SD of about 0.0006. The tolerance lets that mean come
    out up to 0.0005 above zero (about one SD of noise around "no better"); a refit that
    helps as measured fails only by a 2.5-SD fluke."""
    per_seed = [_errors(seed) for seed in SEEDS]
    train = np.mean([e["train"] for e in per_seed])
    refit = np.mean([e["all"] for e in per_seed])
    assert refit <= train + 0.0005, (refit, train)
    assert refit < 0.015                     # and both near the truth at this size

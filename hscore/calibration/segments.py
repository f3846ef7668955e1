"""Segment weights with partial pooling: each segment's fit pulled toward its stage's.

A config whose stage declares ``segments`` (an ARR tier, say) has a cell per segment
(:class:`~hscore.config.Cell` ``maturity/enterprise``). Calibration fits the stage's cell
first, on every row of the stage (all segments together: the pooled fit), then each
segment's cell on the segment's rows with the penalty

    strength * ||b_seg - k_seg v_stage||^2

where ``v_stage`` are the stage's calibrated effective weights and ``k_seg`` the slope of a
one-parameter fit of the segment's churn on the stage-weighted score. It is the same
shrunk, sign-constrained fit as a stage's toward the input config
(:mod:`hscore.calibration.shrinkage`), with the stage in the place of the input: the
segment keeps its own intercept and overall slope (a segment may churn more, or its score
predict more sharply), and only the *shape* of its weights is pooled — which is all the
exported weights ``v = b / sum(b)`` carry. The strength is chosen by account-grouped
cross-validated log-loss on the segment's rows: ``inf`` returns the stage's weights exactly
(complete pooling), ``0`` the segment's own sign-constrained fit (no pooling). Bootstrap CIs
resample the segment's accounts with the stage's weights held fixed.

A segment with fewer than ``min_events`` churn events in training stays at the stage's
weights with a :class:`~hscore.calibration.cell.CalibrationWarning`; the calibrated config
then gives it the stage's exported weights and no probability mapping of its own.

The stage's weights come from all of its training rows, including those of a segment's
cross-validation test folds; that can only favour pooling (the stage has seen the test
rows), so a segment that CV still lets move away from its stage does differ from it.

Examples
--------
>>> import warnings
>>> from hscore import calibrate, synth
>>> book = synth.make_segmented_book(n_accounts=300, seed=0)
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     result = calibrate(book.frame, book.segmented_config, n_bootstrap=0, holdout="none")
>>> list(result.fits)
['all', 'all/enterprise', 'all/smb']
>>> centre = result.fits["all/smb"].layout.input_weights      # pulled toward the stage
>>> bool((centre == result.fits["all"].exported.weights).all())
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from hscore.calibration.cell import Settings, fit_cell
from hscore.calibration.design import CellDesign, Layout
from hscore.calibration.records import CellFit
from hscore.calibration.split import Split

__all__ = ["fit_cells", "centred_on"]


def centred_on(design: CellDesign, weights: np.ndarray) -> CellDesign:
    """``design`` with ``weights`` as the input weights its fit is pulled toward."""
    w = np.array(weights, dtype=np.float64)
    w.flags.writeable = False
    lay = design.layout
    layout = Layout(lay.metrics, lay.components, lay.component_of, w)
    return CellDesign(design.cell, layout, design.X, design.measured, design.y, design.groups,
                      design.days, design.rows, design.missing, design.min_coverage,
                      design.n_censored, design.n_unscored)


def fit_cells(designs: Mapping[str, CellDesign], split_of: Callable[[CellDesign], Split],
              settings: Settings, seeds: Mapping[str, object],
              timed_for: Callable[[str], Callable]) -> dict[str, CellFit]:
    """Fit every cell: stages toward the input config, then each segment toward its stage.

    ``designs`` are in config order (a stage before its segments); ``split_of`` gives a
    design's train/holdout split, ``seeds`` each cell's bootstrap seed and ``timed_for(key)``
    the timer of a cell's phases.
    """
    fits: dict[str, CellFit] = {}
    for key, design in designs.items():
        cell = design.cell
        if cell.segment is None:
            fits[key] = fit_cell(design, split_of(design), settings, seeds[key],
                                 timed_for(key))
            continue
        stage = fits[cell.stage]   # a segment's rows are rows of its stage: it was fitted
        pooled = centred_on(design, stage.estimate.weights)
        fits[key] = fit_cell(pooled, split_of(pooled), settings, seeds[key], timed_for(key),
                             refit_centre=stage.exported.weights)
    return fits

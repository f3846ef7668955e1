"""Figures show where the analyst is: as an image in a notebook without a pyplot backend,
with legends that do not repeat or cover the data, and counts behind every calibration point."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import hscore
from hscore import plots, synth
from hscore.calibration.calibrator import calibrate


@pytest.fixture(scope="module")
def history():
    return synth.make_history(n_accounts=300, months=14, seed=4)


@pytest.fixture(scope="module")
def scores(history):
    return hscore.HealthScorer("lifecycle").score(history.frame)


def test_a_figure_displays_as_png_in_jupyter_without_matplotlib_inline(scores):
    from IPython.core.interactiveshell import InteractiveShell

    fig = plots.score_distribution(scores, "lifecycle")
    data, _ = InteractiveShell.instance().display_formatter.format(fig)
    assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"


def test_the_histogram_legend_names_each_thing_once_outside_the_panels(scores):
    fig = plots.score_distribution(scores, "lifecycle")
    assert all(ax.get_legend() is None for ax in fig.axes)      # nothing inside a panel
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == ["snapshots per 5-point bin", "at risk below 50", "healthy from 75"]


def test_each_calibration_point_says_how_many_snapshots_it_rests_on(history):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = calibrate(history.frame, "lifecycle", n_bootstrap=0)
    fig = plots.calibration_curve(result, stage="maturity")
    shown = [int(t.get_text()[2:]) for t in fig.axes[0].texts if t.get_text().startswith("n=")]
    table = result.calibration_table
    expected = table[(table["stage"] == "maturity") & (table["model"] == "calibrated")]["rows"]
    assert shown == [int(n) for n in expected]
    assert sum(shown) == int(np.sum(expected)) > 0

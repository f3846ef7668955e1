"""hscore.plots: every figure has a title, labelled axes with units, one panel per stage,
and draws exactly the numbers of the result it is given."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from hscore import HealthScorer, load_config, plots, synth
from hscore.calibration import Status
from hscore.errors import DataError, HScoreError


@pytest.fixture(scope="module")
def history():
    return synth.make_history(300, 12, seed=0)


@pytest.fixture(scope="module")
def result(history):
    from hscore.calibration import calibrate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return calibrate(history.frame, "lifecycle", horizon_days=30, n_bootstrap=10, seed=0)


@pytest.fixture(scope="module")
def comparison(history):
    from hscore.calibration.compare import compare

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compare(history.frame, "lifecycle", "maturity", "product_usage", "csm_pulse",
                       n_bootstrap=50, seed=0)


def _check_labels(fig, units: tuple[str, ...]) -> None:
    """A figure title, and on every panel a title and both axis labels; each unit string
    appears in some axis label of every panel."""
    assert isinstance(fig, Figure)
    assert fig.get_suptitle().strip()
    for ax in fig.axes:
        assert ax.get_title().strip()
        assert ax.get_xlabel().strip() and ax.get_ylabel().strip()
        both = ax.get_xlabel() + " " + ax.get_ylabel()
        for unit in units:
            assert unit in both, (unit, both)


def _bars(ax, label: str) -> BarContainer:
    found = [c for c in ax.containers if isinstance(c, BarContainer) and c.get_label() == label]
    assert len(found) == 1, [c.get_label() for c in ax.containers]
    return found[0]


def _line(ax, label_start: str):
    found = [ln for ln in ax.get_lines() if ln.get_label().startswith(label_start)]
    assert len(found) == 1, [ln.get_label() for ln in ax.get_lines()]
    return found[0]


# ------------------------------------------------------------------ weights
def test_weights_bars_and_cis_are_the_summary_numbers(result):
    fig = plots.weights(result)
    _check_labels(fig, ("(share of the stage score, 0–1)",))
    assert len(fig.axes) == len(result.fits) == 4
    table = result.summary()
    for ax, stage in zip(fig.axes, result.fits):
        rows = table[table["stage"] == stage].reset_index(drop=True)
        assert ax.get_title().startswith(f"{stage}:")
        assert [t.get_text() for t in ax.get_yticklabels()] == list(rows["metric"])
        calibrated = _bars(ax, "calibrated")
        given = _bars(ax, "input config")
        np.testing.assert_allclose([p.get_width() for p in calibrated], rows["weight"])
        np.testing.assert_allclose([p.get_width() for p in given], rows["input_weight"])
        # Each metric's bar sits at its tick label (the calibrated bar just below it).
        ticks = ax.get_yticks()
        np.testing.assert_allclose([p.get_y() + p.get_height() / 2 for p in calibrated],
                                   ticks - 0.2)
        cis = [c for c in ax.collections if isinstance(c, LineCollection)]
        finite = rows[["ci_low", "ci_high"]].notna().all(axis=1).to_numpy()
        if finite.any():
            (ci_lines,) = cis
            segs = np.array([s[:, 0] for s in ci_lines.get_segments()])
            np.testing.assert_allclose(segs, rows.loc[finite, ["ci_low", "ci_high"]])
        else:
            assert not cis


def test_weights_of_a_calibrated_stage_move_away_from_the_input(result):
    # The maturity stage is calibrated on enough events that some weight changes: the plot
    # must show two different bar sets there (a plot of one series twice would pass above).
    fig = plots.weights(result, stage="maturity")
    (ax,) = fig.axes
    widths = np.array([p.get_width() for p in _bars(ax, "calibrated")])
    inputs = np.array([p.get_width() for p in _bars(ax, "input config")])
    assert result.fits["maturity"].status is Status.CALIBRATED
    assert np.abs(widths - inputs).max() > 0.01
    assert widths.sum() == pytest.approx(1.0)


def test_weights_without_bootstrap_draw_no_cis(history):
    from hscore.calibration import calibrate

    # Infinite strength keeps the input weights; no resamples, so no CI to draw.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kept = calibrate(history.frame, "lifecycle", horizon_days=30, n_bootstrap=0,
                         strengths=[np.inf])
    fig = plots.weights(kept, stage="maturity")
    (ax,) = fig.axes
    assert not [c for c in ax.collections if isinstance(c, LineCollection)]
    np.testing.assert_allclose([p.get_width() for p in _bars(ax, "calibrated")],
                               [p.get_width() for p in _bars(ax, "input config")])


def test_weights_fixed_at_the_input_draw_no_zero_width_cis():
    """A stage kept at its input weights has no CI (NaN in the summary): no CI line, where a
    zero-width one would read as certainty. The calibrated stage beside it keeps its CIs."""
    from test_calibrate import thin_s2_frame, fit_quietly

    res = fit_quietly(thin_s2_frame(), n_bootstrap=10)
    assert res.fits["s2"].status is Status.THIN_DATA
    fig = plots.weights(res)
    fitted, kept = fig.axes
    assert not [c for c in kept.collections if isinstance(c, LineCollection)]
    (ci_lines,) = [c for c in fitted.collections if isinstance(c, LineCollection)]
    segs = np.array([s[:, 0] for s in ci_lines.get_segments()])
    np.testing.assert_allclose(segs, res.fits["s1"].exported.ci)
    assert "95% bootstrap CI" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_unknown_stage_is_a_clear_error(result):
    with pytest.raises(HScoreError, match="stage: 'nope' is not a calibrated stage"):
        plots.roc(result, stage="nope")


# ------------------------------------------------------- calibration curve
def test_calibration_curve_plots_the_holdout_table_in_percent(result):
    fig = plots.calibration_curve(result)
    _check_labels(fig, ("(%)", "(% of holdout snapshots)"))
    assert len(fig.axes) == 4
    for ax, (stage, fit) in zip(fig.axes, result.fits.items()):
        table = fit.holdout.calibration
        assert {"calibrated", "input"} <= set(table["model"])
        assert len(ax.get_lines()) == table["model"].nunique() + 1   # + the diagonal
        for model, part in table.groupby("model"):
            line = _line(ax, plots.MODEL_LABELS[model])
            x, y = line.get_data()
            np.testing.assert_allclose(x, 100 * part["mean_predicted"])
            np.testing.assert_allclose(y, 100 * part["observed_rate"])
        diag = _line(ax, "perfect calibration")
        x, y = diag.get_data()
        np.testing.assert_array_equal(x, y)


def test_calibration_curve_one_stage(result):
    fig = plots.calibration_curve(result, stage="renewal")
    assert len(fig.axes) == 1
    assert fig.axes[0].get_title().startswith("renewal:")


# ----------------------------------------------------------------------- roc
def test_roc_points_by_hand():
    # Sorted by risk: 0.8 (churned), 0.4 (retained), 0.35 (churned), 0.1 (retained).
    fpr, tpr = plots.roc_points(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    # Tied risks are one diagonal step: area 0.5, ties count half.
    fpr, tpr = plots.roc_points(np.array([1, 0]), np.array([0.5, 0.5]))
    np.testing.assert_allclose(fpr, [0, 1])
    np.testing.assert_allclose(tpr, [0, 1])


def test_roc_points_match_sklearn():
    from sklearn.metrics import roc_curve

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400).astype(float)
    risk = np.round(rng.normal(size=400) + y, 1)          # rounded: plenty of ties
    fpr, tpr = plots.roc_points(y, risk)
    ref_fpr, ref_tpr, _ = roc_curve(y, risk, drop_intermediate=False)  # reference
    np.testing.assert_allclose(fpr, ref_fpr)
    np.testing.assert_allclose(tpr, ref_tpr)


def test_roc_curves_have_the_holdout_auc_as_area(result):
    fig = plots.roc(result)
    _check_labels(fig, ("(share of retained flagged, 0–1)", "(share of churned flagged, 0–1)"))
    assert len(fig.axes) == 4
    quality = result.quality.set_index(["stage", "model"])
    for ax, stage in zip(fig.axes, result.fits):
        # Every model with a holdout AUC has a curve (the reference fit can fail on thin data).
        models = quality.loc[stage]["auc"].dropna().index
        assert {"calibrated", "input"} <= set(models)
        assert len(ax.get_lines()) == len(models) + 1   # + chance
        for model in models:
            line = _line(ax, plots.MODEL_LABELS[model])
            fpr, tpr = line.get_data()
            area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
            expected = quality.loc[(stage, model), "auc"]
            assert area == pytest.approx(expected, abs=1e-12)
            assert f"AUC {expected:.3f}" in line.get_label()


def test_roc_of_a_holdout_without_churn_draws_a_note_not_curves():
    from test_calibrate import HOLDOUT, fit_quietly, make_frame

    frame = make_frame(n_accounts=100, seed=2)
    quiet = (frame["stage"] == "s2") & (frame["snapshot_date"] >= HOLDOUT)
    frame.loc[quiet & frame["churned"].notna(), "churned"] = 0.0
    res = fit_quietly(frame, n_bootstrap=0)
    assert res.fits["s2"].holdout.n_events == 0 < res.fits["s2"].holdout.n_rows
    fitted, quiet_ax = plots.roc(res).axes
    assert [t.get_text() for t in quiet_ax.texts] == [
        "the holdout needs both churned and retained snapshots"]
    assert [ln.get_label() for ln in quiet_ax.get_lines()] == ["chance (AUC 0.5)"]
    assert len(fitted.get_lines()) == 4 and not fitted.texts     # three models + chance


# --------------------------------------------------------- score distribution
def test_score_distribution_histograms_are_the_scores(history):
    scores = HealthScorer("lifecycle").score(history.frame)
    fig = plots.score_distribution(scores)
    _check_labels(fig, ("(points, 0–100)", "(count)"))
    stages = [s for s in load_config("lifecycle").stages if (scores["stage"] == s).any()]
    assert len(fig.axes) == len(stages) == 4
    edges = np.arange(0, 101, 5)
    for ax, stage in zip(fig.axes, stages):
        values = scores.loc[scores["stage"] == stage, "score"].dropna().to_numpy()
        counts, _ = np.histogram(values, bins=edges)
        bars = _bars(ax, "snapshots per 5-point bin")
        np.testing.assert_array_equal([p.get_height() for p in bars], counts)
        np.testing.assert_allclose([p.get_x() for p in bars], edges[:-1])
        assert sum(p.get_height() for p in bars) == len(values)
        assert ax.get_xlim() == (0, 100)
        assert _line(ax, "at risk below").get_xdata()[0] == 50
        assert _line(ax, "healthy from").get_xdata()[0] == 75


def test_score_distribution_uses_the_config_bands_and_one_stage(history):
    cfg = load_config("lifecycle").replace(bands={"healthy": 80.0, "at_risk": 40.0})
    scores = HealthScorer(cfg).score(history.frame)
    fig = plots.score_distribution(scores, cfg, stage="renewal")
    (ax,) = fig.axes
    assert _line(ax, "at risk below").get_xdata()[0] == 40
    assert _line(ax, "healthy from").get_xdata()[0] == 80
    renewal = scores.loc[scores["stage"] == "renewal", "score"].dropna()
    at_risk = (renewal < 40).mean()
    assert ax.get_title() == f"renewal: {len(renewal)} scored snapshots, {at_risk:.0%} at risk"


def test_score_distribution_without_stage_column_and_bad_input():
    scores = pd.DataFrame({"score": [10.0, 55.0, 55.0, np.nan, 99.0]})
    fig = plots.score_distribution(scores)
    (ax,) = fig.axes
    heights = np.array([p.get_height() for p in _bars(ax, "snapshots per 5-point bin")])
    assert heights.sum() == 4 and heights[2] == 1 and heights[11] == 2 and heights[19] == 1
    assert "1 without score" in ax.get_title()
    with pytest.raises(DataError, match="column 'score'"):
        plots.score_distribution(pd.DataFrame({"stage": ["adoption"]}))


# ------------------------------------------------------------------ compare
def test_compare_lift_draws_the_lift_table_and_bootstrap(comparison):
    c = comparison
    fig = plots.compare_lift(c)
    _check_labels(fig, ())
    left, right = fig.axes
    assert "(%)" in left.get_ylabel() and "0–1 scale" in right.get_xlabel()
    assert "(count)" in right.get_ylabel()
    churned = [p.get_height() for p in left.containers[0]]
    retained = [p.get_height() for p in left.containers[1]]
    np.testing.assert_allclose(churned, 100 * c.lift.loc[[c.a, c.b], "churned_at_risk"])
    np.testing.assert_allclose(retained, 100 * c.lift.loc[[c.a, c.b], "retained_at_risk"])
    # Every finite bootstrap replicate lands in one histogram bar.
    hist = [ct for ct in right.containers if isinstance(ct, BarContainer)][0]
    assert sum(p.get_height() for p in hist) == np.isfinite(c.delta_auc_boot).sum()
    assert _line(right, "estimate").get_xdata()[0] == pytest.approx(c.delta_auc)
    assert _line(right, "no difference").get_xdata()[0] == 0


@pytest.mark.parametrize("name", ["weights", "calibration_curve", "roc"])
def test_calibration_figures_save_as_png(result, name, tmp_path):
    # What tracking does with them: one PNG artifact per figure.
    path = tmp_path / f"{name}.png"
    getattr(plots, name)(result).savefig(path, dpi=60, bbox_inches="tight")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", ["weights", "calibration_curve", "roc"])
def test_save_png_writes_the_pixels_of_savefig_at_100_dpi(result, name):
    # The run's figures go through save_png (drawn once): they must be what matplotlib's own
    # savefig(dpi=100) writes, pixel for pixel, whatever dpi the figure was made with.
    import io

    from PIL import Image

    ours, theirs = io.BytesIO(), io.BytesIO()
    fig = getattr(plots, name)(result, stage="maturity")
    fig.set_dpi(72)                         # e.g. a notebook's rcParams
    canvas = fig.canvas
    plots.save_png(fig, ours)
    assert fig.get_dpi() == 72 and fig.canvas is canvas
    getattr(plots, name)(result, stage="maturity").savefig(theirs, format="png", dpi=100)
    a, b = (np.asarray(Image.open(buf)) for buf in (ours, theirs))
    assert a.shape == b.shape and a.shape[1] == round(fig.get_figwidth() * 100)
    assert (a == b).all()

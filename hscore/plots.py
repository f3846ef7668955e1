"""Figures for analysts and for the MLflow run artifacts (matplotlib only).

Every function returns a :class:`matplotlib.figure.Figure` with a title, axis
labels and units; nothing is shown or saved by them, so the same figure serves a
notebook cell (``fig``) and an artifact (``fig.savefig("weights.png")``, or
:func:`save_png`: the same pixels at 100 dpi, drawn once, as the CLI, the MLflow run
and Jupyter write them). Figures are built without ``pyplot``: no global figure state,
nothing left open in a long calibration loop. They display as an image in a notebook as
they are, whatever the matplotlib backend (no ``%matplotlib inline`` needed):
a returned figure renders itself to PNG for Jupyter.

=========================  =====================================================
:func:`weights`            input vs calibrated effective weights with bootstrap CIs
:func:`calibration_curve`  predicted vs observed churn on the holdout
:func:`roc`                ROC curves of the calibrated, input and reference models
:func:`score_distribution` histogram of scores per stage with the band thresholds
:func:`compare_lift`       at-risk shares and bootstrap ΔAUC of a :func:`~hscore.calibration.compare.compare`
:func:`transforms`         learned sub-score curves with the training churn rate per bin
=========================  =====================================================

``weights``, ``calibration_curve`` and ``roc`` take a
:class:`~hscore.calibration.results.CalibrationResult` and draw one panel per cell of its
``fits`` (today a cell is a stage; ``stage="maturity"`` draws one).

This module is never imported by the scoring path (:mod:`hscore.scoring.scorer`).

Examples
--------
>>> import warnings
>>> from hscore import synth, plots
>>> from hscore.calibration import calibrate
>>> history = synth.make_history(n_accounts=200, months=12, seed=2)
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     result = calibrate(history.frame, "lifecycle", horizon_days=30, n_bootstrap=10)
>>> fig = plots.weights(result, stage="maturity")
>>> fig.axes[0].get_xlabel()
'effective weight (share of the stage score, 0–1)'
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["weights", "calibration_curve", "roc", "score_distribution", "compare_lift",
           "transforms", "roc_points", "save_png", "MODEL_LABELS"]

#: How the holdout models are named in legends.
MODEL_LABELS = {"calibrated": "calibrated config", "input": "input config",
                "reference": "reference (unconstrained logit)"}
_MODEL_COLORS = {"calibrated": "C0", "input": "C1", "reference": "C7"}
_BAND_COLORS = {"at_risk": "#d62728", "neutral": "#bcbd22", "healthy": "#2ca02c"}

WEIGHT_UNITS = "effective weight (share of the stage score, 0–1)"
SCORE_UNITS = "health score (points, 0–100)"


# ----------------------------------------------------------------- helpers
def _figure_class():
    """A matplotlib Figure that Jupyter shows as an image without a pyplot backend.

    Jupyter asks an object for ``_repr_png_``; a bare ``Figure`` has none unless
    ``%matplotlib inline`` registered a formatter, so a fresh notebook showed only
    ``<Figure size ... with 4 Axes>``. Rendering goes through the Agg canvas, which needs
    no display.
    """
    global _ShownFigure
    if _ShownFigure is None:
        from matplotlib.figure import Figure

        class ShownFigure(Figure):
            def _repr_png_(self) -> bytes:
                import io

                buf = io.BytesIO()
                save_png(self, buf)
                return buf.getvalue()

        _ShownFigure = ShownFigure
    return _ShownFigure


_ShownFigure = None

#: The resolution every figure is written at (dots per inch).
PNG_DPI = 100


def save_png(fig, target) -> None:
    """Write ``fig`` as a PNG at :data:`PNG_DPI` to ``target`` (a path or a binary file):
    the pixels ``fig.savefig(target, format="png", dpi=100)`` writes, in about three
    quarters of its time.

    ``savefig`` draws a figure with a layout engine twice: once to lay it out, once more to
    render it, measuring every text again with a new renderer. Here the Agg canvas draws it
    once, layout included. zlib compresses at level 1: the same pixels, a file about 5%
    larger, a third less time than the default level.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> from PIL import Image
    >>> from matplotlib.figure import Figure
    >>> from hscore.plots import save_png
    >>> fig = Figure(figsize=(2, 1), layout="constrained")
    >>> _ = fig.add_subplot().set_title("a title")
    >>> ours, theirs = io.BytesIO(), io.BytesIO()
    >>> save_png(fig, ours)
    >>> fig.savefig(theirs, format="png", dpi=100)
    >>> a, b = (np.asarray(Image.open(buf)) for buf in (ours, theirs))
    >>> a.shape, bool((a == b).all())
    ((100, 200, 4), True)
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.image import imsave

    canvas, dpi = fig.canvas, fig.get_dpi()
    try:
        fig.set_dpi(PNG_DPI)
        agg = FigureCanvasAgg(fig)
        agg.draw()
        imsave(target, agg.buffer_rgba(), format="png", origin="upper", dpi=PNG_DPI,
               pil_kwargs={"compress_level": 1})
    finally:        # the figure keeps its own canvas (a notebook's, say) and resolution
        fig.set_dpi(dpi)
        fig.set_canvas(canvas)


def _figure(n_panels: int, panel_size: tuple[float, float], ncols: int = 2):
    """A constrained-layout figure with exactly ``n_panels`` axes, row-major."""
    ncols = max(1, min(ncols, n_panels))
    nrows = math.ceil(n_panels / ncols)
    fig = _figure_class()(figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
                          layout="constrained")
    axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(n_panels)]
    return fig, axes


def _cells(result, stage: str | None) -> list[str]:
    """The cell keys to draw: every fitted cell, or the one named."""
    names = list(result.fits)
    if stage is None:
        return names
    if stage not in result.fits:
        from hscore.errors import HScoreError

        raise HScoreError(f"stage: {stage!r} is not a calibrated stage "
                          f"(stages: {', '.join(names)})")
    return [stage]


def _horizon(result) -> str:
    return f"{result.horizon_days}-day"


def _panel_title(ax, text: str, fontsize: float = 9.5) -> None:
    """The panel's title, at the fixed height matplotlib's automatic placement gives it here.

    Placed automatically, a title makes every draw measure the panel's axes again (a third
    of a figure's drawing) to see whether ticks on top or an offset text reach it; these
    panels have neither, so the title stays where it would be.
    """
    ax.set_title(text, fontsize=fontsize, y=1.0)


def _note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=9,
            color="0.35", wrap=True)


def roc_points(y: np.ndarray, risk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates (0–1) at every distinct ``risk`` threshold, highest
    first, starting at (0, 0). Tied risks make one diagonal step, so the trapezoid area
    under the points is the AUC with ties counted half."""
    y = np.asarray(y, dtype=np.float64)
    risk = np.asarray(risk, dtype=np.float64)
    order = np.argsort(-risk, kind="mergesort")
    y, risk = y[order], risk[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(risk)), len(risk) - 1]
    tp = np.cumsum(y)[last_of_tie]
    fp = np.cumsum(1.0 - y)[last_of_tie]
    pos, neg = y.sum(), len(y) - y.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.r_[0.0, fp / neg], np.r_[0.0, tp / pos]


# ------------------------------------------------------------ calibration
def weights(result, *, stage: str | None = None):
    """Input vs calibrated effective weight of every metric, with the 95% bootstrap CI.

    Parameters
    ----------
    result : CalibrationResult
        A calibration (:func:`hscore.calibrate`).
    stage : str, optional
        Draw only this stage (default: one panel per stage).

    Returns
    -------
    Figure
        One horizontal bar chart per stage: for each metric the input config's
        effective weight (component weight x metric weight) and the calibrated
        one, whose 95% account-bootstrap CI is the black line. The bar lengths
        are ``result.summary()``'s ``input_weight`` and ``weight``. A metric whose
        CI is NaN (its stage kept the input weights: nothing was resampled) has
        no CI line.
    """
    table = result.summary()
    stages = _cells(result, stage)
    longest = max(int((table["stage"] == s).sum()) for s in stages)
    fig, axes = _figure(len(stages), (6.4, 0.42 * longest + 1.6))
    for ax, name in zip(axes, stages):
        rows = table[table["stage"] == name].reset_index(drop=True)
        fit = result.fits[name]
        y = np.arange(len(rows))[::-1].astype(float)   # first metric on top
        # A segment is pulled toward its stage's calibrated weights, not the input config.
        centre, colour = (("input config", "C1") if fit.cell.segment is None else
                          ("segment: its stage's calibrated weights", "C2"))
        ax.barh(y + 0.2, rows["input_weight"], height=0.4, color=colour, alpha=0.75,
                label=centre)
        ax.barh(y - 0.2, rows["weight"], height=0.4, color="C0", label="calibrated")
        ci = rows[["ci_low", "ci_high"]].to_numpy(dtype=np.float64)
        has_ci = np.isfinite(ci).all(axis=1)
        if has_ci.any():
            ax.hlines(y[has_ci] - 0.2, ci[has_ci, 0], ci[has_ci, 1], color="black", lw=1.4,
                      label="95% bootstrap CI")
        # Thin lines between components, the component's name at the right edge.
        starts = np.flatnonzero(rows["component"].ne(rows["component"].shift()))
        for k, start in enumerate(starts):
            end = starts[k + 1] if k + 1 < len(starts) else len(rows)
            if start > 0:
                ax.axhline(y[start] + 0.5, color="0.8", lw=0.8)
            ax.text(1.0, (y[start] + y[end - 1]) / 2, f" {rows['component'].iat[start]}",
                    transform=ax.get_yaxis_transform(), ha="left", va="center", fontsize=7.5,
                    color="0.35", rotation=-90 if end - start > 1 else 0)
        ax.set_yticks(y, rows["metric"], fontsize=8)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_xlim(0, max(1e-9, float(np.nanmax(np.r_[rows["input_weight"], rows["weight"],
                                                        ci[has_ci].ravel()]))) * 1.12)
        ax.set_xlabel(WEIGHT_UNITS)
        ax.set_ylabel("metric (grouped by component)")
        kept = "input" if fit.cell.segment is None else "stage's"
        status = "" if not fit.status.kept_input else f"\n({kept} weights kept: {fit.status})"
        _panel_title(ax, f"{name}: {fit.counts.n_events} churn events in "
                         f"{fit.counts.n_rows} training snapshots{status}")
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:]:   # a stage without CIs has no CI handle
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=8)
    fig.suptitle("Input vs calibrated metric weights (95% account-bootstrap CI)")
    return fig


def calibration_curve(result, *, stage: str | None = None):
    """Predicted churn probability against the observed churn rate on the holdout.

    Rows of the holdout are split into equal-count bins of predicted
    probability (``fit.holdout.calibration``); each point is one bin's mean
    prediction and observed churn rate, in percent. A well calibrated model's
    points lie on the diagonal.

    Parameters
    ----------
    result : CalibrationResult
    stage : str, optional
        Draw only this stage.

    Returns
    -------
    Figure
        One panel per stage, one line per model (calibrated, input, reference).
    """
    stages = _cells(result, stage)
    horizon = _horizon(result)
    fig, axes = _figure(len(stages), (4.6, 4.2))
    for ax, name in zip(axes, stages):
        hold = result.fits[name].holdout
        table = hold.calibration
        top = 0.0
        if table is None or table.empty:
            _note(ax, "no holdout predictions for this stage")
        else:
            for model, part in table.groupby("model", sort=False):
                x = 100.0 * part["mean_predicted"].to_numpy()
                obs = 100.0 * part["observed_rate"].to_numpy()
                label = MODEL_LABELS.get(model, model)
                if model == "calibrated":
                    label += " (n = snapshots per bin)"
                ax.plot(x, obs, marker="o", ms=4, color=_MODEL_COLORS.get(model), label=label)
                if model == "calibrated":
                    # How much each point rests on: an observed rate from 12 snapshots is noise.
                    for xi, oi, n in zip(x, obs, part["rows"].to_numpy()):
                        ax.annotate(f"n={int(n)}", (xi, oi), textcoords="offset points",
                                    xytext=(3, -9), fontsize=6.5, color=_MODEL_COLORS[model])
                top = max(top, float(np.nanmax(x)), float(np.nanmax(obs)))
        top = min(100.0, top * 1.05) if top > 0 else 100.0
        ax.plot([0, top], [0, top], ls="--", color="0.5", lw=1, label="perfect calibration")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel(f"predicted churn probability, {horizon} horizon (%)")
        ax.set_ylabel("observed churn rate (% of holdout snapshots)")
        _panel_title(ax, f"{name}: {hold.n_events} churn events in {hold.n_rows} "
                         "holdout snapshots")
        ax.legend(fontsize=7.5, loc="upper left")
    fig.suptitle(f"Calibration on the {_holdout_date(result)}: predicted vs observed churn")
    return fig


def _holdout_date(result) -> str:
    """The holdout in words: its kind and start, or share of accounts."""
    return result.holdout.describe()


def roc(result, *, stage: str | None = None):
    """ROC curves on the holdout for the calibrated config, the input config and the
    unconstrained reference model, with their AUCs (``result.quality``) in the legend.

    Parameters
    ----------
    result : CalibrationResult
    stage : str, optional
        Draw only this stage.

    Returns
    -------
    Figure
        One panel per stage. The area under each curve is the model's holdout AUC.
    """
    stages = _cells(result, stage)
    quality = result.quality.set_index(["stage", "model"])
    fig, axes = _figure(len(stages), (4.6, 4.2))
    for ax, name in zip(axes, stages):
        hold = result.fits[name].holdout
        if hold.n_rows == 0 or hold.n_events in (0, hold.n_rows):
            _note(ax, "the holdout needs both churned and retained snapshots")
        else:
            for model, pred in hold.predictions.items():
                fpr, tpr = roc_points(hold.y, pred.risk)
                value = quality["auc"].get((name, model), np.nan)
                ax.plot(fpr, tpr, color=_MODEL_COLORS.get(model), lw=1.6,
                        label=f"{MODEL_LABELS.get(model, model)} (AUC {value:.3f})")
        ax.plot([0, 1], [0, 1], ls="--", color="0.5", lw=1, label="chance (AUC 0.5)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_xlabel("false positive rate (share of retained flagged, 0–1)")
        ax.set_ylabel("true positive rate (share of churned flagged, 0–1)")
        _panel_title(ax, f"{name}: {hold.n_events} churn events in {hold.n_rows} "
                         "holdout snapshots")
        ax.legend(fontsize=7.5, loc="lower right")
    fig.suptitle(f"ROC on the {_holdout_date(result)}, {_horizon(result)} churn")
    return fig


# ------------------------------------------------------------------ scores
def score_distribution(scores: pd.DataFrame, config=None, *, stage: str | None = None,
                       bin_width: float = 5.0):
    """Histogram of health scores per stage, with the band thresholds.

    Parameters
    ----------
    scores : DataFrame
        The output of :meth:`hscore.HealthScorer.score` (``score`` and, for a
        per-stage view, ``stage``). Empty scores are left out and counted in the title.
    config : Config, str or path, optional
        Where the band thresholds come from (default: the shipped ``lifecycle``
        config's bands). Pass the config the scores were made with.
    stage : str, optional
        Draw only this stage.
    bin_width : float, default 5
        Width of a histogram bin, in points.

    Returns
    -------
    Figure
        One panel per stage (or one ``all`` panel without a stage column); the
        x axis runs over 0–100 points, the at-risk / neutral / healthy ranges are shaded.
    """
    from hscore.config import load_config
    from hscore.errors import DataError

    if "score" not in scores.columns:
        raise DataError("score", "required column is missing: pass the output of "
                                 "HealthScorer.score")
    bands = load_config("lifecycle" if config is None else config).bands
    if "stage" in scores.columns:
        col = scores["stage"]
        present = set(col.dropna().astype(str))
        order = ([str(c) for c in col.cat.categories] if isinstance(col.dtype, pd.CategoricalDtype)
                 else list(dict.fromkeys(col.dropna().astype(str))))
        names = [s for s in order if s in present]
        stage_of = col.astype(object).astype(str).to_numpy()
    else:
        names, stage_of = ["all"], np.full(len(scores), "all", dtype=object)
    if stage is not None:
        if stage not in names:
            raise DataError("stage", f"no rows of stage {stage!r} in the scores "
                                     f"(stages: {', '.join(names)})")
        names = [stage]
    edges = np.arange(0.0, 100.0 + bin_width / 2, bin_width)
    edges[-1] = 100.0
    values_all = scores["score"].to_numpy(dtype=np.float64)
    fig, axes = _figure(len(names), (4.8, 3.4))
    for ax, name in zip(axes, names):
        values = values_all[stage_of == name]
        scored = values[~np.isnan(values)]
        for lo, hi, band in ((0, bands.at_risk, "at_risk"),
                             (bands.at_risk, bands.healthy, "neutral"),
                             (bands.healthy, 100, "healthy")):
            ax.axvspan(lo, hi, color=_BAND_COLORS[band], alpha=0.08, lw=0)
        # The label goes on the bar container only: on ``hist(label=...)`` as well, the legend
        # listed it twice.
        bars = ax.hist(scored, bins=edges, color="C0", edgecolor="white", lw=0.5)[2]
        bars.set_label(f"snapshots per {bin_width:g}-point bin")
        ax.axvline(bands.at_risk, color=_BAND_COLORS["at_risk"], ls="--", lw=1.2,
                   label=f"at risk below {bands.at_risk:g}")
        ax.axvline(bands.healthy, color=_BAND_COLORS["healthy"], ls="--", lw=1.2,
                   label=f"healthy from {bands.healthy:g}")
        ax.set_xlim(0, 100)
        ax.set_xlabel(SCORE_UNITS)
        ax.set_ylabel("snapshots (count)")
        at_risk = float(np.mean(scored < bands.at_risk)) if len(scored) else float("nan")
        empty = len(values) - len(scored)
        ax.set_title(f"{name}: {len(scored)} scored snapshots, {at_risk:.0%} at risk"
                     + (f", {empty} without score" if empty else ""), fontsize=9.5)
    # Every panel has the same three entries: one legend under the panels, where it covers
    # no bar (inside a panel it hid the tallest one).
    handles, labels = axes[0].get_legend_handles_labels()
    order = np.argsort([not lab.startswith("snapshots") for lab in labels], kind="stable")
    fig.legend([handles[i] for i in order], [labels[i] for i in order],
               loc="outside lower center", ncol=3, fontsize=8)
    fig.suptitle("Health score distribution" + (" by lifecycle stage" if len(names) > 1
                                                 or names != ["all"] else ""))
    return fig


# ----------------------------------------------------------------- compare
def compare_lift(comparison):
    """The evidence of :func:`hscore.calibration.compare.compare` as two panels.

    Left: the share of churned and of retained snapshots whose signal lies in
    the at-risk range (the seeds' "85% of churned customers had a low usage
    rate") for each signal, in percent. Right: the paired account-bootstrap
    distribution of ``AUC[a] - AUC[b]`` with its CI and zero.

    Parameters
    ----------
    comparison : ComparisonResult

    Returns
    -------
    Figure
    """
    c = comparison
    lift = c.lift.loc[[c.a, c.b]]
    fig, (left, right) = _figure(2, (5.0, 3.8))
    x = np.arange(2, dtype=float)
    left.bar(x - 0.2, 100.0 * lift["churned_at_risk"].to_numpy(), width=0.4, color="C3",
             label=f"churned ({int(lift['churned_n'].iat[0])} snapshots)")
    left.bar(x + 0.2, 100.0 * lift["retained_at_risk"].to_numpy(), width=0.4, color="C2",
             label=f"retained ({int(lift['retained_n'].iat[0])} snapshots)")
    for xi, (_, r) in zip(x, lift.iterrows()):
        left.text(xi, 100.0 * max(r["churned_at_risk"], r["retained_at_risk"]) + 2,
                  f"lift {r['lift']:.2f}", ha="center", fontsize=8)
    left.set_xticks(x, [f"{c.a}\n({c.kinds[c.a]})", f"{c.b}\n({c.kinds[c.b]})"], fontsize=8)
    left.set_ylim(0, 110)
    left.set_xlabel("signal")
    left.set_ylabel(f"snapshots below {lift['at_risk_below'].iat[0]:g} points (%)")
    left.set_title("Share in the at-risk range", fontsize=9.5)
    left.legend(fontsize=7.5, loc="upper right")

    boot = np.asarray(c.delta_auc_boot, dtype=np.float64)
    boot = boot[np.isfinite(boot)]
    lo, hi = c.delta_auc_ci
    level = f"{100 * (1 - c.alpha):g}%"
    right.hist(boot, bins=min(40, max(10, len(boot) // 10)), color="C0", alpha=0.8,
               label=f"{len(boot)} account resamples")
    right.axvline(c.delta_auc, color="black", lw=1.5, label=f"estimate {c.delta_auc:+.3f}")
    right.axvspan(lo, hi, color="C0", alpha=0.12, label=f"{level} CI [{lo:+.3f}, {hi:+.3f}]")
    right.axvline(0.0, color="0.4", ls="--", lw=1, label="no difference")
    right.set_xlabel(f"AUC[{c.a}] − AUC[{c.b}]\n(difference in AUC, 0–1 scale)")
    right.set_ylabel("bootstrap resamples (count)")
    right.set_title(f"AUC {c.auc[c.a]:.3f} vs {c.auc[c.b]:.3f}", fontsize=9.5)
    right.legend(fontsize=7.5, loc="upper left")
    fig.suptitle(f"Stage '{c.stage}': is {c.a} more predictive of churn than {c.b}?")
    return fig


def transforms(result, *, stage: str | None = None):
    """The learned monotone curves of a ``transforms="learn"`` calibration, with the data.

    Parameters
    ----------
    result : CalibrationResult
    stage : str, optional
        Draw only this stage's metrics.

    Returns
    -------
    Figure
        One panel per (stage, metric) a curve was learned for: the learned sub-score curve
        (solid when cross-validation took it, dashed when the configured transform stayed),
        the configured transform (grey), both on the left axis (0–100), and the training
        rows' churn rate per bin (dots, right axis, %) at the bins' mean raw value. Metrics
        no curve was learned for are named under the panels, with the reason. Without
        learned curves, one panel saying so.
    """
    from hscore.scoring.transforms import subscore

    asked = [c for c in result.transforms if stage is None or c.stage == stage]
    shown = [c for c in asked if c.transform is not None]
    unlearned = [f"{c.stage}.{c.metric} ({c.reason})" for c in asked if c.transform is None]
    if not shown:
        fig, (ax,) = _figure(1, (6.0, 2.4))
        ax.set_axis_off()
        _note(ax, "no learned transforms: calibrate with transforms='learn' "
                  "(--transforms learn)")
        return fig
    fig, axes = _figure(len(shown), (4.6, 3.2), ncols=3)
    for ax, c in zip(axes, shown):
        bins = c.bins
        lo, hi = float(bins["x_lo"].min()), float(bins["x_hi"].max())
        xs = np.linspace(lo, hi, 200)
        ax.plot(xs, subscore(c.transform, c.direction, xs), color="C0",
                ls="-" if c.chosen == "piecewise" else "--",
                label="learned" + (" (taken)" if c.chosen == "piecewise" else " (not taken)"))
        spec = _configured(result, c)
        ax.plot(xs, subscore(spec.transform, spec.direction, xs), color="0.55", lw=1,
                label=f"configured ({spec.transform.kind})")
        ax.set_ylim(-3, 103)
        ax.set_xlabel(f"{c.metric} (raw value)")
        ax.set_ylabel("sub-score (0–100)")
        twin = ax.twinx()
        twin.plot(bins["x"], 100 * bins["churn_rate"], "o", color="C3", ms=4,
                  label="churn rate per bin")
        twin.set_ylabel(f"{_horizon(result)} churn rate (%)", color="C3")
        twin.set_ylim(0, max(1e-9, 100 * float(bins["churn_rate"].max())) * 1.15)
        _panel_title(ax, f"{c.stage}.{c.metric}: {c.chosen}", fontsize=9)
        if ax is axes[0]:
            h1, l1 = ax.get_legend_handles_labels()
            h2, l2 = twin.get_legend_handles_labels()
            ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="best")
    fig.suptitle("Learned monotone transforms (training rows; dots: churn rate per bin)")
    if unlearned:       # not drawn, but not silently left out either
        fig.supxlabel("no curve learned: " + "; ".join(unlearned), fontsize=8, wrap=True)
    return fig


def _configured(result, choice):
    """The metric's spec in the config as given (before any transform was learned)."""
    stage = (result.input_config or result.base_config).stages[choice.stage]
    return stage.components[stage.component_of(choice.metric)].metrics[choice.metric]

"""Figures of a :class:`~hscore.monitoring.monitor.MonitorResult` (matplotlib only).

=====================  ===========================================================
:func:`psi_bars`       PSI per metric and of the score, per stage, with the 0.1 / 0.25 lines
:func:`score_shift`    the score's distribution in the reference and the current window
=====================  ===========================================================

Built like :mod:`hscore.plots` (no pyplot; figures show themselves in Jupyter).

Examples
--------
>>> from hscore import synth
>>> from hscore.monitoring import monitor
>>> from hscore.monitoring.plots import psi_bars
>>> frame = synth.make_history(n_accounts=120, months=6, seed=1).frame
>>> dates = frame["snapshot_date"]
>>> result = monitor("lifecycle", frame[dates < dates.max()], frame[dates == dates.max()])
>>> psi_bars(result).axes[0].get_xlabel()
'PSI (population stability index, no unit)'
"""

from __future__ import annotations

import textwrap

import numpy as np

from hscore.monitoring.monitor import SCORE
from hscore.monitoring.psi import FLAGS, THRESHOLDS
from hscore.plots import SCORE_UNITS, _figure

__all__ = ["psi_bars", "score_shift"]

PSI_UNITS = "PSI (population stability index, no unit)"
_FLAG_COLORS = dict(zip(FLAGS, ("#2ca02c", "#ff7f0e", "#d62728")))


def _stages(result) -> list[str]:
    return list(dict.fromkeys(result.table["stage"]))


def psi_bars(result):
    """One panel per stage: a bar per metric's sub-score and one for the score (on top,
    hatched), coloured by flag, with dashed lines at 0.1 and 0.25 and a dot at the PSI two
    windows of these sizes reach by chance (``psi_by_chance``)."""
    stages = _stages(result)
    table = result.table
    longest = max(int((table["stage"] == s).sum()) for s in stages)
    fig, axes = _figure(len(stages), (6.4, 0.3 * longest + 1.6))
    top = np.nanmax(np.r_[table["psi"].to_numpy(dtype=float), THRESHOLDS[1]]) * 1.15
    for ax, stage in zip(axes, stages):
        rows = table[table["stage"] == stage].reset_index(drop=True)
        y = np.arange(len(rows))[::-1].astype(float)    # the score on top
        psi = rows["psi"].to_numpy(dtype=float)
        colors = [_FLAG_COLORS.get(f, "0.7") for f in rows["flag"]]
        bars = ax.barh(y, np.nan_to_num(psi), color=colors, height=0.7)
        bars[0].set_hatch("//")
        ax.plot(rows["psi_by_chance"], y, "o", color="0.25", ms=3,
                label="PSI by chance alone (same distribution, these row counts)")
        for x, flag in zip(THRESHOLDS, FLAGS[1:]):
            ax.axvline(x, color=_FLAG_COLORS[flag], ls="--", lw=1.1, label=f"{flag} from {x:g}")
        for yi, p in zip(y, psi):
            if np.isnan(p):
                ax.text(0, yi, " n/a", va="center", fontsize=7)
        ax.set_yticks(y, ["stage score" if m == SCORE else m for m in rows["metric"]],
                      fontsize=7.5)
        ax.set_xlim(0, top)
        ax.set_xlabel(PSI_UNITS)
        ref, cur = rows.loc[0, ["reference_rows", "current_rows"]]
        ax.set_title(f"{stage}: {ref} -> {cur} rows", fontsize=9.5)
    from matplotlib.patches import Patch

    handles, labels = axes[0].get_legend_handles_labels()
    handles += [Patch(color=c) for c in _FLAG_COLORS.values()]
    labels += [f"bar: {f}" for f in _FLAG_COLORS]
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8)
    # Windows named by long paths wrap instead of squeezing the panels to nothing.
    fig.suptitle(textwrap.fill(f"Sub-score and score drift: {result.names[0]} -> "
                               f"{result.names[1]}", 90))
    return fig


def score_shift(result, *, bin_width: float = 5.0):
    """One panel per stage: the share of each window's rows per ``bin_width``-point score
    bin (outlines), so windows of different sizes compare; rows without a score are
    counted in the title."""
    stages = _stages(result)
    edges = np.arange(0.0, 100.0 + bin_width / 2, bin_width)
    edges[-1] = 100.0
    fig, axes = _figure(len(stages), (4.8, 3.4))
    psi = result.table[result.table["metric"] == SCORE].set_index("stage")
    for ax, stage in zip(axes, stages):
        # Legends say which window by its role; the title names the files.
        for values, name, color in zip(result.scores[stage], ("reference", "current"),
                                       ("C7", "C0")):
            scored = values[~np.isnan(values)]
            if not len(scored):
                continue
            weights = np.full(len(scored), 1 / len(values))
            ax.hist(scored, bins=edges, weights=weights, histtype="step", lw=1.6, color=color,
                    label=f"{name} ({len(scored)} scored"
                          + (f", {len(values) - len(scored)} without score)"
                             if len(values) > len(scored) else ")"))
        ax.set_xlim(0, 100)
        ax.set_xlabel(SCORE_UNITS)
        ax.set_ylabel(f"share of the window's rows per {bin_width:g} points")
        row = psi.loc[stage]
        ax.set_title(f"{stage}: score PSI {row['psi']:.3f} ({row['flag']})", fontsize=9.5)
        ax.legend(fontsize=7.5)
    fig.suptitle(textwrap.fill(f"Health score distribution: {result.names[0]} vs "
                               f"{result.names[1]}", 90))
    return fig

"""The tables of a calibration, computed from its per-cell fits.

Every table has a ``stage`` column holding the cell's key (the stage's name today; see
:func:`cell_columns`). Coefficients follow the calibration's sign (``b`` = drop in churn
log-odds per unit of sub-score; see :mod:`hscore.calibration.records`).

Examples
--------
>>> cell_columns(Cell("maturity"))
{'stage': 'maturity'}
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from hscore.calibration.inference import COEFFICIENT_COLUMNS
from hscore.calibration.quality import CALIBRATION_COLUMNS, MODELS
from hscore.calibration.records import CellFit
from hscore.config import Cell

__all__ = ["cell_columns", "weight_table", "component_table", "stage_table",
           "coefficient_table", "calibration_table", "cv_table", "weight_lines"]


def cell_columns(cell: Cell) -> dict[str, str]:
    """The columns that name a cell in every table: ``stage`` holds its key."""
    return {"stage": cell.key}


def _ci(ci: np.ndarray | None, n: int) -> np.ndarray:
    return ci if ci is not None else np.full((n, 2), np.nan)


def weight_table(fits: Iterable[CellFit]) -> pd.DataFrame:
    """One row per (cell, metric): input and exported weight with the exported fit's
    bootstrap CI and ``b``; both fits' weights (``weight_train``: the train-window fit the
    holdout judged; ``weight_all``: the refit on every labelled row, NaN when there was
    none); and the unconstrained model's ``b`` (``b_unconstrained``), SE, z and p."""
    parts = []
    for f in fits:
        lay, est = f.layout, f.exported
        ci = _ci(est.ci, len(lay.metrics))
        refit = f.refit.weights if f.refit is not None else np.full(len(lay.metrics), np.nan)
        table = pd.DataFrame({
            **cell_columns(f.cell), "component": [lay.components[c] for c in lay.component_of],
            "metric": list(lay.metrics), "input_weight": lay.input_weights,
            "weight": est.weights, "ci_low": ci[:, 0], "ci_high": ci[:, 1], "b": est.coef,
            "weight_train": f.estimate.weights, "weight_all": refit})
        ref = (f.reference.table.set_index("term").reindex(list(lay.metrics))
               if f.reference is not None else None)
        for col, src in (("b_unconstrained", "coef"), ("se", "std_err"), ("z", "z"), ("p", "p")):
            table[col] = ref[src].to_numpy() if ref is not None else np.nan
        parts.append(table)
    return pd.concat(parts, ignore_index=True)


def component_table(fits: Iterable[CellFit]) -> pd.DataFrame:
    """One row per (cell, component): input and exported weight with bootstrap CI."""
    rows = []
    for f in fits:
        ci = _ci(f.exported.component_ci, len(f.layout.components))
        v0 = f.layout.per_component(f.layout.input_weights)
        for c, name in enumerate(f.layout.components):
            rows.append({**cell_columns(f.cell), "component": name, "input_weight": v0[c],
                         "weight": f.component_weights[c], "ci_low": ci[c, 0],
                         "ci_high": ci[c, 1]})
    return pd.DataFrame(rows)


def stage_table(fits: Iterable[CellFit]) -> pd.DataFrame:
    """Per cell: status and reason, strength, k and probability mapping of the exported
    fit, which fit was exported (``exported``: ``all`` = refitted on ``labelled`` rows,
    ``train`` = the train-window fit), rows / accounts / events used and left out, holdout
    AUC per model, and the holdout differences calibrated - input in log-loss and AUC with
    ``worse_than_input`` (beyond the paired bootstrap's noise)."""
    rows = []
    for f in fits:
        c, est, hold = f.counts, f.exported, f.holdout
        prob = est.probability or (np.nan, np.nan)
        auc = hold.quality.set_index("model")["auc"]
        vs = hold.versus_input
        rows.append({**cell_columns(f.cell), "status": f.status.value, "reason": f.reason,
                     "strength": est.strength, "k": est.k, "prob_intercept": prob[0],
                     "prob_slope": prob[1],
                     "exported": f.exported_from,
                     "rows": c.n_rows, "accounts": c.n_accounts,
                     "events": c.n_events, "labelled": c.n_labelled, "censored": c.n_censored,
                     "no_score": c.n_unscored,
                     "straddling": c.n_straddling, "holdout_rows": hold.n_rows,
                     "holdout_events": hold.n_events, "holdout_unscored": hold.n_unscored,
                     **{f"auc_{m}": auc.get(m, np.nan) for m in MODELS},
                     "d_log_loss": vs.delta_log_loss if vs else np.nan,
                     "d_auc": vs.delta_auc if vs else np.nan,
                     "worse_than_input": bool(vs and vs.worse)})
    return pd.DataFrame(rows)


def coefficient_table(fits: Iterable[CellFit]) -> pd.DataFrame:
    """The unconstrained models' coefficient tables (``b`` sign), all cells."""
    parts = [f.reference.table.assign(**cell_columns(f.cell)) for f in fits
             if f.reference is not None]
    columns = ["stage", *COEFFICIENT_COLUMNS]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


def calibration_table(fits: Iterable[CellFit]) -> pd.DataFrame:
    """Holdout calibration tables (10 equal-count bins) per cell and model."""
    parts = [f.holdout.calibration for f in fits if f.holdout.calibration is not None]
    return (pd.concat(parts, ignore_index=True) if parts
            else pd.DataFrame(columns=CALIBRATION_COLUMNS))


def cv_table(fits: Iterable[CellFit]) -> pd.DataFrame:
    """Cross-validated log-loss per cell and strength tried."""
    parts = [f.cv.table.assign(**cell_columns(f.cell)) for f in fits if f.cv is not None]
    columns = ["stage", "strength", "cv_log_loss", "se"]
    return (pd.concat(parts, ignore_index=True)[columns] if parts
            else pd.DataFrame(columns=columns))


def weight_lines(fits: Iterable[CellFit]) -> list[str]:
    """Per cell and metric: ``old weight -> exported weight [CI]``, and the other fit's
    weight when there are two fits, as lines of text.

    A cell without a CI (input weights kept, or infinite strength chosen) says why in place
    of the CI; without a bootstrap there is no CI and nothing to say.
    """
    lines = []
    for f in fits:
        c, est, lay = f.counts, f.exported, f.layout
        other, which = ((f.estimate, "train") if est is f.refit else
                        (f.refit, "all") if f.refit is not None else (None, ""))
        fitted = (f"refitted on all {c.n_labelled} labelled rows ({c.n_labelled_events} "
                  "events)" if est is f.refit else
                  f"{c.n_events} events in {c.n_rows} training rows, {c.n_accounts} accounts")
        lines.append(f"{f.cell.key}  ({f.status.value}; strength {est.strength:g}; {fitted})")
        for j, m in enumerate(lay.metrics):
            ci = (f" [{est.ci[j, 0]:.3f}, {est.ci[j, 1]:.3f}]" if est.ci is not None else
                  f" ({est.ci_note})" if est.ci_note else "")
            also = f"  ({which} fit {other.weights[j]:.3f})" if other is not None else ""
            lines.append(f"  {lay.components[lay.component_of[j]]:<22} {m:<32} "
                         f"{lay.input_weights[j]:.3f} -> {est.weights[j]:.3f}{ci}{also}")
    return lines

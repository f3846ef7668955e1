"""Holdout quality of the calibrated config, the input config and the reference model.

Per cell, :func:`evaluate_holdout` scores the holdout rows as each config scores them and
measures AUC (with paired account-bootstrap CIs), Brier, log-loss and a calibration table;
:func:`pooled_quality` pools the cells into one book (``stage`` "all").

Examples
--------
>>> import numpy as np
>>> y = np.array([0.0, 1.0, 0.0, 1.0]); groups = np.arange(4)
>>> auc_rows(y, [np.array([0.1, 0.9, 0.2, 0.8])], groups, n_bootstrap=0, seed=0)
[(1.0, nan, nan)]
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from hscore.calibration.design import CellDesign
from hscore.calibration.evaluation import (account_weight_blocks, auc, auc_cis, bootstrap_auc,
                                           brier, calibration_table, log_loss, percentile_ci,
                                           row_log_loss)
from hscore.calibration.records import (CellFit, HoldoutEvaluation, InputComparison, Prediction,
                                        ReferenceModel, WeightEstimate)

__all__ = ["MODELS", "QUALITY_COLUMNS", "CALIBRATION_COLUMNS", "POOLED", "BOOK", "auc_rows",
           "evaluate_holdout", "no_evaluation", "versus_input", "pooled_quality"]

#: The models judged on the holdout, in table order.
MODELS = ("calibrated", "input", "reference")
#: The ``stage`` of the pooled rows.
POOLED = "all"
#: The pooled rows' key when a cell is itself named "all" (a one-stage config with segments).
BOOK = "book"
QUALITY_COLUMNS = ["stage", "model", "rows", "events", "accounts", "auc", "auc_low",
                   "auc_high", "brier", "log_loss"]
CALIBRATION_COLUMNS = ["stage", "model", "bin", "rows", "mean_predicted", "observed_rate"]


def auc_rows(y, risks, groups, n_bootstrap: int, seed) -> list[tuple[float, float, float]]:
    """AUC per risk with account-bootstrap CIs on paired resamples (NaN CIs without
    resamples)."""
    if n_bootstrap:
        return auc_cis(y, risks, groups, n_bootstrap, seed)
    return [(auc(y, r), np.nan, np.nan) for r in risks]


def _predictions(hold: CellDesign, estimate: WeightEstimate, input_weights: np.ndarray,
                 reference: ReferenceModel | None) -> dict[str, Prediction]:
    """Per model, the risk ranking and churn probability on the holdout rows. The calibrated
    and input models score the rows exactly as their configs do."""
    from scipy.special import expit

    def mapped(score, mapping):
        return None if mapping is None else expit(mapping[0] + mapping[1] * score)

    score = hold.score_with(estimate.weights)
    default = hold.score_with(input_weights)
    models = {"calibrated": Prediction(-score, mapped(score, estimate.probability)),
              "input": Prediction(-default, mapped(default, estimate.input_probability))}
    if reference is not None:
        eta = reference.linear_predictor(hold.X)
        models["reference"] = Prediction(eta, expit(eta))
    return models


def evaluate_holdout(hold: CellDesign, estimate: WeightEstimate,
                     reference: ReferenceModel | None, n_bootstrap: int,
                     seed) -> HoldoutEvaluation:
    """Holdout quality of the calibrated config, the input config and the reference.

    On the holdout rows both configs score (the calibrated weights may leave a row
    under ``min_coverage`` that the input weights cover; such rows are counted in
    ``n_unscored``), so the three models are judged on the same rows.
    """
    scored = hold.scored_by(estimate.weights)
    n_unscored = int((~scored).sum())
    if n_unscored:
        hold = hold.subset(scored)
    models = _predictions(hold, estimate, hold.layout.input_weights, reference)
    key = hold.cell.key
    both = hold.n_rows > 0 and 0 < hold.n_events < hold.n_rows
    risks = [m.risk for m in models.values()]
    boot = (bootstrap_auc(hold.y, risks, hold.groups, n_bootstrap, seed)
            if both and n_bootstrap else None)
    aucs = ([None] * len(models) if not both else
            [(auc(hold.y, r), np.nan, np.nan) for r in risks] if boot is None else
            [(auc(hold.y, r), *percentile_ci(boot[:, j])) for j, r in enumerate(risks)])
    rows, cal = [], []
    for (name, pred), auc_row in zip(models.items(), aucs):
        row = {"stage": key, "model": name, "rows": hold.n_rows, "events": hold.n_events,
               "accounts": hold.n_accounts}
        if auc_row is not None:
            row.update(zip(("auc", "auc_low", "auc_high"), auc_row))
        if pred.probability is not None and hold.n_rows:
            row.update(brier=brier(hold.y, pred.probability),
                       log_loss=log_loss(hold.y, pred.probability))
            table = calibration_table(hold.y, pred.probability)
            cal.append(table.assign(stage=key, model=name)[CALIBRATION_COLUMNS])
        rows.append(row)
    return HoldoutEvaluation(
        rows=hold.rows, y=hold.y, groups=hold.groups, predictions=models,
        quality=pd.DataFrame(rows).reindex(columns=QUALITY_COLUMNS),
        calibration=pd.concat(cal, ignore_index=True) if cal else None,
        n_unscored=n_unscored,
        versus_input=versus_input(hold, models, boot, n_bootstrap, seed) if both else None)


def versus_input(hold: CellDesign, models: dict[str, Prediction], auc_boot: np.ndarray | None,
                 n_bootstrap: int, seed) -> InputComparison | None:
    """The calibrated model against the input config on the holdout: the differences in
    log-loss and AUC with paired account-bootstrap CIs. ``auc_boot`` are the AUC replicates
    of the models in ``models`` order (calibrated, input first) on the resamples that
    ``seed`` draws; the log-loss replicates use the same resamples."""
    cal, inp = models["calibrated"], models["input"]
    if cal.probability is None or inp.probability is None:
        return None
    diff = row_log_loss(hold.y, cal.probability) - row_log_loss(hold.y, inp.probability)
    ll_ci = auc_ci = (np.nan, np.nan)
    if auc_boot is not None:
        ll_boot = np.concatenate([(block @ diff) / block.sum(axis=1) for block in
                                  account_weight_blocks(hold.groups, n_bootstrap, seed)])
        ll_ci, auc_ci = percentile_ci(ll_boot), percentile_ci(auc_boot[:, 0] - auc_boot[:, 1])
    return InputComparison(float(diff.mean()), ll_ci,
                           auc(hold.y, cal.risk) - auc(hold.y, inp.risk), auc_ci)


def no_evaluation() -> HoldoutEvaluation:
    """The evaluation of a calibration without a holdout (``--holdout none``): no rows, no
    predictions, an empty quality table."""
    empty = np.empty(0)
    return HoldoutEvaluation(rows=empty.astype(np.intp), y=empty, groups=empty.astype(np.int64),
                             predictions={}, quality=pd.DataFrame(columns=QUALITY_COLUMNS),
                             calibration=None)


def pooled_quality(fits: Iterable[CellFit], n_bootstrap: int, seed) -> pd.DataFrame:
    """Every cell's quality rows, and with more than one cell the pooled rows ("all").

    Keyed "all" (or "book" when a cell is named "all": a one-stage config with segments).
    Pooled: each row once, with the probability of the cell that scores it (its segment's
    when it has one), one ranking for the whole book. A model is pooled
    only when every cell with holdout rows has a probability for it, so the pooled rows of
    all models are the same rows (a cell kept at the input weights has no reference model;
    pooling the others without it would compare models on different books).
    """
    fits = list(fits)
    table = pd.concat([f.holdout.quality for f in fits], ignore_index=True)
    held = [f.holdout for f in fits if f.holdout.n_rows]
    # With segment cells, a stage's holdout also holds its segments' rows (the stage fit is
    # pooled over them): each row is pooled once, in the cell whose weights score it, and
    # the "input" model is left out (a segment's input is its stage's calibrated weights).
    segmented = [f.holdout.rows for f in fits if f.cell.segment is not None]
    covered = np.concatenate(segmented) if segmented else None
    keep = [np.ones(h.n_rows, bool) if covered is None or f.cell.segment is not None
            else ~np.isin(h.rows, covered) for f, h in zip(fits, (f.holdout for f in fits))
            if h.n_rows]
    # A one-stage config's stage is named "all" too: with segments its book-wide rows
    # need another name.
    pooled_key = POOLED if all(f.cell.key != POOLED for f in fits) else BOOK
    pooled = []
    for model in MODELS if len(fits) > 1 and held else ():
        if covered is not None and model == "input":
            continue
        preds = [h.predictions.get(model) for h in held]
        if any(p is None or p.probability is None for p in preds):
            continue
        y, g, p = (np.concatenate(parts) for parts in zip(
            *((h.y[k], h.groups[k], pred.probability[k])
              for h, pred, k in zip(held, preds, keep))))
        row = {"stage": pooled_key, "model": model, "rows": len(y), "events": int(y.sum()),
               "accounts": len(np.unique(g)), "brier": brier(y, p), "log_loss": log_loss(y, p)}
        if 0 < y.sum() < len(y):
            row.update(zip(("auc", "auc_low", "auc_high"),
                           auc_rows(y, [p], g, n_bootstrap, seed)[0]))
        pooled.append(row)
    if pooled:
        table = pd.concat([table, pd.DataFrame(pooled)], ignore_index=True)
    return table.reindex(columns=QUALITY_COLUMNS)

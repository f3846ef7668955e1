"""What a calibration writes: the calibrated config and its provenance.

:func:`calibration_provenance` is the one place a calibration's provenance is built; export
adds its own fields to the same typed :class:`~hscore.config.Provenance`
(:meth:`~hscore.config.Provenance.extended`).

Examples
--------
>>> import warnings
>>> from hscore import calibrate, synth
>>> history = synth.make_history(n_accounts=150, months=10, seed=0)
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     result = calibrate(history.frame, "lifecycle", horizon_days=30, strengths=[np.inf],
...                        n_bootstrap=0)
>>> prov = calibration_provenance(result)
>>> prov.source, prov.data_window.holdout_from == str(result.holdout_from.date())
('calibration', True)
>>> new = calibrated_config(result).stages["maturity"].metric_weights()
>>> old = result.base_config.stages["maturity"].metric_weights()
>>> max(abs(new[m] - old[m]) for m in old) < 1e-15                # infinite strength
True
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from hscore.calibration.records import ExportedFit, Status
from hscore.config import Config, Provenance, config_from_dict

if TYPE_CHECKING:
    from hscore.calibration.results import CalibrationResult

__all__ = ["calibrated_config", "calibration_provenance"]

_QUALITY_KEYS = ("auc", "auc_low", "auc_high", "brier", "log_loss")


def _num(value, digits: int) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def _dates(window) -> list[str] | None:
    return None if window is None else [str(window[0].date()), str(window[1].date())]


def calibration_provenance(result: "CalibrationResult") -> Provenance:
    """The provenance of a calibrated config: method, input, data window (with the kind of
    holdout, and why it was chosen when it was chosen automatically), which fit was exported
    (``exported_fit``: ``all`` or ``train``), rows used and left out, strength and status
    per cell, holdout quality of the calibrated (train-window) fit, bootstrap."""
    fits = result.fits
    quality = {}
    for _, r in result.quality[result.quality["model"] == "calibrated"].iterrows():
        quality[r["stage"]] = {**{k: _num(r[k], 6) for k in _QUALITY_KEYS},
                               "holdout_rows": int(r["rows"]),
                               "holdout_events": int(r["events"])}
    holdout = result.holdout
    return Provenance.model_validate({
        "source": "calibration",
        "method": ("per-stage logistic fit of churn on the metric sub-scores, b >= 0, shrunk "
                   "toward k x input weights; strength by account-grouped "
                   f"{result.cv_folds}-fold CV log-loss; "
                   + ("refitted on all labelled rows after the holdout evaluation"
                      if result.refit is ExportedFit.ALL else "the train-window fit")
                   + "; account-bootstrap CIs"),
        "input_config": result.base_config.name,
        "created": result.created,
        "data_window": {"train": _dates(result.train_window),
                        "holdout": _dates(result.holdout_window),
                        "holdout_from": holdout.start and str(holdout.start.date()),
                        "horizon_days": holdout.horizon_days,
                        "holdout_kind": holdout.kind.value,
                        "holdout_share": holdout.share, "holdout_seed": holdout.seed,
                        "holdout_note": holdout.note},
        "exported_fit": result.refit.value,
        "rows": {key: {"train": f.counts.n_rows, "train_events": f.counts.n_events,
                       "accounts": f.counts.n_accounts, "holdout": f.holdout.n_rows,
                       "holdout_events": f.holdout.n_events, "censored": f.counts.n_censored,
                       "no_score": f.counts.n_unscored,
                       "straddling_holdout": f.counts.n_straddling,
                       "holdout_unscored": f.holdout.n_unscored,
                       "labelled": f.counts.n_labelled, "exported": f.exported_from}
                 for key, f in fits.items()},
        "left_out": {"censored": result.n_censored, "no_score": result.n_unscored,
                     "straddling_holdout": result.n_straddling},
        "strength": {key: float(f.exported.strength) for key, f in fits.items()},
        "status": {**{key: f.status.value for key, f in fits.items()},
                   **{key: Status.NOT_IN_DATA.value for key in result.absent_cells}},
        "quality": quality,
        "bootstrap": {"n": result.n_bootstrap, "seed": result.seed},
    })


def calibrated_config(result: "CalibrationResult") -> Config:
    """The input config with each fitted cell's exported weights and probability mapping,
    renamed ``<name>-calibrated``, with the horizon used and :func:`calibration_provenance`."""
    base = result.base_config
    data = base.to_dict()
    for f in result.fits.values():
        stage = data["stages"][f.cell.stage]
        weights, probability = f.exported.weights, f.exported.probability
        if f.cell.segment is not None:
            stage = stage["segments"][f.cell.segment]
            stage.pop("probability", None)
            if f.status.kept_input:
                # A thin segment stays at its stage's weights and probability mapping.
                weights = result.fits[f.cell.stage].exported.weights
                probability = None
        comp_w = f.layout.per_component(weights)
        shares = f.layout.metric_shares(weights)
        for c, cname in enumerate(f.layout.components):
            stage["components"][cname]["weight"] = float(comp_w[c])
            for j in np.flatnonzero(f.layout.component_of == c):
                stage["components"][cname]["metrics"][f.layout.metrics[j]]["weight"] = \
                    float(shares[j])
        if probability is not None:
            intercept, slope = probability
            stage["probability"] = {"intercept": float(intercept), "slope": float(slope)}
    data["name"] = f"{base.name}-calibrated"
    data["label_horizon_days"] = result.horizon_days
    data["provenance"] = calibration_provenance(result).to_dict()
    return config_from_dict(data)

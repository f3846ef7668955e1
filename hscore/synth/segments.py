"""A synthetic book whose segments churn for different reasons, with the truth of each.

One row per account on one day (a CRM-style export, :func:`make_cross_section`), one stage
``all``, six metrics in four components. Enterprise accounts churn when the relationship
with their executives sours (executive NPS, meetings, support load); small accounts when
they stop using the product (logins, feature breadth, late invoices):

====================  ==========  =====
metric                enterprise  smb
====================  ==========  =====
logins_30d            0.05        0.45
feature_breadth_pct   0.05        0.25
exec_nps              0.35        0.00
exec_meetings_90d     0.30        0.00
open_tickets_90d      0.20        0.10
invoice_days_late     0.05        0.20
====================  ==========  =====

``differ=False`` gives both segments the same truth (the pooled weights of the table's
mean), the book on which segment weights must do no harm. ``config`` has no segments (the
pooled fit); ``segmented_config`` declares ``enterprise`` and ``smb`` under ``all``, both
starting at the stage's weights, so calibration has to find the difference.

Examples
--------
>>> book = make_segmented_book(n_accounts=200, seed=0)
>>> book.frame.groupby("segment").size().to_dict()
{'enterprise': 200, 'smb': 200}
>>> round(book.true_weights["all/enterprise"]["exec_nps"], 2)
0.35
>>> [c.key for c in book.segmented_config.cells()]
['all', 'all/enterprise', 'all/smb']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from hscore.config import Config, config_from_dict
from hscore.synth.history import make_cross_section

__all__ = ["SegmentedBook", "make_segmented_book", "SEGMENT_TRUE_WEIGHTS", "SEGMENTED_CONFIG"]

#: The true effective weights of each segment (they sum to 1).
SEGMENT_TRUE_WEIGHTS: dict[str, dict[str, float]] = {
    "enterprise": {"logins_30d": 0.05, "feature_breadth_pct": 0.05, "exec_nps": 0.35,
                   "exec_meetings_90d": 0.30, "open_tickets_90d": 0.20,
                   "invoice_days_late": 0.05},
    "smb": {"logins_30d": 0.45, "feature_breadth_pct": 0.25, "exec_nps": 0.0,
            "exec_meetings_90d": 0.0, "open_tickets_90d": 0.10, "invoice_days_late": 0.20},
}


def _metric(direction: str, lo: float, hi: float) -> dict:
    return {"weight": 0.5, "direction": direction, "domain": [lo, hi],
            "transform": {"kind": "linear", "lo": lo, "hi": hi}}


#: The book's config: equal weights as a team would guess them, all-linear transforms.
SEGMENTED_CONFIG: dict = {
    "schema_version": 1, "name": "segmented-book", "label_horizon_days": 90,
    "stages": {"all": {"components": {
        "usage": {"weight": 0.25, "metrics": {
            "logins_30d": _metric("higher_is_better", 0, 40),
            "feature_breadth_pct": _metric("higher_is_better", 0, 100)}},
        "relationship": {"weight": 0.25, "metrics": {
            "exec_nps": _metric("higher_is_better", 0, 10),
            "exec_meetings_90d": _metric("higher_is_better", 0, 6)}},
        "support": {"weight": 0.25, "metrics": {
            "open_tickets_90d": {**_metric("lower_is_better", 0, 20), "weight": 1.0}}},
        "billing": {"weight": 0.25, "metrics": {
            "invoice_days_late": {**_metric("lower_is_better", 0, 60), "weight": 1.0}}},
    }}},
}


@dataclass
class SegmentedBook:
    """The snapshot frame (with ``segment``), the true weights per cell key (``all/smb``),
    the pooled config and the config that declares the segments."""

    frame: pd.DataFrame
    true_weights: dict[str, dict[str, float]]
    config: Config = field(repr=False)
    segmented_config: Config = field(repr=False)


def _with_segments(data: dict, names) -> Config:
    data = {**data, "stages": {"all": dict(data["stages"]["all"])}}
    stage = data["stages"]["all"]
    stage["segments"] = {name: {"components": {
        c: {"weight": comp["weight"],
            "metrics": {m: {"weight": spec["weight"]} for m, spec in comp["metrics"].items()}}
        for c, comp in stage["components"].items()}} for name in names}
    return config_from_dict(data)


def make_segmented_book(n_accounts: int = 4000, *, seed: int = 0, differ: bool = True,
                        base_rate: float = 0.15, strength: float = 8.0) -> SegmentedBook:
    """``n_accounts`` enterprise and ``n_accounts`` smb accounts, one snapshot each.

    ``churned`` is drawn from ``logit P = a - b . s`` per segment, ``b = strength x`` the
    segment's true weights (:data:`SEGMENT_TRUE_WEIGHTS`, or their mean for both when
    ``differ`` is False), ``a`` solved for ``base_rate``. The same arguments give the same
    frame.
    """
    config = config_from_dict(SEGMENTED_CONFIG)
    mean = {m: (SEGMENT_TRUE_WEIGHTS["enterprise"][m] + SEGMENT_TRUE_WEIGHTS["smb"][m]) / 2
            for m in SEGMENT_TRUE_WEIGHTS["smb"]}
    truths = {name: (w if differ else mean) for name, w in SEGMENT_TRUE_WEIGHTS.items()}
    parts = []
    for i, (name, weights) in enumerate(truths.items()):
        part = make_cross_section(config, weights, n_accounts=n_accounts, seed=seed * 2 + i,
                                  base_rate=base_rate, strength=strength).frame
        part["account_id"] = name[0].upper() + part["account_id"]
        part["segment"] = name
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    return SegmentedBook(frame, {f"all/{k}": dict(v) for k, v in truths.items()}, config,
                         _with_segments(SEGMENTED_CONFIG, truths))

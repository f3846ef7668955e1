"""Plain-text summaries of scored frames for the CLI and notebooks (pandas only)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["score_summary", "at_risk_table"]


def score_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Per stage: rows, mean score, share in each band, trend alerts and empty scores."""
    g = scores.groupby("stage", observed=True, sort=False)
    out = pd.DataFrame({
        "rows": g.size(),
        "mean_score": g["score"].mean().round(1),
        "healthy": g["band"].apply(lambda b: (b == "healthy").mean()).round(3),
        "neutral": g["band"].apply(lambda b: (b == "neutral").mean()).round(3),
        "at_risk": g["band"].apply(lambda b: (b == "at_risk").mean()).round(3),
        "trend_alerts": g["trend_alert"].sum().astype(int),
        "no_score": g["score"].apply(lambda s: int(s.isna().sum())),
    })
    out.index.name = "stage"
    return out


def at_risk_table(scorer, frame: pd.DataFrame, scores: pd.DataFrame, top: int = 3,
                  limit: int | None = 10) -> pd.DataFrame:
    """At-risk rows with the metrics that cost them the most points.

    A metric's shortfall is the points it would add at a perfect sub-score
    minus the points it added: ``weight x (100 - sub-score)`` with the stage's
    component x metric weight. The largest shortfalls are the top negative
    contributors; unmeasured metrics are not blamed.
    """
    at_risk = (scores["band"] == "at_risk").to_numpy()
    positions = np.flatnonzero(at_risk)
    order = np.argsort(scores["score"].to_numpy()[positions], kind="stable")
    positions = positions[order][:limit]
    if len(positions) == 0:
        return pd.DataFrame(columns=["account_id", "snapshot_date", "stage", "score",
                                     "top_negative_contributors"])
    subset = frame.iloc[positions]
    cfg = scorer.config
    rows = []
    for stage, sub in scorer.subscores(subset).items():
        weights = np.array([cfg.stages[stage].metric_weights()[m] for m in sub.metrics])
        shortfall = weights * (100.0 - sub.values)  # NaN for unmeasured metrics
        for r, pos in enumerate(positions[sub.rows]):
            lost = pd.Series(shortfall[r], index=sub.metrics).dropna()
            worst = lost[lost > 0].sort_values(ascending=False).head(top)
            rows.append({"account_id": scores["account_id"].iat[pos],
                         "snapshot_date": scores["snapshot_date"].iat[pos],
                         "stage": stage, "score": round(float(scores["score"].iat[pos]), 1),
                         "top_negative_contributors": ", ".join(
                             f"{m} (-{v:.1f} pts)" for m, v in worst.items())})
    return pd.DataFrame(rows).sort_values("score", kind="stable").reset_index(drop=True)

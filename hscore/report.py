"""Plain-text summaries of scored frames for the CLI and notebooks (pandas only)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["score_summary", "stage_auc", "at_risk_table"]


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


def stage_auc(scores: pd.DataFrame, churned=None) -> pd.DataFrame:
    """How well the score ranks churn: per stage (config order) and pooled (``all``, when
    there are several stages), on the rows with both a known label and a score.

    ``churned`` (0/1, NaN = not yet known) defaults to the ``churned`` column of ``scores``.
    Columns ``labelled_rows``, ``churned`` (events) and ``auc`` (risk = -score; NaN = one
    class only); stages without such rows are left out.

    Examples
    --------
    >>> import pandas as pd
    >>> scores = pd.DataFrame({"stage": pd.Categorical(["a", "a", "a", "b"]),
    ...                        "score": [10.0, 90.0, 50.0, 70.0]})
    >>> stage_auc(scores, [1, 0, None, 0])
           labelled_rows  churned  auc
    stage                             
    a                  2        1  1.0
    b                  1        0  NaN
    all                3        1  1.0
    """
    from hscore.calibration.evaluation import auc

    y = pd.Series(scores["churned"] if churned is None else churned).to_numpy(
        dtype=np.float64, na_value=np.nan)
    score = scores["score"].to_numpy(dtype=np.float64)
    keep = ~np.isnan(y) & ~np.isnan(score)
    stage = scores["stage"].astype(str).to_numpy()
    groups = [(s, keep & (stage == s)) for s in scores["stage"].cat.categories]
    groups = [(s, mask) for s, mask in groups if mask.any()]
    rows = [{"stage": name, "labelled_rows": int(mask.sum()), "churned": int(y[mask].sum()),
             "auc": auc(y[mask], -score[mask])}
            for name, mask in groups + ([("all", keep)] if len(groups) > 1 else [])]
    return pd.DataFrame(rows, columns=["stage", "labelled_rows", "churned", "auc"]
                        ).set_index("stage")


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

"""The model registry side: find a registered version, read its config, promote a challenger.

Versions of ``customer-health-score`` carry aliases (MLflow 3: no deprecated
stages): a new calibration gets ``challenger``; :func:`promote` scores the
challenger's holdout window with the challenger and the current ``champion``
and moves ``champion`` when the challenger is not worse by more than a
tolerance. The decision and its figures go into the version's tags.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hscore.config import Config, load_config
from hscore.errors import HScoreError
from hscore.tracking import MODEL_NAME, configure, store_lock

__all__ = ["resolve_version", "load_version_config", "promote", "PromotionResult"]

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def _client():
    from mlflow import MlflowClient

    configure()
    return MlflowClient()


def resolve_version(model: str | int):
    """A ModelVersion from ``models:/name@alias``, ``models:/name/N``, a version number,
    or a run id."""
    from mlflow.exceptions import MlflowException

    client = _client()
    text = str(model).strip()
    try:
        if text.startswith("models:/"):
            rest = text[len("models:/"):]
            if "@" in rest:
                name, alias = rest.split("@", 1)
                return client.get_model_version_by_alias(name, alias)
            name, _, version = rest.rpartition("/")
            if name and version.isdigit():
                return client.get_model_version(name, version)
            raise HScoreError(f"model: cannot read {text!r}; use models:/NAME@ALIAS, "
                              "models:/NAME/VERSION, a version number or a run id")
        if text.isdigit():
            return client.get_model_version(MODEL_NAME, text)
        if _RUN_ID.match(text):
            found = client.search_model_versions(f"run_id='{text}'")
            if not found:
                raise HScoreError(f"model: no registered version comes from run {text}")
            return max(found, key=lambda v: int(v.version))
    except MlflowException as err:
        raise HScoreError(f"model: {text}: {err.message.splitlines()[0]}") from None
    raise HScoreError(f"model: cannot read {text!r}; use models:/NAME@ALIAS, "
                      "models:/NAME/VERSION, a version number or a run id")


def load_version_config(version) -> Config:
    """The config file that is the registered version's only artifact."""
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        local = Path(mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{version.name}/{version.version}", dst_path=tmp))
        found = sorted(local.rglob("*.yaml"))
        found = [p for p in found if "artifacts" in p.parts] or found
        if not found:
            raise HScoreError(f"model: version {version.version} holds no config file")
        return load_config(found[0])


@dataclass
class PromotionResult:
    challenger: str
    champion: str | None
    decision: str               # promoted | kept champion | first champion | forced
    table: pd.DataFrame         # per stage and pooled: AUC of each version on the window
    window: tuple[str, str] | None
    tolerance: float
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        head = (f"challenger v{self.challenger} vs champion "
                f"{'v' + self.champion if self.champion else '(none)'}"
                + (f" on {self.window[0]} .. {self.window[1]}" if self.window else ""))
        body = self.table.round(4).to_string(index=False) if len(self.table) else ""
        tail = f"decision: {self.decision} (tolerance {self.tolerance:g} AUC)"
        return "\n".join([head, body, tail, *self.notes]).strip()


def _window_auc(configs: dict[str, Config], frame: pd.DataFrame, holdout_from: pd.Timestamp
                ) -> tuple[pd.DataFrame, tuple[str, str]]:
    from hscore.design import labels
    from hscore.evaluation import auc
    from hscore.scorer import HealthScorer

    y_all = labels(frame)
    dates = pd.to_datetime(frame["snapshot_date"])
    in_window = ((dates >= holdout_from).to_numpy()) & ~np.isnan(y_all)
    if not in_window.any():
        raise HScoreError(f"snapshots: no labelled snapshot on or after the holdout start "
                          f"{holdout_from.date()}")
    sub = frame.loc[in_window].reset_index(drop=True)
    y = y_all[in_window]
    window = (str(dates[in_window].min().date()), str(dates[in_window].max().date()))
    scored = {k: HealthScorer(c).score(sub, trend=False) for k, c in configs.items()}
    rows = []
    stages = list(dict.fromkeys(sub["stage"])) if "stage" in sub.columns else ["all"]
    for stage in stages + ["all"]:
        row = {"stage": stage}
        for k, s in scored.items():
            mask = np.ones(len(sub), bool) if stage == "all" else (s["stage"] == stage).to_numpy()
            mask &= s["score"].notna().to_numpy()
            has_prob = "churn_probability" in s.columns and s["churn_probability"][mask].notna().all()
            risk = s["churn_probability"].to_numpy() if has_prob else -s["score"].to_numpy()
            row[f"auc_{k}"] = auc(y[mask], risk[mask])
            row["rows"], row["events"] = int(mask.sum()), int(y[mask].sum())
        rows.append(row)
    return pd.DataFrame(rows), window


def promote(version: int | str | None = None, *, snapshots=None, tolerance: float = 0.005,
            force: bool = False) -> PromotionResult:
    """Compare the challenger with the champion on the challenger's holdout window and move
    the ``champion`` alias when the challenger's pooled AUC is at least the champion's minus
    ``tolerance`` (or when ``force``). The first version becomes champion.

    ``snapshots`` (a path or frame) defaults to the data the challenger was calibrated on
    (the run's ``data.path`` tag).
    """
    from mlflow.exceptions import MlflowException

    from hscore.snapshots import read_snapshots

    client = _client()
    try:
        challenger = (resolve_version(version) if version is not None
                      else client.get_model_version_by_alias(MODEL_NAME, "challenger"))
    except MlflowException:
        raise HScoreError("version: there is no challenger; run `hscore calibrate` first") from None
    try:
        champion = client.get_model_version_by_alias(MODEL_NAME, "champion")
    except MlflowException:
        champion = None
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def record(decision: str, figures: dict[str, str]) -> None:
        with store_lock():
            tags = {"promotion.decision": decision, "promotion.time": now, **figures}
            for k, v in tags.items():
                client.set_model_version_tag(MODEL_NAME, challenger.version, k, str(v))
            if decision in ("promoted", "first champion", "forced"):
                client.set_registered_model_alias(MODEL_NAME, "champion", challenger.version)

    if champion is None:
        record("first champion", {"promotion.tolerance": tolerance})
        return PromotionResult(challenger.version, None, "first champion", pd.DataFrame(),
                               None, tolerance, ["no champion yet: the challenger becomes it"])
    if champion.version == challenger.version:
        return PromotionResult(challenger.version, champion.version, "already champion",
                               pd.DataFrame(), None, tolerance)

    chal_cfg = load_version_config(challenger)
    champ_cfg = load_version_config(champion)
    prov = chal_cfg.provenance or {}
    holdout_from = (prov.get("data_window") or {}).get("holdout_from")
    if holdout_from is None:
        raise HScoreError("version: the challenger's config has no data_window.holdout_from")
    if snapshots is None:
        run = client.get_run(challenger.run_id)
        path = run.data.tags.get("data.path")
        if not path or not Path(path).is_file():
            raise HScoreError("snapshots: the challenger's data file is not available "
                              f"({path}); pass --snapshots")
        snapshots = path
    frame = snapshots if isinstance(snapshots, pd.DataFrame) else read_snapshots(snapshots)
    table, window = _window_auc({"challenger": chal_cfg, "champion": champ_cfg}, frame,
                                pd.Timestamp(holdout_from))
    pooled = table[table["stage"] == "all"].iloc[0]
    better = pooled["auc_challenger"] >= pooled["auc_champion"] - tolerance
    decision = "promoted" if better else ("forced" if force else "kept champion")
    record(decision, {"promotion.challenger_auc": f"{pooled['auc_challenger']:.4f}",
                      "promotion.champion_auc": f"{pooled['auc_champion']:.4f}",
                      "promotion.champion_version": champion.version,
                      "promotion.tolerance": tolerance,
                      "promotion.window": f"{window[0]}..{window[1]}"})
    return PromotionResult(challenger.version, champion.version, decision, table, window,
                           tolerance)

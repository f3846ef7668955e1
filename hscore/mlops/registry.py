"""The model registry side: find a registered version, read its config, promote a challenger.

Versions of ``customer-health-score`` carry aliases (MLflow 3; no deprecated
stages). A new calibration gets ``challenger``; :func:`promote` scores one
window with the challenger and the current ``champion`` and moves ``champion``
when the challenger's AUC is not worse by more than a tolerance.

The comparison window
---------------------
Promotion compares on the challenger's own holdout: the labelled snapshots on
or after its ``holdout_from`` (the latest quarter it was calibrated against,
never used to fit it). The calibration run stores those rows as the artifact
``holdout/snapshots.parquet``, so promotion re-reads exactly the same rows
later, on any machine that can read the store, even if the input file has
moved or changed. ``snapshots=`` (CLI ``--snapshots``) replaces them with the
rows on or after the same date from another file (for a version tracked
without that artifact, or to compare on fresher data).
"""

from __future__ import annotations

import datetime as _dt
import html
import re
import tempfile
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hscore.config import Config, load_config
from hscore.errors import DataError, HScoreError
from hscore.calibration.evaluation import with_single_threaded_blas
from hscore.calibration.split import Holdout
from hscore.mlops.tracking import (HOLDOUT_ARTIFACT, MODEL_NAME, configure, holdout_rows,
                             load_holdout, sqlite_path, store_lock)

__all__ = ["resolve_version", "resolve_model", "version_config", "run_config",
           "comparison_window", "compare_versions", "promote", "PromotionResult",
           "DEFAULT_TOLERANCE"]

#: How much lower the challenger's pooled holdout AUC may be and still be promoted.
DEFAULT_TOLERANCE = 0.005
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_HOW = "use models:/NAME@ALIAS, models:/NAME/VERSION, a version number or a run id"


def _client():
    """An MlflowClient on the store; a missing SQLite store is an error, not a new store."""
    from mlflow import MlflowClient

    uri = configure()
    db = sqlite_path(uri)
    if db is not None and not db.is_file():
        raise HScoreError(f"model: there is no MLflow store at {db} yet; run "
                          "`hscore calibrate` first (or set MLFLOW_TRACKING_URI)")
    return MlflowClient()


def _mlflow_message(err) -> str:
    return " ".join(str(getattr(err, "message", err)).split())[:300]


# What MLflow answers for a name, alias, version or run that does not exist. Anything else
# (an unreachable or broken store) propagates as the store's own error.
_NOT_FOUND = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}


def _not_found(err) -> bool:
    return getattr(err, "error_code", None) in _NOT_FOUND


def resolve_version(model):
    """The registered ModelVersion behind ``models:/NAME@ALIAS``, ``models:/NAME/N``, a version
    number of ``customer-health-score`` or a run id (its newest registered version).

    Raises
    ------
    HScoreError
        Unknown model, alias, version or run, or text that is none of these.

    Examples
    --------
    >>> from hscore.mlops.registry import resolve_version
    >>> v = resolve_version("models:/customer-health-score@champion")   # doctest: +SKIP
    >>> v.version, v.aliases                                             # doctest: +SKIP
    ('3', ['champion'])
    >>> resolve_version(3).version                                       # doctest: +SKIP
    '3'
    """
    version, run_id = resolve_model(model)
    if version is None:
        raise HScoreError(f"model: run {run_id} has no registered version")
    return version


def resolve_model(model):
    """``(ModelVersion or None, run_id)``: like :func:`resolve_version`, but a run id whose
    calibration was tracked without registering gives ``(None, run_id)``.

    Examples
    --------
    >>> from hscore.mlops.registry import resolve_model
    >>> version, run_id = resolve_model("3f2a9c0e5b7d4e1f8a6b2c3d4e5f6a7b")  # doctest: +SKIP
    >>> version is None                  # tracked with register=False   # doctest: +SKIP
    True
    """
    from mlflow.exceptions import MlflowException

    client = _client()
    text = str(model).strip()
    try:
        if text.startswith("models:/"):
            rest = text[len("models:/"):]
            if "@" in rest:
                name, alias = rest.split("@", 1)
                if not name or not alias:
                    raise HScoreError(f"model: cannot read {text!r}; {_HOW}")
                v = _by_alias(client, name, alias)
                return v, v.run_id
            name, _, number = rest.rpartition("/")
            if name and number.isdigit():
                v = client.get_model_version(name, number)
                return v, v.run_id
            raise HScoreError(f"model: cannot read {text!r}; {_HOW}")
        if text.isdigit():
            v = client.get_model_version(MODEL_NAME, text)
            return v, v.run_id
        if _RUN_ID.match(text):
            client.get_run(text)   # unknown run -> MlflowException
            found = client.search_model_versions(f"run_id='{text}'")
            if not found:
                return None, text
            newest = max(found, key=lambda v: int(v.version))
            v = client.get_model_version(newest.name, str(newest.version))  # search omits aliases
            return v, v.run_id
    except MlflowException as err:
        if not _not_found(err):
            raise
        raise HScoreError(f"model: {text}: {_mlflow_message(err)}") from None
    raise HScoreError(f"model: cannot read {text!r}; {_HOW}")


def _by_alias(client, name: str, alias: str):
    from mlflow.exceptions import MlflowException

    try:
        v = client.get_model_version_by_alias(name, alias)
    except MlflowException as err:
        if not _not_found(err):
            raise
        try:
            client.get_registered_model(name)
        except MlflowException as err2:
            if not _not_found(err2):
                raise
            raise HScoreError(f"model: there is no registered model {name!r}; run "
                              "`hscore calibrate` first") from None
        raise HScoreError(f"model: {name} has no version with the alias @{alias} "
                          f"({_mlflow_message(err)})") from None
    return v


def version_config(version) -> Config:
    """The config file that is a registered version's only artifact.

    Examples
    --------
    >>> from hscore.mlops.registry import resolve_version, version_config
    >>> cfg = version_config(resolve_version("models:/customer-health-score@champion"))  # doctest: +SKIP
    >>> cfg.provenance.data_window.holdout_from                                        # doctest: +SKIP
    '2025-06-01'
    """
    import mlflow

    client = _client()
    root = client.get_model_version_download_uri(version.name, version.version).rstrip("/")
    with tempfile.TemporaryDirectory(prefix="hscore-model-") as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{root}/artifacts/config.yaml", dst_path=tmp)
        except Exception as err:  # noqa: BLE001 - any artifact store error means the same
            raise HScoreError(f"model: {version.name} version {version.version} holds no "
                              f"config file ({_mlflow_message(err)})") from None
        return load_config(local)


def run_config(run_id: str) -> Config:
    """The calibrated config a calibration run logged (``calibration/config.yaml``).

    Examples
    --------
    >>> from hscore.mlops.registry import run_config
    >>> cfg = run_config("3f2a9c0e5b7d4e1f8a6b2c3d4e5f6a7b")   # doctest: +SKIP
    >>> cfg.name                                               # doctest: +SKIP
    'lifecycle-calibrated'
    """
    import mlflow

    _client()
    with tempfile.TemporaryDirectory(prefix="hscore-run-") as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path="calibration/config.yaml", dst_path=tmp)
        except Exception as err:  # noqa: BLE001
            raise HScoreError(f"model: run {run_id} holds no calibration/config.yaml "
                              f"({_mlflow_message(err)})") from None
        return load_config(local)


# ------------------------------------------------------------------ the window
def _holdout(version, cfg: Config) -> Holdout:
    """The holdout the version was calibrated with (the one rule: hscore.calibration.split)."""
    holdout = Holdout.recorded(cfg.provenance and cfg.provenance.data_window, version.tags)
    if holdout is None:
        raise HScoreError(f"model: version {version.version} records no holdout start "
                          "(provenance.data_window.holdout_from); it was not made by "
                          "`hscore calibrate`")
    return holdout


def comparison_window(version, cfg: Config | None = None, snapshots=None
                      ) -> tuple[pd.DataFrame, pd.Timestamp, str]:
    """The rows promotion scores: ``(frame, holdout_from, source)``.

    The version's calibration run's ``holdout/snapshots.parquet``, or, with ``snapshots``
    (a path or frame), that data's labelled rows on or after the version's holdout start.

    Raises
    ------
    HScoreError
        The version records no holdout start or no run, its run holds no holdout
        artifact (pass ``snapshots``), or the window has no labelled snapshot.

    Examples
    --------
    >>> from hscore.mlops.registry import comparison_window, resolve_version
    >>> version = resolve_version("models:/customer-health-score@challenger")  # doctest: +SKIP
    >>> window, start, source = comparison_window(version)                    # doctest: +SKIP
    >>> source                                                                # doctest: +SKIP
    'runs:/3f2a9c0e5b7d4e1f8a6b2c3d4e5f6a7b/holdout/snapshots.parquet'
    """
    from hscore.scoring.snapshots import read_snapshots

    cfg = cfg or version_config(version)
    holdout = _holdout(version, cfg)
    start = holdout.start
    if snapshots is not None:
        frame = snapshots if isinstance(snapshots, pd.DataFrame) else read_snapshots(snapshots)
        source = "(frame)" if isinstance(snapshots, pd.DataFrame) else str(snapshots)
        window = holdout_rows(frame, holdout)
    else:
        if not version.run_id:
            raise HScoreError(f"model: version {version.version} has no calibration run; "
                              "pass --snapshots")
        try:
            window = load_holdout(version.run_id)
        except Exception as err:  # noqa: BLE001 - any artifact store error means the same
            raise HScoreError(f"snapshots: the run of version {version.version} holds no "
                              f"{HOLDOUT_ARTIFACT} ({_mlflow_message(err)}); pass "
                              "--snapshots") from None
        source = f"runs:/{version.run_id}/{HOLDOUT_ARTIFACT}"
    if window.empty:
        raise HScoreError(f"snapshots: no labelled snapshot in the {holdout.describe()} "
                          f"in {source}")
    return window, start, source


def _risk(scored: pd.DataFrame, pooled: bool) -> np.ndarray:
    # Within a stage the score ranks rows (the probability is monotone in it); across stages
    # each stage's own probability puts rows on one scale when the config has one.
    if pooled and "churn_probability" in scored.columns \
            and scored["churn_probability"].notna().all():
        return scored["churn_probability"].to_numpy(dtype=float)
    return -scored["score"].to_numpy(dtype=float)


def compare_versions(configs: dict[str, Config], window: pd.DataFrame, *,
                     n_bootstrap: int = 200, seed: int = 0) -> pd.DataFrame:
    """Score ``window`` with each config; per stage and pooled (``all``): rows, events, AUC,
    Brier and log-loss of each, and with two configs the paired account-bootstrap ΔAUC
    (first minus second) with its 95% CI. Rows that either config leaves unscored are left
    out for both, so every figure is on the same rows.

    Examples
    --------
    No store needed: two configs and a window of labelled snapshots.

    >>> from hscore import synth
    >>> from hscore.config import load_config
    >>> from hscore.mlops.registry import compare_versions
    >>> history = synth.make_history(n_accounts=150, months=8, seed=4)
    >>> window = history.frame[history.frame["churned"].notna()]
    >>> table = compare_versions({"truth": history.truth.as_config(),
    ...                           "defaults": load_config("lifecycle")}, window, n_bootstrap=20)
    >>> table["stage"].iloc[-1]
    'all'
    >>> [c for c in table.columns if c.startswith("delta_auc")]
    ['delta_auc', 'delta_auc_low', 'delta_auc_high']
    """
    from hscore.calibration.design import labels
    from hscore.calibration.evaluation import auc, bootstrap_auc, brier, log_loss
    from hscore.scoring.scorer import HealthScorer

    y_all = labels(window)
    scored = {k: HealthScorer(c).score(window, trend=False).reset_index(drop=True)
              for k, c in configs.items()}
    ok = ~np.isnan(y_all)
    for s in scored.values():
        ok &= s["score"].notna().to_numpy()
    first = next(iter(scored.values()))
    stage_of = first["stage"].astype(str).to_numpy()
    groups = pd.factorize(window["account_id"])[0]
    present = set(stage_of[ok])
    order = [s for c in configs.values() for s in c.stages] + list(dict.fromkeys(stage_of[ok]))
    stages = [s for s in dict.fromkeys(order) if s in present]
    names = list(configs)
    rows = []
    for stage in stages + (["all"] if len(stages) > 1 else []):
        pooled = stage == "all"
        mask = ok if pooled else ok & (stage_of == stage)
        y = y_all[mask]
        row: dict[str, object] = {"stage": stage, "rows": int(mask.sum()),
                                  "events": int(y.sum())}
        risks = {k: _risk(s.loc[mask], pooled) for k, s in scored.items()}
        for k in names:
            row[f"auc_{k}"] = auc(y, risks[k]) if 0 < y.sum() < len(y) else np.nan
        if len(names) == 2:
            a, b = names
            row["delta_auc"] = row[f"auc_{a}"] - row[f"auc_{b}"]
            lo = hi = np.nan
            if n_bootstrap and 0 < y.sum() < len(y):
                boot = bootstrap_auc(y, [risks[a], risks[b]], groups[mask], n_bootstrap, seed)
                lo, hi = np.nanquantile(boot[:, 0] - boot[:, 1], [0.025, 0.975])
            row["delta_auc_low"], row["delta_auc_high"] = lo, hi
        for k, s in scored.items():
            p = (s.loc[mask, "churn_probability"].to_numpy(dtype=float)
                 if "churn_probability" in s.columns else None)
            ok_p = p is not None and len(p) and not np.isnan(p).any()
            row[f"brier_{k}"] = brier(y, p) if ok_p else np.nan
            row[f"log_loss_{k}"] = log_loss(y, p) if ok_p else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ promotion
@dataclass
class PromotionResult:
    """Challenger against champion on one window, and what promotion did.

    Attributes
    ----------
    challenger, champion : str or None
        Version numbers (``champion`` is the one before this promotion; None if there was none).
    decision : str
        ``first champion``, ``promoted``, ``forced``, ``kept champion`` or ``already champion``.
    promoted : bool
        Whether ``@champion`` now points at the challenger because of this call.
    table : DataFrame
        Per stage and pooled (``all``): rows, events, AUC / Brier / log-loss of each version,
        ΔAUC (challenger - champion) with a paired account-bootstrap 95% CI.
    holdout_from : str
        The window's first day; ``window`` its first and last snapshot dates; ``source``
        where its rows came from.

    Examples
    --------
    >>> from hscore.mlops.registry import promote
    >>> result = promote(tolerance=0.01)          # doctest: +SKIP
    >>> result.summary()[["stage", "auc_challenger", "auc_champion", "delta_auc"]]  # doctest: +SKIP
    """

    challenger: str
    champion: str | None
    decision: str
    promoted: bool
    table: pd.DataFrame
    holdout_from: str
    window: tuple[str, str]
    source: str
    tolerance: float
    notes: list[str] = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        """The side-by-side table (a copy)."""
        return self.table.copy()

    def _head(self) -> str:
        champ = f"v{self.champion}" if self.champion else "(none)"
        return (f"challenger v{self.challenger} vs champion {champ} on the snapshots from "
                f"{self.window[0]} to {self.window[1]} ({self.source})")

    def _tail(self) -> str:
        return (f"decision: {self.decision}"
                + (f" -> @champion is v{self.challenger}" if self.promoted else "")
                + f" (tolerance {self.tolerance:g} AUC)")

    def __str__(self) -> str:
        cols = [c for c in self.table.columns if not c.startswith(("brier", "log_loss"))]
        body = self.table[cols].round(4).to_string(index=False)
        return "\n".join([self._head(), body, self._tail(), *self.notes])

    def print_summary(self) -> None:
        print(self)

    def _repr_html_(self) -> str:
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return (f"<h4>{html.escape(self._head())}</h4>"
                + self.table.round(4).to_html(index=False)
                + f"<p><b>{html.escape(self._tail())}</b></p>"
                + (f"<ul>{notes}</ul>" if notes else ""))


def _refit_note(challenger, chal_cfg: Config, window: pd.DataFrame) -> str | None:
    """A challenger whose exported weights were refitted on every labelled row (the
    calibration's ``exported_fit: all``) has seen the labels of its own holdout."""
    prov = chal_cfg.provenance
    seen = prov and prov.exported_fit == "all" and prov.data_window and prov.data_window.holdout
    if not seen or not (pd.to_datetime(window["snapshot_date"]) <= pd.Timestamp(seen[1])).any():
        return None
    return (f"note: challenger v{challenger.version} was refitted on every labelled row up to "
            f"{seen[1]} (exported_fit: all), rows of this window included: its figures here "
            "are optimistic; compare on later snapshots (--snapshots) or calibrate with "
            "--refit train")


def _overlap_note(champion, champ_cfg: Config, start: pd.Timestamp) -> str | None:
    window = champ_cfg.provenance and champ_cfg.provenance.data_window
    train, horizon = (window.train, window.horizon_days) if window else (None, None)
    if not train or horizon is None:
        return None
    labels_end = pd.Timestamp(train[1]) + pd.Timedelta(days=int(horizon))
    if labels_end > start:
        return (f"note: champion v{champion.version} learned from labels up to "
                f"{labels_end.date()}, inside this window: its figures here are optimistic")
    return None


@with_single_threaded_blas
def promote(version=None, *, tolerance: float = DEFAULT_TOLERANCE, force: bool = False,
            snapshots=None, n_bootstrap: int = 200, seed: int = 0) -> PromotionResult:
    """Compare the challenger with the champion and move ``@champion`` when the challenger
    is good enough.

    Parameters
    ----------
    version : int, str or None
        The challenger: a version number, ``models:/...`` URI or run id; default the version
        with the alias ``challenger``.
    tolerance : float, default 0.005
        The challenger is promoted when its pooled holdout AUC (all stages; the single
        stage's for a one-stage window) is at least the champion's minus ``tolerance``.
    force : bool
        Promote even when the challenger is worse (the decision reads ``forced``).
    snapshots : path or DataFrame, optional
        Score these rows (on or after the challenger's holdout start) instead of the
        holdout the challenger's calibration run logged. See the module docstring.
    n_bootstrap, seed : int
        Paired account bootstrap for the ΔAUC CIs (0 skips it).

    Returns
    -------
    PromotionResult

    Notes
    -----
    The first registered version becomes champion without a comparison (its own figures
    on its window are still shown). The decision and its figures are written as tags
    ``promotion.*`` on the challenger's version; a replaced champion gets
    ``replaced_by``.

    Examples
    --------
    >>> from hscore.mlops.registry import promote
    >>> result = promote()               # the version with the alias @challenger  # doctest: +SKIP
    >>> result.decision, result.promoted                                            # doctest: +SKIP
    ('promoted', True)
    >>> result.print_summary()                                                      # doctest: +SKIP
    challenger v4 vs champion v3 on the snapshots from 2025-06-01 to 2025-11-01 (runs:/...)
    ...
    decision: promoted -> @champion is v4 (tolerance 0.005 AUC)
    """
    if not tolerance >= 0:
        raise HScoreError(f"tolerance: must be >= 0, got {tolerance!r}")
    client = _client()
    challenger = (resolve_version(version) if version is not None
                  else _by_alias(client, MODEL_NAME, "challenger"))
    try:
        champion = _by_alias(client, challenger.name, "champion")
    except HScoreError:
        champion = None
    chal_cfg = version_config(challenger)
    window, start, source = comparison_window(challenger, chal_cfg, snapshots)
    configs = {"challenger": chal_cfg}
    notes: list[str] = [n for n in [_refit_note(challenger, chal_cfg, window)] if n]
    if champion is not None and str(champion.version) != str(challenger.version):
        champ_cfg = version_config(champion)
        configs["champion"] = champ_cfg
        note = _overlap_note(champion, champ_cfg, start) if start is not None else None
        if note:
            notes.append(note)
    try:
        table = compare_versions(configs, window, n_bootstrap=n_bootstrap, seed=seed)
    except DataError as err:
        raise HScoreError(f"the comparison window ({source}) cannot be scored by both "
                          f"versions: {err.one_line()}") from None
    if table.empty:
        raise HScoreError(f"snapshots: no row of the window ({source}) has a score under "
                          "both versions")
    dates = pd.to_datetime(window["snapshot_date"])
    span = (str(dates.min().date()), str(dates.max().date()))
    decision_row = table.iloc[-1]       # pooled "all", or the only stage

    if champion is None:
        decision = "first champion"
        notes.append("no champion yet: the challenger becomes it")
    elif str(champion.version) == str(challenger.version):
        decision = "already champion"
    else:
        a_chal, a_champ = decision_row["auc_challenger"], decision_row["auc_champion"]
        if np.isnan(a_chal) or np.isnan(a_champ):
            if not force:
                raise HScoreError(f"snapshots: the window ({source}) has no churn events or "
                                  "no retained rows, so AUC cannot compare the versions; "
                                  "pass --force to promote anyway")
            decision = "forced"
        elif a_chal >= a_champ - tolerance:
            decision = "promoted"
        else:
            decision = "forced" if force else "kept champion"
            if not force:
                notes.append(f"the challenger's AUC is {a_champ - a_chal:.4f} below the "
                             "champion's; --force promotes it anyway")
    promoted = decision in ("first champion", "promoted", "forced")

    result = PromotionResult(str(challenger.version),
                             str(champion.version) if champion else None,
                             decision, promoted, table,
                             str(start.date()) if start is not None else "(account holdout)",
                             span, source,
                             tolerance, notes)
    _record(client, challenger, champion, result)
    return result


def _fmt(x) -> str:
    return "nan" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.4f}"


def _record(client, challenger, champion, result: PromotionResult) -> None:
    """Decision and figures into the challenger's tags; then move the alias."""
    if result.decision == "already champion":
        return
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    row = result.table.iloc[-1]
    tags = {"promotion.decision": result.decision, "promotion.time": now,
            "promotion.previous_champion": str(champion.version) if champion else "none",
            "promotion.window": f"{result.window[0]}..{result.window[1]}",
            "promotion.window_source": result.source,
            "promotion.tolerance": f"{result.tolerance:g}",
            "promotion.rows": str(row["rows"]), "promotion.events": str(row["events"]),
            "promotion.auc_challenger": _fmt(row["auc_challenger"])}
    if "auc_champion" in result.table:
        tags.update({"promotion.auc_champion": _fmt(row["auc_champion"]),
                     "promotion.delta_auc": _fmt(row["delta_auc"]),
                     "promotion.delta_auc_ci": f"[{_fmt(row['delta_auc_low'])}, "
                                               f"{_fmt(row['delta_auc_high'])}]"})
    for _, r in result.table.iterrows():
        figures = _fmt(r["auc_challenger"])
        if "auc_champion" in r:
            figures += f" vs {_fmt(r['auc_champion'])}"
        tags[f"promotion.auc.{r['stage']}"] = figures
    with store_lock():
        for k, v in tags.items():
            client.set_model_version_tag(challenger.name, challenger.version, k, v)
        if result.promoted:
            client.set_registered_model_alias(challenger.name, "champion", challenger.version)
            if champion is not None:
                client.set_model_version_tag(champion.name, champion.version, "replaced_by",
                                             str(challenger.version))
                client.set_model_version_tag(champion.name, champion.version, "replaced_at",
                                             now)

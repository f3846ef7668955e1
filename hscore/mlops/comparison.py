"""The comparison: one window of labelled snapshots scored by two versions' configs.

Promotion (:mod:`hscore.mlops.promotion`) compares on the challenger's own holdout:
the labelled snapshots on or after its ``holdout_from`` (the latest quarter it was
calibrated against, never used to fit it). The calibration run stores those rows as
the artifact ``holdout/snapshots.parquet``, so promotion re-reads exactly the same
rows later, on any machine that can read the store, even if the input file has moved
or changed. ``snapshots=`` (CLI ``--snapshots``) replaces them with the rows on or
after the same date from another file (for a version tracked without that artifact,
or to compare on fresher data).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hscore import progress
from hscore.calibration.split import Holdout
from hscore.config import Config
from hscore.errors import HScoreError
from hscore.mlops.registry import mlflow_message, version_config
from hscore.mlops.tracking import HOLDOUT_ARTIFACT, holdout_rows, load_holdout

__all__ = ["comparison_window", "compare_versions"]


def _holdout(version, cfg: Config) -> Holdout:
    """The holdout the version was calibrated with (the one rule: hscore.calibration.split)."""
    holdout = Holdout.recorded(cfg.provenance and cfg.provenance.data_window, version.tags)
    if holdout is None:
        raise HScoreError(f"model: version {version.version} records no holdout start "
                          "(provenance.data_window.holdout_from); it was not made by "
                          "`hscore calibrate`")
    return holdout


def comparison_window(version, cfg: Config | None = None, snapshots=None,
                      snapshots_name: str | None = None
                      ) -> tuple[pd.DataFrame, pd.Timestamp, str]:
    """The rows promotion scores: ``(frame, holdout_from, source)``.

    The version's calibration run's ``holdout/snapshots.parquet``, or, with ``snapshots``
    (a path or frame), that data's labelled rows on or after the version's holdout start;
    ``snapshots_name`` says where a frame came from (the ``source``).

    Raises
    ------
    HScoreError
        The version records no holdout start or no run, its run holds no holdout
        artifact (pass ``snapshots``), or the window has no labelled snapshot.

    Examples
    --------
    >>> from hscore.mlops.comparison import comparison_window
    >>> from hscore.mlops.registry import resolve_version
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
        source = snapshots_name or ("(frame)" if isinstance(snapshots, pd.DataFrame)
                                    else str(snapshots))
        window = holdout_rows(frame, holdout)
    else:
        if not version.run_id:
            raise HScoreError(f"model: version {version.version} has no calibration run; "
                              "pass --snapshots")
        try:
            window = load_holdout(version.run_id)
        except HScoreError:
            raise
        except Exception as err:  # noqa: BLE001 - any artifact store error means the same
            raise HScoreError(f"snapshots: the run of version {version.version} holds no "
                              f"{HOLDOUT_ARTIFACT} ({mlflow_message(err)}); pass "
                              "--snapshots") from None
        source = f"runs:/{version.run_id}/{HOLDOUT_ARTIFACT}"
    if window.empty:
        raise HScoreError(f"snapshots: no labelled snapshot in the {holdout.describe()} "
                          f"in {source}")
    return window, start, source


def _cell_keys(cfg: Config, window: pd.DataFrame, scored: pd.DataFrame) -> np.ndarray:
    """Each row's cell key under ``cfg``: its stage, or ``stage/segment`` where the config
    has a cell for that segment of the stage."""
    keys = scored["stage"].astype(str).to_numpy(dtype=object)
    segmented = [c for c in cfg.cells() if c.segment is not None]
    if segmented and "segment" in window.columns:
        stage, segment = keys.copy(), window["segment"].astype(str).to_numpy(dtype=object)
        for cell in segmented:
            keys[(stage == cell.stage) & (segment == cell.segment)] = cell.key
    return keys


def _risk(scored: pd.DataFrame, pooled: bool) -> np.ndarray:
    # Within a stage the score ranks rows (the probability is monotone in it); across stages
    # each stage's own probability puts rows on one scale when the config has one.
    if pooled and "churn_probability" in scored.columns \
            and scored["churn_probability"].notna().all():
        return scored["churn_probability"].to_numpy(dtype=float)
    return -scored["score"].to_numpy(dtype=float)


def compare_versions(configs: dict[str, Config], window: pd.DataFrame, *,
                     n_bootstrap: int = 200, seed: int = 0) -> pd.DataFrame:
    """Score ``window`` with each config; per cell (a stage, or a segment of one;
    ``Config.cells``) and pooled (``all``, or ``book`` when a stage is named ``all``): rows, events, AUC,
    Brier and log-loss of each, and with two configs the paired account-bootstrap ΔAUC
    (first minus second) with its 95% CI. Rows that either config leaves unscored are left
    out for both, so every figure is on the same rows. Each row's bootstrap advances the
    counted step ``bootstrap`` of the progress reporter (:mod:`hscore.progress`).

    Examples
    --------
    No store needed: two configs and a window of labelled snapshots.

    >>> from hscore import synth
    >>> from hscore.config import load_config
    >>> from hscore.mlops.comparison import compare_versions
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
    from hscore.calibration.quality import BOOK, POOLED
    from hscore.scoring.scorer import HealthScorer

    y_all = labels(window)
    scored = {k: HealthScorer(c).score(window, trend=False).reset_index(drop=True)
              for k, c in configs.items()}
    ok = ~np.isnan(y_all)
    for s in scored.values():
        ok &= s["score"].notna().to_numpy()
    first = next(iter(configs))
    cell_of = _cell_keys(configs[first], window, scored[first])
    groups = pd.factorize(window["account_id"])[0]
    present = set(cell_of[ok])
    order = ([cell.key for c in configs.values() for cell in c.cells()]
             + list(dict.fromkeys(cell_of[ok])))
    cells = [k for k in dict.fromkeys(order) if k in present]
    names = list(configs)
    # The pooled rows' key is "all" unless a cell is named so (one stage "all" with segments).
    pooled_key = BOOK if POOLED in cells else POOLED
    keys = cells + ([pooled_key] if len(cells) > 1 else [])
    steps = progress.current().steps(f"bootstrap ({n_bootstrap} resamples per stage)",
                                     len(keys) if n_bootstrap and len(names) == 2 else 0)
    rows = []
    for key in keys:
        pooled = key == pooled_key
        mask = ok if pooled else ok & (cell_of == key)
        y = y_all[mask]
        row: dict[str, object] = {"stage": key, "rows": int(mask.sum()),
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
            steps.advance()
            row["delta_auc_low"], row["delta_auc_high"] = lo, hi
        for k, s in scored.items():
            p = (s.loc[mask, "churn_probability"].to_numpy(dtype=float)
                 if "churn_probability" in s.columns else None)
            ok_p = p is not None and len(p) and not np.isnan(p).any()
            row[f"brier_{k}"] = brier(y, p) if ok_p else np.nan
            row[f"log_loss_{k}"] = log_loss(y, p) if ok_p else np.nan
        rows.append(row)
    return pd.DataFrame(rows)

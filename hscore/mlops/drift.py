"""The drift lines of a promotion: PSI from the champion's training window to the window
promotion compares on.

:func:`drift_notes` scores both windows with the champion's config (with no champion yet, the
challenger's) through :func:`hscore.monitoring.monitor` and says, in a few lines of the
:class:`~hscore.mlops.promotion.PromotionResult`, the score PSI per stage and the largest
sub-score shifts: a population that moved since the champion was fitted is a reason to look
at the challenger closely, whichever wins.

The training window's rows: the ``--snapshots`` data when promotion was given it, else the
file the champion's calibration run recorded (tag ``data.path``) when it is still there and
unchanged (its SHA-256 is the run's ``data.sha256``); the rows whose snapshot date lies in
the config's ``provenance.data_window.train``. Drift is shown, never decided on: when those
rows cannot be had, one line says why and promotion goes on.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hscore.config import Config
from hscore.errors import HScoreError

__all__ = ["drift_notes", "training_rows"]

#: How many shifted sub-scores the promotion lines name (``hscore monitor`` lists them all).
TOP = 3


def training_rows(version, cfg: Config, snapshots=None,
                  snapshots_name: str | None = None) -> tuple[pd.DataFrame, str]:
    """The rows of ``version``'s training window and where they came from.

    Raises
    ------
    HScoreError
        The config records no training window, or its data cannot be read back unchanged.
    """
    from hscore.mlops.tracking import file_sha256
    from hscore.scoring.snapshots import read_snapshots

    window = cfg.provenance and cfg.provenance.data_window
    if not window or not window.train:
        raise HScoreError("its config records no training window "
                          "(provenance.data_window.train)")
    if isinstance(snapshots, pd.DataFrame):
        frame, source = snapshots, snapshots_name or "(frame)"
    elif snapshots is not None:
        frame, source = read_snapshots(snapshots), str(snapshots)
    else:
        if not version.run_id:
            raise HScoreError(f"version {version.version} has no calibration run; pass "
                              "--snapshots")
        from hscore.mlops.store import opened

        try:
            with opened() as client:
                tags = client.get_run(version.run_id).data.tags
        except Exception as err:  # noqa: BLE001 - any store error: drift is only shown
            from hscore.mlops.registry import mlflow_message

            raise HScoreError(f"its run {version.run_id} cannot be read "
                              f"({mlflow_message(err)}); pass --snapshots") from None
        path = tags.get("data.path")
        if not path or not Path(path).is_file():
            raise HScoreError(f"its training data {path or '(not recorded)'} is not there; "
                              "pass --snapshots")
        if file_sha256(path) != tags.get("data.sha256"):
            raise HScoreError(f"its training data {path} changed since the calibration "
                              "(SHA-256 differs); pass --snapshots")
        # read as the calibration read it (its --date-format, if it was given one)
        frame = read_snapshots(path, date_format=tags.get("data.date_format"))
        source = path
    dates = pd.to_datetime(frame["snapshot_date"])
    keep = dates.between(pd.Timestamp(window.train[0]), pd.Timestamp(window.train[1]))
    if not keep.any():
        raise HScoreError(f"{source} has no snapshot in the training window "
                          f"{window.train[0]}..{window.train[1]}")
    return frame.loc[keep.to_numpy()], source


def drift_notes(version, cfg: Config, window: pd.DataFrame, snapshots=None,
                snapshots_name: str | None = None) -> list[str]:
    """Lines for the promotion result: PSI from ``version``'s training window to ``window``,
    with ``cfg`` (``version``'s config) making the sub-scores and scores."""
    from hscore.monitoring import FLAGS, SCORE, THRESHOLDS, monitor

    who = f"v{version.version}"
    try:
        reference, source = training_rows(version, cfg, snapshots, snapshots_name)
        result = monitor(cfg, reference, window, names=(f"{who}'s training window",
                                                        "this window"))
    except (HScoreError, OSError) as err:
        text = err.one_line() if isinstance(err, HScoreError) else str(err)
        return [f"drift: not shown for {who}: {text}"]
    table = result.table
    (r0, r1, rn), _ = result.spans
    scores = table[table["metric"] == SCORE]
    shifted = result.shifted
    shifted = shifted[shifted["metric"] != SCORE].head(TOP)
    lines = [f"drift (PSI; {THRESHOLDS[0]:g} {FLAGS[1]}, {THRESHOLDS[1]:g} {FLAGS[2]}) from "
             f"{who}'s training window ({r0}..{r1}, {rn} rows of {source}) to this window, "
             f"{who}'s config:",
             "  score: " + ", ".join(f"{r.stage} {r.psi:.3f} {r.flag}"
                                     for r in scores.itertuples())]
    lines.append("  largest sub-score shifts: " + ", ".join(
        f"{r.stage}/{r.metric} {r.psi:.3f} ({r.flag})" for r in shifted.itertuples())
        if len(shifted) else f"  no sub-score shifted (every PSI < {THRESHOLDS[0]:g})")
    return lines

"""``hscore demo``: the whole loop on synthetic data and the embedded MLflow store.

synthetic history -> score with the documented defaults -> calibrate (tracked,
registered as ``challenger``) -> promote -> export the champion's config ->
score the latest month with the exported file, as production would.

``run_demo(from_raw=True)`` starts one step earlier: synthetic raw tables (accounts, users,
events, touches, surveys, integrations, setup) -> ``hscore build`` -> the same loop.

Each step is a phase of :mod:`hscore.progress` (on stderr under ``hscore demo``; ``--quiet``
silences it), so a slow machine shows where the demo is.
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["run_demo"]

DEMO_ACCOUNTS = 2500
DEMO_MONTHS = 24
DEMO_BOOTSTRAP = 100


def _print(title: str, body: str = "") -> None:
    print(f"\n== {title}")
    if body:
        print(body)


def _build(tables: Path, book) -> pd.DataFrame:
    """The snapshot table of the demo's raw tables (``hscore build``)."""
    from hscore.build import build_snapshots

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_snapshots(tables, "lifecycle", start=book.start, as_of=book.as_of)


def run_demo(accounts: int | None = None, months: int | None = None, seed: int = 0,
             out_dir: str | Path | None = None, n_bootstrap: int = DEMO_BOOTSTRAP,
             from_raw: bool = False) -> int:
    """Run the loop and print what an analyst would look at. Returns the exit code.

    ``from_raw``: start from synthetic raw tables written to ``<out>/raw`` and build the
    snapshot table from them with :func:`hscore.build_snapshots`.
    """
    from hscore import progress, synth
    from hscore.mlops import store, tracking
    from hscore.calibration.calibrator import calibrate
    from hscore.config import load_config
    from hscore.errors import print_warnings
    from hscore.mlops.export import describe_export, export_config
    from hscore.mlops.promotion import promote
    from hscore.report import at_risk_table, score_summary, stage_auc
    from hscore.scoring.scorer import HealthScorer
    from hscore.scoring.snapshots import read_snapshots, write_frame

    started = time.perf_counter()
    report = progress.current()
    out = Path(out_dir) if out_dir else store.store_root() / "out" / "demo"
    out.mkdir(parents=True, exist_ok=True)

    if from_raw:
        with report.phase("synthetic raw tables"):
            history = synth.make_raw_book(n_accounts=accounts or DEMO_ACCOUNTS,
                                          months=months or DEMO_MONTHS, seed=seed)
            tables = history.write(out / "raw", say=False)   # built from start below
        with report.phase("build snapshots"):
            snapshots = write_frame(_build(tables, history), out / "snapshots.csv")
    else:
        with report.phase("synthetic history"):
            history = synth.make_history(n_accounts=accounts or DEMO_ACCOUNTS,
                                         months=months or DEMO_MONTHS, seed=seed)
            snapshots = write_frame(history.frame, out / "snapshots.csv")
    frame = read_snapshots(snapshots)
    _print("1. synthetic raw tables -> hscore build" if from_raw else "1. synthetic history",
           f"{history!r}\nwritten to {snapshots}")

    defaults = load_config("lifecycle")
    with report.phase("score with the defaults"):
        scores = HealthScorer(defaults).score(frame)
    summary = score_summary(scores).join(
        stage_auc(scores, frame["churned"])["auc"].rename("auc_defaults").round(3))
    _print("2. scored with the documented defaults (lifecycle, seed 000)", summary.to_string())

    with warnings.catch_warnings(record=True) as caught, report.phase("calibrate"):
        warnings.simplefilter("always")
        result = calibrate(frame, defaults, horizon_days=history.horizon_days,
                           n_bootstrap=n_bootstrap, seed=seed)
    print_warnings(caught)
    quality = result.stage_table()[["stage", "status", "auc_calibrated", "auc_input",
                                    "auc_reference"]].round(3).to_string(index=False)
    _print("3. calibrated per stage (default weight -> calibrated weight [95% bootstrap CI])",
           result.weight_lines()
           + f"\n\nholdout AUC from {result.holdout_from.date()} (the calibrated config, "
             "the defaults and an unconstrained reference):\n" + quality)

    store.quiet_mlflow()
    # MLflow prints "Successfully registered model ..." / "Created version ..." itself (not
    # through logging); step 4 says the same in one line.
    with report.phase("track and register"), contextlib.redirect_stderr(io.StringIO()):
        info = tracking.log_calibration(result, frame=frame, snapshots_path=snapshots)
    _print("4. tracked and registered", str(info))

    with report.phase("promote"):
        decision = promote(model_name=info.model_name)
    _print("5. challenger vs champion", str(decision))

    with report.phase("export"):
        exported = export_config(f"models:/{info.model_name}@champion", out / "champion.yaml")
    _print("6. exported the champion's config for production", describe_export(exported))

    latest_day = frame["snapshot_date"].max()
    latest = frame[frame["snapshot_date"] == latest_day].reset_index(drop=True)
    production = HealthScorer(load_config(exported))
    with report.phase("score the latest month"):
        latest_scores = production.score(latest, trend=False)
    write_frame(latest_scores, out / "latest_scores.csv")
    table = at_risk_table(production, latest, latest_scores, top=3, limit=10)
    n_risk = int((latest_scores["band"] == "at_risk").sum())
    _print(f"7. latest month ({pd.Timestamp(latest_day).date()}) scored with {exported.name}: "
           f"{n_risk} of {len(latest)} accounts at risk; the 10 lowest and what costs them "
           "most", table.to_string(index=False) if len(table) else "(none)")

    _print("files and store", "\n".join([
        f"  snapshots        {snapshots}",
        f"  exported config  {exported}",
        f"  latest scores    {out / 'latest_scores.csv'}",
        "  " + store.describe_store().replace("\n", "\n  "),
    ]))
    print(f"\ndone in {time.perf_counter() - started:.1f} s")
    return 0 if np.isfinite(latest_scores["score"]).any() else 1

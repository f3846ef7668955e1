"""Simulate quarterly recalibration on a synthetic history and report the AUC per quarter.

For each of the last ``--quarters`` calendar quarters of a synthetic history,
as an analyst would at the start of that quarter and then judge at its end:

1. calibrate on the data before the quarter (``holdout_from`` = the quarter's
   first day, so training only uses snapshots whose label window ended before
   it; the quarter's snapshots are the holdout), starting from the current
   champion's exported config (``--start-from champion``) or from the
   documented defaults;
2. log the calibration to MLflow and register it as ``challenger``
   (:func:`hscore.mlops.tracking.log_calibration`);
3. promote: score the quarter with challenger and champion and move
   ``champion`` when the challenger is not worse (:func:`hscore.mlops.promotion.promote`).

Before the first quarter the documented defaults are registered as the first
champion, so every quarter is a real challenger-vs-champion decision. The
report gives, per quarter, the holdout AUC of the calibrated config, the
champion it challenged and the true churn model (the ceiling), and the decision.

Registering versions and moving aliases is what this simulation is about, so
it uses a store of its own by default
(``<checkout>/out/experiments/quarterly_recalibration/mlruns.db``) and never
touches the checkout's champion; ``--tracking-uri`` (or ``MLFLOW_TRACKING_URI``)
points it elsewhere. A summary run goes to the experiment ``quarterly-recalibration``.

Run::

    python -m experiments.quarterly_recalibration             # defaults: a few minutes
    python -m experiments.quarterly_recalibration --accounts 800 --quarters 2 --bootstrap 50
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

EXPERIMENT = "quarterly-recalibration"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m experiments.quarterly_recalibration",
                                description=__doc__.splitlines()[0])
    p.add_argument("--accounts", type=int, default=2000, help="synthetic accounts (default: 2000)")
    p.add_argument("--months", type=int, default=24, help="monthly snapshots (default: 24)")
    p.add_argument("--quarters", type=int, default=3,
                   help="recalibrate at the start of each of the last N quarters (default: 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bootstrap", type=int, default=100,
                   help="account-bootstrap resamples per calibration (default: 100)")
    p.add_argument("--truth", choices=["shifted", "defaults"], default="shifted")
    p.add_argument("--start-from", choices=["champion", "defaults"], default="champion",
                   help="the config each calibration starts from (default: champion)")
    p.add_argument("--tolerance", type=float, default=0.005,
                   help="AUC the challenger may lose and still be promoted (default: 0.005)")
    p.add_argument("--tracking-uri", default=None,
                   help="MLflow store (default: MLFLOW_TRACKING_URI, else a store of its own "
                        "under <checkout>/out/experiments/quarterly_recalibration)")
    return p.parse_args(argv)


def use_store(uri: str | None) -> str:
    """Point hscore.mlops.store (and so mlflow) at the simulation's store."""
    from hscore.mlops import store

    if uri is None and not os.environ.get("MLFLOW_TRACKING_URI"):
        folder = store.store_root() / "out" / "experiments" / "quarterly_recalibration"
        folder.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{folder / 'mlruns.db'}"
    if uri is not None:
        # The registry too: the simulation's aliases must never move the checkout's champion.
        os.environ["MLFLOW_TRACKING_URI"] = uri
        os.environ["MLFLOW_REGISTRY_URI"] = uri
    return store.configure()


def quarter_starts(frame: pd.DataFrame, horizon_days: int, n: int) -> list[pd.Timestamp]:
    """The first days of the last ``n`` calendar quarters that hold labelled snapshots and
    leave training data before them."""
    dates = pd.to_datetime(frame.loc[frame["churned"].notna(), "snapshot_date"])
    first, last = dates.min(), dates.max()
    starts = pd.date_range(first.to_period("Q").start_time, last, freq="QS")
    ok = [q for q in starts if q - pd.Timedelta(days=horizon_days) > first and q <= last]
    if len(ok) < n:
        from hscore.errors import HScoreError

        raise HScoreError(f"quarters: the history ({first.date()} to {last.date()}) holds "
                          f"{len(ok)} quarters with training data before them, not {n}; "
                          "use more --months or fewer --quarters")
    return ok[-n:]


def pooled(quality: pd.DataFrame, model: str, column: str = "auc") -> float:
    row = quality[(quality["stage"] == "all") & (quality["model"] == model)]
    return float(row[column].iat[0]) if len(row) else np.nan


def truth_auc(history, window: pd.DataFrame, start: pd.Timestamp) -> float:
    """AUC of the true churn probability on the quarter's labelled snapshots: the ceiling."""
    from hscore.calibration.evaluation import auc

    rows = (window["snapshot_date"] >= start) & window["churned"].notna()
    part = window[rows]
    prob = history.truth.probability(part)
    scored = ~np.isnan(prob)     # rows too thinly measured to score have no probability
    return auc(part["churned"].to_numpy()[scored], prob[scored])


def champion_config(tmp: Path):
    """The champion's config, through the export production uses."""
    from hscore.config import load_config
    from hscore.mlops.export import export_config
    from hscore.mlops.model import MODEL_NAME

    return load_config(export_config(f"models:/{MODEL_NAME}@champion", tmp / "champion.yaml"))


def calibrate_quiet(frame, config, **kwargs):
    from hscore.calibration import calibrate

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = calibrate(frame, config, **kwargs)
    notes = [str(w.message) for w in caught
             if w.category.__module__.startswith("hscore")]
    return result, notes


def main(argv: list[str] | None = None) -> int:
    import logging

    import mlflow  # noqa: F401 - imported first: it sets its loggers up, then we quieten them

    args = parse_args(argv)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module=r"mlflow(\.|$)")
    from hscore import synth
    from hscore.mlops import store, tracking
    from hscore.mlops.promotion import promote

    started = time.perf_counter()
    uri = use_store(args.tracking_uri)
    history = synth.make_history(n_accounts=args.accounts, months=args.months, seed=args.seed,
                                 truth=args.truth)
    frame, horizon = history.frame, history.horizon_days
    quarters = quarter_starts(frame, horizon, args.quarters)
    print(f"{history!r}\nrecalibrating at {', '.join(str(q.date()) for q in quarters)}; "
          f"store {uri}", flush=True)

    rows, run_ids = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # Quarter 0: the documented defaults are the champion to beat (infinite penalty
        # strength keeps the default weights; only the probability mapping is fitted).
        before = frame[frame["snapshot_date"] < quarters[0]]
        baseline, _ = calibrate_quiet(before, "lifecycle", horizon_days=horizon,
                                      strengths=[np.inf], n_bootstrap=0, seed=args.seed)
        info = tracking.log_calibration(baseline, frame=before,
                                        run_name="documented defaults (baseline)")
        first = promote(info.model_version, snapshots=before, force=True)
        print(f"baseline: documented defaults registered as version {info.model_version} "
              f"({first.decision})", flush=True)

        for start in quarters:
            end = start + pd.DateOffset(months=3)
            window = frame[frame["snapshot_date"] < end].reset_index(drop=True)
            base = (champion_config(tmp) if args.start_from == "champion" else "lifecycle")
            # refit "train": the challenger must not have seen the quarter it is judged on
            result, notes = calibrate_quiet(window, base, holdout_from=start, refit="train",
                                            horizon_days=horizon, n_bootstrap=args.bootstrap,
                                            seed=args.seed)
            info = tracking.log_calibration(result, frame=window,
                                            run_name=f"quarter from {start.date()}")
            run_ids.append(info.run_id)
            decision = promote(snapshots=window, tolerance=args.tolerance)
            table = decision.table.set_index("stage") if len(decision.table) else None
            row = {
                "quarter": str(start.to_period("Q")), "holdout_from": str(start.date()),
                "train_rows": sum(f.counts.n_rows for f in result.fits.values()),
                "train_events": sum(f.counts.n_events for f in result.fits.values()),
                "holdout_rows": sum(f.holdout.n_rows for f in result.fits.values()),
                "holdout_events": sum(f.holdout.n_events for f in result.fits.values()),
                "stages_calibrated": sum(not f.status.kept_input
                                         for f in result.fits.values()),
                "auc_calibrated": pooled(result.quality, "calibrated"),
                "auc_start_config": pooled(result.quality, "input"),
                "auc_reference": pooled(result.quality, "reference"),
                "auc_challenger": (table.loc["all", "auc_challenger"]
                                   if table is not None else np.nan),
                "auc_champion": (table.loc["all", "auc_champion"]
                                 if table is not None else np.nan),
                "auc_truth": truth_auc(history, window, start),
                "challenger": str(decision.challenger),
                "champion_before": str(decision.champion),
                "decision": decision.decision,
                "notes": len(notes),
            }
            rows.append(row)
            print(f"{row['quarter']}: calibrated AUC {row['auc_calibrated']:.3f}, champion "
                  f"v{row['champion_before']} {row['auc_champion']:.3f}, truth "
                  f"{row['auc_truth']:.3f} -> {row['decision']}", flush=True)

    report = pd.DataFrame(rows)
    print("\nholdout AUC per quarter (pooled over stages; each quarter is the holdout of a "
          "calibration on the data before it)")
    shown = ["quarter", "train_events", "holdout_rows", "holdout_events", "auc_calibrated",
             "auc_start_config", "auc_champion", "auc_truth", "champion_before", "decision"]
    print(report[shown].round(3).to_string(index=False))
    run_id = log_summary(args, report, run_ids)
    print(f"\nlogged summary run {run_id} in experiment '{EXPERIMENT}'")
    print(store.describe_store())
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0 if np.isfinite(report["auc_calibrated"]).all() else 1


def log_summary(args, report: pd.DataFrame, run_ids: list[str]) -> str:
    import mlflow
    from matplotlib.figure import Figure

    from hscore.mlops import store

    fig = Figure(figsize=(6.4, 4), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(report))
    for col, label, style in (("auc_calibrated", "calibrated (challenger)", "o-"),
                              ("auc_champion", "champion before the quarter", "s--"),
                              ("auc_truth", "true churn model (ceiling)", "^:")):
        ax.plot(x, report[col], style, label=label)
    ax.set_xticks(x, report["quarter"])
    ax.set_xlabel("quarter (holdout of the calibration made at its start)")
    ax.set_ylabel("holdout AUC, pooled over stages (0–1)")
    ax.set_title("Quarterly recalibration: AUC per quarter")
    ax.legend(fontsize=8)

    with store.opened(create=True, lock=True):
        exp_id = store.ensure_experiment(EXPERIMENT)
        name = f"{args.quarters} quarters, {args.accounts} accounts"
        with mlflow.start_run(experiment_id=exp_id, run_name=name) as run:
            mlflow.log_params({"accounts": args.accounts, "months": args.months,
                               "quarters": args.quarters, "seed": args.seed,
                               "bootstrap": args.bootstrap, "truth": args.truth,
                               "start_from": args.start_from, "tolerance": args.tolerance})
            for i, r in report.iterrows():
                mlflow.log_metrics({k: float(r[k]) for k in (
                    "auc_calibrated", "auc_start_config", "auc_champion", "auc_truth")
                    if pd.notna(r[k])}, step=int(i))
            mlflow.set_tag("calibration_runs", ",".join(run_ids))
            mlflow.log_text(report.to_csv(index=False), "auc_by_quarter.csv")
            mlflow.log_figure(fig, "auc_by_quarter.png")
        return run.info.run_id


if __name__ == "__main__":
    sys.exit(main())

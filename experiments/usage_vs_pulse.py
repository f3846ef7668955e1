"""Is product usage more predictive of churn than CSM pulse in the maturity stage?

The seeds claim product usage "a far more predictive indicator" than NPS or
CSM pulse. This experiment asks how much data :func:`hscore.calibration.compare.compare`
needs to show it: over several book sizes and seeds it draws a synthetic
history (whose true weights are known), compares the ``product_usage``
component with the ``csm_pulse`` metric in ``maturity``, and reports per size
how often the verdict finds usage more predictive (the power), the AUCs and
the ΔAUC with its bootstrap CI. Under ``--truth shifted`` (default) usage
carries far more true weight than pulse; ``--truth defaults`` gives the
documented weights.

Everything goes to MLflow (experiment ``usage-vs-pulse`` in the project's
store, see :mod:`hscore.mlops.store`): a parent run with the settings, the power
per size and the full table, and one nested run per (size, seed).

Run::

    python -m experiments.usage_vs_pulse                      # defaults: about a minute
    python -m experiments.usage_vs_pulse --sizes 300 600 --seeds 0 1 --bootstrap 200
    python -m experiments.usage_vs_pulse --a events_30d --b stickiness   # equal true weights:
                                                              # how often a false difference?
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd

EXPERIMENT = "usage-vs-pulse"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m experiments.usage_vs_pulse",
                                description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 200, 400, 1000],
                   help="synthetic book sizes, in accounts (default: 50 100 200 400 1000)")
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(10)),
                   help="one synthetic history per seed and size (default: 0 to 9)")
    p.add_argument("--months", type=int, default=24, help="monthly snapshots (default: 24)")
    p.add_argument("--bootstrap", type=int, default=500,
                   help="paired account-bootstrap resamples for the ΔAUC CI (default: 500)")
    p.add_argument("--truth", choices=["shifted", "defaults"], default="shifted",
                   help="ground-truth churn model of the synthetic data (default: shifted)")
    p.add_argument("--stage", default="maturity")
    p.add_argument("--a", default="product_usage", help="first signal (metric or component)")
    p.add_argument("--b", default="csm_pulse", help="second signal (metric or component)")
    p.add_argument("--no-track", action="store_true", help="print only, log nothing to MLflow")
    return p.parse_args(argv)


def true_weight(truth, config, stage: str, signal: str) -> float:
    """The signal's true effective weight: a metric's, or the sum over a component's metrics."""
    weights = truth.weights(stage)
    components = config.stages[stage].components
    names = list(components[signal].metrics) if signal in components else [signal]
    return float(weights[names].sum())


def run_one(size: int, seed: int, args) -> dict:
    from hscore import synth
    from hscore.calibration.compare import compare

    started = time.perf_counter()
    history = synth.make_history(n_accounts=size, months=args.months, seed=seed,
                                 truth=args.truth)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # thin-data notes are in result.warnings
        result = compare(history.frame, history.config, args.stage, args.a, args.b,
                         n_bootstrap=args.bootstrap, seed=seed,
                         horizon_days=history.horizon_days)
    lo, hi = result.delta_auc_ci
    found = "a" if lo > 0 else "b" if hi < 0 else "none"
    lift = result.lift
    return {
        "size": size, "seed": seed, "rows": result.n_rows, "accounts": result.n_accounts,
        "events": result.n_events,
        "true_weight_a": true_weight(history.truth, history.config, args.stage, args.a),
        "true_weight_b": true_weight(history.truth, history.config, args.stage, args.b),
        "auc_a": result.auc[args.a], "auc_b": result.auc[args.b],
        "delta_auc": result.delta_auc, "ci_low": lo, "ci_high": hi,
        "wald_p": result.wald["p_value"],
        "churned_at_risk_a": lift.loc[args.a, "churned_at_risk"],
        "churned_at_risk_b": lift.loc[args.b, "churned_at_risk"],
        "more_predictive": {"a": args.a, "b": args.b, "none": "no evidence"}[found],
        "a_found_better": found == "a",
        "b_found_better": found == "b",
        "seconds": time.perf_counter() - started,
        "_result": result,
    }


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per size: power (share of seeds where a is found better), mean AUCs and ΔAUC."""
    g = table.groupby("size")
    return pd.DataFrame({
        "seeds": g.size(),
        "mean_events": g["events"].mean().round(1),
        "auc_a": g["auc_a"].mean(),
        "auc_b": g["auc_b"].mean(),
        "delta_auc": g["delta_auc"].mean(),
        "mean_ci_width": (g["ci_high"].mean() - g["ci_low"].mean()),
        "power_a_better": g["a_found_better"].mean(),
        "share_b_better": g["b_found_better"].mean(),
    })


def log_to_mlflow(args, table: pd.DataFrame, summary: pd.DataFrame, figures: dict) -> str:
    import mlflow

    from hscore.mlops import store

    with store.opened(create=True, lock=True):
        exp_id = store.ensure_experiment(EXPERIMENT)
        name = f"{args.a} vs {args.b} in {args.stage} ({args.truth} truth)"
        with mlflow.start_run(experiment_id=exp_id, run_name=name) as parent:
            mlflow.log_params({"sizes": " ".join(map(str, args.sizes)),
                               "seeds": " ".join(map(str, args.seeds)),
                               "months": args.months, "bootstrap": args.bootstrap,
                               "truth": args.truth, "stage": args.stage, "a": args.a,
                               "b": args.b})
            for size, row in summary.iterrows():
                mlflow.log_metrics({f"power_a_better.n{size}": row["power_a_better"],
                                    f"delta_auc.n{size}": row["delta_auc"],
                                    f"auc_a.n{size}": row["auc_a"],
                                    f"auc_b.n{size}": row["auc_b"]})
            mlflow.log_text(table.to_csv(index=False), "results.csv")
            mlflow.log_text(summary.to_csv(), "summary_by_size.csv")
            mlflow.log_table(table, "results.json")
            for fname, fig in figures.items():
                mlflow.log_figure(fig, fname)
            for _, r in table.iterrows():
                with mlflow.start_run(experiment_id=exp_id, nested=True,
                                      run_name=f"n={r['size']} seed={r['seed']}"):
                    mlflow.log_params({"size": r["size"], "seed": r["seed"]})
                    mlflow.log_metrics({k: float(r[k]) for k in (
                        "rows", "events", "auc_a", "auc_b", "delta_auc", "ci_low", "ci_high",
                        "wald_p", "true_weight_a", "true_weight_b") if pd.notna(r[k])})
                    mlflow.set_tag("verdict", r["more_predictive"])
        return parent.info.run_id


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from hscore import plots

    started = time.perf_counter()
    rows, figures = [], {}
    for size in args.sizes:
        for seed in args.seeds:
            row = run_one(size, seed, args)
            result = row.pop("_result")
            if seed == args.seeds[0]:
                figures[f"compare_lift_n{size}_seed{seed}.png"] = plots.compare_lift(result)
            rows.append(row)
            print(f"n={size:>5} seed={seed}: AUC {row['auc_a']:.3f} vs {row['auc_b']:.3f}, "
                  f"ΔAUC {row['delta_auc']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}] "
                  f"-> {row['more_predictive']}", flush=True)
    table = pd.DataFrame(rows)
    summary = summarize(table)
    print(f"\n{args.a} vs {args.b} in {args.stage}, {args.truth} truth "
          f"(true weights {table['true_weight_a'].iat[0]:.3f} vs "
          f"{table['true_weight_b'].iat[0]:.3f}); power = share of seeds whose 95% CI "
          f"finds {args.a} more predictive")
    print(summary.round(3).to_string())
    if not args.no_track:
        from hscore.mlops import store

        run_id = log_to_mlflow(args, table, summary, figures)
        print(f"\nlogged MLflow run {run_id} in experiment '{EXPERIMENT}'")
        print(store.describe_store())
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0 if np.isfinite(table["delta_auc"]).all() else 1


if __name__ == "__main__":
    sys.exit(main())

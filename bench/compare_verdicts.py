"""How often does ``hscore.calibration.compare`` give the right verdict on data with a known truth?

``python -m bench compare [--seeds 50] [--n-per-stage 20000] [--bootstrap 500]``

For each seed, a fresh :func:`hscore.synth.make_stage_sample` (truth "shifted") is drawn
and two comparisons run in the maturity stage:

- **strong**: the product-usage metric with the largest true coefficient against
  ``csm_pulse`` (0.30 vs 0.02 effective weight). Right when the ΔAUC CI excludes 0 on the
  side of the truly stronger metric (the verdict names it as more predictive).
- **equal**: ``events_30d`` against ``stickiness`` (equal true weight, generated alike).
  Right when the verdict says "no evidence of a difference" (the CI covers 0); at a 95% CI
  about 95% is expected.

Prints the share of right verdicts per check (target >= 90%), how often the Wald test
agrees (p < 0.05 for strong, p >= 0.05 for equal), the time taken, the peak memory and the
time of one compare against a reference measured in the same run (one plain statsmodels
Logit fit and two sklearn AUCs on the same rows, no bootstrap), and the load average
(``bench.load``; a share of right verdicts is judged whatever the load). Exit status 1
when a verdict rate misses the target.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import warnings

import numpy as np
import pandas as pd

from bench.load import read_load

STAGE = "maturity"
EQUAL_PAIR = ("events_30d", "stickiness")
TARGET = 0.90


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench compare",
                                description="compare verdict rates over seeds")
    p.add_argument("--seeds", type=int, default=50, help="number of seeds (default 50)")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--n-per-stage", type=int, default=20000,
                   help="labelled snapshots per stage (default 20000)")
    p.add_argument("--bootstrap", type=int, default=500, help="account resamples (default 500)")
    return p.parse_args(argv)


def _strong_pair(history) -> tuple[str, str]:
    coef = history.truth.coef[STAGE]
    usage = list(history.config.stages[STAGE].components["product_usage"].metrics)
    return str(coef[usage].idxmax()), "csm_pulse"


def _reference_seconds(frame: pd.DataFrame, config, a: str, b: str) -> float:
    """One plain statsmodels Logit on the two standardized sub-scores and two sklearn AUCs."""
    import statsmodels.api as sm
    from sklearn.metrics import roc_auc_score

    from hscore.scoring.scorer import HealthScorer

    scorer = HealthScorer(config)
    sub = scorer.subscores(frame)[STAGE]
    cols = [sub.metrics.index(a), sub.metrics.index(b)]
    x = sub.values[:, cols]
    y = frame["churned"].to_numpy()[sub.rows]
    keep = ~np.isnan(y) & ~np.isnan(x).any(axis=1)
    start = time.perf_counter()
    x, y = x[keep], y[keep]
    z = (x - x.mean(0)) / x.std(0)
    sm.Logit(y, sm.add_constant(z)).fit(disp=0)
    roc_auc_score(y, -x[:, 0])
    roc_auc_score(y, -x[:, 1])
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    args = _parse(list(argv))
    from hscore import synth
    from hscore.calibration.compare import NO_EVIDENCE, compare

    seeds = range(args.first_seed, args.first_seed + args.seeds)
    load = read_load()
    rows = []
    t_synth = t_compare = 0.0
    ref_seconds = []
    wall = time.perf_counter()
    for seed in seeds:
        t0 = time.perf_counter()
        h = synth.make_stage_sample(args.n_per_stage, seed=seed)
        t_synth += time.perf_counter() - t0
        strong = _strong_pair(h)
        coef = h.truth.coef[STAGE]
        if not coef[EQUAL_PAIR[0]] == coef[EQUAL_PAIR[1]]:
            print(f"error: the truth no longer gives {EQUAL_PAIR} equal weight", file=sys.stderr)
            return 2
        for check, (a, b) in (("strong", strong), ("equal", EQUAL_PAIR)):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = compare(h.frame, h.config, STAGE, a, b, n_bootstrap=args.bootstrap,
                            seed=seed, horizon_days=h.horizon_days)
            t_compare += time.perf_counter() - t0
            lo, hi = r.delta_auc_ci
            truly_better = a if coef[a] > coef[b] else b
            if check == "strong":
                right = (lo > 0 if truly_better == a else hi < 0) \
                    and f"{truly_better} is more predictive" in r.verdict
                wald_right = r.wald["p_value"] < 0.05
            else:
                right = NO_EVIDENCE in r.verdict
                wald_right = r.wald["p_value"] >= 0.05
            rows.append({"seed": seed, "check": check, "pair": f"{a} vs {b}", "right": right,
                         "wald_right": wald_right, "delta_auc": r.delta_auc,
                         "ci_low": lo, "ci_high": hi, "rows": r.n_rows})
        if seed == args.first_seed:
            ref_seconds.append(_reference_seconds(h.frame, h.config, *strong))
    wall = time.perf_counter() - wall
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    df = pd.DataFrame(rows)
    n_compare = len(df)
    table = (df.groupby("check", sort=False)
             .agg(pair=("pair", "first"), seeds=("seed", "size"), right=("right", "sum"),
                  verdict_rate=("right", "mean"), wald_rate=("wald_right", "mean"),
                  mean_delta_auc=("delta_auc", "mean"),
                  mean_ci_width=("ci_high", "mean"), rows=("rows", "mean")))
    table["mean_ci_width"] -= df.groupby("check", sort=False)["ci_low"].mean()
    table["target"] = TARGET
    table["ok"] = table["verdict_rate"] >= TARGET
    per_compare = t_compare / n_compare
    print(f"compare verdicts: stage {STAGE}, {args.seeds} seeds "
          f"({args.first_seed}..{args.first_seed + args.seeds - 1}), "
          f"{args.n_per_stage} labelled snapshots per stage, {args.bootstrap} account resamples")
    print(table.round(4).to_string())
    for check, row in table.iterrows():
        print(f"target: {check} verdicts right >= {TARGET:.0%}: "
              f"{load.verdict(bool(row['ok']), timed=False)}")
    print(f"{load.describe()} (the verdict rates do not depend on it)")
    print()
    timing = pd.DataFrame([
        {"what": "whole run", "seconds": wall, "per_item": wall / args.seeds, "unit": "seed"},
        {"what": "synth.make_stage_sample", "seconds": t_synth,
         "per_item": t_synth / args.seeds, "unit": "seed"},
        {"what": "compare (incl. bootstrap)", "seconds": t_compare, "per_item": per_compare,
         "unit": "compare"},
        {"what": "reference: Logit + 2 sklearn AUCs", "seconds": float(np.sum(ref_seconds)),
         "per_item": float(np.mean(ref_seconds)), "unit": "compare"},
    ]).set_index("what")
    print(timing.round(3).to_string())
    print(f"compare / reference: {per_compare / np.mean(ref_seconds):.1f}x "
          f"(the reference has no bootstrap and no data checks); "
          f"compared (maturity) rows/s: {df['rows'].mean() / per_compare:,.0f}; "
          f"peak memory {peak_mb:,.0f} MB")
    return 0 if bool(table["ok"].all()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Segment weights against a known truth: do they recover each segment, and do no harm?

``python -m bench segments [--seeds 5] [--accounts 4000] [--bootstrap 0]``

For each seed, two books of :func:`hscore.synth.make_segmented_book` (``--accounts``
enterprise and as many smb accounts, one snapshot each, an account-grouped 20% holdout):

- **differ**: enterprise accounts churn on the relationship, smb accounts on usage
  (``synth.SEGMENT_TRUE_WEIGHTS``). Both configs are calibrated: the one that declares the
  two segments (partial pooling toward the stage) and the pooled one (no segments); and, as
  the reference, each segment's rows on their own. Reported: per segment, the largest
  |weight - true weight| of the segment's weights, of the segment calibrated alone and of
  the pooled weights; the book's holdout log-loss and AUC under each. Target: segment weights
  within 0.05 of their truth on every seed.
- **same**: both segments share one truth. Target: the segmented calibration's holdout
  log-loss is no worse than the pooled one's by more than 0.002 on every seed (no harm).

Also the time of the segmented calibration against the pooled one measured in the same run
(a ratio; the segmented one fits three cells), and the load average (``bench.load``: the
accuracy targets are judged whatever the load). Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd

from bench.load import read_load

WEIGHT_TOLERANCE = 0.05
HARM_TOLERANCE = 0.002


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench segments",
                                description="segment weights against a known truth")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--accounts", type=int, default=4000, help="accounts per segment")
    p.add_argument("--bootstrap", type=int, default=0, help="account resamples (CIs)")
    return p.parse_args(argv)


def _book_quality(result) -> pd.Series:
    """The calibrated model's holdout row for the whole book ("book" with segments)."""
    q = result.quality[result.quality["model"] == "calibrated"].set_index("stage")
    return q.loc["book" if "book" in q.index else "all"]


def _max_error(result, key: str, truth: dict[str, float]) -> float:
    s = result.summary()
    got = s[s["stage"] == key].set_index("metric")["weight"]
    return float(max(abs(got[m] - w) for m, w in truth.items()))


def main(argv: list[str]) -> int:
    args = _parse(list(argv))
    from hscore import calibrate, synth

    with warnings.catch_warnings():   # imports and first-call costs out of the timings
        warnings.simplefilter("ignore")
        small = synth.make_segmented_book(300, seed=99)
        calibrate(small.frame, small.segmented_config, n_bootstrap=2)
    load = read_load()
    rows, timings = [], {"segmented": 0.0, "pooled": 0.0}
    for seed in range(args.seeds):
        for differ in (True, False):
            book = synth.make_segmented_book(args.accounts, seed=seed, differ=differ)
            fits = {}
            for name, cfg in (("segmented", book.segmented_config), ("pooled", book.config)):
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fits[name] = calibrate(book.frame, cfg, n_bootstrap=args.bootstrap,
                                           seed=seed)
                timings[name] += time.perf_counter() - t0
            row = {"seed": seed, "book": "differ" if differ else "same"}
            for key, truth in book.true_weights.items():
                seg = key.split("/")[1]
                row[f"err_{seg}"] = _max_error(fits["segmented"], key, truth)
                row[f"err_{seg}_pooled"] = _max_error(fits["pooled"], "all", truth)
                # Reference: the segment's rows calibrated on their own (no pooling at all).
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    alone = calibrate(book.frame[book.frame["segment"] == seg], book.config,
                                      n_bootstrap=0, seed=seed)
                row[f"err_{seg}_alone"] = _max_error(alone, "all", truth)
                row[f"strength_{seg}"] = fits["segmented"].fits[key].exported.strength
            for name, result in fits.items():
                q = _book_quality(result)
                row[f"log_loss_{name}"] = float(q["log_loss"])
                row[f"auc_{name}"] = float(q["auc"])
            rows.append(row)
    df = pd.DataFrame(rows)
    print(f"segment weights: {args.seeds} seeds, {args.accounts} accounts per segment "
          f"(enterprise, smb), one snapshot each, account-grouped holdout, "
          f"{args.bootstrap} bootstrap resamples")
    print(df.round(4).to_string(index=False))
    differ, same = df[df["book"] == "differ"], df[df["book"] == "same"]
    worst = max(differ["err_enterprise"].max(), differ["err_smb"].max())
    harm = float((same["log_loss_segmented"] - same["log_loss_pooled"]).max())
    ok_weights = worst <= WEIGHT_TOLERANCE
    ok_harm = harm <= HARM_TOLERANCE
    alone = max(differ["err_enterprise_alone"].max(), differ["err_smb_alone"].max())
    pooled = max(differ["err_enterprise_pooled"].max(), differ["err_smb_pooled"].max())
    print(f"differ: worst segment weight error {worst:.4f} (each segment calibrated alone: "
          f"{alone:.4f}; the pooled fit against the same truths: {pooled:.4f}); "
          f"mean holdout log-loss segmented {differ['log_loss_segmented'].mean():.4f} vs pooled "
          f"{differ['log_loss_pooled'].mean():.4f}, AUC {differ['auc_segmented'].mean():.4f} "
          f"vs {differ['auc_pooled'].mean():.4f}")
    print(f"same: largest log-loss excess of segmented over pooled {harm:+.4f}; mean "
          f"{same['log_loss_segmented'].mean():.4f} vs {same['log_loss_pooled'].mean():.4f}")
    print(f"target: segment weights within {WEIGHT_TOLERANCE} of their truth: "
          f"{load.verdict(ok_weights, timed=False)}")
    print(f"target: no harm (log-loss excess <= {HARM_TOLERANCE}): "
          f"{load.verdict(ok_harm, timed=False)}")
    n = 2 * args.seeds
    print(f"calibration seconds per book: segmented {timings['segmented'] / n:.2f}, pooled "
          f"{timings['pooled'] / n:.2f} ({timings['segmented'] / timings['pooled']:.2f}x, same "
          f"run)")
    print(load.describe())
    return 0 if ok_weights and ok_harm else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Benchmark: how much of gradient boosting's lift learned transforms capture.

``python -m bench transforms [--accounts N] [--months M] [--seeds S]``

Data: ``hscore.synth.make_curved_book`` (one stage, six metrics, four of whose true
effects saturate or bend; the analyst's config has straight ``linear`` transforms), one
book per seed. Each book is calibrated twice with an out-of-time holdout (the last ~20% of
labelled rows), exporting the train-window fit (``refit="train"``) so that nothing scored
on the holdout saw it:

- **keep**: the configured linear transforms, weights calibrated;
- **learn**: ``transforms="learn"`` (monotone piecewise curves where account-grouped CV
  says so), weights calibrated.

The reference, measured in the same run on the same training rows: scikit-learn's
``HistGradientBoostingClassifier`` on the raw metrics, twice (library defaults, and a
regularized one: learning rate 0.05, up to 500 trees with early stopping, 50 rows per
leaf); the better holdout AUC of the two is ``AUC_gbm``. **Lift capture** is
``(AUC - 0.5) / (AUC_gbm - 0.5)`` on the holdout; the target is >= 90% for ``learn``. The
true model's AUC on the same rows is printed as the ceiling.

Also on a book whose truth is linear (``shape="linear"``): how many metrics
cross-validation wrongly turns piecewise (target 0). Timing: ``learn`` over ``keep``
calibration seconds, with the load average (the ratio is informative, not a target).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from bench.load import read_load

__all__ = ["main", "lift_capture"]

TARGET_CAPTURE = 0.90


def _auc(y, risk):
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, risk))


def lift_capture(book, seed: int = 0) -> dict[str, float]:
    """Holdout AUCs of keep, learn, the GBMs and the truth on one book, and the seconds."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from hscore import HealthScorer
    from hscore.calibration import Calibrator

    frame = book.frame
    out: dict[str, float] = {}
    configs = {}
    for kind in ("keep", "learn"):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = Calibrator(book.config, transforms=kind, refit="train", n_bootstrap=0,
                             seed=seed).fit(frame)
        out[f"{kind}_seconds"] = time.perf_counter() - start
        configs[kind] = est.result_.config
        holdout = est.result_.holdout
    out["piecewise"] = float(sum(c.chosen == "piecewise" for c in est.result_.transforms))
    labelled = frame[frame["churned"].notna()].reset_index(drop=True)
    days = labelled["snapshot_date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    split = holdout.split(days, labelled["account_id"].to_numpy())
    train, hold = labelled[split.train], labelled[split.holdout]
    y = hold["churned"].to_numpy()
    for kind, cfg in configs.items():
        risk = -HealthScorer(cfg).score(hold, trend=False)["score"].to_numpy()
        ok = ~np.isnan(risk)         # a row without a score (coverage) has no rank
        out[kind] = _auc(y[ok], risk[ok])
    features = book.config.metric_names
    gbms = {"gbm_default": HistGradientBoostingClassifier(random_state=seed),
            "gbm_tuned": HistGradientBoostingClassifier(
                learning_rate=0.05, max_iter=500, early_stopping=True, n_iter_no_change=20,
                min_samples_leaf=50, random_state=seed)}
    for name, gbm in gbms.items():
        gbm.fit(train[features], train["churned"])
        out[name] = _auc(y, gbm.predict_proba(hold[features])[:, 1])
    out["gbm"] = max(out["gbm_default"], out["gbm_tuned"])
    truth = book.truth.probability(hold)
    ok = ~np.isnan(truth)
    out["truth"] = _auc(y[ok], truth[ok])
    for kind in ("keep", "learn"):
        out[f"{kind}_capture"] = (out[kind] - 0.5) / (out["gbm"] - 0.5)
    out["holdout_rows"] = float(len(hold))
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench transforms")
    parser.add_argument("--accounts", type=int, default=6000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    from hscore.synth import make_curved_book

    load = read_load()
    print(load.describe())
    rows = []
    for seed in range(args.seeds):
        book = make_curved_book(args.accounts, args.months, seed=seed)
        r = lift_capture(book, seed)
        rows.append(r)
        print(f"seed {seed}: {len(book.frame)} rows, {r['holdout_rows']:.0f} holdout rows; "
              f"AUC keep {r['keep']:.4f}  learn {r['learn']:.4f}  gbm {r['gbm']:.4f} "
              f"(default {r['gbm_default']:.4f}, tuned {r['gbm_tuned']:.4f})  truth "
              f"{r['truth']:.4f}; capture keep {r['keep_capture']:.1%}  learn "
              f"{r['learn_capture']:.1%}; {r['piecewise']:.0f} piecewise; seconds keep "
              f"{r['keep_seconds']:.1f} learn {r['learn_seconds']:.1f}", flush=True)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    ok = mean["learn_capture"] >= TARGET_CAPTURE
    print(f"mean over {args.seeds} books: capture of GBM lift keep {mean['keep_capture']:.1%}, "
          f"learn {mean['learn_capture']:.1%} (target >= {TARGET_CAPTURE:.0%}: "
          f"{load.verdict(ok, timed=False)}); truth captures "
          f"{(mean['truth'] - 0.5) / (mean['gbm'] - 0.5):.1%}")
    linear = make_curved_book(args.accounts, args.months, seed=100, shape="linear")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from hscore.calibration import Calibrator

        est = Calibrator(linear.config, transforms="learn", refit="train",
                         n_bootstrap=0).fit(linear.frame)
    wrong = [c.metric for c in est.result_.transforms if c.chosen == "piecewise"]
    print(f"linear truth: {len(wrong)} of {len(est.result_.transforms)} metrics turned "
          f"piecewise {wrong} (target 0: {load.verdict(not wrong, timed=False)})")
    ratio = mean["learn_seconds"] / mean["keep_seconds"]
    print(f"calibration seconds: learn / keep = {ratio:.2f} "
          f"({mean['learn_seconds']:.1f} s / {mean['keep_seconds']:.1f} s; "
          f"{load.describe()})")
    return 0 if ok and not wrong else 1

"""``python -m bench tracking``: what logging a calibration to MLflow costs next to the fit.

A synthetic lifecycle book (``--rows``, default about 7,000 snapshots) is calibrated as the
CLI does by default (CV over the strength grid, 200 bootstrap resamples), then logged and
registered into a new SQLite store in a temp folder twice (the first one pays the imports
of matplotlib and MLflow's model code, as one `hscore calibrate` does). The reference is the
fit, measured in the same run; the target: logging takes at most half as long as fitting.
Wall and CPU seconds are both shown: on a busy machine the wall clock says more about the
other work than about this code. The steps of the logging (plots, tables, the model,
the rest) are timed in CPU seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
import warnings

from bench.load import read_load

#: Logging may take at most this share of the fit's time.
TARGET_RATIO = 0.5


def _timed(fn, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench tracking")
    parser.add_argument("--rows", type=int, default=7000)
    args = parser.parse_args(argv)

    home = tempfile.mkdtemp(prefix="hscore-bench-tracking-")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{home}/mlruns.db"
    os.environ["HSCORE_HOME"] = home

    from hscore import synth
    from hscore.calibration import calibrate
    from hscore.mlops import model, store, tracking
    from hscore.scoring.snapshots import read_snapshots, write_frame

    history = synth.make_history(n_accounts=max(args.rows // 10, 50), months=20, seed=1)
    path = write_frame(history.frame, f"{home}/snapshots.csv")
    frame = read_snapshots(path)
    store.quiet_mlflow()
    with store.opened(create=True, lock=True):      # the schema, as an existing store has it
        store.ensure_experiment()

    steps: dict[str, float] = {}

    def timed_step(owner, name, label):
        inner = getattr(owner, name)

        def wrapper(*a, **k):
            start = time.process_time()
            try:
                return inner(*a, **k)
            finally:
                steps[label] = steps.get(label, 0.0) + time.process_time() - start
        setattr(owner, name, wrapper)

    timed_step(tracking, "_write_plots", "plots")
    timed_step(tracking, "_write_tables", "tables")
    timed_step(model, "register", "model")

    load = read_load()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result, fit_wall, fit_cpu = _timed(calibrate, frame, "lifecycle",
                                           horizon_days=history.horizon_days, seed=0)
    print(f"{len(frame)} rows; fit {fit_wall:.1f} s wall, {fit_cpu:.1f} s CPU")
    ok = True
    for attempt in ("first", "second"):
        steps.clear()
        with contextlib.redirect_stderr(io.StringIO()):
            _, wall, cpu = _timed(tracking.log_calibration, result, frame=frame,
                                  snapshots_path=path)
        rest = cpu - sum(steps.values())
        parts = ", ".join(f"{k} {v:.1f}" for k, v in steps.items())
        ratio = cpu / fit_cpu
        ok = ok and ratio <= TARGET_RATIO
        print(f"logging ({attempt}): {wall:.1f} s wall, {cpu:.1f} s CPU = {ratio:.2f}x the "
              f"fit's CPU (CPU s: {parts}, store and the rest {rest:.1f})")
    print(f"target: logging <= {TARGET_RATIO}x the fit: {load.verdict(ok)}")
    return 0

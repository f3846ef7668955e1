"""Benchmark: calibrate the lifecycle config on 1,000,000 snapshots over the four stages.

``python -m bench calibrate [--rows N] [--jobs J,J,...] [--sizes N,N,...] [--bootstrap B]
[--seed S] [--profile] [--no-sizes]``

What is measured:

- **calibrate**: ``hscore.calibrate(frame, "lifecycle", horizon_days=30,
  n_bootstrap=B, n_jobs=J)`` with the penalty strength chosen by 5-fold account-grouped
  cross-validation over the default grid (13 strengths), ``B`` account-bootstrap
  refits per stage (default 200) for the weight CIs and the holdout AUC CIs, the
  statsmodels coefficient tables, the holdout quality of the three models and
  the calibrated config. Wall seconds, CPU seconds (all threads), with the per-phase
  split of ``Calibrator.timings_``. The headline runs once per worker count in
  ``--jobs`` (default 1 and 2), and the results must be identical (the bench compares
  every exported weight, CI and bootstrap draw).
- **peak memory**: the peak resident set size (``VmHWM``) of a fresh process
  that reads the snapshot table from Parquet and calibrates it, so imports, the
  input frame and everything calibration allocates are counted. Beside it: the peak
  before ``calibrate`` (imports and reading the Parquet file, ``read MB``) and the
  rise of the resident set during ``calibrate`` itself (sampled every 5 ms,
  ``rise MB``). Targets: at most 60 s and 2 GB on 2 cores at 1,000,000 rows.
- **reference**: in the same process, one plain ``statsmodels`` Logit per stage
  on the same labelled sub-scores (the unconstrained fit an analyst would start
  from), best of three, BLAS on one thread as in ``calibrate``; ``ratio`` is
  calibrate / reference: how many plain fits the whole calibration costs (it runs
  about 270 fits per stage: 13 strengths x 5 folds, the final fit and 200
  bootstrap refits, plus the holdout AUC bootstraps).
- **scaling**: the same measurement at the ``--sizes`` (default 200,000, with the most
  workers of ``--jobs``); the headline's time over the 200,000-row time, against the
  5x of linear scaling.

Data: ``hscore.synth.make_stage_sample`` ("shifted" truth, no missing values),
sized to the requested number of rows (censored rows included), written to a
temporary Parquet file by the parent process so that data generation is not
part of any measurement. Each run is its own process (spawned), one at a
time. The machine's load average before each run is printed (``load``), and the
one before the headline decides whether the time target can be claimed
(``bench.load``): other work on the same cores slows every figure. CPU seconds are
less sensitive to it than wall seconds, and say what two free cores would need.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path

from bench.load import read_load

__all__ = ["main", "make_frame"]

TARGET_SECONDS = 60.0
TARGET_MEMORY_MB = 2048.0
SIZES = (200_000,)
JOBS = (1, 2)
_ROWS_PER_STAGE_SAMPLE = 4.2286  # frame rows per n_per_stage of make_stage_sample (measured)


def make_frame(rows: int, seed: int = 0):
    """A synthetic snapshot table with about ``rows`` rows over the four stages."""
    from hscore import synth

    n_per_stage = max(100, int(round(rows / _ROWS_PER_STAGE_SAMPLE)))
    return synth.make_stage_sample(n_per_stage, seed=seed).frame


def _rss_mb() -> float:
    """Peak resident set size of this process so far (MB): ``VmHWM``, the high-water mark
    of this process image. (``ru_maxrss`` would carry over the parent's peak across the
    fork + exec that starts a spawned worker.)"""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class _RssSampler:
    """Samples the current RSS every 5 ms in a thread: the rise during calibration itself."""

    def __init__(self):
        import threading

        self.peak = self.start = _current_rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _current_rss_mb())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _current_rss_mb())


def _worker(path: str, n_bootstrap: int, seed: int, jobs: int, profile: bool, queue
            ) -> None:
    """Run in a fresh process: read the table, calibrate it, time a plain reference."""
    import warnings

    import numpy as np
    import pandas as pd
    import statsmodels.api as sm

    from hscore.calibration import CalibrationWarning, Calibrator
    from hscore.calibration.design import build_designs

    frame = pd.read_parquet(path)
    rss_before = _rss_mb()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    start, cpu_start = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(), _RssSampler() as sampler:
        warnings.simplefilter("ignore", CalibrationWarning)
        estimator = Calibrator("lifecycle", horizon_days=30, n_bootstrap=n_bootstrap,
                               seed=seed, n_jobs=jobs).fit(frame)
    result = estimator.result_
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    if profiler is not None:
        import io
        import pstats

        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        profile_text = out.getvalue()
    else:
        profile_text = ""
    peak = _rss_mb()

    # Reference: one unconstrained statsmodels Logit per stage on the same sub-scores, best
    # of three, with BLAS on one thread as calibrate runs it (threaded BLAS on tall, thin
    # matrices only adds noise on a shared machine).
    from threadpoolctl import threadpool_limits

    designs = build_designs(frame, result.base_config).designs
    reference = float("inf")
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(3):
            ref_start = time.perf_counter()
            for design in designs.values():
                sm.Logit(design.y, sm.add_constant(design.X)).fit(disp=0)
            reference = min(reference, time.perf_counter() - ref_start)
    queue.put({
        "rows": len(frame), "jobs": jobs, "cpu": cpu,
        "fingerprint": _fingerprint(result),
        "labelled": int(frame["churned"].notna().sum()),
        "seconds": seconds, "reference": reference, "rss_before_mb": rss_before,
        "rise_mb": sampler.peak - sampler.start,
        "peak_mb": peak, "timings": estimator.timings_,
        "strengths": result.chosen_strength,
        "events": {s: f.counts.n_events for s, f in result.fits.items()},
        "bootstrap_ok": {s: (0 if f.exported.draws is None else len(f.exported.draws))
                         for s, f in result.fits.items()},
        "auc": float(result.quality.set_index(["stage", "model"]).loc[("all", "calibrated"),
                                                                     "auc"]),
        "profile": profile_text,
        "blas_threads_env": os.environ.get("OPENBLAS_NUM_THREADS", "(unset)"),
        "np": np.__version__,
    })


def _fingerprint(result) -> str:
    """A digest of every exported weight, CI, bootstrap draw and CV table: equal digests
    mean bit-identical results."""
    import hashlib

    import numpy as np

    digest = hashlib.sha256()
    for key in sorted(result.fits):
        fit = result.fits[key]
        for part in (fit.exported.weights, fit.exported.draws, fit.exported.ci,
                     fit.exported.component_ci,
                     None if fit.cv is None else fit.cv.table.to_numpy()):
            if part is not None:
                digest.update(np.ascontiguousarray(part, dtype=np.float64).tobytes())
    return digest.hexdigest()[:12]


def _measure(rows: int, n_bootstrap: int, seed: int, jobs: int, profile: bool,
             folder: Path) -> dict:
    path = folder / f"snapshots_{rows}.parquet"
    if not path.exists():
        make_frame(rows, seed).to_parquet(path, index=False)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    load = os.getloadavg()[0]          # before the run: what else the machine was doing
    proc = ctx.Process(target=_worker, args=(str(path), n_bootstrap, seed, jobs, profile,
                                             queue))
    proc.start()
    out = queue.get()
    proc.join()
    return {**out, "load": load}


def _row(m: dict) -> str:
    t = m["timings"]
    ratio = m["seconds"] / m["reference"] if m["reference"] > 0 else float("nan")
    return (f"{m['rows']:>9,} {m['jobs']:>4} {m['load']:>5.1f} {m['seconds']:>8.1f} "
            f"{m['cpu']:>6.1f} {m['rows'] / m['seconds']:>8,.0f} {m['peak_mb']:>7.0f} "
            f"{m['rss_before_mb']:>7.0f} {m['rise_mb']:>7.0f} "
            f"{m['reference']:>6.2f} {ratio:>5.0f}x "
            f"{t.get('cross_validation', 0):>6.1f} {t.get('bootstrap', 0):>6.1f} "
            f"{t.get('evaluation', 0):>6.1f} {t.get('inference', 0) + t.get('design', 0):>6.1f}"
            f"  {m['fingerprint']}")


_HEADER = (f"{'rows':>9} {'jobs':>4} {'load':>5} {'seconds':>8} {'cpu s':>6} {'rows/s':>8} "
           f"{'peak MB':>7} {'read MB':>7} {'rise MB':>7} {'ref s':>6} {'ratio':>6} "
           f"{'cv s':>6} {'boot s':>6} {'eval s':>6} {'other':>6}  result")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench calibrate",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="rows of the headline run (default 1000000)")
    parser.add_argument("--jobs", default=",".join(map(str, JOBS)),
                        help="comma-separated worker counts of the headline runs (default 1,2; "
                             "the target is judged on the last)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)),
                        help="comma-separated row counts for the scaling table (default 200000)")
    parser.add_argument("--no-sizes", action="store_true", help="only the headline runs")
    parser.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true",
                        help="print a cProfile of the first headline run")
    args = parser.parse_args(argv)
    sizes = [] if args.no_sizes else [int(s) for s in args.sizes.split(",") if s.strip()]
    jobs = [int(j) for j in args.jobs.split(",") if j.strip()]

    print(f"calibrate benchmark: bootstrap {args.bootstrap}, "
          f"CV 5 folds x 13 strengths, workers {jobs}; targets {TARGET_SECONDS:.0f} s and "
          f"{TARGET_MEMORY_MB:.0f} MB at {args.rows:,} rows with {jobs[-1]} workers")
    with tempfile.TemporaryDirectory(prefix="hscore-bench-") as tmp:
        folder = Path(tmp)
        runs = []
        for i, j in enumerate(jobs):
            if i == len(jobs) - 1:
                load = read_load()      # the headline: the last worker count
                print(load.describe(), flush=True)
            runs.append(_measure(args.rows, args.bootstrap, args.seed, j,
                                 args.profile and i == 0, folder))
        head = runs[-1]
        for rows in sizes:
            if rows != args.rows:
                runs.append(_measure(rows, args.bootstrap, args.seed, jobs[-1], False, folder))
    print(_HEADER)
    for m in runs:
        print(_row(m))
    print()
    print(f"per stage at {head['rows']:,} rows: strength {head['strengths']}, "
          f"events {head['events']}, usable bootstrap refits {head['bootstrap_ok']}, "
          f"pooled holdout AUC {head['auc']:.4f}")
    same = len({m["fingerprint"] for m in runs[:len(jobs)]}) == 1
    if len(jobs) > 1:
        first = runs[0]
        print(f"workers {jobs[0]} -> {jobs[-1]}: {first['seconds'] / head['seconds']:.2f}x "
              f"faster (wall), CPU {first['cpu']:.1f} -> {head['cpu']:.1f} s; results "
              f"{'bit-identical' if same else 'DIFFER'}")
    for m in runs[len(jobs):]:
        print(f"{head['rows']:,} rows against {m['rows']:,} ({head['rows'] / m['rows']:.1f}x "
              f"the rows): {head['seconds'] / m['seconds']:.2f}x the wall time, "
              f"{head['cpu'] / m['cpu']:.2f}x the CPU time; rows/s "
              f"{head['rows'] / head['seconds']:,.0f} against {m['rows'] / m['seconds']:,.0f}")
    ok_time = head["seconds"] <= TARGET_SECONDS
    ok_mem = head["peak_mb"] <= TARGET_MEMORY_MB
    print(f"target: {head['seconds']:.1f} s <= {TARGET_SECONDS:.0f} s: "
          f"{load.verdict(ok_time)}; peak {head['peak_mb']:.0f} MB <= "
          f"{TARGET_MEMORY_MB:.0f} MB: {load.verdict(ok_mem, timed=False)}; "
          f"CPU {head['cpu']:.1f} s (over {jobs[-1]} workers)")
    if runs[0]["profile"]:
        print()
        print(runs[0]["profile"])
    return 0 if ok_time and ok_mem and same else 1


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.exit(main())

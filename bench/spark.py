"""Benchmark: score 1,000,000 snapshot rows on Spark ``local[2]`` against the single process.

``python -m bench spark [--rows N] [--repeat R] [--groups G] [--batch B]
[--by-account-rows N] [--seed S]`` (``--by-account-rows 0`` skips the slow run)

Needs the ``[spark]`` extra and Java 17. What is measured, in one run:

- **data**: ``bench.scorer.make_frame`` (the lifecycle config's metrics, 12
  monthly snapshots per account, about 3% missing), rows shuffled, dates as
  DATE, written once to a Parquet file (not timed).
- **spark**: ``score_spark(spark.read.parquet(path), "lifecycle")`` written to
  Spark's ``noop`` sink, which computes and converts every output row and stores
  nothing. The time runs from reading the Parquet file to the last row: the
  whole-frame check job (``check=True``), the shuffle into account groups, the
  Arrow transfers to and from the Python workers and the scorer in them. The
  session (JVM start) is created before, and one untimed run on a slice starts
  the Python workers. Also without the check job (``check=False``). One untimed
  run first starts the Python workers and lets the JVM compile its hot code.
  Beside each wall time, the CPU seconds of the run (this process, the JVM and
  the workers): on a loaded machine the wall time stretches, the CPU time much less.
- **single process**: ``pd.read_parquet(path)`` and
  ``HealthScorer("lifecycle").score(frame)`` (one thread) in this process: the same
  work from the same file. Spark and the single process take turns, best of
  ``--repeat`` each.
- **by account**: the same scoring grouped by ``account_id`` itself (one scorer
  call per account), on ``--by-account-rows`` rows: why ``score_spark`` groups
  accounts by a hash instead.
- **agreement**: the sum of the scores and the count of score changes of the
  Spark result against the single process's.

Target: at least 100,000 rows/s on ``local[2]`` (the registered model through
``mlflow.pyfunc.spark_udf`` gave about 1,100, issue #11). The load average
before timing decides whether it is claimed (``bench.load``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.load import cpu_seconds, read_load

__all__ = ["main"]

TARGET_ROWS_PER_S = 100_000


def _session(args):
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (SparkSession.builder.master("local[2]").appName("hscore-bench")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.driver.memory", "2g")
             .config("spark.sql.shuffle.partitions", str(args.groups))
             .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(args.batch))
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench spark",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best is reported")
    parser.add_argument("--groups", type=int, default=8,
                        help="account groups = spark.sql.shuffle.partitions (default 8)")
    parser.add_argument("--batch", type=int, default=100_000,
                        help="spark.sql.execution.arrow.maxRecordsPerBatch (default 100000)")
    parser.add_argument("--by-account-rows", type=int, default=6_000,
                        help="rows for the one-call-per-account run (0: skip it)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        import pyspark
    except ImportError:
        print("bench spark: pyspark is not installed (uv sync --extra spark); skipped")
        return 0

    from pyspark.sql import functions as F

    from bench.scorer import _time_interleaved, make_frame
    from hscore.config import load_config
    from hscore.scoring.scorer import HealthScorer
    from hscore.spark import _prepare, score_spark

    config = load_config("lifecycle")
    frame = make_frame(args.rows, seed=args.seed, config=config)
    frame = frame.iloc[np.random.default_rng(args.seed).permutation(len(frame))]
    frame = frame.assign(snapshot_date=frame["snapshot_date"].dt.date).reset_index(drop=True)
    tmp = Path(tempfile.mkdtemp(prefix="hscore-bench-spark-"))
    try:
        path = str(tmp / "snapshots.parquet")
        frame.to_parquet(path, index=False, row_group_size=100_000)
        n = len(frame)
        del frame
        t0 = time.perf_counter()
        spark = _session(args)
        start_s = time.perf_counter() - t0

        def on_spark(check: bool):
            return lambda: score_spark(spark.read.parquet(path), config, check=check) \
                .write.format("noop").mode("overwrite").save()

        def single():
            HealthScorer(config).score(pd.read_parquet(path))

        t0 = time.perf_counter()
        on_spark(True)()  # starts the Python workers and warms the JVM up; not timed
        warm_s = time.perf_counter() - t0
        load = read_load()
        print(f"bench spark: {n:,} rows, pyspark {pyspark.__version__}, local[2], "
              f"{args.groups} account groups, Arrow batches of {args.batch:,} rows; "
              f"session started in {start_s:.1f} s, a first run took {warm_s:.1f} s "
              f"(neither timed)")
        print(load.describe(), flush=True)
        best = _time_interleaved({"spark": on_spark(True), "spark_nocheck": on_spark(False),
                                  "single": single}, args.repeat, cpu_clock=cpu_seconds)
        t0 = time.perf_counter()
        frame = pd.read_parquet(path)
        read_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        expected = HealthScorer(config).score(frame)
        score_s = time.perf_counter() - t0
        got = score_spark(spark.read.parquet(path), config).agg(
            F.sum("score"), F.count("score_change"), F.count("*")).first()
        agree = (got[2] == n and got[1] == expected["score_change"].count()
                 and abs(got[0] - expected["score"].sum()) <= 1e-9 * abs(expected["score"].sum()))
        by_account = None
        if args.by_account_rows:
            part = spark.read.parquet(path).limit(args.by_account_rows).cache()
            m = part.count()
            df, schema, fn = _prepare(part, config, trend=True, check=False)
            t0 = time.perf_counter()
            df.groupBy("account_id").applyInPandas(fn, schema).write.format("noop").mode(
                "overwrite").save()
            by_account = (m, time.perf_counter() - t0)
        spark.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    (spark_s, spark_cpu), (free_s, free_cpu) = best["spark"], best["spark_nocheck"]
    single_s, single_cpu = best["single"]
    rate = n / spark_s
    rows = [
        ["spark local[2]: score_spark -> noop sink, check on", f"{spark_s:.2f} s",
         f"cpu {spark_cpu:.1f} s", f"{rate:,.0f} rows/s; >= {TARGET_ROWS_PER_S:,}: "
         f"{load.verdict(rate >= TARGET_ROWS_PER_S)}"],
        ["spark local[2]: the same, check=False", f"{free_s:.2f} s", f"cpu {free_cpu:.1f} s",
         f"{n / free_s:,.0f} rows/s"],
        ["single process: read_parquet + score, 1 thread", f"{single_s:.2f} s",
         f"cpu {single_cpu:.1f} s", f"{n / single_s:,.0f} rows/s; spark takes "
         f"{spark_s / single_s:.1f}x the wall time, {spark_cpu / single_cpu:.1f}x the cpu"],
        ["  of which read_parquet / score (one more run)", f"{read_s:.2f} s / {score_s:.2f} s",
         "", f"score alone {n / score_s:,.0f} rows/s"],
    ]
    if by_account:
        m, secs = by_account
        rows.append([f"spark grouped by account_id itself ({m:,} rows, check off)",
                     f"{secs:.2f} s", "", f"{m / secs:,.0f} rows/s"])
    rows.append(["spark = single process (sum of scores, score changes, rows)", str(agree),
                 "", ""])
    print(pd.DataFrame(rows, columns=["measure", "wall", "cpu", "rate"]).to_string(index=False))
    print("cpu: CPU seconds of this process, Spark's JVM and its Python workers during the run "
          "(2 cores give at most 2 per second of wall time)")
    return 0 if agree else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))

"""Score a Spark DataFrame of snapshots: the scorer, run account group by account group.

For books past one machine. ``score_spark(df, config)`` returns a Spark
DataFrame with exactly the columns and values of
``HealthScorer(config).score(...)`` on the same rows (row order aside), trend
included. It needs the ``[spark]`` extra (pyspark; Java 17 or later), and
``PYSPARK_PYTHON`` should be the Python that has hscore installed.

How
---
The rows are grouped by a hash of ``account_id`` into ``groups`` groups
(``df.groupBy(pmod(xxhash64(account_id), groups)).applyInPandas(...)``), and
each group is one ``HealthScorer.score`` call on a pandas frame in a Python
worker. Every row of an account lands in the same group, so the trend (score
change against the account's previous snapshot) and the duplicate
(account_id, snapshot_date) check see all of an account's snapshots, whatever
the partitioning of the input. Grouping by ``account_id`` itself would be as
right but would call the scorer, and make an Arrow round trip, once per account
for a few rows each: over a thousand times slower (``python -m bench spark``
measures both).
One group is scored in one worker's memory: keep ``rows / groups`` to a few
million rows (the default is ``spark.sql.shuffle.partitions`` groups).

Only the columns the scorer reads are shuffled: ids, stage, seats, segment and
the config's metrics.

The registered model also runs as ``mlflow.pyfunc.spark_udf(spark, uri,
env_manager="local", result_type="score double, band string, reasons string",
params={"top_reasons": 3})`` (or ``result_type="double"``: the score). It scores
each Arrow batch on its own, so its trend and duplicate check see one batch, not
the account: use this module when those matter.

Bad input
---------
Before any job: a missing ``account_id``, ``snapshot_date`` or (unless the
config has the one stage ``all``) ``stage`` column is a
:class:`~hscore.errors.DataError`. With ``check=True`` (default) one Spark
aggregation over two columns then counts empty account ids and unknown stages
over the whole frame, and the metric columns the stages present need are
checked, each raising the scorer's error. Everything else is found by the
workers while they score, as the scorer finds it: a duplicate
(account_id, snapshot_date) pair (an account's rows are all in one group, so
none is missed), a value outside its metric's domain, a date that is not a
date, negative seats... It fails the Spark action that runs the scoring; run
that action inside :func:`data_errors` and it raises hscore's one-line error
instead of Spark's traceback, with the count of the group of accounts it was
found in.

Examples
--------
>>> from pyspark.sql import SparkSession                          # doctest: +SKIP
>>> from hscore.spark import data_errors, score_spark
>>> spark = SparkSession.builder.master("local[2]").getOrCreate()  # doctest: +SKIP
>>> df = spark.read.csv("data/sample_snapshots.csv", header=True,
...                     inferSchema=True)                          # doctest: +SKIP
>>> scores = score_spark(df, "lifecycle")                          # doctest: +SKIP
>>> with data_errors():                                           # doctest: +SKIP
...     scores.write.parquet("scores.parquet")
"""

from __future__ import annotations

import hashlib
import json
import re
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hscore.config import Config, load_config
from hscore.errors import DataError, HScoreError
from hscore.scoring.scorer import HealthScorer

__all__ = ["score_spark", "data_errors", "hscore_error", "output_schema"]

_REQUIRED = ("account_id", "snapshot_date")
_OPTIONAL = ("stage", "seats", "segment")
_N_EXAMPLES = 3
# A worker's hscore error crosses into the driver's Spark exception as one marked line.
_MARK = "hscore-error:"
_MARKED = re.compile(re.escape(_MARK) + r"(\{.*\})")


def _pyspark():
    try:
        import pyspark  # noqa: F401
        from pyspark.sql import functions, types
    except ImportError:
        raise HScoreError("Spark scoring needs pyspark: install the [spark] extra "
                          "(uv sync --extra spark, or pip install 'hscore[spark]')") from None
    return functions, types


# --------------------------------------------------------------- the config
def _resolve(config, model) -> Config:
    if (config is None) == (model is None):
        raise HScoreError("score_spark: give either a config or model='models:/NAME@ALIAS'")
    if model is None:
        return load_config(config)
    # A thin adapter over the registry (imported here: the only mlflow use of this module).
    from hscore.mlops.registry import resolve_version, version_config

    return version_config(resolve_version(model))


@dataclass(frozen=True)
class _Job:
    """What a worker needs: picklable, small, and the same for every group."""

    config: dict
    key: str                  # identifies the config in a worker's cache
    trend: bool
    dates: str                # "date": DATE, sent as days since 1970; "as_is": timestamps, text


_SCORERS: dict[str, HealthScorer] = {}  # per Python worker, reused across tasks


def _score_group(job: _Job, frame: pd.DataFrame) -> pd.DataFrame:
    """Score one group of accounts (runs in a Spark Python worker)."""
    scorer = _SCORERS.get(job.key)
    if scorer is None:
        scorer = _SCORERS.setdefault(job.key, HealthScorer(load_config(job.config)))
    if job.dates == "date":  # days since 1970 (DATE would arrive as slow date objects)
        frame["snapshot_date"] = pd.to_datetime(frame["snapshot_date"], unit="D")
    try:
        out = scorer.score(frame, trend=job.trend)
    except HScoreError as err:
        raise RuntimeError(_MARK + json.dumps(_payload(err, len(frame)), default=str)) from None
    return out  # pyspark turns the categorical columns (stage, band) into strings


def _payload(err: HScoreError, group_rows: int) -> dict:
    if isinstance(err, DataError):
        return {"type": "DataError", "column": err.column, "message": err.message,
                "n_rows": err.n_rows, "examples": err.examples, "group_rows": group_rows}
    return {"type": "HScoreError", "text": err.one_line()}


def _error_from(payload: dict) -> HScoreError:
    if payload.get("type") == "DataError":
        message = payload["message"]
        if payload.get("n_rows") is not None:
            message += (f"; counted in one group of {payload['group_rows']:,} rows "
                        f"that Spark scored together")
        return DataError(payload["column"], message, payload.get("n_rows"),
                         payload.get("examples") or ())
    return HScoreError(payload.get("text", "error in a Spark worker"))


def hscore_error(exc: BaseException) -> HScoreError | None:
    """The hscore error a Spark worker raised inside ``exc`` (a Spark exception), else None."""
    found = _MARKED.findall(str(exc))
    if not found:
        return None
    try:
        return _error_from(json.loads(found[-1]))
    except (ValueError, KeyError, TypeError):
        return None


@contextmanager
def data_errors():
    """Run a Spark action on :func:`score_spark`'s result; a bad row found by a worker
    raises hscore's one-line :class:`~hscore.errors.DataError`, not Spark's traceback.

    Examples
    --------
    >>> with data_errors():                          # doctest: +SKIP
    ...     score_spark(df, "lifecycle").write.parquet("scores.parquet")
    Traceback (most recent call last):
    hscore.errors.DataError: column 'csat': values outside what the metric can take [1, 5]; ...
    """
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - Spark raises several types; ours is marked
        err = hscore_error(exc)
        if err is None:
            raise
        raise err from None


# --------------------------------------------------------------- the schema
def _probe(config: Config, columns: list[str], stages) -> pd.DataFrame:
    """One row per stage in ``stages`` with the given columns, every metric empty."""
    n = len(stages)
    data: dict[str, object] = {"account_id": [f"probe-{i}" for i in range(n)],
                               "snapshot_date": pd.to_datetime(["2000-01-01"] * n)}
    for name in columns:
        if name == "stage":
            data[name] = list(stages)
        elif name == "seats":
            data[name] = np.ones(n, dtype=np.int64)
        elif name == "segment":
            data[name] = [None] * n
        elif name not in data:
            data[name] = np.full(n, np.nan)
    return pd.DataFrame(data)


def output_schema(df, config):
    """The Spark schema of :func:`score_spark`'s result for ``df`` (no job runs).

    The scorer names its own columns: it scores one row with every metric empty on
    the driver, and its output's dtypes become Spark types (float -> double, bool ->
    boolean, text and categories -> string). ``account_id`` and ``segment`` keep the
    input's types; ``snapshot_date`` is a DATE unless the input holds timestamps.
    """
    cfg = load_config(config)
    _required(df, cfg)
    return _output(df, cfg)[0]


def _required(df, cfg: Config) -> list[str]:
    """The id columns the config needs; a missing one is an error (no job runs)."""
    required = list(_REQUIRED) + ([] if cfg.single_stage else ["stage"])
    for name in required:
        if name not in df.columns:
            raise DataError(name, "required column is missing")
    return required


def _output(df, cfg: Config):
    _, T = _pyspark()
    fields = {f.name: f for f in df.schema.fields}
    stages = list(cfg.stages)[:1]
    columns = (["stage"] if not cfg.single_stage else []) + ["seats"] \
        + (["segment"] if "segment" in fields else []) + cfg.metric_names
    probe = HealthScorer(cfg).score(_probe(cfg, columns, stages))
    date_type = fields["snapshot_date"].dataType
    keeps_time = isinstance(date_type, (T.TimestampType, T.TimestampNTZType))
    out = []
    for name, dtype in probe.dtypes.items():
        if name in ("account_id", "segment"):
            spark_type = fields[name].dataType
        elif name == "snapshot_date":
            spark_type = date_type if keeps_time else T.DateType()
        elif pd.api.types.is_float_dtype(dtype):
            spark_type = T.DoubleType()
        elif pd.api.types.is_bool_dtype(dtype):
            spark_type = T.BooleanType()
        else:
            spark_type = T.StringType()
        out.append(T.StructField(name, spark_type, nullable=True))
    dates = "date" if isinstance(date_type, T.DateType) else "as_is"
    return T.StructType(out), dates


# ---------------------------------------------------------------- the checks
def _check(df, cfg: Config) -> list[str]:
    """Empty ids and unknown stages over the whole frame, in one Spark aggregation that
    reads two columns (rows per stage value); returns the stages present."""
    F, _ = _pyspark()
    acc = F.col("account_id")
    stages = list(cfg.stages)
    by = [] if cfg.single_stage else ["stage"]
    counts = df.groupBy(*by).agg(F.count(F.lit(1)).alias("rows"),
                                 F.count_if(acc.isNull()).alias("null_ids")).collect()
    if not sum(r["rows"] for r in counts):
        raise DataError("(frame)", "the snapshot table has no rows")
    null_ids = sum(r["null_ids"] for r in counts)
    if null_ids:
        raise DataError("account_id", "empty account ids", null_ids)
    if cfg.single_stage:
        return stages
    present = {r["stage"]: r["rows"] for r in counts}
    bad = {s: n for s, n in present.items() if s not in cfg.stages}
    if bad:
        unknown = sorted(s for s in bad if s is not None)
        what = f"unknown stage {', '.join(map(repr, unknown))}" if unknown else "empty stage"
        stage = F.col("stage")
        first = (df.where(stage.isNull() | ~stage.isin(stages)).select("account_id").distinct()
                 .orderBy("account_id").limit(_N_EXAMPLES).collect())
        raise DataError("stage", f"{what}; the config's stages are {', '.join(stages)}",
                        sum(bad.values()), [r[0] for r in first])
    return [s for s in stages if s in present]


# ------------------------------------------------------------------ scoring
def score_spark(df, config=None, *, model=None, trend: bool = True, check: bool = True,
                groups: int | None = None):
    """Score a Spark DataFrame of snapshots as ``HealthScorer(config).score`` does.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        The snapshot table (DESIGN.md, "Data contract"): ``account_id``,
        ``snapshot_date`` (DATE, TIMESTAMP or ISO text), ``stage``, ``seats``,
        optional ``segment``, one column per metric. Other columns are ignored.
    config : Config, str or path, optional
        The scoring config: a Config, a shipped default's name or a YAML path.
    model : str, optional
        Instead of ``config``: a registered model, ``models:/NAME@ALIAS`` or
        ``models:/NAME/VERSION``; its config is read from the MLflow store once,
        on the driver (the workers never touch MLflow).
    trend : bool, default True
        Fill ``score_change`` and ``trend_alert`` (against each account's
        previous snapshot), as the scorer does.
    check : bool, default True
        Before scoring, count empty account ids and unknown stages over the whole
        frame (one Spark job reading ``account_id`` and ``stage``) and check the
        metric columns of the stages present. It reads the input once more: on an
        expensive input, cache it or pass False (the workers find the same errors,
        group by group).
    groups : int, optional
        How many groups of accounts to score (one scorer call each); default
        ``spark.sql.shuffle.partitions``.

    Returns
    -------
    pyspark.sql.DataFrame
        Lazy; one row per input row (in no particular order) with the scorer's
        columns: ``account_id``, ``snapshot_date``, ``stage``, [``segment``],
        ``score``, ``band``, ``coverage``, ``score_change``,
        [``churn_probability``], ``trend_alert``, ``reason``, ``component_*``,
        ``contribution_*``. Run its action inside :func:`data_errors`.

    Raises
    ------
    HScoreError
        pyspark is not installed, or neither / both of ``config`` and ``model``.
    DataError
        A required column is missing (before any job), or what ``check`` finds. What
        the workers find is raised by the action, as one line inside
        :func:`data_errors`.
    """
    F, _ = _pyspark()
    if groups is not None and (not isinstance(groups, int) or isinstance(groups, bool)
                               or groups < 1):
        raise HScoreError(f"groups: must be a whole number >= 1, got {groups!r}")
    df, schema, score_group = _prepare(df, _resolve(config, model), trend=trend, check=check)
    if groups is None:
        groups = int(df.sparkSession.conf.get("spark.sql.shuffle.partitions"))
    bucket = F.pmod(F.xxhash64("account_id"), F.lit(groups))
    return df.groupBy(bucket).applyInPandas(score_group, schema)


def _prepare(df, cfg: Config, *, trend: bool, check: bool):
    """The checks before any job (and ``check``'s job); the columns to shuffle, the output
    schema and the function that scores one group of accounts (a pandas frame)."""
    from pyspark.sql import DataFrame

    if not isinstance(df, DataFrame):
        raise DataError("(frame)", f"expected a Spark DataFrame, got {type(df).__name__}")
    required = _required(df, cfg)
    keep = [c for c in dict.fromkeys(required + list(_OPTIONAL) + cfg.metric_names)
            if c in df.columns]
    df = df.select(*keep)
    schema, dates = _output(df, cfg)
    if check:
        present = _check(df, cfg)
        # The scorer's own error for a column a present stage needs (metric, seats).
        HealthScorer(cfg).check(_probe(cfg, [c for c in keep if c not in _REQUIRED], present))
    if dates == "date":
        F, _ = _pyspark()
        df = df.withColumn("snapshot_date", F.unix_date("snapshot_date"))
    data = cfg.to_dict()
    key = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
    job = _Job(config=data, key=key, trend=trend, dates=dates)

    def score_group(frame: pd.DataFrame) -> pd.DataFrame:
        return _score_group(job, frame)

    return df, schema, score_group

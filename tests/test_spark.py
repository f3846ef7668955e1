"""Spark scoring (``hscore.spark``) gives the scorer's output, trend and checks included.

Runs in Spark local mode (``local[2]``, one session for the module) when pyspark (the
``[spark]`` extra) and Java are installed; skipped with the reason otherwise. The data are
the two shipped books, small, so the module's time is mostly the JVM's start.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hscore
from hscore.errors import DataError, HScoreError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample_snapshots.csv"
CRM = ROOT / "data" / "crm_export.csv"
CRM_CONFIG = ROOT / "data" / "crm_export.yaml"


def _why_not_spark() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (install the [spark] extra: uv sync --extra spark)"
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        return "Spark needs Java 17+: no `java` on PATH and no JAVA_HOME"
    return None


needs_spark = pytest.mark.skipif(_why_not_spark() is not None, reason=str(_why_not_spark()))


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    saved = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable   # workers import hscore from this venv
    session = (SparkSession.builder.master("local[2]").appName("hscore-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.default.parallelism", "2")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.driver.memory", "1g")
               # short jobs: the quick JIT compiler only (a third off the module's time)
               .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    # Stop the JVM too (pyspark keeps it for the life of the process): the rest of the suite
    # gets its memory back.
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    if gateway is not None and getattr(gateway, "proc", None) is not None:
        gateway.shutdown()
        gateway.proc.stdin.close()      # the JVM exits when its stdin closes
        gateway.proc.wait(timeout=60)
        SparkContext._gateway = SparkContext._jvm = None
    if saved is None:
        os.environ.pop("PYSPARK_PYTHON", None)
    else:
        os.environ["PYSPARK_PYTHON"] = saved


@pytest.fixture(scope="module")
def sample():
    return hscore.read_snapshots(SAMPLE)


@pytest.fixture(scope="module")
def sample_df(spark, sample):
    """The sample in shuffled order over three partitions (an account's snapshots are spread
    over several of them), dates as Spark DATEs."""
    rows = sample.sample(frac=1.0, random_state=7).assign(
        snapshot_date=lambda f: f["snapshot_date"].dt.date)
    return spark.createDataFrame(rows).repartition(3).cache()


@pytest.fixture(scope="module")
def crm_df(spark):
    """The second shipped book as Spark reads the CSV file (types inferred)."""
    return spark.read.csv(str(CRM), header=True, inferSchema=True).cache()


def _assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Spark's rows (any order) equal the scorer's, column by column; floats to 1e-12."""
    assert list(got.columns) == list(expected.columns)
    key = ["account_id", "snapshot_date"]
    got = got.assign(snapshot_date=pd.to_datetime(got["snapshot_date"]))
    got = got.sort_values(key, ignore_index=True)
    expected = expected.sort_values(key, ignore_index=True)
    for name in expected.columns:
        a, b = got[name], expected[name]
        if pd.api.types.is_float_dtype(b):
            np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=0, atol=1e-12,
                                       err_msg=name)
        else:
            as_list = [None if pd.isna(v) else v for v in b.astype(object)]
            assert [None if pd.isna(v) else v for v in a.astype(object)] == as_list, name


def _no_job_runs(spark, fn):
    """Call ``fn`` and return what it raised, asserting that it started no Spark job."""
    sc = spark.sparkContext
    sc.setJobGroup("hscore-no-job", "must stay empty")
    try:
        with pytest.raises(HScoreError) as info:
            fn()
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    assert list(sc.statusTracker().getJobIdsForGroup("hscore-no-job")) == []
    return info.value


# ------------------------------------------------------------------- scores
@needs_spark
def test_the_sample_scores_exactly_as_the_scorer_does_trend_included(spark, sample, sample_df):
    from pyspark.sql import functions as F

    from hscore.spark import score_spark

    # An account's snapshots sit in different input partitions ...
    spread = (sample_df.withColumn("part", F.spark_partition_id()).groupBy("account_id")
              .agg(F.count_distinct("part").alias("parts"))
              .where("parts > 1").count())
    assert spread > 0
    scored = score_spark(sample_df, "lifecycle")
    got = scored.toPandas()
    expected = hscore.HealthScorer("lifecycle").score(sample)
    # ... and still get their score change against the previous snapshot.
    assert got["score_change"].notna().sum() == expected["score_change"].notna().sum() > 1000
    _assert_same(got, expected)
    assert got["trend_alert"].any()


@needs_spark
def test_the_crm_export_scores_with_its_own_config_read_by_spark(crm_df):
    """One stage `all`, no stage column, no seats, extra columns; the CSV read by Spark."""
    from hscore.spark import output_schema, score_spark

    df = crm_df
    assert "stage" not in df.columns and "seats" not in df.columns
    scored = score_spark(df, CRM_CONFIG, groups=3)
    assert scored.schema == output_schema(df, CRM_CONFIG)
    expected = hscore.HealthScorer(CRM_CONFIG).score(hscore.read_snapshots(CRM))
    _assert_same(scored.toPandas(), expected)


@needs_spark
@pytest.mark.parametrize("kind", ["timestamp", "string"])
def test_timestamps_and_iso_text_dates(crm_df, kind):
    from pyspark.sql import types as T

    from hscore.spark import score_spark

    df = crm_df.withColumn("snapshot_date", crm_df["snapshot_date"].cast(kind))
    scored = score_spark(df, CRM_CONFIG)
    wanted = T.TimestampType() if kind == "timestamp" else T.DateType()
    assert scored.schema["snapshot_date"].dataType == wanted
    got = scored.toPandas()
    assert len(got) == 1500 and got["score"].notna().all()


@needs_spark
def test_a_registered_model_is_read_through_the_registry(crm_df, monkeypatch):
    import hscore.mlops.registry as registry
    from hscore.spark import score_spark

    seen = []
    monkeypatch.setattr(registry, "resolve_version", lambda model: seen.append(model) or "v7")
    monkeypatch.setattr(registry, "version_config",
                        lambda version: hscore.load_config(CRM_CONFIG) if version == "v7" else None)
    df = crm_df
    scored = score_spark(df, model="models:/crm-export@champion", check=False)
    assert seen == ["models:/crm-export@champion"]
    expected = hscore.HealthScorer(CRM_CONFIG).score(hscore.read_snapshots(CRM))
    got = scored.toPandas().sort_values("account_id", ignore_index=True)
    np.testing.assert_allclose(got["score"], expected.sort_values("account_id")["score"],
                               rtol=0, atol=1e-12)
    with pytest.raises(HScoreError, match="either a config or model"):
        score_spark(df, CRM_CONFIG, model="models:/crm-export@champion")


# ---------------------------------------------------------------- bad input
@needs_spark
def test_a_missing_required_column_fails_before_any_job(spark, sample_df):
    from hscore.spark import score_spark

    err = _no_job_runs(spark, lambda: score_spark(sample_df.drop("stage"), "lifecycle"))
    assert isinstance(err, DataError) and err.column == "stage"
    assert str(err) == "column 'stage': required column is missing"
    err = _no_job_runs(spark, lambda: score_spark(sample_df, "lifecycle", groups=0))
    assert "groups" in str(err)


@needs_spark
def test_a_missing_metric_column_is_the_scorers_error(spark, sample_df):
    from hscore.spark import score_spark

    with pytest.raises(DataError, match=r"^column 'csat': metric column is missing"):
        score_spark(sample_df.drop("csat"), "lifecycle")
    # not read by any stage present: fine, as for the scorer
    only_onboarding = sample_df.where("stage = 'onboarding'").drop("csat")
    assert score_spark(only_onboarding, "lifecycle", groups=2).count() > 0


@needs_spark
def test_duplicates_across_partitions_are_found(spark, sample, sample_df):
    from pyspark.sql import functions as F

    from hscore.spark import data_errors, score_spark

    first = sample.iloc[[0]].assign(snapshot_date=lambda f: f["snapshot_date"].dt.date)
    doubled = sample_df.unionByName(spark.createDataFrame(first)).repartition(3).cache()
    account = first["account_id"].iloc[0]
    pair = (F.col("account_id") == account) & (F.col("snapshot_date") == first["snapshot_date"]
                                                .iloc[0])
    assert doubled.where(pair).select(F.spark_partition_id()).distinct().count() == 2
    scored = score_spark(doubled, "lifecycle")      # found while scoring the account
    with pytest.raises(DataError) as info, data_errors():
        scored.count()
    text = str(info.value)
    assert re.fullmatch(r"column 'snapshot_date': duplicate \(account_id, snapshot_date\) pairs; "
                        r"counted in one group of [\d,]+ rows that Spark scored together "
                        rf"\(2 rows; first accounts: {account}\)", text), text


@needs_spark
def test_unknown_stages_and_empty_ids_are_counted_over_the_frame(spark, sample_df):
    from pyspark.sql import functions as F

    from hscore.spark import score_spark

    renamed = sample_df.withColumn(
        "stage", F.when(F.col("stage") == "renewal", F.lit("renewl")).otherwise(F.col("stage")))
    n = sample_df.where("stage = 'renewal'").count()
    with pytest.raises(DataError, match=rf"^column 'stage': unknown stage 'renewl'; the config's "
                                        rf"stages are onboarding, adoption, maturity, renewal "
                                        rf"\({n} rows; first accounts: acct-\d+"):
        score_spark(renamed, "lifecycle")
    no_id = sample_df.withColumn("account_id", F.when(F.col("seats") > 40, None)
                                 .otherwise(F.col("account_id")))
    with pytest.raises(DataError, match=r"^column 'account_id': empty account ids \(\d+ rows\)"):
        score_spark(no_id, "lifecycle")


@needs_spark
def test_a_bad_value_found_by_a_worker_is_one_hscore_line(spark, sample_df):
    from pyspark.sql import functions as F

    from hscore.spark import data_errors, score_spark

    bad = sample_df.withColumn(
        "csat", F.when(F.col("csat").isNotNull() & (F.col("seats") == 46), F.lit(9.0))
        .otherwise(F.col("csat")))
    scored = score_spark(bad, "lifecycle")          # the values are only seen while scoring
    with pytest.raises(Exception) as raw:           # Spark's own exception, many lines long
        scored.count()
    assert "hscore-error:" in str(raw.value) and str(raw.value).count("\n") > 5
    with pytest.raises(DataError) as info, data_errors():   # what the action raises inside it
        raise raw.value
    text = str(info.value)
    assert re.match(r"^column 'csat': values outside what the metric can take \[1, 5\]; "
                    r"counted in one group of [\d,]+ rows that Spark scored together "
                    r"\(\d+ rows?; first accounts: ", text), text
    assert "\n" not in text
    with pytest.raises(ZeroDivisionError), data_errors():  # anything else passes through
        1 / 0


# ------------------------------------------------------------------- README
@needs_spark
def test_the_readme_spark_example_runs(spark, tmp_path):
    text = (ROOT / "README.md").read_text("utf-8")
    section = text.split("\n## Spark", 1)[1].split("\n## ", 1)[0]
    code = re.findall(r"```python[^\n]*\n(.*?)```", section, flags=re.S)[0]
    # Spark resolves relative paths in the JVM's working directory, not Python's.
    code = code.replace('"data/', f'"{ROOT}/data/').replace('"scores.parquet"',
                                                             f'"{tmp_path}/scores.parquet"')
    namespace: dict = {}
    exec(compile(code, "README.md (Spark)", "exec"), namespace)
    written = pd.read_parquet(tmp_path / "scores.parquet")
    assert len(written) == len(hscore.read_snapshots(SAMPLE))
    assert written["score_change"].notna().any()


# --------------------------------------------------------------- no pyspark
def test_without_pyspark_the_module_imports_and_says_what_to_install():
    code = textwrap.dedent("""
        import sys
        sys.modules["pyspark"] = None          # as if the extra were not installed
        import hscore.spark
        from hscore.errors import HScoreError
        try:
            hscore.spark.score_spark(object(), "lifecycle")
        except HScoreError as err:
            print(err)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "install the [spark] extra" in proc.stdout


# ------------------------------------------------------ the pyfunc as a Spark UDF
@pytest.fixture(scope="module")
def saved_model(tmp_path_factory, sample):
    """The pyfunc model that registration logs, saved to a folder (no store needed)."""
    from hscore.config import load_config, save_config
    from hscore.mlops import model

    folder = tmp_path_factory.mktemp("pyfunc")
    config = load_config("lifecycle")
    return model.save(config, save_config(config, folder / "config.yaml"), sample,
                      folder / "model")


@needs_spark
def test_spark_udf_returns_score_band_and_reasons_as_a_struct(spark, sample, sample_df,
                                                             saved_model):
    import mlflow
    from pyspark.sql import functions as F

    from hscore.mlops import model

    inputs = [c for c in sample_df.columns if c != "churned"]
    struct = mlflow.pyfunc.spark_udf(
        spark, str(saved_model), env_manager="local",
        result_type="score double, band string, reasons string",
        params={model.TOP_REASONS: 2})
    plain = mlflow.pyfunc.spark_udf(spark, str(saved_model), env_manager="local",
                                    result_type="double")
    got = (sample_df
           .withColumn("health", struct(F.struct(*inputs)))
           .withColumn("plain", plain(F.struct(*inputs)))
           .select("account_id", "snapshot_date", "health.*", "plain").toPandas())
    config = hscore.load_config("lifecycle")
    want = model.pyfunc_output(hscore.HealthScorer(config).score(sample), config, top_reasons=2)
    key = ["account_id", "snapshot_date"]
    got = (got.assign(snapshot_date=pd.to_datetime(got["snapshot_date"]))
           .sort_values(key, ignore_index=True))
    want = want.sort_values(key, ignore_index=True)
    assert len(got) == len(want)
    np.testing.assert_array_equal(got["score"].to_numpy(), want["score"].to_numpy())
    # the plain double UDF returns the score, the leftmost number of the output
    np.testing.assert_array_equal(got["plain"].to_numpy(), want["score"].to_numpy())
    for name in ("band", "reasons"):
        assert got[name].tolist() == want[name].tolist(), name
    assert want["reasons"].notna().sum() > 1000

"""Errors that lead somewhere (issue 9, item 9): each says what to do next, through the CLI
(exit 2, one ``error:`` line naming the column or field) and through the Python API."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score

import hscore
from hscore import ConfigError, DataError, HealthScorer, load_config
from hscore.cli import build_parser
from hscore.config import DEFAULTS_DIR
from cli_probe import SAMPLE, one_error, run
from test_bad_input import good_frame


# ---------------------------------------------------------- missing metric columns
def test_a_missing_metric_column_names_the_closest_columns_of_the_data():
    frame = good_frame().rename(columns={"csm_pulse": "CSM Pulse",
                                         "stickiness": "stickiness_ratio"})
    with pytest.raises(DataError) as excinfo:
        HealthScorer("lifecycle").score(frame)
    err = excinfo.value
    assert err.column == "csm_pulse"
    assert "closest names in the data: 'CSM Pulse'" in str(err)
    assert "stickiness (closest: 'stickiness_ratio')" in str(err)


def test_a_missing_stage_column_names_a_column_that_holds_the_name():
    frame = good_frame().rename(columns={"stage": "lifecycle_stage"})
    with pytest.raises(DataError, match="closest names in the data: 'lifecycle_stage'"):
        HealthScorer("lifecycle").score(frame)


def test_calibrate_without_config_says_the_default_is_lifecycle(tmp_path, capsys):
    crm = tmp_path / "crm.csv"
    pd.read_csv(SAMPLE.with_name("crm_export.csv")).to_csv(crm, index=False)
    args = ["calibrate", "--snapshots", crm, "--out", tmp_path / "out.yaml", "--no-track", "--quiet"]
    line = one_error(capsys, *args, fragments=["column 'stage'", "required column is missing",
                                               "the default config is 'lifecycle'",
                                               "pass --config"])
    assert line.count("error:") == 1
    # named explicitly, the config is what the user meant: no hint about a default
    line = one_error(capsys, *args, "--config", "lifecycle", fragments=["column 'stage'"])
    assert "default config" not in line


def test_calibrate_without_config_on_renamed_metrics_names_both(tmp_path, capsys):
    path = tmp_path / "renamed.csv"
    pd.read_csv(SAMPLE, dtype=str).rename(columns={"csm_pulse": "pulse_csm"}).to_csv(
        path, index=False)
    one_error(capsys, "calibrate", "--snapshots", path, "--out", tmp_path / "out.yaml",
              "--no-track", fragments=["column 'csm_pulse'", "closest names in the data: "
                                       "'pulse_csm'", "the default config is 'lifecycle'"])


# ------------------------------------------------------------ percentage weights
def _percent_config(tmp_path):
    data = yaml.safe_load((DEFAULTS_DIR / "lifecycle.yaml").read_text("utf-8"))
    for stage in data["stages"].values():
        for comp in stage["components"].values():
            comp["weight"] = round(comp["weight"] * 100)
    path = tmp_path / "percent.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path, data


def test_weights_typed_as_percentages_point_at_the_normalizing_helper(tmp_path):
    path, data = _percent_config(tmp_path)
    for source in (path, data):
        with pytest.raises(ConfigError) as excinfo:
            load_config(source)
        text = str(excinfo.value)
        assert "weights in this stage sum to 100, not 1" in text
        assert "hscore.normalize_weights(config)" in text
        assert "load_config(path, normalize=True)" in text
        assert "--normalize-weights" in text
    fixed = load_config(path, normalize=True)
    assert fixed.stages["maturity"].components["product_usage"].weight == pytest.approx(0.4)
    assert hscore.normalize_weights(data).to_dict()["stages"] == fixed.to_dict()["stages"]


def test_a_typo_in_weights_is_not_told_to_normalize():
    data = yaml.safe_load((DEFAULTS_DIR / "lifecycle.yaml").read_text("utf-8"))
    data["stages"]["maturity"]["components"]["product_usage"]["weight"] = 0.5   # sums to 1.1
    with pytest.raises(ConfigError) as excinfo:
        load_config(data)
    assert "sum to 1.1, not 1" in str(excinfo.value)
    assert "normalize" not in str(excinfo.value)


def test_the_cli_normalizes_weights_when_asked(tmp_path, capsys):
    path, _ = _percent_config(tmp_path)
    args = ["score", "--config", path, "--snapshots", SAMPLE]
    one_error(capsys, *args, fragments=["percent.yaml", "stages.maturity.components",
                                        "sum to 100, not 1", "--normalize-weights"])
    out = tmp_path / "scores.csv"
    rc, _, err = run(capsys, *args, "--normalize-weights", "--out", out)
    assert rc == 0, err
    # what was rescaled is said: the four stages' components summed to 100 (metrics to 1)
    (line,) = [x for x in err.splitlines() if x.startswith("warning: normalized weights")]
    written = yaml.safe_load(path.read_text("utf-8"))            # in the file's order
    stages = [f"stages.{s}.components (sum 100)" for s in written["stages"]]
    assert line == (f"warning: normalized weights: {len(stages)} level(s) rescaled to sum "
                    f"to 1: {', '.join(stages)}")
    expected = HealthScorer(load_config(path, normalize=True)).score(hscore.read_snapshots(SAMPLE))
    np.testing.assert_allclose(pd.read_csv(out)["score"], expected["score"], rtol=1e-12)
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for command in ("score", "calibrate", "compare"):
        options = {o for a in sub.choices[command]._actions for o in a.option_strings}
        assert "--normalize-weights" in options, command


# ----------------------------------------------------------------- churned labels
def test_bad_churned_values_are_listed_with_their_counts(tmp_path, capsys):
    frame = pd.read_csv(SAMPLE, dtype=str)
    labelled = frame["churned"].notna()
    frame.loc[labelled, "churned"] = np.where(frame.loc[labelled, "churned"] == "1", "yes", "no")
    frame.loc[frame.index[:2], "churned"] = "Y"
    path = tmp_path / "words.csv"
    frame.to_csv(path, index=False)
    n_no = int((frame["churned"] == "no").sum())
    n_yes = int((frame["churned"] == "yes").sum())
    for command in (["score", "--config", "lifecycle"],
                    ["calibrate", "--out", tmp_path / "o.yaml", "--no-track"]):
        one_error(capsys, *command, "--snapshots", path,
                  fragments=["column 'churned'", "values that are not 0/1",
                             f"'no' ({n_no} rows), 'yes' ({n_yes} rows), 'Y' (2 rows)",
                             "1 = churned, 0 = retained, empty = not yet known"])
    with pytest.raises(DataError, match=r"values other than 0, 1 or empty: 2\.0 \(1 row\)"):
        hscore.calibrate(hscore.read_snapshots(SAMPLE).assign(
            churned=lambda f: f["churned"].where(f.index != 5, 2.0)), "lifecycle")


# ------------------------------------------------------------------------- seats
def test_seats_are_needed_only_when_a_metric_is_per_seat(capsys):
    crm = hscore.read_snapshots(SAMPLE.with_name("crm_export.csv"))
    assert "seats" not in crm.columns
    assert HealthScorer(load_config(SAMPLE.with_name("crm_export.yaml"))).score(crm)["score"] \
        .notna().any()
    with pytest.raises(DataError) as excinfo:
        HealthScorer("lifecycle").score(good_frame().drop(columns="seats"))
    err = excinfo.value
    assert err.column == "seats"
    assert "active_days_30d, events_30d, minutes_30d are divided by seats" in str(err)
    assert "a config without per-seat metrics needs no seats column" in str(err)


# -------------------------------------------------------------------------- xlsx
def test_an_excel_workbook_is_refused_with_how_to_convert_it(tmp_path, capsys):
    book = tmp_path / "book.xlsx"
    book.write_bytes(b"PK\x03\x04 not really a workbook")
    one_error(capsys, "score", "--config", "lifecycle", "--snapshots", book,
              fragments=["book.xlsx", "expected a .csv or .parquet file",
                         "save the sheet as 'CSV UTF-8'",
                         f"pandas.read_excel('{book}').to_parquet('{tmp_path / 'book.parquet'}')"])
    with pytest.raises(DataError, match="an Excel workbook is not read"):
        hscore.read_snapshots(book)


# ----------------------------------------------------- score keeps labels, prints AUC
def _printed_auc(out: str) -> pd.DataFrame:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("AUC of the score"))
    rows = []
    for line in lines[start + 2:]:
        parts = line.split()
        if len(parts) != 4 or not parts[1].isdigit():
            break
        rows.append({"stage": parts[0], "rows": int(parts[1]), "churned": int(parts[2]),
                     "auc": float(parts[3])})
    return pd.DataFrame(rows).set_index("stage")


def test_score_keeps_churned_and_segment_and_prints_the_auc(tmp_path, capsys):
    out = tmp_path / "scores.csv"
    rc, printed, err = run(capsys, "score", "--config", "lifecycle", "--snapshots", SAMPLE,
                           "--out", out)
    assert rc == 0, err
    source = pd.read_csv(SAMPLE)
    written = pd.read_csv(out)
    assert list(written.columns[:5]) == ["account_id", "snapshot_date", "stage", "segment",
                                         "churned"]
    pd.testing.assert_series_equal(written["churned"], source["churned"])
    assert written["segment"].tolist() == source["segment"].tolist()

    # what churned means comes first: the config's horizon (labels over another one would
    # make the AUC another question)
    lines = printed.splitlines()
    horizon = lines[lines.index(next(x for x in lines if x.startswith("AUC of the score"))) - 1]
    days = load_config("lifecycle").label_horizon_days
    assert horizon.startswith(f"churned = churn within {days} days after the snapshot "
                              "(label_horizon_days of 'lifecycle-default')"), horizon
    table = _printed_auc(printed)
    keep = source["churned"].notna() & written["score"].notna()
    assert set(table.index) == set(source["stage"]) | {"all"}
    for stage in table.index:
        rows = keep & ((source["stage"] == stage) if stage != "all" else True)
        y, score = source.loc[rows, "churned"], written.loc[rows, "score"]
        assert table.loc[stage, "rows"] == rows.sum()
        assert table.loc[stage, "churned"] == y.sum()
        assert table.loc[stage, "auc"] == pytest.approx(roc_auc_score(y, -score), abs=5e-4)


def test_score_without_labels_prints_no_auc_and_adds_no_column(tmp_path, capsys):
    path = tmp_path / "unlabelled.csv"
    pd.read_csv(SAMPLE, dtype=str).drop(columns="churned").to_csv(path, index=False)
    out = tmp_path / "scores.csv"
    rc, printed, err = run(capsys, "score", "--config", "lifecycle", "--snapshots", path,
                           "--out", out)
    assert rc == 0, err
    assert "AUC" not in printed and "churned = " not in printed
    assert "churned" not in pd.read_csv(out, nrows=1).columns

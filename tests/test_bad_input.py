"""Bad input (issue 2, item 7): each case raises an error that names the column or
field, the number of offending rows and the first account ids. Nothing is dropped
or coerced."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

import hscore.scoring.scorer as scorer_module
from hscore import ConfigError, DataError, HealthScorer, HScoreError, load_config

NAN = np.nan
LIFECYCLE = load_config("lifecycle")
STAGES = ["onboarding", "adoption", "maturity", "renewal"]


def _typical(spec) -> float:
    """A value well inside the metric's domain."""
    if spec.transform.kind == "boolean":
        return 1.0
    lo, hi = spec.domain if spec.domain is not None else (None, None)
    if lo is not None and hi is not None:
        return (lo + hi) / 2
    return 3.0


def good_frame(n: int = 8) -> pd.DataFrame:
    """Valid lifecycle snapshots: accounts acc-01..acc-0n, stages in turn."""
    rows = {"account_id": [f"acc-{i + 1:02d}" for i in range(n)],
            "snapshot_date": pd.Timestamp("2026-01-01"),
            "stage": [STAGES[i % 4] for i in range(n)],
            "seats": np.full(n, 10)}
    for m in LIFECYCLE.metric_names:
        rows[m] = np.full(n, _typical(LIFECYCLE.metric_specs(m)[0][2]))
    return pd.DataFrame(rows)


@pytest.fixture(autouse=True, params=["one-block", "blocks-of-2"])
def _block_size(request, monkeypatch):
    """Run every case twice: the scorer checks values block by block while it scores, so a
    bad value must be found (and counted over the whole frame) in any block."""
    if request.param == "blocks-of-2":
        monkeypatch.setattr(scorer_module, "_CHUNK_ROWS", 2)


def _score(frame, config=LIFECYCLE):
    return HealthScorer(config).score(frame)


def _raises(frame, column, fragment, n_rows=None, accounts=None, config=LIFECYCLE):
    with pytest.raises(DataError) as excinfo:
        _score(frame, config)
    err = excinfo.value
    text = str(err)
    assert isinstance(err, HScoreError) and isinstance(err, ValueError)
    assert err.column == column
    assert text.startswith(f"column '{column}': ")
    assert fragment in text, text
    # the full up-front check (used by calibration) reports the very same error
    with pytest.raises(DataError) as again:
        HealthScorer(config).check(frame)
    assert str(again.value) == text
    if n_rows is not None:
        assert err.n_rows == n_rows
        assert f"({n_rows} row{'s' if n_rows != 1 else ''}" in text
    if accounts is not None:
        assert err.examples == accounts
        assert f"first accounts: {', '.join(accounts)}; first rows: " in text
    if n_rows is not None:
        assert len(err.rows) == min(n_rows, 3)
        assert err.rows == sorted(err.rows) and all(0 <= r < len(frame) for r in err.rows)
    assert "\n" not in err.one_line()
    return err


def test_the_good_frame_scores():
    out = _score(good_frame())
    assert out["score"].notna().all()


# -------------------------------------------------------- required columns
@pytest.mark.parametrize("column", ["account_id", "snapshot_date", "stage"])
def test_missing_required_column(column):
    _raises(good_frame().drop(columns=column), column, "required column is missing")


def test_metric_absent_from_the_data():
    frame = good_frame().drop(columns=["csat", "user_nps"])
    # the first missing in config order (maturity lists user_nps before csat)
    err = _raises(frame, "user_nps", "metric column is missing from the data")
    assert "also missing: csat" in str(err)
    assert "add an empty column if the metric is not measured" in str(err)


def test_missing_seats_with_a_per_seat_metric():
    _raises(good_frame().drop(columns="seats"), "seats",
            "required column is missing (per-seat metrics need it)")


# ------------------------------------------------------------ stage, ids, dates
def test_unknown_stage():
    frame = good_frame()
    frame.loc[[1, 3, 6], "stage"] = "expansion"
    err = _raises(frame, "stage", "unknown stage 'expansion'", 3,
                  ["acc-02", "acc-04", "acc-07"])
    assert "the config's stages are onboarding, adoption, maturity, renewal" in str(err)


def test_empty_stage():
    frame = good_frame()
    frame.loc[4, "stage"] = None
    _raises(frame, "stage", "empty stage", 1, ["acc-05"])


def test_duplicate_account_and_snapshot_date():
    frame = good_frame()
    frame.loc[5, "account_id"] = "acc-02"  # acc-02 now has two rows on 2026-01-01
    err = _raises(frame, "snapshot_date", "duplicate (account_id, snapshot_date) pairs", 2,
                  ["acc-02"])  # one account, named once
    assert err.rows == [1, 5]


def test_same_account_on_different_dates_is_fine():
    frame = good_frame()
    frame.loc[5, "account_id"] = "acc-02"
    frame.loc[5, "snapshot_date"] = pd.Timestamp("2026-02-01")
    assert _score(frame)["score"].notna().all()


def test_empty_account_id():
    frame = good_frame()
    frame.loc[2, "account_id"] = None
    err = _raises(frame, "account_id", "empty account ids", 1)
    assert err.rows == [2]  # no id to show: the row position
    assert "first rows: 2)" in str(err)


def test_snapshot_date_that_is_not_a_date():
    frame = good_frame()
    frame["snapshot_date"] = ["2026-01-01"] * 6 + ["soon", "2026-13-45"]
    _raises(frame, "snapshot_date", "values that are not dates", 2, ["acc-07", "acc-08"])


# --------------------------------------------------------------------- seats
def test_negative_seats():
    frame = good_frame()
    frame.loc[[2, 7], "seats"] = [-3, -1]
    _raises(frame, "seats", "negative seat counts", 2, ["acc-03", "acc-08"])


def test_zero_seats_on_a_per_seat_metric():
    frame = good_frame()
    frame.loc[[1, 5], "seats"] = 0  # acc-02 and acc-06 are in adoption: active_days_30d per seat
    _raises(frame, "seats", "zero seats on rows where the per-seat metric 'active_days_30d' "
                            "is measured", 2, ["acc-02", "acc-06"])


def test_zero_seats_are_fine_where_no_per_seat_metric_is_read():
    frame = good_frame()
    frame.loc[0, "seats"] = 0  # onboarding reads no per-seat metric
    frame.loc[1, "seats"] = 0  # adoption, but its per-seat metrics are not measured
    frame.loc[1, ["active_days_30d", "events_30d"]] = NAN
    out = _score(frame)
    assert out["score"].notna().all()


def test_seats_that_are_empty_or_fractional():
    frame = good_frame()
    frame["seats"] = frame["seats"].astype(float)
    frame.loc[3, "seats"] = NAN
    _raises(frame, "seats", "empty or infinite seat counts", 1, ["acc-04"])
    frame.loc[3, "seats"] = 2.5
    _raises(frame, "seats", "not whole numbers", 1, ["acc-04"])


# ------------------------------------------------------- values out of domain
def test_share_above_one():
    frame = good_frame()
    frame.loc[[1, 5], "key_features_used_share"] = [1.2, 3.0]  # adoption rows
    _raises(frame, "key_features_used_share", "values outside what the metric can take [0, 1]",
            2, ["acc-02", "acc-06"])


def test_nps_above_100():
    frame = good_frame()
    frame.loc[2, "user_nps"] = 120.0  # maturity
    _raises(frame, "user_nps", "values outside what the metric can take [-100, 100]", 1,
            ["acc-03"])


def test_pulse_outside_its_1_to_5_scale():
    frame = good_frame()
    # rows 0 (onboarding), 1 (adoption), 2 and 6 (maturity) all read csm_pulse on 1-5;
    # row 3 (renewal) does not read it, and 5 is on the scale
    frame.loc[[0, 1, 2, 6, 5], "csm_pulse"] = [0.0, 6.0, 5.5, 0.5, 5.0]
    _raises(frame, "csm_pulse", "values outside what the metric can take [1, 5]", 4,
            ["acc-01", "acc-02", "acc-03"])


def test_negative_count():
    frame = good_frame()
    frame.loc[[3, 7], "integrations_net_change"] = -2.0  # no domain: a net change may be < 0
    frame.loc[[0, 4], "champion_logins_30d"] = -1.0
    _raises(frame, "champion_logins_30d", "[0, inf]", 2, ["acc-01", "acc-05"])


def test_boolean_metric_takes_0_or_1():
    frame = good_frame()
    frame.loc[2, "qbr_held_180d"] = 0.5
    _raises(frame, "qbr_held_180d", "a boolean metric takes 0 or 1", 1, ["acc-03"])
    frame.loc[2, "qbr_held_180d"] = NAN
    frame.loc[6, "qbr_held_180d"] = 1.0
    assert _score(frame)["score"].notna().all()


def test_at_most_three_accounts_are_shown():
    frame = good_frame(12)
    frame.loc[[2, 6, 10], "csat"] = 9.0  # maturity rows; csat is 1-5
    frame.loc[[3, 7, 11], "csat"] = 0.0  # renewal rows
    # all six rows are counted, the first three (in row order) are shown
    err = _raises(frame, "csat", "[1, 5]", 6, ["acc-03", "acc-04", "acc-07"])
    assert "acc-08" not in str(err)


# ------------------------------------------------------- non-numbers, inf, empty
def test_non_numeric_metric_values():
    frame = good_frame()
    frame["csat"] = frame["csat"].astype(object)
    frame.loc[[2, 3], "csat"] = ["good", "4,5"]
    _raises(frame, "csat", "non-numeric values", 2, ["acc-03", "acc-04"])


def test_numbers_written_as_text_are_numbers_and_words_are_not():
    frame = good_frame()
    expected = _score(frame)["score"]
    frame["csat"] = frame["csat"].map(str)  # "3.0": a CSV cell is text either way
    pd.testing.assert_series_equal(_score(frame)["score"], expected)
    frame.loc[[2, 5, 6], "csat"] = ["NaN", "4,5", "good"]  # none of them is a number
    frame.loc[[3, 7], "csat"] = ["", "  "]  # blank text is an empty cell: not measured
    _raises(frame, "csat", "non-numeric values", 3, ["acc-03", "acc-06", "acc-07"])
    frame.loc[[2, 5, 6], "csat"] = None
    out = _score(frame)
    assert out["score"].notna().all()
    assert out.loc[[2, 3, 6, 7], "contribution_csat"].tolist() == [0.0] * 4  # not measured


def test_infinite_values():
    frame = good_frame()
    frame.loc[[1, 4], "csm_pulse"] = [np.inf, -np.inf]
    _raises(frame, "csm_pulse", "infinite values", 2, ["acc-02", "acc-05"])


def test_empty_frame():
    with pytest.raises(DataError, match=r"column '\(frame\)': the snapshot table has no rows"):
        _score(good_frame().iloc[:0])


def test_not_a_frame():
    with pytest.raises(DataError, match="expected a pandas DataFrame, got dict"):
        _score({"account_id": ["a"]})


# ------------------------------------------------------------ config problems
def _write(tmp_path, data, name="cfg.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_config_with_a_negative_weight(tmp_path):
    data = LIFECYCLE.to_dict()
    comps = data["stages"]["adoption"]["components"]
    comps["product_usage"]["weight"], comps["user_activity"]["weight"] = -0.05, 0.8
    with pytest.raises(ConfigError) as excinfo:
        HealthScorer(_write(tmp_path, data))
    assert excinfo.value.problems == [("stages.adoption.components.product_usage.weight",
                                       "weight must be non-negative, got -0.05")]


def test_config_with_weights_not_summing_to_one(tmp_path):
    data = LIFECYCLE.to_dict()
    data["stages"]["onboarding"]["components"]["implementation"]["weight"] = 0.35
    with pytest.raises(ConfigError, match=r"stages\.onboarding\.components: weights in this stage "
                                          r"sum to 0\.9, not 1 \(champion_engagement 0\.15, "
                                          r"implementation 0\.35, champion_activity 0\.4\)"):
        HealthScorer(_write(tmp_path, data))


def test_config_with_an_unknown_transform(tmp_path):
    data = LIFECYCLE.to_dict()
    data["stages"]["maturity"]["components"]["user_activity"]["metrics"]["stickiness"][
        "transform"] = {"kind": "sqrt", "lo": 0, "hi": 1}
    with pytest.raises(ConfigError, match=r"stages\.maturity\.components\.user_activity\."
                                          r"metrics\.stickiness\.transform\.kind: unknown "
                                          r"transform kind 'sqrt'"):
        HealthScorer(_write(tmp_path, data))


def test_config_with_a_yaml_python_tag(tmp_path):
    path = tmp_path / "tagged.yaml"
    path.write_text("schema_version: 1\nname: x\nstages: !!python/object:builtins.dict {}\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\(yaml\): not safe YAML \(line 3\)"):
        HealthScorer(path)


def test_config_metric_absent_from_the_data_names_the_metric(tmp_path):
    data = LIFECYCLE.to_dict()
    data["stages"]["renewal"]["components"]["user_activity"]["metrics"]["api_calls_change_pct"] = {
        "weight": 0.0, "direction": "higher_is_better",
        "transform": {"kind": "linear", "lo": -50, "hi": 50}}
    scorer = HealthScorer(_write(tmp_path, data))
    _raises(good_frame(), "api_calls_change_pct", "metric column is missing from the data",
            config=scorer.config)
    # only the stages present in the data need their metrics
    assert _score(good_frame()[good_frame()["stage"] != "renewal"],
                  scorer.config)["score"].notna().all()


def test_a_bad_value_in_the_last_rows_is_found_and_all_rows_counted():
    frame = good_frame(16)
    frame.loc[15, "stickiness"] = 1.5  # renewal does not read stickiness: not counted
    frame.loc[14, "stickiness"] = 1.5  # maturity (row 14 = stage 2) reads it
    frame.loc[2, "stickiness"] = -0.1  # maturity, first block
    _raises(frame, "stickiness", "[0, 1]", 2, ["acc-03", "acc-15"])


def test_duplicate_found_in_a_large_shuffled_frame():
    frame = good_frame(2000)  # every account once: 2000 rows
    frame.loc[1500, "account_id"] = "acc-07"  # acc-07 twice on the same date
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)  # no order at all
    err = _raises(frame, "snapshot_date", "duplicate (account_id, snapshot_date) pairs", 2,
                  ["acc-07"])
    assert (frame.loc[err.rows, "account_id"] == "acc-07").all()

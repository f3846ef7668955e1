"""Dates are never guessed (issue 9, item 4): ISO 8601 unless a format is given, on every
command that reads snapshots and in the Python reader; anything else is one error naming
``snapshot_date``, the count, the first rows and values, with a suggested format that is
never applied."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest

import hscore
from hscore import DataError, HealthScorer
from hscore.cli import build_parser
from hscore.scoring.dates import guess_formats, parse_dates
from hscore.scoring.snapshots import check_snapshots
from test_bad_input import good_frame
from cli_probe import SAMPLE, one_error, run
from test_calibrate import HOLDOUT, make_config, make_frame

FEB_1 = pd.Timestamp("2024-02-01")


def _dated(dates, n: int | None = None) -> pd.DataFrame:
    """Valid lifecycle snapshots (one per account) with these snapshot dates as text."""
    frame = good_frame(len(dates) if n is None else n)
    frame["snapshot_date"] = list(dates)
    return frame


# ------------------------------------------------------------------- the guarantee
def test_day_first_dates_are_refused_by_default_and_read_with_a_date_format(tmp_path, capsys):
    path = tmp_path / "day_first.csv"
    _dated(["01/02/2024"] * 6 + ["13/02/2024"] * 2).to_csv(path, index=False)

    line = one_error(capsys, "score", "--config", "lifecycle", "--snapshots", path,
                     fragments=["column 'snapshot_date'", "not dates in ISO 8601 form",
                                "'01/02/2024', '13/02/2024'", "(8 rows;", "first rows: 0, 1, 2",
                                "--date-format '%d/%m/%Y'", "day first"])
    assert "never guessed" in line

    out = tmp_path / "scores.csv"
    rc, printed, err = run(capsys, "score", "--config", "lifecycle", "--snapshots", path,
                           "--date-format", "%d/%m/%Y", "--out", out)
    assert rc == 0, err
    written = pd.read_csv(out, dtype={"snapshot_date": str})
    # written back as they came in (the scores join back on the date text), read as 1 Feb
    assert written["snapshot_date"].tolist() == ["01/02/2024"] * 6 + ["13/02/2024"] * 2
    assert pd.to_datetime(written["snapshot_date"], format="%d/%m/%Y").dt.strftime(
        "%Y-%m-%d").tolist() == ["2024-02-01"] * 6 + ["2024-02-13"] * 2


def test_the_python_reader_refuses_day_first_dates_and_reads_them_with_date_format(tmp_path):
    path = tmp_path / "day_first.csv"
    _dated(["01/02/2024", "01/03/2024"]).to_csv(path, index=False)
    with pytest.raises(DataError) as excinfo:
        hscore.read_snapshots(path)
    err = excinfo.value
    assert err.column == "snapshot_date" and err.n_rows == 2 and err.rows == [0, 1]
    # ambiguous: both readings are offered, neither is applied
    assert "'%d/%m/%Y' (day first) or '%m/%d/%Y' (month first)" in str(err)

    frame = hscore.read_snapshots(path, date_format="%d/%m/%Y")
    assert frame["snapshot_date"].tolist() == [FEB_1, pd.Timestamp("2024-03-01")]
    month_first = hscore.read_snapshots(path, date_format="%m/%d/%Y")
    assert month_first["snapshot_date"].tolist() == [pd.Timestamp("2024-01-02"),
                                                     pd.Timestamp("2024-01-03")]


def test_a_day_after_the_twelfth_does_not_change_the_outcome():
    """Before: '31/01/2024' parsed (it can only be day first) while '01/02/2024' became
    2 January; the outcome depended on the day. Now both are refused the same way."""
    for dates in (["31/01/2024"], ["01/02/2024"], ["31/01/2024", "01/02/2024"]):
        with pytest.raises(DataError, match="not dates in ISO 8601 form"):
            HealthScorer("lifecycle").score(_dated(dates))
    with pytest.raises(DataError, match=r"they look like '%d/%m/%Y' \(day first\)"):
        HealthScorer("lifecycle").score(_dated(["31/01/2024", "01/02/2024"]))


def test_check_snapshots_and_the_scorer_take_date_format():
    iso = _dated(["2024-02-01", "2024-02-13"])
    day_first = _dated(["01/02/2024", "13/02/2024"])
    cfg = hscore.load_config("lifecycle")
    checked = check_snapshots(day_first, cfg, date_format="%d/%m/%Y")
    np.testing.assert_array_equal(checked.days, check_snapshots(iso, cfg).days)
    got = HealthScorer(cfg).score(day_first, date_format="%d/%m/%Y")
    pd.testing.assert_frame_equal(got, HealthScorer(cfg).score(iso))
    assert got["snapshot_date"].tolist() == [FEB_1, pd.Timestamp("2024-02-13")]


def test_values_that_do_not_match_the_given_format_are_refused_with_a_guess():
    frame = _dated(["01/02/2024", "2024-02-13", "31/01/2024"])
    with pytest.raises(DataError) as excinfo:
        HealthScorer("lifecycle").score(frame, date_format="%m/%d/%Y")
    text = str(excinfo.value)
    assert "do not match the date format '%m/%d/%Y'" in text
    assert "'2024-02-13', '31/01/2024' (2 distinct)" in text
    assert excinfo.value.n_rows == 2 and excinfo.value.rows == [1, 2]


@pytest.mark.parametrize("value, fragment", [
    ("2024-1-1", "not dates in ISO 8601 form"),
    ("20240101", "'%Y%m%d'"),
    (" 2024-01-01", "spaces around them"),
    ("2024-02-30", "no such day"),
    ("1 Feb 2024", "'%d %b %Y'"),
    ("next tuesday", "strftime codes such as '%d/%m/%Y'"),
], ids=["unpadded", "basic", "spaces", "no-such-day", "month-name", "words"])
def test_text_that_is_not_iso_is_refused(value, fragment):
    with pytest.raises(DataError) as excinfo:
        HealthScorer("lifecycle").score(_dated(["2024-01-01", value]))
    err = excinfo.value
    assert err.column == "snapshot_date" and err.n_rows == 1 and err.rows == [1]
    assert fragment in str(err) and repr(value) in str(err)


def test_a_csv_date_written_as_a_number_is_read_with_its_format(tmp_path):
    path = tmp_path / "basic.csv"
    _dated(["20240201", "20240213"]).to_csv(path, index=False)
    with pytest.raises(DataError, match="'%Y%m%d'"):
        hscore.read_snapshots(path)
    frame = hscore.read_snapshots(path, date_format="%Y%m%d")
    assert frame["snapshot_date"].tolist() == [FEB_1, pd.Timestamp("2024-02-13")]


def test_iso_datetimes_with_a_zone_are_converted_to_utc_and_the_zone_dropped():
    dates = pd.Series(["2024-02-01", "2024-02-01T10:30:00", "2024-02-01 10:30",
                       "2024-02-01T10:30:00Z", "2024-03-01T00:30:00+02:00",
                       "2024-02-01T10:30:00.25-0130"])
    got = parse_dates(dates)
    assert got.dt.tz is None
    assert got.tolist() == [FEB_1, pd.Timestamp("2024-02-01 10:30"),
                            pd.Timestamp("2024-02-01 10:30"), pd.Timestamp("2024-02-01 10:30"),
                            pd.Timestamp("2024-02-29 22:30"), pd.Timestamp("2024-02-01 12:00:00.25")]


def test_parquet_datetimes_pass_through_and_zoned_ones_become_utc(tmp_path):
    frame = _dated(["2024-02-01", "2024-02-13"])
    naive = frame.assign(snapshot_date=pd.to_datetime(frame["snapshot_date"]))
    zoned = naive.assign(snapshot_date=pd.DatetimeIndex(naive["snapshot_date"])
                         .tz_localize("Europe/Berlin"))
    days = frame.assign(snapshot_date=[datetime.date(2024, 2, 1), datetime.date(2024, 2, 13)])
    for name, table in {"naive": naive, "zoned": zoned, "days": days}.items():
        table.to_parquet(tmp_path / f"{name}.parquet", index=False)
    read = {name: hscore.read_snapshots(tmp_path / f"{name}.parquet", date_format="%d/%m/%Y")
            for name in ("naive", "zoned", "days")}
    assert read["naive"]["snapshot_date"].tolist() == [FEB_1, pd.Timestamp("2024-02-13")]
    assert read["days"]["snapshot_date"].tolist() == [FEB_1, pd.Timestamp("2024-02-13")]
    # midnight in Berlin is 23:00 UTC the day before
    assert read["zoned"]["snapshot_date"].tolist() == [pd.Timestamp("2024-01-31 23:00"),
                                                       pd.Timestamp("2024-02-12 23:00")]


def test_empty_dates_are_refused():
    frame = _dated(["2024-02-01", None, "2024-02-01"])
    with pytest.raises(DataError, match="empty dates") as excinfo:
        HealthScorer("lifecycle").score(frame)
    assert excinfo.value.rows == [1]


def test_the_guess_names_only_formats_that_read_every_value():
    assert guess_formats(["31/01/2024", "01/02/2024"]) == ["%d/%m/%Y"]
    assert guess_formats(["01/31/2024", "02/01/2024"]) == ["%m/%d/%Y"]
    assert guess_formats(["01.02.2024"]) == ["%d.%m.%Y"]
    assert guess_formats(["someday"]) == []


def test_reading_a_million_rows_works_on_distinct_values():
    """A million rows with 24 distinct dates: the rule runs on the 24, not row by row."""
    days = pd.date_range("2023-01-01", periods=24, freq="MS").strftime("%Y-%m-%d")
    col = pd.Series(np.tile(np.asarray(days, dtype=object), 41_667)[:1_000_000])
    import time

    start = time.perf_counter()
    got = parse_dates(col)
    took = time.perf_counter() - start
    assert got.iloc[-1] == pd.Timestamp(days[(1_000_000 - 1) % 24])
    assert took < 5, took          # a guard against a per-row loop, not a benchmark


# ---------------------------------------------------------------- every command
def test_every_command_that_reads_snapshots_takes_date_format():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for command in ("score", "calibrate", "compare", "promote"):
        options = {o for a in sub.choices[command]._actions for o in a.option_strings}
        assert "--date-format" in options, command


@pytest.fixture(scope="module")
def day_first(tmp_path_factory):
    """A calibration history written ISO and day first (days > 12 included)."""
    folder = tmp_path_factory.mktemp("day_first")
    frame = make_frame(n_accounts=60, months=10, seed=3)
    frame["snapshot_date"] = (pd.to_datetime(frame["snapshot_date"])
                              + pd.Timedelta(days=14)).dt.strftime("%Y-%m-%d")
    frame.to_csv(folder / "iso.csv", index=False)
    frame.assign(snapshot_date=pd.to_datetime(frame["snapshot_date"]).dt.strftime("%d/%m/%Y")
                 ).to_csv(folder / "dmy.csv", index=False)
    from hscore.config import save_config

    save_config(make_config(), folder / "hand.yaml")
    return folder


def test_calibrate_reads_day_first_dates_with_date_format(day_first, capsys):
    def calibrate(name, *extra):
        return run(capsys, "calibrate", "--snapshots", day_first / name, "--config",
                   day_first / "hand.yaml", "--out", day_first / f"{name}.yaml",
                   "--holdout-from", HOLDOUT, "--bootstrap", "0", "--strengths", "inf",
                   "--no-track", *extra)

    one_error(capsys, "calibrate", "--snapshots", day_first / "dmy.csv", "--config",
              day_first / "hand.yaml", "--out", day_first / "x.yaml", "--no-track",
              fragments=["snapshot_date", "'%d/%m/%Y'"])
    rc, _, err = calibrate("iso.csv")
    assert rc == 0, err
    rc, _, err = calibrate("dmy.csv", "--date-format", "%d/%m/%Y")
    assert rc == 0, err
    iso = hscore.load_config(day_first / "iso.csv.yaml")
    dmy = hscore.load_config(day_first / "dmy.csv.yaml")
    assert iso.provenance.data_window == dmy.provenance.data_window
    for stage in iso.stages:
        assert iso.stages[stage].probability == dmy.stages[stage].probability


def test_compare_reads_day_first_dates_with_date_format(day_first, capsys):
    args = ["compare", "--config", day_first / "hand.yaml", "--stage", "s1", "m1", "m3",
            "--bootstrap", "20"]
    one_error(capsys, *args, "--snapshots", day_first / "dmy.csv",
              fragments=["snapshot_date", "'%d/%m/%Y'"])
    rc, iso, err = run(capsys, *args, "--snapshots", day_first / "iso.csv")
    assert rc == 0, err
    rc, dmy, err = run(capsys, *args, "--snapshots", day_first / "dmy.csv",
                       "--date-format", "%d/%m/%Y")
    assert rc == 0, err
    assert dmy == iso


def test_promote_reads_its_snapshots_with_date_format(day_first, capsys, monkeypatch):
    # a spy on the function the CLI calls: this test is about what the CLI hands it
    import hscore.mlops.promotion as promotion

    seen = {}

    class Done:
        def __str__(self):
            return "promoted"

    def fake_promote(version, **kwargs):
        seen.update(kwargs)
        return Done()

    monkeypatch.setattr(promotion, "promote", fake_promote)
    rc, out, err = run(capsys, "promote", "--snapshots", day_first / "dmy.csv",
                       "--date-format", "%d/%m/%Y")
    assert rc == 0, err
    iso = hscore.read_snapshots(day_first / "iso.csv")
    pd.testing.assert_series_equal(seen["snapshots"]["snapshot_date"], iso["snapshot_date"])


def test_the_sample_data_is_iso_and_reads_as_before():
    frame = hscore.read_snapshots(SAMPLE)
    assert frame["snapshot_date"].min() == pd.Timestamp("2024-01-01")
    assert frame["snapshot_date"].dt.day.eq(1).all()


def test_promote_reads_the_training_file_back_with_the_calibration_date_format(
        initialized_store, tmp_path, capsys):
    """A book with day-first dates, calibrated with --date-format: promote's drift lines
    re-read its training rows with the format the calibration was given (they said "not
    shown ... pass --date-format" even when it was passed)."""
    root = SAMPLE.parent
    text = (root / "crm_export.csv").read_text("utf-8")
    assert ",2024-12-01," in text
    book = tmp_path / "day_first.csv"
    book.write_text(text.replace(",2024-12-01,", ",01/12/2024,"), "utf-8")
    rc, out, err = run(capsys, "calibrate", "--snapshots", book, "--config",
                       root / "crm_export.yaml", "--date-format", "%d/%m/%Y", "--bootstrap",
                       "0", "--strengths", "inf", "--quiet", "--out", tmp_path / "c.yaml")
    assert rc == 0, err
    rc, out, err = run(capsys, "promote", "--model-name", "crm-export", "--quiet",
                       "--bootstrap", "10")
    assert rc == 0, err
    drift = [line for line in out.splitlines() if line.lstrip().startswith("drift")]
    assert drift and not [line for line in drift if "not shown" in line], out

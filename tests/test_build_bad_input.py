"""Bad raw input: each case a named error (table.column, the count of rows, the first
accounts), nothing dropped silently; the rules for time zones and duplicates."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

import tiny_book
from hscore.build import build_snapshots
from hscore.cli import main
from hscore.errors import DataError, HScoreError, HScoreWarning


def _build(tmp_path, frames, fmt="csv", **kw):
    folder = tiny_book.write(tmp_path / "tables", frames, fmt)
    kw.setdefault("start", "2024-01-01")
    return build_snapshots(folder, "lifecycle", **kw)


def _error(tmp_path, frames, fmt="csv", **kw) -> DataError:
    with pytest.raises(DataError) as info:
        _build(tmp_path, frames, fmt, **kw)
    return info.value


def _add(frames, table, rows):
    old = frames[table]
    new = pd.DataFrame(rows, columns=old.columns).astype(old.dtypes.to_dict())
    frames[table] = pd.concat([old, new], ignore_index=True)
    return frames


def test_events_for_unknown_accounts(tmp_path):
    f = _add(tiny_book.frames(), "events", [("Z", "z1", "2024-02-01 10:00:00", "login", None, None),
                                             ("Y", "y1", "2024-02-01 10:00:00", "login", None, None)])
    err = _error(tmp_path, f)
    assert err.column == "events.account_id" and err.n_rows == 2
    assert set(err.examples) == {"Y", "Z"} and "not in the accounts table" in str(err)


def test_events_for_users_not_in_the_users_table(tmp_path):
    # (u9 of A, and u1 written under B: a user_id is known only with its own account)
    f = _add(tiny_book.frames(), "events", [("A", "u9", "2024-02-01 10:00:00", "login", None, None),
                                             ("A", "u9", "2024-02-02 10:00:00", "login", None, None),
                                             ("B", "u1", "2024-02-01 10:00:00", "login", None, None)])
    err = _error(tmp_path / "users", f)
    assert err.column == "events.user_id" and err.n_rows == 3
    assert set(err.examples) == {"A", "B"} and "not in the users table" in str(err)
    # unknown accounts among them are said first, counted on their own, as for any table
    f = _add(f, "events", [("Z", "z1", "2024-02-01 10:00:00", "login", None, None)])
    err = _error(tmp_path / "accounts", f)
    assert err.column == "events.account_id" and err.n_rows == 1 and err.examples == ["Z"]


def test_timestamps_mixing_offsets_and_none(tmp_path):
    f = tiny_book.frames()
    f["events"].loc[[0, 1, 2], "ts"] = ["2023-12-20T10:00:00Z", "2023-12-20T10:01:00+02:00",
                                        "2024-01-05T09:00:00-05:00"]
    err = _error(tmp_path, f)
    assert err.column == "events.ts"
    # the values without an offset are the ones that cannot be read safely
    naive = len(f["events"]) - 3
    assert err.n_rows == naive
    assert f"3 rows with an offset and {naive} rows without one" in str(err)


def test_one_timestamp_with_an_offset_among_many_without_is_said_in_the_singular(tmp_path):
    f = tiny_book.frames()
    f["events"].loc[0, "ts"] = "2023-12-20T10:00:00+02:00"
    err = _error(tmp_path, f)
    naive = len(f["events"]) - 1
    assert err.column == "events.ts" and err.n_rows == naive
    assert f"1 row with an offset and {naive} rows without one" in str(err)
    assert "1 rows" not in str(err)


def test_a_date_alone_among_timestamps_with_offsets_counts_as_without_one(tmp_path):
    f = tiny_book.frames()
    ev = f["events"]
    ev["ts"] = pd.to_datetime(ev["ts"]).dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    ev.loc[[0, 1], "ts"] = ["2023-12-20", "2024-01-05"]
    err = _error(tmp_path, f)
    assert err.column == "events.ts" and err.n_rows == 2
    assert f"{len(ev) - 2} rows with an offset and 2 rows without one" in str(err)


def test_timestamps_with_offsets_are_converted_to_utc_and_without_are_utc(tmp_path):
    f = tiny_book.frames()
    ev = f["events"]
    # every value with an offset: 2024-03-01T01:00:00+02:00 is 2024-02-29 23:00 UTC, so the
    # snapshot of 2024-03-01 sees it; 2024-02-29T20:00:00-05:00 is 2024-03-01 01:00 UTC: not seen
    ev["ts"] = pd.to_datetime(ev["ts"]).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    extra = [("A", "u4", "2024-03-01T01:00:00+02:00", "action", None, None),
             ("A", "u4", "2024-02-29T20:00:00-05:00", "action", None, None)]
    aware = _build(tmp_path / "aware", _add(f, "events", extra))
    row = aware[(aware["account_id"] == "A") & (aware["snapshot_date"] == "2024-03-01")].iloc[0]
    assert row["events_30d"] == 27 + 1                   # hand count of tiny_book, plus one
    assert row["seat_utilization"] == 1.0                # u4 is active now: 4 / 4 seats
    # no offset anywhere: read as UTC; a date alone is midnight UTC
    plain = tiny_book.frames()
    plain["events"]["ts"] = pd.to_datetime(plain["events"]["ts"]).dt.strftime("%Y-%m-%d %H:%M:%S")
    same = _build(tmp_path / "plain", plain)
    row = same[(same["account_id"] == "A") & (same["snapshot_date"] == "2024-03-01")].iloc[0]
    assert row["events_30d"] == 27


def test_a_date_that_is_not_iso_is_an_error_never_a_guess(tmp_path):
    f = tiny_book.frames()
    f["touches"].loc[1, "ts"] = "01/02/2024"
    err = _error(tmp_path, f)
    assert err.column == "touches.ts" and err.n_rows == 1 and "ISO 8601" in str(err)


def test_duplicate_events_policy(tmp_path):
    f = tiny_book.frames()
    dup = f["events"].iloc[[6, 6, 7]]                   # Jan 31 events: one twice more, one once
    _add(f, "events", dup.values.tolist())
    with pytest.warns(HScoreWarning, match=r"events: 3 identical rows counted once"):
        dropped = _build(tmp_path / "drop", f)
    row = dropped[(dropped["account_id"] == "A") & (dropped["snapshot_date"] == "2024-03-01")]
    assert row["events_30d"].item() == 27                # as if the copies were not there
    assert dropped.attrs["hscore_build"]["dropped_duplicates"] == {"events": 3}
    err = _error(tmp_path / "error", f, dedupe="error")
    assert err.column == "events (table)" and err.n_rows == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # no warning: keep is asked for
        kept = _build(tmp_path / "keep", f, dedupe="keep")
    row = kept[(kept["account_id"] == "A") & (kept["snapshot_date"] == "2024-03-01")]
    assert row["events_30d"].item() == 30


def test_churn_date_before_contract_start(tmp_path):
    f = tiny_book.frames()
    f["accounts"].loc[1, "churn_date"] = "2023-05-01"
    err = _error(tmp_path, f)
    assert (err.column, err.n_rows, err.examples) == ("accounts.churn_date", 1, ["B"])


def test_renewal_date_before_contract_start(tmp_path):
    f = tiny_book.frames()
    f["accounts"].loc[0, "renewal_date"] = "2022-12-01"
    err = _error(tmp_path, f)
    assert (err.column, err.n_rows, err.examples) == ("accounts.renewal_date", 1, ["A"])


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_negative_seats(tmp_path, fmt):
    f = tiny_book.frames()
    f["accounts"]["seats"] = [-4, 2]
    err = _error(tmp_path, f, fmt)
    assert (err.column, err.n_rows, err.examples) == ("accounts.seats", 1, ["A"])
    assert "negative" in str(err)


def test_survey_values_outside_their_scale(tmp_path):
    f = _add(tiny_book.frames(), "surveys", [("A", "2024-02-01", "nps", "user", 11),
                                              ("A", "2024-02-02", "csat", "user", 0),
                                              ("A", "2024-02-03", "sentiment", "csm", 0.5)])
    err = _error(tmp_path, f)
    assert err.column == "surveys.value" and err.n_rows == 2      # 0.5 is a fine sentiment
    assert "nps 0-10, csat 1-5" in str(err)


def test_conflicting_answers_of_one_respondent(tmp_path):
    f = _add(tiny_book.frames(), "surveys", [("A", "2024-02-20", "pulse", "csm", 2)])
    err = _error(tmp_path, f)
    assert err.column == "surveys.ts" and err.n_rows == 2


def test_a_table_missing_a_required_column(tmp_path):
    f = tiny_book.frames()
    f["touches"] = f["touches"].drop(columns="with_champion")
    err = _error(tmp_path, f)
    assert err.column == "touches.with_champion" and "required column is missing" in str(err)
    # every row of the table lacks it: the count says how many that is
    assert err.n_rows == len(f["touches"]) and f"({len(f['touches'])} rows)" in str(err)


def test_a_missing_table_the_config_needs_and_one_it_does_not(tmp_path):
    f = tiny_book.frames()
    del f["surveys"]
    err = _error(tmp_path / "a", f)
    assert err.column == "surveys (table)"
    # a config whose metrics read only events and accounts builds without the other tables
    from hscore.config import config_from_dict

    cfg = config_from_dict({
        "schema_version": 1, "name": "usage-only", "bands": {"healthy": 75, "at_risk": 50},
        "stages": {"all": {"components": {"usage": {"weight": 1.0, "metrics": {
            "events_30d": {"weight": 1.0, "direction": "higher_is_better", "per_seat": True,
                           "transform": {"kind": "log", "lo": 0, "hi": 500}}}}}}}})
    only = {"accounts": f["accounts"], "events": f["events"]}
    folder = tiny_book.write(tmp_path / "b", only)
    frame = build_snapshots(folder, cfg, start="2024-03-01")
    assert list(frame.columns) == ["account_id", "snapshot_date", "seats", "segment",
                                   "events_30d", "churned"]


def test_an_optional_column_absent_leaves_its_metrics_empty_with_a_warning(tmp_path):
    f = tiny_book.frames()
    f["events"] = f["events"].drop(columns="minutes")
    with pytest.warns(HScoreWarning, match="minutes_30d"):
        frame = _build(tmp_path, f)
    assert frame["minutes_30d"].isna().all() and frame["events_30d"].notna().all()


def test_a_metric_without_definition_is_named(tmp_path):
    from hscore.config import config_from_dict

    cfg = config_from_dict({
        "schema_version": 1, "name": "x", "bands": {"healthy": 75, "at_risk": 50},
        "stages": {"all": {"components": {"c": {"weight": 1.0, "metrics": {
            "nps_of_the_ceo": {"weight": 1.0, "direction": "higher_is_better",
                               "transform": {"kind": "linear", "lo": 0, "hi": 10}}}}}}}})
    folder = tiny_book.write(tmp_path, tiny_book.frames())
    with pytest.raises(HScoreError, match="no definition for metric.*nps_of_the_ceo"):
        build_snapshots(folder, cfg)


def test_the_command_line_says_one_error_line_and_exits_2(tmp_path, capsys):
    f = tiny_book.frames()
    f["accounts"]["seats"] = [-4, 2]
    folder = tiny_book.write(tmp_path / "tables", f)
    rc = main(["build", "--tables", str(folder), "--out", str(tmp_path / "snap.csv"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: column 'accounts.seats'")
    assert not (tmp_path / "snap.csv").exists()


def test_the_output_never_overwrites_an_input_table(tmp_path, capsys):
    folder = tiny_book.write(tmp_path / "tables", tiny_book.frames())
    before = (folder / "events.csv").read_bytes()
    for out in (folder / "events.csv", folder / "events.parquet"):
        assert main(["build", "--tables", str(folder), "--out", str(out), "--quiet"]) == 2
    assert (folder / "events.csv").read_bytes() == before
    assert not (folder / "events.parquet").exists()
    assert "raw table 'events'" in capsys.readouterr().err


@pytest.mark.parametrize("limit", ["lots", "4", "80%", "10KB"])
def test_a_bad_memory_limit_is_refused_before_any_work(tmp_path, capsys, limit):
    # DuckDB itself raised a ParserException (a traceback, exit 1) deep inside the build.
    folder = tiny_book.write(tmp_path / "tables", tiny_book.frames())
    rc = main(["build", "--tables", str(folder), "--out", str(tmp_path / "snap.csv"),
               "--memory-limit", limit, "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: ")
    assert "--memory-limit" in err[0] and repr(limit) in err[0] and "4GB or 500MB" in err[0]
    with pytest.raises(HScoreError, match=r"memory_limit: .*4GB or 500MB"):
        build_snapshots(folder, "lifecycle", memory_limit=limit)


def test_a_memory_limit_in_any_unit_duckdb_reads_is_used(tmp_path):
    from hscore.build import engine

    with engine.connect(memory_limit="1.5GiB") as con:
        limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert limit == "1.5 GiB"

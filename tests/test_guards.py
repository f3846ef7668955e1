"""Identities and numbers are taken as given, never silently changed (issue 8, items 7 and 8),
and bad arguments exit 2 at parse time.

The id rule: hscore neither trims nor Unicode-normalizes ids (the scores carry the input's
ids byte for byte, so they join back to the source). Ids that a person would read as one
account but a computer as two are refused, with the count of rows: spaces around an id, a
name not in NFC form, bytes, a mix of text and numbers. The checks live in
``check_snapshots``, so the Python API and the CLI refuse alike.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd
import pytest

from cli_probe import SAMPLE, one_error
from hscore import DataError, HealthScorer, read_snapshots

FRAME = read_snapshots(SAMPLE)


def _api_refuses(frame, column, *fragments):
    with pytest.raises(DataError) as excinfo:
        HealthScorer("lifecycle").score(frame)
    err = excinfo.value
    assert err.column == column
    for fragment in fragments:
        assert fragment in str(err), str(err)
    return err


def _cli_refuses(tmp_path, capsys, frame, *fragments, suffix=".csv"):
    path = tmp_path / f"snap{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    line = one_error(capsys, "score", "--config", "lifecycle", "--snapshots", path,
                     fragments=fragments)
    assert line.startswith(f"error: {path}"), line     # the file, then the column
    return line


# ------------------------------------------------------------------ ids
def test_an_id_with_a_trailing_space_is_refused_with_the_row_count(tmp_path, capsys):
    frame = FRAME.copy()
    rows = frame.index[frame["account_id"] == "acct-000"][:3]   # 3 of its snapshots
    frame.loc[rows, "account_id"] = "acct-000 "
    err = _api_refuses(frame, "account_id", "spaces around them", "'acct-000 '")
    assert err.n_rows == 3 and err.rows == list(rows)
    _cli_refuses(tmp_path, capsys, frame, "column 'account_id'", "spaces", "3 rows")


def test_nfc_and_nfd_spellings_of_one_name_are_refused(tmp_path, capsys):
    frame = FRAME.copy()
    nfc = "caf\u00e9-001"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    frame.loc[frame["account_id"] == "acct-001", "account_id"] = nfc   # fine on its own
    HealthScorer("lifecycle").score(frame)
    frame.loc[frame.index[frame["account_id"] == nfc][:2], "account_id"] = nfd
    err = _api_refuses(frame, "account_id", "NFC")
    assert err.n_rows == 2
    for suffix in (".csv", ".parquet"):
        _cli_refuses(tmp_path, capsys, frame, "column 'account_id'", "NFC", "2 rows",
                     suffix=suffix)


def test_ids_as_bytes_through_the_api_are_refused():
    frame = FRAME.copy()
    frame["account_id"] = [a.encode() for a in frame["account_id"]]
    _api_refuses(frame, "account_id", "bytes")


def test_ids_mixing_text_and_numbers_are_refused():
    frame = FRAME.iloc[:4].copy()
    frame["account_id"] = pd.Series(["1", 1, "2", 2], dtype=object).to_numpy()
    frame["snapshot_date"] = pd.Timestamp("2026-01-01")
    _api_refuses(frame, "account_id", "mixed types")


def test_numeric_ids_and_clean_text_ids_score():
    frame = FRAME.copy()
    codes = pd.factorize(frame["account_id"])[0]
    frame["account_id"] = codes
    numeric = HealthScorer("lifecycle").score(frame)
    assert numeric["account_id"].tolist() == codes.tolist()


# ------------------------------------------------------------------ numbers
def test_seats_given_as_booleans_are_refused(tmp_path, capsys):
    frame = FRAME.copy()
    frame["seats"] = frame["seats"] > 0
    _api_refuses(frame, "seats", "true/false", f"{len(frame)} rows")
    _cli_refuses(tmp_path, capsys, frame, "column 'seats'", "true/false", suffix=".parquet")
    mixed = FRAME.copy()
    mixed["seats"] = mixed["seats"].astype(object)
    mixed.loc[5, "seats"] = True
    err = _api_refuses(mixed, "seats", "true/false")
    assert err.n_rows == 1 and err.rows == [5]


def test_a_boolean_metric_may_still_be_given_as_booleans():
    frame = FRAME.copy()
    measured = frame["qbr_held_180d"].notna()
    frame["qbr_held_180d"] = frame["qbr_held_180d"].astype(object)
    frame.loc[measured, "qbr_held_180d"] = frame.loc[measured, "qbr_held_180d"] == 1
    pd.testing.assert_frame_equal(HealthScorer("lifecycle").score(frame),
                                  HealthScorer("lifecycle").score(FRAME))


def test_a_complex_valued_metric_is_refused():
    frame = FRAME.copy()
    frame["csat"] = frame["csat"] + 1j
    _api_refuses(frame, "csat", "complex")
    single = FRAME.copy()
    single["csat"] = single["csat"].astype(object)
    single.loc[7, "csat"] = 4 + 2j
    err = _api_refuses(single, "csat", "complex")
    assert err.n_rows == 1 and err.rows == [7]


def test_dates_given_as_a_metric_are_refused():
    frame = FRAME.copy()
    frame["csat"] = pd.Timestamp("2026-01-01")
    _api_refuses(frame, "csat", "dates")


# ------------------------------------------------------------------ arguments
@pytest.mark.parametrize("args, fragment", [
    (["compare", "--snapshots", SAMPLE, "--config", "lifecycle", "--stage", "maturity",
      "product_usage", "csm_pulse", "--seed", "-1"], "--seed"),
    (["calibrate", "--snapshots", SAMPLE, "--out", "never.yaml", "--seed", "-1"], "--seed"),
    (["promote", "--seed", "-5"], "--seed"),
    (["demo", "--seed", "-1"], "--seed"),
    (["demo", "--accounts", "0"], "--accounts"),
    (["calibrate", "--snapshots", SAMPLE, "--out", "never.yaml", "--horizon-days", "0"],
     "--horizon-days"),
    (["calibrate", "--snapshots", SAMPLE, "--out", "never.yaml", "--bootstrap", "many"],
     "--bootstrap"),
], ids=["compare-seed", "calibrate-seed", "promote-seed", "demo-seed", "demo-accounts",
        "horizon", "bootstrap-word"])
def test_bad_numbers_in_arguments_exit_2_before_any_work(tmp_path, monkeypatch, capsys, args,
                                                         fragment):
    monkeypatch.chdir(tmp_path)
    one_error(capsys, *args, fragments=[fragment])
    assert not (tmp_path / "never.yaml").exists()


def test_a_seed_of_zero_is_a_seed():
    from hscore.cli import build_parser

    args = build_parser().parse_args(["demo", "--seed", "0"])
    assert args.seed == 0 and isinstance(args.seed, int)
    assert np.random.default_rng(args.seed) is not None

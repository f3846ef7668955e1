"""Reading tables: nothing guessed, no parser traceback (issue 8, items 2, 7 and 8).

Each probe fails through the Python API with a :class:`DataError` that names the file (and
the line or column), and through the CLI with exit 2 and one ``error:`` line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cli_probe import SAMPLE, one_error
from hscore import DataError, HealthScorer, read_snapshots

LINES = SAMPLE.read_text("utf-8").splitlines(keepends=True)
HEADER = LINES[0].rstrip("\n").split(",")


def _csv(tmp_path, lines, name="bad.csv"):
    path = tmp_path / name
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _refused(capsys, path, *fragments, column=None):
    """The API and the CLI refuse ``path`` with the same one-line error naming the file."""
    with pytest.raises(DataError) as excinfo:
        read_snapshots(path)
    err = excinfo.value
    assert err.file == str(path) and str(path) in str(err)
    if column is not None:
        assert err.column == column
    for fragment in fragments:
        assert fragment in str(err), str(err)
    line = one_error(capsys, "score", "--config", "lifecycle", "--snapshots", path,
                     fragments=[str(path), *fragments])
    assert line == f"error: {err.one_line()}"
    return err


# ------------------------------------------------------------------ duplicate headers
def test_a_column_named_twice_in_a_csv_header_is_refused(tmp_path, capsys):
    # the extra csm_pulse comes first: pandas would read it and rename the real one
    lines = ["csm_pulse," + LINES[0]] + ["3.0," + line for line in LINES[1:]]
    _refused(capsys, _csv(tmp_path, lines), "2 columns have this name", column="csm_pulse")


def test_names_equal_but_for_spaces_around_them_are_refused(tmp_path, capsys):
    lines = [LINES[0].replace(",csat,", ",csat ,", 1).rstrip("\n") + ",csat\n"] + \
            [line.rstrip("\n") + ",1\n" for line in LINES[1:]]
    _refused(capsys, _csv(tmp_path, lines), "'csat ', 'csat'", column="csat")


def test_a_column_named_twice_in_a_parquet_file_is_refused(tmp_path, capsys):
    table = pa.table({"account_id": ["a"], "snapshot_date": ["2026-01-01"]})
    table = pa.Table.from_arrays([*table.columns, pa.array([3.0]), pa.array([4.0])],
                                 names=["account_id", "snapshot_date", "csm_pulse", "csm_pulse"])
    path = tmp_path / "dup.parquet"
    pq.write_table(table, path)
    _refused(capsys, path, "2 columns have this name", column="csm_pulse")


def test_a_frame_with_a_column_named_twice_is_refused_by_the_scorer():
    frame = read_snapshots(SAMPLE)
    doubled = pd.concat([frame[["csm_pulse"]] * 0 + 1, frame], axis=1)
    with pytest.raises(DataError, match="column 'csm_pulse': 2 columns have this name"):
        HealthScorer("lifecycle").score(doubled)


# ------------------------------------------------------------------ text that is not a CSV
def test_latin1_csv_is_refused_with_the_line(tmp_path, capsys):
    path = tmp_path / "latin1.csv"
    text = "".join(LINES[:40]).replace("acct-002,", "café-002,")
    path.write_bytes(text.encode("latin-1"))
    line = 1 + next(i for i, t in enumerate(LINES) if t.startswith("acct-002,"))
    _refused(capsys, path, f"line {line}", "not UTF-8", "0xe9")


@pytest.mark.parametrize("content", [
    bytes(range(256)) * 64,                       # random binary
    b"account_id,stage\n" + b"\x00" * 500,        # NUL bytes
    b"PAR1" + bytes(100),                         # a Parquet file named .csv
], ids=["binary", "nul-bytes", "parquet-named-csv"])
def test_binary_content_named_csv_is_refused(tmp_path, capsys, content):
    path = tmp_path / "binary.csv"
    path.write_bytes(content)
    _refused(capsys, path, column="(file)")


def test_a_nul_byte_inside_a_field_is_refused_not_cut_short(tmp_path, capsys):
    # pandas would read "x\0y" as "x" without a word; far into the file, past any sniffing
    lines = LINES[:1] + LINES[1:] * 30
    lines[-3] = lines[-3].replace(",mid,", ",m\x00id,", 1)
    assert "\x00" in lines[-3]
    _refused(capsys, _csv(tmp_path, lines), f"line {len(lines) - 2}", "NUL byte")


def test_a_row_with_more_fields_than_the_header_is_refused_with_its_line(tmp_path, capsys):
    lines = list(LINES[:30])
    lines[11] = lines[11].rstrip("\n") + ",7\n"
    _refused(capsys, _csv(tmp_path, lines), "line 12", f"{len(HEADER) + 1} fields",
             f"the header has {len(HEADER)}")


def test_a_first_row_with_one_extra_field_does_not_shift_the_columns(tmp_path, capsys):
    # pandas would take the first field as an index and read every column one place left
    lines = [LINES[0]] + [line.rstrip("\n") + ",0\n" for line in LINES[1:30]]
    _refused(capsys, _csv(tmp_path, lines), "line 2", f"{len(HEADER) + 1} fields")


@pytest.mark.parametrize("quoted", [False, True], ids=["plain", "with-quoted-fields"])
def test_rows_with_fewer_fields_than_the_header_are_refused_with_the_count(tmp_path, capsys,
                                                                           quoted):
    lines = list(LINES[:60])
    if quoted:  # quotes take the slow, exact path: a quoted comma is not a delimiter
        lines = [line.replace(",mid,", ',"mid, tier",') for line in lines]
    for i in (5, 9):
        lines[i] = ",".join(lines[i].rstrip("\n").split(",")[:-3]) + "\n"
    err = _refused(capsys, _csv(tmp_path, lines), "fewer fields than the header", "lines 6, 10")
    assert err.n_rows == 2 and err.rows == [4, 8]


def test_a_well_formed_csv_with_quotes_blank_lines_and_empty_last_cells_reads(tmp_path):
    lines = [line.replace(",mid,", ',"mid,\n tier",') for line in LINES[:60]]
    lines.insert(7, "\n")
    lines.insert(20, "   \n")
    path = _csv(tmp_path, lines, "good.csv")
    frame = read_snapshots(path)
    assert len(frame) == 59 and frame["churned"].isna().any()
    assert (frame["segment"] == "mid,\n tier").any()


# ------------------------------------------------------------------ Parquet
@pytest.mark.parametrize("damage", ["truncated", "corrupt", "csv-named-parquet"])
def test_a_damaged_parquet_file_is_refused(tmp_path, capsys, damage):
    path = tmp_path / "snap.parquet"
    read_snapshots(SAMPLE).to_parquet(path)
    raw = path.read_bytes()
    path.write_bytes({"truncated": raw[: len(raw) // 2],
                      "corrupt": raw[:4] + bytes(len(raw) - 8) + raw[-4:],
                      "csv-named-parquet": SAMPLE.read_bytes()}[damage])
    _refused(capsys, path, "not a readable Parquet file", column="(file)")


def _binary_ids(tmp_path, ids):
    frame = read_snapshots(SAMPLE).iloc[:len(ids)].copy()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.set_column(0, "account_id", pa.array(ids, pa.binary()))
    path = tmp_path / "binary_ids.parquet"
    pq.write_table(table, path)
    return frame, path


def test_parquet_ids_stored_as_binary_are_read_as_text(tmp_path):
    frame, path = _binary_ids(tmp_path, [a.encode() for a in read_snapshots(SAMPLE)
                                         ["account_id"].iloc[:50]])
    read = read_snapshots(path)
    assert read["account_id"].tolist() == frame["account_id"].tolist()  # 'acct-000', not b'...'
    scores = HealthScorer("lifecycle").score(read)
    pd.testing.assert_frame_equal(scores, HealthScorer("lifecycle").score(frame))


def test_parquet_binary_ids_that_are_not_utf8_are_refused(tmp_path, capsys):
    _, path = _binary_ids(tmp_path, [b"acct-000", b"\xff\xfe", b"acct-001"])
    err = _refused(capsys, path, "not UTF-8", column="account_id")
    assert err.n_rows == 1 and err.rows == [1]


def test_reading_keeps_values_exactly(tmp_path):
    # the reader adds checks, not conversions: the same frame as pandas gives for a good file
    frame = read_snapshots(SAMPLE)
    expected = pd.read_csv(SAMPLE, dtype={"account_id": str, "stage": str, "segment": str},
                           keep_default_na=False, na_values=[""])
    expected["snapshot_date"] = pd.to_datetime(expected["snapshot_date"])
    pd.testing.assert_frame_equal(frame, expected)
    path = tmp_path / "s.parquet"
    frame.to_parquet(path)
    pd.testing.assert_frame_equal(read_snapshots(path), pd.read_parquet(path))
    assert np.isnan(frame["churned"]).any()

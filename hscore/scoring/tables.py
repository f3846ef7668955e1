"""Table files: the one reader and the one writer of CSV and Parquet tables.

Reading never guesses and never crashes with a parser's traceback: every problem with a
file is a :class:`~hscore.errors.DataError` that names the file (and the line, when one
line is at fault):

- the format comes from the suffix (``.csv``, ``.parquet``/``.pq``); a Parquet file named
  ``.csv``, a binary file, text that is not UTF-8, a truncated or corrupt Parquet file are
  refused; an Excel workbook is refused with how to convert it (openpyxl is not a
  dependency);
- a column name that appears twice in the header (or twice once spaces around it are
  removed and Unicode is normalized) is refused: pandas would rename the second one
  (``csm_pulse.1``) and read the first;
- a CSV row with more fields than the header is refused (pandas would either fail or, when
  the first row has one extra field, silently shift every column by one), and so is a row
  with fewer fields (pandas would fill the missing ones as "not measured");
- Parquet text stored as binary is decoded as UTF-8 (refused when it is not UTF-8), so an
  id is ``acct-000``, never ``b'acct-000'``.

Writing goes through :func:`hscore.files.atomic_write`: the old file or the new one,
never half of one.

The checks cost little: the header is read on its own, and the short-row check counts
delimiters in the raw bytes (vectorized) only when the last column has empty cells.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from hscore.errors import FILE, DataError
from hscore.files import atomic_write

__all__ = ["read_table", "write_table", "table_format", "duplicate_names",
           "refuse_duplicate_names", "SUFFIXES"]

SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
#: Excel workbooks are not read (hscore does not depend on openpyxl): the error says how to
#: convert one.
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
_CHUNK = 1 << 24
_SNIFF = 1 << 16
_N_LINES = 3


def table_format(path: str | os.PathLike, *, output: bool = False) -> str:
    """``"csv"`` or ``"parquet"`` from the suffix of ``path``; anything else is a DataError."""
    suffix = Path(path).suffix.lower()
    fmt = SUFFIXES.get(suffix)
    if fmt is None:
        what = "output must end in .csv or .parquet" if output else "expected a .csv or .parquet file"
        if suffix in EXCEL_SUFFIXES and not output:
            book = Path(path)
            what += (f"; an Excel workbook is not read: save the sheet as 'CSV UTF-8' from Excel,"
                     f" or convert it with pandas (needs openpyxl): pandas.read_excel("
                     f"'{book}').to_parquet('{book.with_suffix('.parquet')}')")
        raise DataError(FILE, what, file=path)
    return fmt


def duplicate_names(names: Iterable[object]) -> list[list[str]]:
    """Groups of column names that stand for the same column: equal, or equal once the spaces
    around them are removed and Unicode is normalized (NFC). Each group is in header order.

    Examples
    --------
    >>> duplicate_names(["account_id", "csm_pulse", "csat", "csm_pulse "])
    [['csm_pulse', 'csm_pulse ']]
    >>> duplicate_names(["a", "b"])
    []
    """
    names = [str(n) for n in names]
    keys = [unicodedata.normalize("NFC", n.strip()) for n in names]
    counts = Counter(k for k in keys if k)
    groups: dict[str, list[str]] = {}
    for name, key in zip(names, keys):
        if counts[key] > 1:
            groups.setdefault(key, []).append(name)
    return list(groups.values())


def refuse_duplicate_names(names: Sequence[object], path=None) -> None:
    """Raise a DataError naming the first column that :func:`duplicate_names` finds twice."""
    groups = duplicate_names(names)
    if groups:
        first = groups[0]
        spelled = "" if len(set(first)) == 1 else f" (as {', '.join(map(repr, first))})"
        more = f"; also {', '.join(repr(g[0]) for g in groups[1:])}" if len(groups) > 1 else ""
        raise DataError(first[0].strip(), f"{len(first)} columns have this name{spelled}{more}; "
                        f"which one holds the data cannot be told: remove or rename the "
                        f"others", file=path)


# ------------------------------------------------------------------------ reading
def read_table(path: str | os.PathLike, *,
               text_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Read a CSV or Parquet table; ``text_columns`` (when present) are read as text from CSV.

    CSV: UTF-8 (a byte-order mark is fine), comma-separated, first line the header; an
    empty cell is NaN, and nothing else is (``NA``, ``null``, ``n/a`` stay text).

    Raises
    ------
    DataError
        Naming the file (and line, or column) for a missing, empty, binary, non-UTF-8,
        ragged, corrupt or truncated file, or a header that names a column twice.
    """
    path = Path(path)
    fmt = table_format(path)
    if not path.exists():
        raise DataError(FILE, "no such file", file=path)
    if fmt == "csv":
        return _read_csv(path, text_columns)
    return _read_parquet(path)


def _read_csv(path: Path, text_columns: Sequence[str]) -> pd.DataFrame:
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF)
    if not head.strip():
        raise DataError(FILE, "the file is empty", file=path)
    if head.startswith(b"PAR1"):
        raise DataError(FILE, "this is a Parquet file, not CSV: name it .parquet", file=path)
    header = _csv_header(path)
    refuse_duplicate_names(header, path)
    try:
        frame = pd.read_csv(path, dtype={c: str for c in text_columns if c in header},
                            keep_default_na=False, na_values=[""], encoding="utf-8")
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except pd.errors.EmptyDataError:
        raise DataError(FILE, "the file is empty", file=path) from None
    except pd.errors.ParserError as err:
        raise _parser_error(path, err) from None
    if not isinstance(frame.index, pd.RangeIndex):
        # pandas took the first field as an index: the first row has one more field than the
        # header, and every column would be read one place to the left.
        raise DataError(FILE, f"the first row has {len(header) + 1} fields where the header "
                              f"has {len(header)}", file=path, line=2)
    # A row short of fields leaves at least the last column empty: only then count fields.
    maybe_short = len(frame) > 0 and len(frame.columns) > 1 and frame.iloc[:, -1].isna().any()
    commas, quoted = _scan(path, count_commas=maybe_short)
    if maybe_short:
        short = _short_rows(path, len(header), len(frame), commas, quoted)
        if short is not None:
            rows, lines = short
            examples = ([] if "account_id" not in frame.columns
                        else list(pd.unique(frame["account_id"].to_numpy()[rows[:100]])[:3]))
            raise DataError(FILE, f"rows with fewer fields than the header's {len(header)} "
                                  f"(first on line{'s' if len(lines) > 1 else ''} "
                                  f"{', '.join(map(str, lines))}): a missing field is not an "
                                  f"empty one", len(rows), examples, rows[:_N_LINES], file=path)
    return frame


def _csv_header(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            for row in csv.reader(fh):
                if row and any(cell.strip() for cell in row):
                    return row
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except csv.Error as err:
        raise DataError(FILE, f"the header cannot be read: {err}", file=path) from None
    raise DataError(FILE, "the file is empty", file=path)


def _not_utf8(path: Path) -> DataError:
    """Where the first byte that is not UTF-8 is (only on this error path: reads the file)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as err:
                line += chunk.count(b"\n", 0, max(err.start, 0))
                byte = chunk[err.start] if 0 <= err.start < len(chunk) else None
                what = f" (byte 0x{byte:02x})" if byte is not None else ""
                return DataError(FILE, f"not UTF-8 text{what}: save the file as UTF-8",
                                 file=path, line=line)
            line += chunk.count(b"\n")
    return DataError(FILE, "not UTF-8 text: save the file as UTF-8", file=path)


_EXPECTED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _parser_error(path: Path, err: Exception) -> DataError:
    text = " ".join(str(err).split())
    m = _EXPECTED.search(text)
    if m:
        expected, line, saw = map(int, m.groups())
        return DataError(FILE, f"{saw} fields where the header has {expected}", file=path,
                         line=line)
    text = text.replace("Error tokenizing data. ", "").replace("C error: ", "")
    return DataError(FILE, f"not a well-formed CSV file: {text}", file=path)


def _scan(path: Path, count_commas: bool) -> tuple[int, bool]:
    """One vectorized pass over the raw bytes: refuse NUL bytes (pandas would cut the field
    short at one, silently), and count the commas and see whether there are quotes."""
    commas, quoted, offset = 0, False, 0
    buf = bytearray(_CHUNK)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            nul = buf.find(b"\x00", 0, n)
            if nul >= 0:
                with open(path, "rb") as again:
                    line = again.read(offset + nul).count(b"\n") + 1
                raise DataError(FILE, "binary data (a NUL byte), not CSV text", file=path,
                                line=line)
            if count_commas:
                commas += int(np.count_nonzero(np.frombuffer(buf, np.uint8, n) == ord(",")))
                quoted = quoted or buf.find(b'"', 0, n) >= 0
            offset += n
    return commas, quoted


def _short_rows(path: Path, n_fields: int, n_rows: int, commas: int,
                quoted: bool) -> tuple[np.ndarray, list[int]] | None:
    """Data rows with fewer fields than the header (row positions, first lines), or None.

    A row with more fields has already failed in pandas, so when the file has no quotes the
    delimiters in it add up to (header fields - 1) x (rows + 1) exactly when no row is short:
    one vectorized count (``commas``). Only when they do not (or when quotes make the count
    unreliable) are the rows parsed one by one to find the short ones (an error path).
    """
    if not quoted and commas == (n_fields - 1) * (n_rows + 1):
        return None
    rows, lines = [], []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        index = -1                               # the header is row -1
        try:
            for record in reader:
                if not record or not any(cell.strip() for cell in record):
                    continue                     # a blank line: pandas skips it too
                if len(record) < n_fields and index >= 0:
                    rows.append(index)
                    if len(lines) < _N_LINES:
                        lines.append(reader.line_num)
                index += 1
        except csv.Error as err:
            raise DataError(FILE, f"not a well-formed CSV file: {err}", file=path,
                            line=reader.line_num) from None
    return (np.asarray(rows, dtype=np.int64), lines) if rows else None


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        refuse_duplicate_names(schema.names, path)
        table = pq.read_table(path, use_pandas_metadata=True)
    except (pa.ArrowException, OSError) as err:
        if isinstance(err, (FileNotFoundError, PermissionError, IsADirectoryError)):
            raise
        why = " ".join(str(err).split())[:200]
        raise DataError(FILE, f"not a readable Parquet file: {why}", file=path) from None
    for i, field in enumerate(table.schema):
        if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            table = table.set_column(i, field.name, _utf8(table.column(i), field.name, path))
    return table.to_pandas()


def _utf8(column, name: str, path: Path):
    """Binary values as text (Parquet writers that do not mark text as UTF-8 store it so)."""
    import pyarrow as pa

    try:
        return column.cast(pa.large_string() if pa.types.is_large_binary(column.type)
                           else pa.string())
    except pa.ArrowInvalid:
        values = column.to_pylist()
        bad = np.array([v is not None and not _decodes(v) for v in values])
        raise DataError(name, "binary values that are not UTF-8 text", int(bad.sum()),
                        rows=np.flatnonzero(bad)[:_N_LINES], file=path) from None


def _decodes(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# ------------------------------------------------------------------------ writing
def write_table(frame: pd.DataFrame, path: str | os.PathLike, *,
                float_format: str | None = None, date_format: str | None = None) -> Path:
    """Write a frame as .csv or .parquet (by suffix), atomically.

    ``float_format`` (CSV only) fixes the digits written, for files that must be identical
    across platforms and library versions (the last bit of a float may differ between them).
    ``date_format`` (CSV only; default ISO ``%Y-%m-%d``) writes dates as the input had them.
    """
    if table_format(path, output=True) == "csv":
        def write(tmp: Path) -> None:
            frame.to_csv(tmp, index=False, date_format=date_format or "%Y-%m-%d",
                         float_format=float_format)
    else:
        def write(tmp: Path) -> None:
            frame.to_parquet(tmp, index=False)
    return atomic_write(path, write)

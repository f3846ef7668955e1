"""Snapshot dates: read as written, never guessed.

The rule (DESIGN, "Data contract"; ``data/README.md``):

- **Text is ISO 8601 unless a format is given.** ``YYYY-MM-DD``, or a date and time
  ``YYYY-MM-DDTHH:MM[:SS[.fff]]`` (a space for the ``T`` is fine) with an optional ``Z`` or
  ``±hh:mm`` offset. Anything else (``01/02/2024``, ``2024-1-1``, ``20240101``, a date with
  spaces around it) is a :class:`~hscore.errors.DataError` naming the column, the number of
  rows, the first rows and the first distinct values, with a guess of the format the values
  look like, offered as a suggestion and never applied. ``01/02/2024`` can never silently
  become the 1st of February or the 2nd of January.
- **A format is applied exactly.** ``date_format="%d/%m/%Y"`` (strftime codes; the CLI's
  ``--date-format``) reads every value with that format and nothing else; a value that does
  not match it is the same error.
- **Typed dates pass through.** A datetime column (Parquet timestamps, a frame built with
  ``pd.Timestamp``) and Python ``date``/``datetime`` objects are dates already: no format is
  involved.
- **Time zones: converted to UTC, then dropped.** A time-zone-aware value (a Parquet timestamp
  with a zone, ISO text with ``Z`` or an offset, a format with ``%z``) becomes its UTC time
  without a zone, so ``2024-03-01T00:30:00+02:00`` is ``2024-02-29 22:30`` and falls on the
  snapshot day 2024-02-29 (DESIGN: timestamps are UTC). Naive values are taken as they are.
- An empty date is an error (a snapshot without a day cannot be placed).

The work is done on the distinct values (a snapshot table has a few dozen dates over a
million rows), with one factorize pass over the rows.

Examples
--------
>>> import pandas as pd
>>> parse_dates(pd.Series(["2024-02-01", "2024-03-01"])).dt.strftime("%d %b").tolist()
['01 Feb', '01 Mar']
>>> parse_dates(pd.Series(["01/02/2024"]), "%d/%m/%Y").dt.strftime("%d %b").tolist()
['01 Feb']
>>> parse_dates(pd.Series(["01/02/2024", "31/01/2024"]))
Traceback (most recent call last):
...
hscore.errors.DataError: column 'snapshot_date': values that are not dates in ISO 8601 form ...
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from hscore.errors import DataError

__all__ = ["parse_dates", "guess_formats", "ISO_FORMS"]

#: What "ISO 8601" means here, in words (for error messages and help).
ISO_FORMS = "YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SS with an optional Z or ±hh:mm"

_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
                  r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?"
                  r"(?P<zone>Z|[+-][0-9]{2}:?[0-9]{2})?)?")
_N_SHOWN = 3
#: How many distinct bad values the format guess looks at (a suggestion, not a check).
_N_GUESS = 1000

#: Formats a value that is not ISO may be written in, tried in this order by the guess.
_CANDIDATES = (
    "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%m-%d-%Y", "%Y/%m/%d", "%Y.%m.%d",
    "%Y%m%d", "%d/%m/%y", "%m/%d/%y", "%d.%m.%y",
    "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S",
    "%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%Y/%m/%d %H:%M:%S",
    "%d %b %Y", "%d %B %Y", "%b %d %Y", "%b %d, %Y", "%B %d, %Y", "%d-%b-%Y", "%d-%b-%y",
)


def _shown(values) -> str:
    return ", ".join(repr(v) for v in values[:_N_SHOWN])


def _reading(fmt: str) -> str:
    """' (day first)' or ' (month first)' for a numeric day/month format, else ''."""
    day, month = fmt.find("%d"), fmt.find("%m")
    if min(day, month) < 0 or fmt.startswith("%Y"):
        return ""
    return " (day first)" if day < month else " (month first)"


def guess_formats(values) -> list[str]:
    """The formats of :data:`_CANDIDATES` that read every one of ``values`` (text): a
    suggestion for ``date_format``, never applied by hscore.

    Examples
    --------
    >>> guess_formats(["31/01/2024", "01/02/2024"])
    ['%d/%m/%Y']
    >>> guess_formats(["01/02/2024"])
    ['%d/%m/%Y', '%m/%d/%Y']
    >>> guess_formats(["next tuesday"])
    []
    """
    sample = pd.Index([str(v) for v in values[:_N_GUESS]], dtype=object)
    if len(sample) == 0:
        return []
    found = []
    for fmt in _CANDIDATES:
        parsed = pd.to_datetime(sample, format=fmt, exact=True, errors="coerce")
        if parsed.notna().all():
            found.append(fmt)
    return found


def _advice(bad_values, date_format: str | None) -> str:
    """What to do about values that were not read: a guess of their format, or how to say it."""
    text = [str(v) for v in bad_values[:_N_GUESS]]
    iso = [_ISO.fullmatch(v) is not None for v in text]
    if date_format is None and all(iso):
        return "they are written in ISO form, but no such day or time exists"
    if date_format is not None and all(iso):
        return ("they are ISO 8601 dates, which are read when no date format is given; write "
                "the dates one way in the whole file")
    if date_format is None and all(v != v.strip() and _ISO.fullmatch(v.strip()) for v in text):
        return "they have spaces around them: remove them in the source (dates are not trimmed)"
    found = [f for f in guess_formats(text) if f != date_format]
    how = "pass --date-format (date_format= in Python) with the format the source writes"
    if not found:
        return f"{how}, in strftime codes such as '%d/%m/%Y'"
    if len(found) == 1:
        fmt = found[0]
        return (f"they look like '{fmt}'{_reading(fmt)}: pass --date-format '{fmt}' "
                f"(date_format='{fmt}' in Python) if that is what the source writes")
    options = " or ".join(f"'{f}'{_reading(f)}" for f in found[:3])
    return f"they could be {options}; {how}"


def parse_dates(col: pd.Series, date_format: str | None = None, *,
                column: str = "snapshot_date", frame: pd.DataFrame | None = None) -> pd.Series:
    """``col`` as naive datetimes (UTC for zoned values), by the rule in this module's doc.

    Parameters
    ----------
    col : Series
        The dates: text, datetimes, or Python date/datetime objects.
    date_format : str, optional
        strftime codes (``"%d/%m/%Y"``) that every text value must match exactly; default
        ISO 8601.
    column : str
        The column's name in errors.
    frame : DataFrame, optional
        The frame ``col`` belongs to, to name the first accounts in errors.

    Raises
    ------
    DataError
        Naming the column, the number of rows, the first rows and accounts, the first distinct
        values and, for text, the format they look like.
    """
    if frame is None:
        frame = pd.DataFrame(index=col.index)
    if pd.api.types.is_datetime64_any_dtype(col):
        _refuse_empty(frame, column, col.isna().to_numpy())
        return _naive_utc(col)
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    _refuse_empty(frame, column, codes < 0)
    values = np.asarray(uniques, dtype=object)
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("date", "datetime", "datetime64"):
        try:
            parsed = pd.DatetimeIndex(pd.to_datetime(values))
        except (TypeError, ValueError) as err:   # aware and naive objects mixed
            raise _bad(frame, column, np.ones(len(values), bool), codes, values,
                       "dates that cannot be read together",
                       " ".join(str(err).split())) from None
        return _mapped(col, _naive_utc(parsed), codes)
    if kind == "integer" and date_format is not None:
        values = np.array([str(v) for v in values], dtype=object)   # %Y%m%d given as 20240101
    elif kind not in ("string", "empty"):
        what = {"integer": "numbers", "floating": "numbers", "mixed-integer": "numbers",
                "boolean": "true/false values"}.get(kind, f"values of type {kind}")
        text = [str(v) for v in values]
        raise _bad(frame, column, np.array([not isinstance(v, str) for v in values]), codes,
                   values, f"{what}, not dates",
                   f"write dates as text ({ISO_FORMS}); " + _advice(text, date_format))
    if date_format is None:
        return _mapped(col, _parse_iso(values, frame, column, codes), codes)
    return _mapped(col, _parse_with(values, date_format, frame, column, codes), codes)


def _iso_shape(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per text value: does it start with a strict ``YYYY-MM-DD`` (followed by nothing, or by
    ``T``/space and a time), and does its time carry a zone (``Z``, ``+``, ``-``)? Vectorized
    over the characters; pandas' ISO 8601 reader then checks the time part and the day."""
    text = values.astype(str)
    n, width = len(text), text.dtype.itemsize // 4
    if n == 0 or width < 10:
        return np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    chars = text.view(np.uint32).reshape(n, width)
    date = chars[:, :10]
    digits = (date >= ord("0")) & (date <= ord("9"))
    ok = (digits[:, [0, 1, 2, 3, 5, 6, 8, 9]].all(axis=1) & (date[:, 4] == ord("-"))
          & (date[:, 7] == ord("-")))
    zoned = np.zeros(n, dtype=bool)
    if width > 10:
        timed = chars[:, 10] != 0
        ok &= ~timed | (chars[:, 10] == ord("T")) | (chars[:, 10] == ord(" "))
        time = chars[:, 11:]
        zoned = timed & ((time == ord("Z")) | (time == ord("+")) | (time == ord("-"))).any(axis=1)
    return ok, zoned


def _parse_iso(values: np.ndarray, frame, column: str, codes: np.ndarray) -> pd.DatetimeIndex:
    ok, zoned = _iso_shape(values)
    parsed = np.full(len(values), np.datetime64("NaT"), "datetime64[ns]")
    # Zoned and naive values apart: pandas reads a naive value in a batch with offsets at
    # the offset of the value before it.
    for group, utc in ((ok & ~zoned, False), (ok & zoned, True)):
        if group.any():
            read = pd.to_datetime(pd.Index(values[group], dtype=object), format="ISO8601",
                                  errors="coerce", utc=utc)
            parsed[group] = _naive_utc(read).to_numpy(dtype="datetime64[ns]")
    bad = np.isnat(parsed)
    if bad.any():
        raise _bad(frame, column, bad, codes, values,
                   f"values that are not dates in ISO 8601 form ({ISO_FORMS})",
                   "dates are never guessed: " + _advice(values[bad], None))
    return pd.DatetimeIndex(parsed)


def _parse_with(values: np.ndarray, date_format: str, frame, column: str,
                codes: np.ndarray) -> pd.DatetimeIndex:
    zoned = "%z" in date_format or "%Z" in date_format
    try:
        read = pd.to_datetime(pd.Index(values, dtype=object), format=date_format, exact=True,
                              errors="coerce", utc=zoned)
    except (TypeError, ValueError) as err:   # a format pandas cannot use at all
        raise DataError(column, f"the date format {date_format!r} cannot be used: "
                                f"{' '.join(str(err).split())}") from None
    parsed = _naive_utc(pd.DatetimeIndex(read))
    bad = np.asarray(parsed.isna())
    if bad.any():
        raise _bad(frame, column, bad, codes, values,
                   f"values that do not match the date format {date_format!r}",
                   _advice(values[bad], date_format))
    return parsed


def _naive_utc(dates):
    """Zoned datetimes (a Series or an index) as UTC without the zone; naive ones as they are."""
    if isinstance(dates, pd.Series):
        return dates.dt.tz_convert("UTC").dt.tz_localize(None) if dates.dt.tz else dates
    return dates.tz_convert("UTC").tz_localize(None) if dates.tz is not None else dates


def _mapped(col: pd.Series, parsed: pd.DatetimeIndex, codes: np.ndarray) -> pd.Series:
    out = parsed.to_numpy(dtype="datetime64[ns]")[codes]
    return pd.Series(out, index=col.index, name=col.name, copy=False)


def _examples(frame: pd.DataFrame, rows: np.ndarray) -> list[object]:
    if "account_id" not in frame.columns:
        return []
    return list(pd.unique(frame["account_id"].to_numpy()[rows[:10_000]])[:_N_SHOWN])


def _refuse_empty(frame: pd.DataFrame, column: str, empty: np.ndarray) -> None:
    if empty.any():
        rows = np.flatnonzero(empty)
        raise DataError(column, "empty dates: every snapshot needs its day", int(empty.sum()),
                        _examples(frame, rows), rows[:_N_SHOWN])


def _bad(frame, column: str, bad_unique: np.ndarray, codes: np.ndarray, values: np.ndarray,
         problem: str, advice: str) -> DataError:
    """``problem: 'v1', 'v2', 'v3' (N distinct); advice (rows; first accounts; first rows)``."""
    rows = np.flatnonzero(bad_unique[codes])
    n_distinct = int(bad_unique.sum())
    return DataError(column, f"{problem}: {_shown(values[bad_unique])} ({n_distinct} distinct); "
                             f"{advice}", len(rows), _examples(frame, rows), rows[:_N_SHOWN])

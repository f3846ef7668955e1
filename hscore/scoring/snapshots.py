"""The snapshot table: reading, writing and checking it against a config.

One row per account per snapshot date (see DESIGN.md, "Data contract").
:func:`check_snapshots` turns a frame into the arrays the scorer works on and
raises :class:`~hscore.errors.DataError` for anything the contract calls bad
input: it names the column, counts the offending rows and shows the first
accounts. Nothing is dropped, coerced or turned into NaN here.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hscore.config import Config
from hscore.errors import DataError, MissingColumnError
from hscore.scoring.dates import parse_dates
from hscore.scoring.tables import read_table, refuse_duplicate_names
from hscore.scoring.tables import write_table as write_frame

__all__ = ["read_snapshots", "write_frame", "check_snapshots", "CheckedSnapshots",
           "ID_COLUMNS", "row_error"]

ID_COLUMNS = ("account_id", "snapshot_date", "stage")
_N_EXAMPLES = 3


@dataclass
class CheckedSnapshots:
    """A validated snapshot frame as arrays (views of the frame where possible)."""

    frame: pd.DataFrame
    stage_codes: np.ndarray          # int index into stages; one per row
    stages: list[str]
    account_codes: np.ndarray        # int64, factorized account_id
    days: np.ndarray                 # int64 days since epoch
    seats: np.ndarray | None
    metrics: dict[str, np.ndarray]   # float64 raw values, NaN = not measured
    order: np.ndarray                # rows sorted by (account, day)
    follows_same_account: np.ndarray # in that order: does the row before belong to the same account?
    config: Config | None = None
    present_stages: tuple[str, ...] = ()  # stages with at least one row
    in_account_order: bool = False   # rows already sorted by (account, day): ``order`` is 0..n-1
    account_ids: object = None       # the distinct account ids: account_codes index them

    @property
    def n_rows(self) -> int:
        return len(self.stage_codes)

    def rows_of(self, stage: str) -> np.ndarray:
        return np.flatnonzero(self.stage_codes == self.stages.index(stage))

    def check_metric(self, name: str) -> None:
        """Check one metric column's values on the rows of the stages that read it.

        Infinite values, values outside the metric's domain (a share above 1,
        NPS above 100, ...) and zero seats where a per-seat metric is measured
        are bad input. Raises :class:`~hscore.errors.DataError`; returns None
        when the column is clean.
        """
        frame, config, values = self.frame, self.config, self.metrics[name]
        single = config.single_stage
        specs = [(s, spec) for s, _, spec in config.metric_specs(name)
                 if s in self.present_stages]

        def reads() -> np.ndarray:  # rows whose stage reads the metric (only on a problem)
            if single:
                return np.ones(len(values), dtype=bool)
            return np.isin(self.stage_codes, [self.stages.index(s) for s, _ in specs])

        # fmin/fmax skip NaN and, unlike nanmin, stay quiet on an all-empty column
        # (a metric that is not measured at all is allowed).
        lo_seen, hi_seen = np.fmin.reduce(values), np.fmax.reduce(values)
        if np.isinf(lo_seen) or np.isinf(hi_seen):
            bad = np.isinf(values) & reads()
            if bad.any():
                raise row_error(frame, name, "infinite values", bad)
        bad_rows = None
        ranges: dict[str, str] = {}
        for stage_name, spec in specs:
            if spec.domain is None and spec.transform.kind != "boolean":
                continue
            lo, hi = spec.domain if spec.domain is not None else (0.0, 1.0)
            if (lo is None or not lo_seen < lo) and (hi is None or not hi_seen > hi):
                continue  # the whole column is inside the domain: nothing to locate
            in_stage = True if single else self.stage_codes == self.stages.index(stage_name)
            with np.errstate(invalid="ignore"):
                bad = in_stage & (((values < lo) if lo is not None else False)
                                  | ((values > hi) if hi is not None else False))
            if bad.any():
                # Count the offending rows of every stage, not only of the first one.
                bad_rows = bad if bad_rows is None else bad_rows | bad
                ranges[stage_name] = (f"[{'-inf' if lo is None else f'{lo:g}'}, "
                                      f"{'inf' if hi is None else f'{hi:g}'}]")
        if bad_rows is not None:
            if len(set(ranges.values())) == 1:
                what = next(iter(ranges.values()))
            else:
                what = "(" + ", ".join(f"{s} {r}" for s, r in ranges.items()) + ")"
            raise row_error(frame, name, f"values outside what the metric can take {what}",
                        bad_rows)
        if self.seats is not None and any(spec.per_seat for _, spec in specs):
            bad = self.seats == 0
            if bad.any():
                bad &= ~np.isnan(values)
                bad &= reads()
            if bad.any():
                raise row_error(frame, "seats", f"zero seats on rows where the per-seat metric "
                                            f"'{name}' is measured", bad)


#: How many more missing metric columns an error names after the first.
_N_ALSO = 8


def _closest(name: str, columns, *, short: bool = False) -> str:
    """``"; closest names in the data: 'a', 'b'"`` (difflib, ignoring case, spaces and dashes;
    or the same words in another order; or a column whose name holds ``name``), or ``""``
    when no column comes close.
    ``short``: ``" (closest: 'a')"``."""
    import difflib

    def key(text: object) -> str:
        return "_".join(str(text).strip().lower().replace("-", " ").split())

    by_key: dict[str, str] = {}
    for c in columns:
        by_key.setdefault(key(c), str(c))
    wanted = key(name)
    close = difflib.get_close_matches(wanted, list(by_key), n=3, cutoff=0.75)
    # ... or a column with the same words in another order ('pulse_csm' for 'csm_pulse'),
    # or whose name holds the whole name ('lifecycle_stage' for 'stage')
    words = sorted(wanted.split("_"))
    close += [k for k in by_key if k not in close
              and (sorted(k.split("_")) == words or f"_{wanted}_" in f"_{k}_")]
    found = [by_key[k] for k in close[:1 if short else 3]]
    if not found:
        return ""
    shown = ", ".join(repr(f) for f in found)
    return f" (closest: {shown})" if short else f"; closest names in the data: {shown}"


def _examples(frame: pd.DataFrame, mask: np.ndarray) -> list[object]:
    """The first distinct accounts among the offending rows (several rows of one account name
    it once), or the row positions when the frame has no account ids."""
    if "account_id" not in frame.columns:
        return [f"row {r}" for r in np.flatnonzero(mask)[:_N_EXAMPLES]]
    # Look among the first offending rows only: enough to find a few distinct ids.
    first = np.flatnonzero(mask)[:10_000]
    return list(pd.unique(frame["account_id"].to_numpy()[first])[:_N_EXAMPLES])


def row_error(frame: pd.DataFrame, column: str, message: str, mask: np.ndarray) -> DataError:
    """The one error for rows that break the contract: ``column``, ``message``, how many rows
    ``mask`` marks, and the first of them with their accounts."""
    return DataError(column, message, int(mask.sum()), _examples(frame, mask),
                     np.flatnonzero(mask)[:_N_EXAMPLES])


# ------------------------------------------------------------------ file i/o
#: Columns read from CSV as text: ids keep their leading zeros, and dates are read by the
#: date rule, not by the CSV reader (``20240101`` stays text, not a number).
TEXT_COLUMNS = ("account_id", "stage", "segment", "snapshot_date")


def read_snapshots(path: str | os.PathLike, date_format: str | None = None) -> pd.DataFrame:
    """Read a snapshot table from .csv or .parquet (see :mod:`hscore.scoring.tables`).

    CSV ids, stages and dates are read as text; ``snapshot_date`` is then read by the one
    date rule (:mod:`hscore.scoring.dates`): ISO 8601 unless ``date_format`` (strftime codes
    such as ``"%d/%m/%Y"``) is given, never guessed, and a value that is not a date in that
    form is an error, not a silent NaT. A file that cannot be read as a table (not UTF-8,
    ragged rows, a column named twice, a corrupt Parquet file) is a
    :class:`~hscore.errors.DataError` naming the file.
    """
    frame = read_table(path, text_columns=TEXT_COLUMNS)
    if "snapshot_date" in frame.columns:
        frame["snapshot_date"] = parse_dates(frame["snapshot_date"], date_format, frame=frame)
    return frame


def _as_float(frame: pd.DataFrame, name: str, *, allow_bool: bool = True) -> np.ndarray:
    """A numeric column as float64 (NaN = not measured). True/False are refused unless
    ``allow_bool`` (a boolean metric), and so are complex numbers, dates and durations: each
    would otherwise become a number silently (True as 1 seat, 3+4j as 3, a date as
    nanoseconds)."""
    col = frame[name]
    if pd.api.types.is_bool_dtype(col):
        if not allow_bool:
            raise row_error(frame, name, "true/false values where numbers are expected",
                        col.notna().to_numpy(dtype=bool))
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    if pd.api.types.is_complex_dtype(col):
        raise row_error(frame, name, "complex numbers where real numbers are expected",
                    col.notna().to_numpy(dtype=bool))
    if pd.api.types.is_datetime64_any_dtype(col) or pd.api.types.is_timedelta64_dtype(col):
        raise row_error(frame, name, "dates or durations where numbers are expected",
                    col.notna().to_numpy(dtype=bool))
    if pd.api.types.is_numeric_dtype(col):
        # Nullable integer/float columns carry pd.NA; read it as "not measured".
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    # Object or text column (a CSV column with a stray word in it, numbers kept as
    # text): numbers and numbers written as text are read; an empty cell is "not
    # measured"; anything else is bad input, counted cell by cell. Vectorized: no
    # per-row Python.
    kind = pd.api.types.infer_dtype(col, skipna=True)  # one C pass; per-cell Python below
    mixed = kind in ("mixed", "mixed-integer")          # only for columns that need it
    if (kind == "boolean" or mixed) and not allow_bool:
        bad = col.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy(dtype=bool)
        if bad.any():
            raise row_error(frame, name, "true/false values where numbers are expected", bad)
    if kind == "complex" or mixed:
        bad = col.map(lambda v: isinstance(v, (complex, np.complexfloating))).to_numpy(
            dtype=bool)
        if bad.any():
            raise row_error(frame, name, "complex numbers where real numbers are expected", bad)
    values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isnan(values) & ~col.isna().to_numpy()
    if bad.any():
        # A blank text cell is an empty cell, as in a CSV file.
        blank = col.str.strip().eq("").to_numpy(dtype=bool, na_value=False)
        bad &= ~blank
    if bad.any():
        raise row_error(frame, name, "non-numeric values", bad)
    return values


def _check_ids(frame: pd.DataFrame, name: str, codes: np.ndarray, uniques) -> None:
    """Ids are taken as given, byte for byte: hscore neither trims nor normalizes them, so
    ids that would be one account to a person but two to a computer are refused (with the
    count of rows): spaces around an id, a name not in Unicode NFC form (``é`` as one
    character or as ``e`` + accent), bytes (``b'acct-000'``) and a mix of text and numbers
    (``1`` and ``"1"``). The checks run on the distinct ids, vectorized."""
    values = np.asarray(uniques, dtype=object)
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("integer", "floating", "decimal", "empty", "categorical"):
        return
    if kind != "string":
        is_bytes = np.fromiter((isinstance(v, (bytes, bytearray)) for v in values), dtype=bool,
                               count=len(values))
        what = ("ids given as bytes (b'...'), not text: decode them" if is_bytes.any()
                else "ids of mixed types (text and numbers): give them all as text")
        bad = is_bytes if is_bytes.any() else np.ones(len(values), dtype=bool)
        raise _id_error(frame, name, what, bad, codes, values)
    joined = "\x00".join(values)
    if joined.isascii() and not any(c in joined for c in _ASCII_SPACES):
        return  # the usual case, in one pass over the text: no space at all, all ASCII
    text = values.astype(str)
    bad = np.strings.strip(text) != text
    if bad.any():
        raise _id_error(frame, name, "ids with spaces around them: 'a ' and 'a' would be two "
                        "accounts; hscore does not trim ids, trim them in the source",
                        bad, codes, values)
    wide = text.view(np.uint32).reshape(len(text), -1) if len(text) else text
    maybe = np.flatnonzero((wide > 127).any(axis=1)) if len(text) else []
    bad = np.zeros(len(values), dtype=bool)
    for i in maybe:  # only the distinct ids with a character beyond ASCII
        bad[i] = not unicodedata.is_normalized("NFC", values[i])
    if bad.any():
        raise _id_error(frame, name, "ids not in Unicode NFC form: the same name typed as 'é' "
                        "or as 'e' + accent would be two accounts; hscore does not normalize "
                        "ids, normalize them to NFC in the source", bad, codes, values)


#: What ``str.strip`` removes among ASCII characters.
_ASCII_SPACES = tuple(chr(c) for c in range(128) if chr(c).isspace())


def _id_error(frame, name, message, bad_unique, codes, values) -> DataError:
    rows = bad_unique[codes] & (codes >= 0)
    shown = [repr(v) for v in values[np.flatnonzero(bad_unique)[:_N_EXAMPLES]]]
    return DataError(name, message, int(rows.sum()), shown, np.flatnonzero(rows)[:_N_EXAMPLES])


# --------------------------------------------------------------------- check
def check_snapshots(frame: pd.DataFrame, config: Config, *,
                    check_values: bool = True, date_format: str | None = None
                    ) -> CheckedSnapshots:
    """Validate ``frame`` against the data contract and ``config``.

    Parameters
    ----------
    frame : DataFrame
        The snapshot table.
    config : Config
        The scoring model: which stages exist and which metric columns it reads.
    check_values : bool, default True
        Check every metric's values against its domain (and seats against
        per-seat metrics) here. The scorer passes False and makes the same
        checks block by block while it scores, on values it has in cache
        anyway, through :meth:`CheckedSnapshots.check_metric`; the error is
        the same.
    date_format : str, optional
        How text dates are written (strftime codes); default ISO 8601. Dates are never
        guessed (:mod:`hscore.scoring.dates`); datetime columns need no format.

    Raises
    ------
    DataError
        Naming the column, the number of offending rows and the first accounts.
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError("(frame)", f"expected a pandas DataFrame, got {type(frame).__name__}")
    if len(frame) == 0:
        raise DataError("(frame)", "the snapshot table has no rows")

    refuse_duplicate_names(frame.columns)
    required = ["account_id", "snapshot_date"] + ([] if config.single_stage else ["stage"])
    for name in required:
        if name not in frame.columns:
            raise MissingColumnError(name, "required column is missing"
                                     + _closest(name, frame.columns))

    accounts = frame["account_id"]
    # One hash pass gives both the account codes (for duplicates and trend) and the
    # empty ids (code -1).
    account_codes, account_ids = _factorize(accounts)
    account_codes = account_codes.astype(np.int64, copy=False)
    null_ids = account_codes < 0
    if null_ids.any():
        raise DataError("account_id", "empty account ids", int(null_ids.sum()),
                        rows=np.flatnonzero(null_ids)[:_N_EXAMPLES])
    _check_ids(frame, "account_id", account_codes, account_ids)

    stages = list(config.stages)
    if config.single_stage:
        stage_codes = np.zeros(len(frame), dtype=np.int8)
    else:
        stage_col = frame["stage"]
        codes, uniques = _factorize(stage_col)
        known = np.array([u in config.stages for u in uniques], dtype=bool)
        bad = (codes < 0) | ~known[np.maximum(codes, 0)] if len(uniques) else codes < 0
        if bad.any():
            unknown = sorted({str(u) for u in uniques[~known]}) if len(uniques) else []
            what = f"unknown stage {', '.join(map(repr, unknown))}" if unknown else "empty stage"
            raise row_error(frame, "stage", f"{what}; the config's stages are {', '.join(stages)}",
                        bad)
        remap = np.array([stages.index(u) for u in uniques], dtype=np.int8)
        stage_codes = remap[codes]

    dates = parse_dates(frame["snapshot_date"], date_format, frame=frame)
    days = dates.to_numpy(dtype="datetime64[D]").astype(np.int64)

    counts = np.bincount(stage_codes, minlength=len(stages))
    present_stages = [s for s, c in zip(stages, counts) if c]
    used = [m for s in present_stages for m in config.stages[s].metric_names]
    used = list(dict.fromkeys(used))
    missing_cols = [m for m in used if m not in frame.columns]
    if missing_cols:
        spare = [c for c in frame.columns if c not in config.metric_names]
        also = [f"{m}{_closest(m, spare, short=True)}" for m in missing_cols[1:]]
        if len(also) > _N_ALSO:
            also[_N_ALSO:] = [f"and {len(also) - _N_ALSO} more"]
        raise MissingColumnError(
            missing_cols[0], "metric column is missing from the data"
            + _closest(missing_cols[0], spare)
            + (f" (also missing: {', '.join(also)})" if also else "")
            + "; add an empty column if the metric is not measured")

    per_seat = [m for m in used if any(spec.per_seat for _, _, spec in config.metric_specs(m))]
    seats = None
    if per_seat or "seats" in frame.columns:
        if "seats" not in frame.columns:
            raise MissingColumnError(
                "seats", f"required column is missing (per-seat metrics need it): "
                f"{', '.join(per_seat)} {'are' if len(per_seat) > 1 else 'is'} divided by seats;"
                f" a config without per-seat metrics needs no seats column"
                + _closest("seats", frame.columns))
        integer = pd.api.types.is_integer_dtype(frame["seats"].dtype) and not isinstance(
            frame["seats"].dtype, pd.api.extensions.ExtensionDtype)
        seats = _as_float(frame, "seats", allow_bool=False)
        if not integer:  # an int64 column is finite and whole by construction
            bad = ~np.isfinite(seats)
            if bad.any():
                raise row_error(frame, "seats", "empty or infinite seat counts", bad)
        bad = seats < 0
        if bad.any():
            raise row_error(frame, "seats", "negative seat counts", bad)
        if not integer:
            bad = seats != np.round(seats)
            if bad.any():
                raise row_error(frame, "seats", "seat counts that are not whole numbers", bad)

    metrics: dict[str, np.ndarray] = {}
    for name in used:
        kinds = {spec.transform.kind for s, _, spec in config.metric_specs(name)
                 if s in present_stages}
        metrics[name] = _as_float(frame, name, allow_bool=kinds == {"boolean"})
        if "boolean" in kinds:
            values = metrics[name]
            bad = ~np.isnan(values) & (values != 0) & (values != 1)
            if bad.any():
                raise row_error(frame, name, "a boolean metric takes 0 or 1", bad)

    order, follows, in_order = _account_day_order(frame, account_codes, days)
    checked = CheckedSnapshots(frame=frame, stage_codes=stage_codes, stages=stages,
                               account_codes=account_codes, days=days, seats=seats,
                               metrics=metrics, order=order, follows_same_account=follows,
                               config=config, present_stages=tuple(present_stages),
                               in_account_order=in_order, account_ids=account_ids)
    if check_values:
        for name in used:
            checked.check_metric(name)
    return checked


#: Rows probed to choose how to factorize a text column (:func:`_factorize`).
_PROBE_ROWS = 65_536


def _factorize(col: pd.Series) -> tuple[np.ndarray, object]:
    """``pd.factorize(col, use_na_sentinel=True)``, faster for text repeated row after row.

    Hashing text reads every string, and rows in no particular order read them scattered
    over memory. Pandas keeps one object for text that repeats (a CSV reader's cells, an id
    copied to each snapshot), so the objects are factorized by address first (integers),
    then the few distinct objects by their text: the same codes and uniques, in order of
    first appearance. A probe of the first rows keeps the plain path where it is faster:
    when those rows' texts are all different (one row per account), or when repeats are
    separate objects (fewer texts than objects).
    """
    values = col.to_numpy()
    n = len(values)
    if values.dtype != object or n <= _PROBE_ROWS:
        return pd.factorize(values, use_na_sentinel=True)
    # Each element of an object array is the address of its object.
    address = np.frombuffer(memoryview(np.ascontiguousarray(values)), dtype=np.intp)
    head = _PROBE_ROWS
    n_text = len(pd.unique(values[:head]))
    if n_text == head or len(pd.unique(address[:head])) > n_text:
        return pd.factorize(values, use_na_sentinel=True)
    by_address, distinct = pd.factorize(address)
    first = np.empty(len(distinct), dtype=np.intp)
    first[by_address[::-1]] = np.arange(n - 1, -1, -1)  # each object's first row
    codes, uniques = pd.factorize(values[first], use_na_sentinel=True)
    return codes[by_address], uniques


def _account_day_order(frame: pd.DataFrame, account_codes: np.ndarray,
                       days: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Rows sorted by (account, day); in that order, whether the previous row is the same
    account; and whether the rows were in that order already. One argsort serves both
    the duplicate check and the trend."""
    span = int(days.max() - days.min()) + 1
    key = account_codes * span + (days - days.min())
    descents = int(np.count_nonzero(key[1:] <= key[:-1]))
    if descents == 0:
        # Already sorted by account, then date (account codes follow first appearance):
        # a common export order, and one pass instead of a sort. No duplicates either.
        same_account = np.empty(len(key), dtype=bool)
        same_account[0] = False
        np.equal(account_codes[1:], account_codes[:-1], out=same_account[1:])
        return np.arange(len(key)), same_account, True
    # A few sorted runs (rows by date, then account: one run per snapshot date) merge
    # fast; rows in no order sort fastest as values (numpy's SIMD sort), not by argsort.
    if descents < 256:
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
    else:
        order, sorted_key = _packed_argsort(key)
    dup = sorted_key[1:] == sorted_key[:-1]
    if dup.any():
        mask = np.zeros(len(key), dtype=bool)
        mask[order[1:][dup]] = True
        mask[order[:-1][dup]] = True
        raise row_error(frame, "snapshot_date", "duplicate (account_id, snapshot_date) pairs", mask)
    acc_sorted = sorted_key // span  # the account codes in that order, without a gather
    same_account = np.empty(len(key), dtype=bool)
    same_account[0] = False
    np.equal(acc_sorted[1:], acc_sorted[:-1], out=same_account[1:])
    return order, same_account, False


def _packed_argsort(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stable argsort of non-negative int64 keys and the sorted keys.

    Each key gets its row number in its low bits and the packed values are sorted as
    values: numpy sorts int64 values with SIMD several times faster than it argsorts
    them, and the row number both breaks ties in row order and is the permutation.
    Keys too wide to share 63 bits with a row number are argsorted."""
    shift = max(len(key) - 1, 1).bit_length()
    if int(key.max()).bit_length() + shift > 63:
        order = np.argsort(key, kind="stable")
        return order, key[order]
    packed = key << shift
    packed |= np.arange(len(key), dtype=np.int64)
    packed.sort()
    order = packed & ((1 << shift) - 1)
    packed >>= shift
    return order, packed

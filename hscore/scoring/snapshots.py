"""The snapshot table: reading, writing and checking it against a config.

One row per account per snapshot date (see DESIGN.md, "Data contract").
:func:`check_snapshots` turns a frame into the arrays the scorer works on and
raises :class:`~hscore.errors.DataError` for anything the contract calls bad
input: it names the column, counts the offending rows and shows the first
accounts. Nothing is dropped, coerced or turned into NaN here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hscore.config import Config
from hscore.errors import DataError

__all__ = ["read_snapshots", "write_frame", "check_snapshots", "CheckedSnapshots",
           "ID_COLUMNS"]

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
                raise _fail(frame, name, "infinite values", bad)
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
            raise _fail(frame, name, f"values outside what the metric can take {what}",
                        bad_rows)
        if self.seats is not None and any(spec.per_seat for _, spec in specs):
            bad = self.seats == 0
            if bad.any():
                bad &= ~np.isnan(values)
                bad &= reads()
            if bad.any():
                raise _fail(frame, "seats", f"zero seats on rows where the per-seat metric "
                                            f"'{name}' is measured", bad)


def _examples(frame: pd.DataFrame, mask: np.ndarray) -> list[object]:
    """The first distinct accounts among the offending rows (several rows of one account name
    it once), or the row positions when the frame has no account ids."""
    if "account_id" not in frame.columns:
        return [f"row {r}" for r in np.flatnonzero(mask)[:_N_EXAMPLES]]
    # Look among the first offending rows only: enough to find a few distinct ids.
    first = np.flatnonzero(mask)[:10_000]
    return list(pd.unique(frame["account_id"].to_numpy()[first])[:_N_EXAMPLES])


def _fail(frame: pd.DataFrame, column: str, message: str, mask: np.ndarray) -> DataError:
    return DataError(column, message, int(mask.sum()), _examples(frame, mask),
                     np.flatnonzero(mask)[:_N_EXAMPLES])


# ------------------------------------------------------------------ file i/o
def read_snapshots(path: str | os.PathLike) -> pd.DataFrame:
    """Read a snapshot table from .csv or .parquet.

    CSV ids and stages are read as text; ``snapshot_date`` is parsed as a date
    and a value that is not one is an error, not a silent NaT.
    """
    path = Path(path)
    if not path.exists():
        raise DataError("(file)", f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            frame = pd.read_csv(path, dtype={"account_id": str, "stage": str, "segment": str},
                                keep_default_na=False, na_values=[""])
        except pd.errors.EmptyDataError:
            raise DataError("(file)", f"{path} is empty") from None
    elif suffix in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
    else:
        raise DataError("(file)", f"{path}: expected a .csv or .parquet file")
    if "snapshot_date" in frame.columns:
        frame["snapshot_date"] = _parse_dates(frame, frame["snapshot_date"])
    return frame


def write_frame(frame: pd.DataFrame, path: str | os.PathLike, *,
                float_format: str | None = None) -> Path:
    """Write a frame as .csv or .parquet (by suffix), atomically.

    ``float_format`` (CSV only) fixes the digits written, for files that must be identical
    across platforms and library versions (the last bit of a float may differ between them).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise DataError("(file)", f"{path}: output must end in .csv or .parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False, date_format="%Y-%m-%d", float_format=float_format)
        else:
            frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _parse_dates(frame: pd.DataFrame, col: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(col):
        if getattr(col.dt, "tz", None) is not None:
            col = col.dt.tz_localize(None)
        missing = col.isna().to_numpy()
        if missing.any():
            raise _fail(frame, "snapshot_date", "empty dates", missing)
        return col
    parsed = pd.to_datetime(col, errors="coerce", format="mixed")
    bad = parsed.isna().to_numpy()
    if bad.any():
        raise _fail(frame, "snapshot_date", "values that are not dates", bad)
    return parsed


def _as_float(frame: pd.DataFrame, name: str) -> np.ndarray:
    col = frame[name]
    if pd.api.types.is_bool_dtype(col):
        return col.to_numpy(dtype=np.float64)
    if pd.api.types.is_numeric_dtype(col):
        # Nullable integer/float columns carry pd.NA; read it as "not measured".
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    # Object or text column (a CSV column with a stray word in it, numbers kept as
    # text): numbers and numbers written as text are read; an empty cell is "not
    # measured"; anything else is bad input, counted cell by cell. Vectorized: no
    # per-row Python.
    values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isnan(values) & ~col.isna().to_numpy()
    if bad.any():
        # A blank text cell is an empty cell, as in a CSV file.
        blank = col.str.strip().eq("").to_numpy(dtype=bool, na_value=False)
        bad &= ~blank
    if bad.any():
        raise _fail(frame, name, "non-numeric values", bad)
    return values


# --------------------------------------------------------------------- check
def check_snapshots(frame: pd.DataFrame, config: Config, *,
                    check_values: bool = True) -> CheckedSnapshots:
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

    Raises
    ------
    DataError
        Naming the column, the number of offending rows and the first accounts.
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError("(frame)", f"expected a pandas DataFrame, got {type(frame).__name__}")
    if len(frame) == 0:
        raise DataError("(frame)", "the snapshot table has no rows")

    required = ["account_id", "snapshot_date"] + ([] if config.single_stage else ["stage"])
    for name in required:
        if name not in frame.columns:
            raise DataError(name, "required column is missing")

    accounts = frame["account_id"]
    # One hash pass gives both the account codes (for duplicates and trend) and the
    # empty ids (code -1).
    account_codes = pd.factorize(accounts, use_na_sentinel=True)[0].astype(np.int64, copy=False)
    null_ids = account_codes < 0
    if null_ids.any():
        raise DataError("account_id", "empty account ids", int(null_ids.sum()),
                        rows=np.flatnonzero(null_ids)[:_N_EXAMPLES])

    stages = list(config.stages)
    if config.single_stage:
        stage_codes = np.zeros(len(frame), dtype=np.int8)
    else:
        stage_col = frame["stage"]
        codes, uniques = pd.factorize(stage_col, use_na_sentinel=True)
        known = np.array([u in config.stages for u in uniques], dtype=bool)
        bad = (codes < 0) | ~known[np.maximum(codes, 0)] if len(uniques) else codes < 0
        if bad.any():
            unknown = sorted({str(u) for u in uniques[~known]}) if len(uniques) else []
            what = f"unknown stage {', '.join(map(repr, unknown))}" if unknown else "empty stage"
            raise _fail(frame, "stage", f"{what}; the config's stages are {', '.join(stages)}",
                        bad)
        remap = np.array([stages.index(u) for u in uniques], dtype=np.int8)
        stage_codes = remap[codes]

    dates = _parse_dates(frame, frame["snapshot_date"])
    days = dates.to_numpy(dtype="datetime64[D]").astype(np.int64)

    counts = np.bincount(stage_codes, minlength=len(stages))
    present_stages = [s for s, c in zip(stages, counts) if c]
    used = [m for s in present_stages for m in config.stages[s].metric_names]
    used = list(dict.fromkeys(used))
    missing_cols = [m for m in used if m not in frame.columns]
    if missing_cols:
        raise DataError(missing_cols[0], "metric column is missing from the data"
                        + (f" (also missing: {', '.join(missing_cols[1:])})"
                           if len(missing_cols) > 1 else "")
                        + "; add an empty column if the metric is not measured")

    needs_seats = any(spec.per_seat for m in used for _, _, spec in config.metric_specs(m))
    seats = None
    if needs_seats or "seats" in frame.columns:
        if "seats" not in frame.columns:
            raise DataError("seats", "required column is missing (per-seat metrics need it)")
        integer = pd.api.types.is_integer_dtype(frame["seats"].dtype) and not isinstance(
            frame["seats"].dtype, pd.api.extensions.ExtensionDtype)
        seats = _as_float(frame, "seats")
        if not integer:  # an int64 column is finite and whole by construction
            bad = ~np.isfinite(seats)
            if bad.any():
                raise _fail(frame, "seats", "empty or infinite seat counts", bad)
        bad = seats < 0
        if bad.any():
            raise _fail(frame, "seats", "negative seat counts", bad)
        if not integer:
            bad = seats != np.round(seats)
            if bad.any():
                raise _fail(frame, "seats", "seat counts that are not whole numbers", bad)

    metrics: dict[str, np.ndarray] = {}
    for name in used:
        metrics[name] = _as_float(frame, name)
        if any(spec.transform.kind == "boolean" for s, _, spec in config.metric_specs(name)
               if s in present_stages):
            values = metrics[name]
            bad = ~np.isnan(values) & (values != 0) & (values != 1)
            if bad.any():
                raise _fail(frame, name, "a boolean metric takes 0 or 1", bad)

    order, follows, in_order = _account_day_order(frame, account_codes, days)
    checked = CheckedSnapshots(frame=frame, stage_codes=stage_codes, stages=stages,
                               account_codes=account_codes, days=days, seats=seats,
                               metrics=metrics, order=order, follows_same_account=follows,
                               config=config, present_stages=tuple(present_stages),
                               in_account_order=in_order)
    if check_values:
        for name in used:
            checked.check_metric(name)
    return checked


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
    # fast; rows in no order sort faster digit by digit.
    order = (np.argsort(key, kind="stable") if descents < 256
             else _radix_argsort(key))
    sorted_key = key[order]
    dup = sorted_key[1:] == sorted_key[:-1]
    if dup.any():
        mask = np.zeros(len(key), dtype=bool)
        mask[order[1:][dup]] = True
        mask[order[:-1][dup]] = True
        raise _fail(frame, "snapshot_date", "duplicate (account_id, snapshot_date) pairs", mask)
    acc_sorted = account_codes[order]
    same_account = np.empty(len(key), dtype=bool)
    same_account[0] = False
    np.equal(acc_sorted[1:], acc_sorted[:-1], out=same_account[1:])
    return order, same_account, False


def _radix_argsort(key: np.ndarray) -> np.ndarray:
    """Stable argsort of non-negative int64 keys, 16 bits at a time (least significant
    first): numpy sorts 16-bit keys with a radix sort, in linear time."""
    order = None
    top = int(key.max())
    shift = 0
    while True:
        part = key if order is None else key[order]
        digit = ((part >> shift) & 0xFFFF).astype(np.uint16)
        step = np.argsort(digit, kind="stable")
        order = step if order is None else order[step]
        shift += 16
        if top >> shift == 0:
            return order

"""The DuckDB engine: an embedded connection that reads the table files in place.

DuckDB streams Parquet and CSV files and spills what does not fit its memory limit to a
temporary folder, so a book larger than memory builds on one machine; the limit, not the
number of events, bounds its memory. ``duckdb`` is imported here, when a build runs, never by
``import hscore`` or the scoring path.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator

import numpy as np
import pandas as pd

from hscore.errors import HScoreError

__all__ = ["connect", "register_frame", "run_plan", "window_maps", "check_memory_limit",
           "memory_limit_problem"]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]i?b)\s*$", re.IGNORECASE)
_UNIT = {"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
         "kib": 2 ** 10, "mib": 2 ** 20, "gib": 2 ** 30, "tib": 2 ** 40}
#: The smallest limit accepted: below it DuckDB fails on its first allocation, mid-build.
_MIN_BYTES = 1e6


def check_memory_limit(text: str) -> str:
    """``text`` checked as a DuckDB memory limit (a number and a unit: ``4GB``, ``500MB``,
    ``1.5GiB``), so that a typo fails before any work instead of deep inside DuckDB.

    Examples
    --------
    >>> check_memory_limit("4GB")
    '4GB'
    >>> check_memory_limit("lots")
    Traceback (most recent call last):
    ...
    hscore.errors.HScoreError: memory_limit: not a memory size: 'lots' (write a number and \
a unit, e.g. 4GB or 500MB; units KB, MB, GB, TB or KiB, MiB, GiB, TiB)
    """
    problem = memory_limit_problem(text)
    if problem:
        raise HScoreError(f"memory_limit: {problem}")
    return str(text).strip()


def memory_limit_problem(text: str) -> str | None:
    """What is wrong with ``text`` as a DuckDB memory limit, or None (the check of
    :func:`check_memory_limit`, for callers that word the error themselves: argparse)."""
    form = ("write a number and a unit, e.g. 4GB or 500MB; units KB, MB, GB, TB or KiB, MiB, "
            "GiB, TiB")
    match = _SIZE.match(str(text))
    if not match:
        return f"not a memory size: {text!r} ({form})"
    if float(match.group(1)) * _UNIT[match.group(2).lower()] < _MIN_BYTES:
        return f"{text!r} is below the smallest limit DuckDB can work in, 1MB ({form})"
    return None


@contextlib.contextmanager
def connect(*, memory_limit: str | None = None, threads: int | None = None) -> Iterator:
    """An in-memory DuckDB connection set up for the builder; closed (and its spill folder
    removed) on exit.

    ``memory_limit`` (e.g. ``"2GB"``) caps DuckDB's memory (its default is 80% of RAM);
    ``threads`` defaults to the CPUs this process may use.
    """
    import duckdb

    if memory_limit:
        memory_limit = check_memory_limit(memory_limit)
    spill = tempfile.mkdtemp(prefix="hscore-build-")
    con = duckdb.connect(":memory:")
    try:
        if threads is None:
            threads = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                       else os.cpu_count()) or 1
        con.execute(f"SET threads = {int(threads)}")
        if memory_limit:
            con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute(f"SET temp_directory = '{spill}'")
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET enable_progress_bar = false")        # progress is ours (stderr)
        con.execute("SET TimeZone = 'UTC'")
        # x / 0 is NULL, as in Spark SQL and standard SQL engines (DuckDB's default is inf).
        con.execute("SET ieee_floating_point_ops = false")
        yield con
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def register_frame(con, name: str, frame: pd.DataFrame) -> None:
    """Copy a pandas frame into a DuckDB temporary table."""
    con.register(f"_frame_{name}", frame)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _frame_{name}")
    finally:
        con.unregister(f"_frame_{name}")


def window_maps(days: np.ndarray, windows, points: pd.DataFrame, anchor_windows):
    """``window_map_<N>``: (at_day, day) for each calendar snapshot day and the N days before it;
    ``anchor_map_<N>``: (account_id, at_day, day) for the evaluation points off the calendar."""
    maps = {}
    days = np.asarray(days, dtype=np.int64)
    for n in windows:
        back = np.arange(1, n + 1, dtype=np.int64)
        maps[f"window_map_{n}"] = pd.DataFrame({"at_day": np.repeat(days, n),
                                                "day": (days[:, None] - back[None, :]).ravel()})
    off = points.loc[~points["calendar"], ["account_id", "at_day"]]
    for n in anchor_windows:
        back = np.arange(1, n + 1, dtype=np.int64)
        at = off["at_day"].to_numpy(dtype=np.int64)
        maps[f"anchor_map_{n}"] = pd.DataFrame({
            "account_id": np.repeat(off["account_id"].to_numpy(), n),
            "at_day": np.repeat(at, n),
            "day": (at[:, None] - back[None, :]).ravel()})
    return maps


def run_plan(con, plan, progress) -> pd.DataFrame:
    """Run the plan's steps and return the snapshot rows (account_id, at_day, one column per
    metric)."""
    steps = progress.steps("metric queries", len(plan.steps) + 1)
    for name, sql, materialize in plan.steps:
        kind = "TABLE" if materialize else "VIEW"
        con.execute(f"CREATE OR REPLACE TEMP {kind} {name} AS {sql}")
        steps.advance()
    empties = {}
    for group, sql in plan.empty_queries():
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        empties[group.table] = dict(zip(names, cur.fetchone()))
    views = {}
    for group, sql in plan.metric_values(empties):
        views[group.table] = f"values_{group.table}"
        con.execute(f"CREATE OR REPLACE TEMP VIEW values_{group.table} AS {sql}")
    out = con.execute(plan.final(views)).df()
    steps.advance()
    return out

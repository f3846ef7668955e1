"""``build_snapshots``: from a folder of raw tables to the snapshot table, point in time.

A snapshot on day d sees only rows whose day is before d: every metric is a windowed
aggregate over rows strictly before the snapshot (see ``definitions.yaml``), stages and
labels come from the contract dates (see :mod:`hscore.build.grid`), and the result passes the
snapshot checks of :func:`hscore.scoring.snapshots.check_snapshots`, ready for ``score`` and
``calibrate``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from hscore import progress
from hscore.build.definitions import Plan, load_definitions
from hscore.build.grid import STAGES, build_grid, snapshot_days
from hscore.build.tables import find_tables, register_tables
from hscore.config import Config, load_config
from hscore.errors import HScoreError, HScoreWarning

__all__ = ["build_snapshots", "describe", "check_output", "USAGE_WINDOW_DAYS"]

#: By default the first snapshot is the first calendar day at least this many days after the
#: data's first day, so that the 30-day usage windows are full.
USAGE_WINDOW_DAYS = 30


def _day(value, what: str) -> int | None:
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value) if not isinstance(value, str) else pd.Timestamp(
            np.datetime64(value, "D"))
    except (ValueError, TypeError):
        raise HScoreError(f"{what}: not an ISO date (YYYY-MM-DD): {value!r}") from None
    return int(np.datetime64(ts.date(), "D").astype(np.int64))


def _definition_files(definitions) -> list:
    if definitions is None:
        return []
    if isinstance(definitions, (str, os.PathLike)):
        return [definitions]
    return list(definitions)


def build_snapshots(tables, config: str | Config = "lifecycle", *, cadence: str = "monthly",
                    horizon_days: int | None = None, as_of=None, start=None,
                    definitions=None, dedupe: str = "drop", memory_limit: str | None = None,
                    threads: int | None = None) -> pd.DataFrame:
    """The snapshot table of the raw tables in the folder ``tables``.

    Parameters
    ----------
    tables : path
        Folder with one file per raw table (``accounts.csv``, ``events.parquet``, a folder
        ``events/`` of Parquet files, ...); a table the config's metrics do not read may be
        absent.
    config : str or Config
        Which metrics to compute (a shipped name or a YAML path); its ``label_horizon_days``
        is the label horizon unless ``horizon_days`` is given.
    cadence : {"monthly", "weekly"}
        Snapshots on the 1st of each month, or on Mondays.
    horizon_days : int, optional
        ``churned`` = churn within this many days from the snapshot day.
    as_of : date, optional
        The data's last day (default: the latest day in the tables): no snapshot after it,
        and labels whose horizon runs past it are empty.
    start : date, optional
        The first snapshot day (default: the first calendar day 30 days after the earliest
        event, or the earliest row of any table without events).
    definitions : path or list of paths, optional
        Definitions files laid over the shipped ones (``hscore/build/definitions.yaml``).
    dedupe : {"drop", "error", "keep"}
        Identical rows of an activity table: counted once (with a warning), refused, or
        counted as often as they appear.
    memory_limit : str, optional
        DuckDB's memory limit, a number and a unit (``"2GB"``, ``"500MB"``, ``"1.5GiB"``);
        beyond it DuckDB spills to a temporary folder.
    threads : int, optional
        DuckDB threads (default: the CPUs available).

    Returns
    -------
    DataFrame
        account_id, snapshot_date, stage, seats, segment, one column per metric of the config
        (float, empty = not measured) and churned (1/0, empty = censored), sorted by account
        and date.

    Raises
    ------
    DataError
        Bad raw input, naming ``table.column``, the number of rows and the first accounts.
    HScoreError
        A metric of the config without a definition, a bad option.
    """
    from hscore.build import engine
    from hscore.scoring.snapshots import check_snapshots

    cfg = config if isinstance(config, Config) else load_config(config)
    if not cfg.single_stage and not set(cfg.stages) <= set(STAGES):
        raise HScoreError(f"config: the builder assigns the lifecycle stages "
                          f"({', '.join(STAGES)}); config '{cfg.name}' has "
                          f"{', '.join(sorted(set(cfg.stages) - set(STAGES)))}")
    horizon = int(horizon_days if horizon_days is not None else cfg.label_horizon_days or 30)
    if horizon < 1:
        raise HScoreError(f"horizon_days: must be >= 1, got {horizon}")
    if memory_limit is not None:
        engine.check_memory_limit(memory_limit)         # before any work, not deep in DuckDB
    defs = load_definitions(*_definition_files(definitions))
    metrics = cfg.metric_names
    Plan(defs, metrics, anchors=False)                 # every metric defined? (raises if not)
    needed = defs.tables_needed(metrics) | {"accounts"}
    files = find_tables(tables, defs.tables)
    as_of_day, start_day = _day(as_of, "as_of"), _day(start, "start")
    report = progress.current()

    with engine.connect(memory_limit=memory_limit, threads=threads) as con:
        with report.phase("reading and checking the raw tables"):
            reg = register_tables(con, defs, files, needed, dedupe=dedupe)
        empty = [m for m in metrics for need in defs.metrics[m].needs
                 if need.split(".")[1] not in reg.columns.get(need.split(".")[0], ())]
        empty = list(dict.fromkeys(empty))
        if empty:
            warnings.warn("left empty (not measured), for lack of an optional column: "
                          + ", ".join(f"{m} (needs {', '.join(defs.metrics[m].needs)})"
                                      for m in empty), HScoreWarning, stacklevel=2)
        computed = [m for m in metrics if m not in empty]
        plan = Plan(defs, computed)

        dated = {n: d for n, d in reg.last_day.items() if d is not None}
        if not dated:
            raise HScoreError("tables: no table with dated rows to build snapshots from")
        last = as_of_day if as_of_day is not None else int(max(dated.values()))
        firsts = {n: d for n, d in reg.first_day.items() if d is not None}
        first = int(firsts["events"] if "events" in firsts else min(firsts.values()))
        first_snapshot = start_day if start_day is not None else first + USAGE_WINDOW_DAYS
        days = snapshot_days(cadence, first_snapshot, last)
        if len(days) == 0:
            raise HScoreError(f"no {cadence} snapshot day between "
                              f"{np.datetime64(first_snapshot, 'D')} and "
                              f"{np.datetime64(last, 'D')} (the data's last day)")
        accounts = con.execute(
            "SELECT account_id, CAST(contract_start - DATE '1970-01-01' AS BIGINT) "
            "AS contract_start_day, CAST(renewal_date - DATE '1970-01-01' AS BIGINT) AS "
            "renewal_day, CAST(churn_date - DATE '1970-01-01' AS DOUBLE) AS churn_day, arr, seats "
            "FROM accounts ORDER BY account_id").df()
        snapshots, points = build_grid(accounts, days, horizon=horizon, last_day=last,
                                       baseline_windows=plan.baseline_windows,
                                       segments=defs.params.get("segments"))
        if snapshots.empty:
            raise HScoreError("no account was active on any snapshot day "
                              f"({np.datetime64(int(days[0]), 'D')} to "
                              f"{np.datetime64(int(days[-1]), 'D')})")
        with report.phase(f"computing {len(computed)} metrics for {len(snapshots)} snapshots"):
            engine.register_frame(con, "points", points)
            keys = ["account_id", "at_day"] + [f"base_at_{n}" for n in plan.baseline_windows]
            engine.register_frame(con, "snapshots", snapshots[keys])
            for name, frame in engine.window_maps(days, plan.windows, points,
                                                  plan.anchor_windows).items():
                engine.register_frame(con, name, frame)
            values = engine.run_plan(con, plan, report)

    frame = snapshots.merge(values, on=["account_id", "at_day"], how="left", validate="1:1")
    for m in empty:
        frame[m] = np.nan
    frame["snapshot_date"] = pd.to_datetime(frame["at_day"].to_numpy().astype("datetime64[D]"))
    frame = frame[["account_id", "snapshot_date", "stage", "seats", "segment", *metrics,
                   "churned"]]
    frame = frame.sort_values(["account_id", "snapshot_date"], kind="stable").reset_index(
        drop=True)
    for m in metrics:
        frame[m] = frame[m].astype(np.float64)
    if cfg.single_stage:
        frame = frame.drop(columns="stage")
    check_snapshots(frame, cfg)                        # the contract the output promises
    frame.attrs["hscore_build"] = {
        "as_of": str(np.datetime64(last, "D")), "first_snapshot": str(frame["snapshot_date"].min().date()),
        "horizon_days": horizon, "cadence": cadence,
        "dropped_duplicates": dict(reg.dropped_duplicates), "empty_metrics": empty,
        "tables": {n: str(t.path) for n, t in reg.tables.items()}}
    return frame


def describe(frame: pd.DataFrame) -> str:
    """A few lines about a built snapshot table (what ``hscore build`` prints)."""
    info = frame.attrs.get("hscore_build", {})
    labelled = frame["churned"].notna()
    lines = [f"{len(frame)} snapshots of {frame['account_id'].nunique()} accounts, "
             f"{info.get('cadence', '')} from {info.get('first_snapshot')} to "
             f"{frame['snapshot_date'].max().date()} (data's last day {info.get('as_of')})",
             f"churned within {info.get('horizon_days')} days: "
             f"{int(frame.loc[labelled, 'churned'].sum())} of {int(labelled.sum())} labelled "
             f"snapshots ({int((~labelled).sum())} censored)"]
    if "stage" in frame:
        counts = frame["stage"].value_counts()
        lines.append("stages: " + ", ".join(f"{s} {int(counts.get(s, 0))}" for s in STAGES))
    for table, n in info.get("dropped_duplicates", {}).items():
        lines.append(f"{table}: {n} identical rows counted once")
    return "\n".join(lines)


def check_output(out, tables) -> Path:
    """Refuse an output path that would overwrite a raw table (or be read as one next time).

    Raises :class:`~hscore.errors.HScoreError`; returns the path otherwise.
    """
    out, folder = Path(out), Path(tables)
    names = set(load_definitions().tables)
    if out.resolve().parent == folder.resolve() and out.stem in names:
        raise HScoreError(f"--out: {out} is (or would be read as) the raw table "
                          f"'{out.stem}' of {folder}; write the snapshots elsewhere")
    if folder.resolve() in out.resolve().parents and out.resolve().parent.name in names:
        raise HScoreError(f"--out: {out} is inside the raw table folder "
                          f"'{out.resolve().parent.name}'; write the snapshots elsewhere")
    return out

"""The declarative metric definitions: loading, checking, and compiling them to SQL.

``definitions.yaml`` (shipped next to this module) holds the raw-table contract (``tables``),
derived row sets (``sources``) and one entry per metric (``metrics``): a windowed aggregate
over a table or source. :func:`load_definitions` reads it, lays an analyst's own files over
it and checks every entry; :class:`Plan` turns the metrics a config needs into SQL statements
in the subset that DuckDB and Spark SQL read alike (the engine supplies the tables, the
evaluation points and the window maps the statements read).

Examples
--------
>>> defs = load_definitions()
>>> defs.metrics["stickiness"].window_days(defs)
30
>>> sorted(defs.tables_needed(["csm_touches_90d", "events_30d"]))
['events', 'touches']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hscore.config.io import SafeLoader, yaml_problem
from hscore.errors import HScoreError

__all__ = ["Definitions", "DefinitionError", "load_definitions", "Plan", "DEFINITIONS_FILE",
           "SNAPSHOT_COLUMNS", "COLUMN_TYPES", "decimal_literals"]

DEFINITIONS_FILE = Path(__file__).with_name("definitions.yaml")
#: Columns of the evaluation points that a metric's ``value`` may read.
SNAPSHOT_COLUMNS = ("d", "seats", "arr", "contract_start_day", "term_start_day")
COLUMN_TYPES = ("id", "text", "timestamp", "date", "int", "number", "flag")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
#: Words no name of a table, source, column or aggregate may be (SQL keywords).
_KEYWORDS = frozenset("""all and any as asc at between both by case cast check column
    constraint create cross current default desc distinct do else end except exists false
    fetch filter for foreign from full grant group having in inner intersect interval into is
    join lateral leading left like limit natural not null offset on only or order outer over
    partition primary references right row rows select some table then to trailing true union
    unique user using when where window with""".split())
_PARAM = re.compile(r"\{([a-z_][a-z0-9_]*)(?:\|(count|bit:[a-z_][a-z0-9_]*))?\}")
_LITERAL = re.compile(r"('(?:[^']|'')*')")
#: A number with a fraction and no exponent (``30.0``, ``.5``): a DECIMAL in Spark SQL, whose
#: division rounds to 6 decimal places, where DuckDB divides in DOUBLE.
_DECIMAL = re.compile(r"(?<![\w.])(\d+\.\d*|\.\d+)(?![\w.])")


class DefinitionError(HScoreError):
    """A definitions file that breaks its schema; ``problems`` lists ``(path, message)``."""

    def __init__(self, problems, source: str | None = None):
        self.problems = list(problems)
        where = f" in {source}" if source else ""
        text = "; ".join(f"{p}: {m}" for p, m in self.problems)
        super().__init__(f"invalid metric definitions{where}: {text}")


# ------------------------------------------------------------------------------ the model
@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str
    required: bool = True
    nullable: bool = False
    values: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: dict[str, ColumnSpec]
    time: str | None = None
    key: tuple[str, ...] = ()
    dedupe: bool = False
    checks: tuple[dict, ...] = ()
    unique: dict | None = None
    scales: dict | None = None


@dataclass(frozen=True)
class SourceSpec:
    name: str
    sql: str | None = None                # a view: SQL over tables and earlier sources
    rows: str = "day"                     # "day" (rows carry a day) or "point" (at_day)
    materialize: bool = False             # an SQL source computed once and kept as a table
    from_: str | None = None              # a windowed source: table/source, window, by, columns
    where: str | None = None
    window: int | str | None = None
    by: tuple[str, ...] = ()
    columns: dict[str, str] = field(default_factory=dict)

    @property
    def windowed(self) -> bool:
        return self.sql is None


@dataclass(frozen=True)
class MetricSpec:
    name: str
    from_: str
    aggregates: dict[str, str]
    value: str
    where: str | None = None
    window: int | str | None = None
    change: str | None = None
    needs: tuple[str, ...] = ()
    meaning: str = ""

    def window_days(self, defs: "Definitions") -> int | str | None:
        """The window the metric's rows come from: its own, or its source's."""
        if self.window is not None:
            return self.window
        return defs.window_of(self.from_)


@dataclass
class Definitions:
    """The loaded and checked definitions (see the module docstring)."""

    params: dict[str, Any]
    tables: dict[str, TableSpec]
    sources: dict[str, SourceSpec]
    metrics: dict[str, MetricSpec]
    files: tuple[str, ...] = ()

    # --- relations
    def rows_of(self, name: str) -> str:
        """"day" for tables and day-level sources, "point" for point-level ones."""
        if name in self.tables:
            return "day"
        src = self.sources[name]
        return "point" if src.windowed else src.rows

    def window_of(self, name: str) -> int | str | None:
        """The window a point-level relation was computed over (None for SQL sources)."""
        src = self.sources.get(name)
        return src.window if src is not None and src.windowed else None

    def reads(self, name: str) -> list[str]:
        """Tables and sources a source reads directly."""
        src = self.sources[name]
        if src.windowed:
            return [src.from_]
        known = [n for n in list(self.tables) + list(self.sources) if n != name]
        return [n for n in known if re.search(rf"(?<![.\w]){re.escape(n)}(?!\w)", src.sql)]

    def closure(self, names) -> list[str]:
        """Every table and source the given relations depend on, themselves included."""
        seen: list[str] = []
        stack = list(names)
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.append(n)
            if n in self.sources:
                stack.extend(self.reads(n))
        return seen

    def tables_needed(self, metrics) -> set[str]:
        """Raw tables the metrics read (through their sources)."""
        return {n for n in self.closure(self.metrics[m].from_ for m in metrics)
                if n in self.tables}

    def missing(self, metrics) -> list[str]:
        return [m for m in metrics if m not in self.metrics]


# ------------------------------------------------------------------------------- loading
def load_definitions(*extra) -> Definitions:
    """The shipped definitions with the files in ``extra`` laid over them, in order.

    An entry of an extra file with a new name adds a table, source or metric; one with an
    existing name replaces it; ``params`` are merged key by key.

    Raises
    ------
    DefinitionError
        Naming the path of every problem (``metrics.stickiness.window: ...``).
    """
    data = _read(DEFINITIONS_FILE)
    files = [str(DEFINITIONS_FILE)]
    for path in extra:
        if path is None:
            continue
        more = _read(Path(path))
        files.append(str(path))
        for section in ("params", "tables", "sources", "metrics"):
            if more.get(section):
                merged = dict(data.get(section) or {})
                merged.update(more[section])
                data[section] = merged
        unknown = set(more) - {"params", "tables", "sources", "metrics"}
        if unknown:
            raise DefinitionError([(k, "unknown section") for k in sorted(unknown)], str(path))
    return _parse(data, files)


def _read(path: Path) -> dict:
    if not path.exists():
        raise HScoreError(f"definitions: no such file: {path}")
    try:
        # The configs' loader: no key given twice, bounded nesting and aliases.
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=SafeLoader) or {}
    except yaml.YAMLError as err:
        raise DefinitionError([("(file)", yaml_problem(err))], str(path)) from None
    except UnicodeDecodeError as err:
        raise DefinitionError([("(file)", f"not UTF-8 text (byte {err.start}): a definitions "
                                          f"file is a UTF-8 YAML file")], str(path)) from None
    if not isinstance(data, dict):
        raise DefinitionError([("(file)", "expected a mapping at the top")], str(path))
    return data


def _parse(data: dict, files: list[str]) -> Definitions:
    problems: list[tuple[str, str]] = []
    unknown = set(data) - {"params", "tables", "sources", "metrics"}
    problems += [(k, "unknown section") for k in sorted(unknown)]
    params = dict(data.get("params") or {})
    sub = _Substituter(params)
    tables = {n: _table(n, spec or {}, problems) for n, spec in (data.get("tables") or {}).items()}
    for required in ("accounts",):
        if required not in tables:
            problems.append((f"tables.{required}", "missing: the builder reads it"))
    sources: dict[str, SourceSpec] = {}
    for name, spec in (data.get("sources") or {}).items():
        src = _source(name, spec or {}, sub, tables, sources, problems)
        if src is not None:
            sources[name] = src
    defs = Definitions(params, tables, sources, {}, tuple(files))
    for name, spec in (data.get("metrics") or {}).items():
        m = _metric(name, spec or {}, sub, defs, problems)
        if m is not None:
            defs.metrics[name] = m
    problems += [(f"params.{p}", msg) for p, msg in sub.problems]
    problems += _decimal_problems(defs)
    if problems:
        raise DefinitionError(problems, files[-1] if len(files) > 1 else files[0])
    return defs


def _decimal_problems(defs: Definitions) -> list[tuple[str, str]]:
    """A fraction written without an exponent, wherever SQL is written: Spark SQL would round
    the divisions it takes part in, and the engines would disagree."""
    texts = []
    for name, src in defs.sources.items():
        texts += [(f"sources.{name}.sql", src.sql), (f"sources.{name}.where", src.where)]
        texts += [(f"sources.{name}.columns.{c}", e) for c, e in src.columns.items()]
    for name, m in defs.metrics.items():
        texts += [(f"metrics.{name}.value", m.value), (f"metrics.{name}.where", m.where)]
        texts += [(f"metrics.{name}.aggregates.{a}", e) for a, e in m.aggregates.items()]
    out = []
    for path, sql in texts:
        found = decimal_literals(sql) if isinstance(sql, str) else []
        if found:
            out.append((path, f"{', '.join(found)}: a number with a fraction is a DECIMAL in "
                              f"Spark SQL (its division rounds to 6 places); write it with an "
                              f"exponent, e.g. {found[0]}E0 -> read as DOUBLE by DuckDB and Spark"))
    return out


class _Substituter:
    """Inserts ``{param}`` values into SQL text; remembers unknown names."""

    def __init__(self, params: dict[str, Any]):
        self.params = params
        self.problems: list[tuple[str, str]] = []

    def __call__(self, text: Any, path: str) -> str:
        if not isinstance(text, str):
            return text

        def repl(match: re.Match) -> str:
            name, how = match.group(1), match.group(2)
            if name not in self.params:
                self.problems.append((name, f"unknown param used in {path}"))
                return match.group(0)
            value = self.params[name]
            values = list(value) if isinstance(value, (list, tuple)) else [value]
            if how == "count":
                return str(len(values))
            if how:                        # bit:column -> one bit per value (at most 62)
                if len(values) > 62:
                    self.problems.append((name, f"at most 62 values for a bit mask ({path})"))
                whens = " ".join(f"WHEN {_literal(v)} THEN {1 << i}" for i, v in enumerate(values))
                return f"CASE {how[4:]} {whens} ELSE 0 END"
            return _literal(value)

        return _PARAM.sub(repl, text)


def decimal_literals(sql: str) -> list[str]:
    """The numbers with a fraction and no exponent in ``sql`` (outside string literals):
    DECIMAL in Spark SQL, so that ``x / 30.0`` is rounded there and not in DuckDB.

    Examples
    --------
    >>> decimal_literals("user_days / 30.0 / NULLIF(users, 0) + 1E0 + v0.x + '2.5'")
    ['30.0']
    """
    parts = _LITERAL.split(sql)
    return [m for i in range(0, len(parts), 2) for m in _DECIMAL.findall(parts[i])]


def _double(value: float) -> str:
    """A float as an SQL literal that DuckDB and Spark SQL both read as DOUBLE (an exponent)."""
    text = repr(float(value)).upper()
    return text if "E" in text else f"{text}E0"


def _literal(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_literal(v) for v in value) + ")"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        return _double(value)
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"


def _keys(spec: dict, allowed: set[str], path: str, problems: list) -> None:
    for k in sorted(set(spec) - allowed):
        problems.append((f"{path}.{k}", "unknown key"))


def _table(name: str, spec: dict, problems: list) -> TableSpec:
    path = f"tables.{name}"
    _keys(spec, {"columns", "time", "key", "dedupe", "checks", "unique", "scales"}, path, problems)
    if not _NAME.match(name):
        problems.append((path, "table names are lower-case identifiers"))
    columns = {}
    for cname, c in (spec.get("columns") or {}).items():
        c = c or {}
        _keys(c, {"type", "required", "nullable", "values", "min", "max"}, f"{path}.columns.{cname}",
              problems)
        if c.get("type") not in COLUMN_TYPES:
            problems.append((f"{path}.columns.{cname}.type",
                             f"must be one of {', '.join(COLUMN_TYPES)}"))
        values = c.get("values")
        columns[cname] = ColumnSpec(cname, c.get("type", "text"), bool(c.get("required", True)),
                                    bool(c.get("nullable", False)),
                                    tuple(str(v) for v in values) if values else None,
                                    c.get("min"), c.get("max"))
    if "account_id" not in columns:
        problems.append((f"{path}.columns", "every table has an account_id column"))
    time = spec.get("time")
    if time is not None and (time not in columns
                             or columns[time].type not in ("timestamp", "date")):
        problems.append((f"{path}.time", "must name a timestamp or date column of the table"))
    key = tuple(spec.get("key") or ())
    for k in key:
        if k not in columns:
            problems.append((f"{path}.key", f"unknown column {k!r}"))
    for i, check in enumerate(spec.get("checks") or ()):
        if not isinstance(check, dict) or set(check) != {"column", "bad", "message"}:
            problems.append((f"{path}.checks[{i}]", "needs column, bad and message"))
    unique = spec.get("unique")
    if unique is not None and not set(unique.get("columns") or ()) <= set(columns):
        problems.append((f"{path}.unique.columns", "unknown column"))
    scales = spec.get("scales")
    if scales is not None and not {scales.get("column"), scales.get("by")} <= set(columns):
        problems.append((f"{path}.scales", "column and by must name columns of the table"))
    return TableSpec(name, columns, time, key, bool(spec.get("dedupe", False)),
                     tuple(spec.get("checks") or ()), unique, scales)


def _window(value: Any, sub: _Substituter, path: str, problems: list):
    value = sub(value, path)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if value in ("all", "term") or (isinstance(value, int) and not isinstance(value, bool)
                                    and value >= 1):
        return value
    problems.append((path, f"must be a number of days >= 1, 'all' or 'term', got {value!r}"))
    return None


def _source(name, spec, sub, tables, sources, problems) -> SourceSpec | None:
    path = f"sources.{name}"
    if not _NAME.match(name) or name in tables or name in _KEYWORDS:
        problems.append((path, "source names are identifiers (not SQL keywords) and differ "
                               "from table names"))
        return None
    if "sql" in spec:
        _keys(spec, {"sql", "rows", "materialize"}, path, problems)
        rows = spec.get("rows", "day")
        if rows not in ("day", "point"):
            problems.append((f"{path}.rows", "must be 'day' or 'point'"))
        return SourceSpec(name, sql=sub(spec["sql"], path), rows=rows,
                          materialize=bool(spec.get("materialize", False)))
    _keys(spec, {"from", "where", "window", "by", "columns"}, path, problems)
    src = spec.get("from")
    if src not in tables and not (src in sources and sources[src].rows == "day"
                                  and not sources[src].windowed):
        problems.append((f"{path}.from", f"must be a table or an earlier day-level source, "
                                         f"got {src!r}"))
    columns = {k: sub(v, f"{path}.columns.{k}") for k, v in (spec.get("columns") or {}).items()}
    for k in columns:
        if not _NAME.match(k) or k in _KEYWORDS:
            problems.append((f"{path}.columns.{k}", "column names are identifiers, not keywords"))
    if not columns:
        problems.append((f"{path}.columns", "a windowed source needs at least one column"))
    window = _window(spec.get("window"), sub, f"{path}.window", problems)
    return SourceSpec(name, from_=src, where=sub(spec.get("where"), path), window=window,
                      by=tuple(spec.get("by") or ()), columns=columns, rows="point")


def _metric(name, spec, sub, defs: Definitions, problems) -> MetricSpec | None:
    path = f"metrics.{name}"
    _keys(spec, {"from", "where", "window", "aggregates", "value", "change", "needs", "meaning"},
          path, problems)
    src = spec.get("from")
    if src not in defs.tables and src not in defs.sources:
        problems.append((f"{path}.from", f"unknown table or source {src!r}"))
        return None
    aggregates = {k: sub(str(v), f"{path}.aggregates.{k}")
                  for k, v in (spec.get("aggregates") or {}).items()}
    if not aggregates:
        problems.append((f"{path}.aggregates", "a metric needs at least one aggregate"))
        return None
    if not _NAME.match(name) or name in _KEYWORDS:
        problems.append((path, "metric names are lower-case identifiers, not SQL keywords"))
    for k in aggregates:
        if (not _NAME.match(k) or k in _KEYWORDS or k in SNAPSHOT_COLUMNS
                or k in ("account_id", "at_day")):
            problems.append((f"{path}.aggregates.{k}",
                             "aggregate names are identifiers other than the snapshot columns "
                             f"({', '.join(SNAPSHOT_COLUMNS)})"))
    value = spec.get("value")
    if value is None:
        if len(aggregates) > 1:
            problems.append((f"{path}.value", "required when there is more than one aggregate"))
        value = next(iter(aggregates))
    window = None
    if defs.rows_of(src) == "day":
        window = _window(spec.get("window"), sub, f"{path}.window", problems)
    elif spec.get("window") is not None:
        problems.append((f"{path}.window", f"{src!r} is already per snapshot: no window"))
    change = spec.get("change")
    m = MetricSpec(name, src, aggregates, sub(str(value), f"{path}.value"),
                   where=sub(spec.get("where"), f"{path}.where"), window=window, change=change,
                   needs=tuple(spec.get("needs") or ()), meaning=sub(spec.get("meaning", ""), path))
    if change is not None:
        if change != "percent":
            problems.append((f"{path}.change", "must be 'percent'"))
        elif not isinstance(m.window_days(defs), int):
            problems.append((f"{path}.change", "needs a window of a fixed number of days"))
    for need in m.needs:
        table, _, column = str(need).partition(".")
        spec_t = defs.tables.get(table)
        if spec_t is None or column not in spec_t.columns:
            problems.append((f"{path}.needs", f"unknown column {need!r} (write table.column)"))
    return m


# ----------------------------------------------------------------------------- compiling
def _q(name: str) -> str:
    """A column name as written in the SQL: bare (names are checked identifiers and not
    keywords), so that DuckDB and Spark SQL, which quote differently, read it alike."""
    return name


@dataclass
class _Group:
    """Metrics that aggregate the same rows (same relation, filter and window)."""

    key: tuple
    metrics: list[str]
    table: str = ""


class Plan:
    """The SQL that computes ``metrics`` (names of ``defs.metrics``), in steps.

    The engine provides, under these names: every table the metrics need (the typed,
    deduplicated rows with ``day``), ``points`` (account_id, at_day and the snapshot columns, one
    row per evaluation point: every snapshot and every baseline day), ``snapshots``
    (account_id, at_day and ``base_at_<N>`` for each baseline window N, one row per snapshot),
    ``window_map_<N>`` (at_day, day: the calendar snapshots and the N days before each) and
    ``anchor_map_<N>`` (account_id, at_day, day: the same for baseline days off the calendar).

    Then: :attr:`steps` are ``(name, select)`` pairs to run in order, each to be kept as a
    table (``materialize``) or a view; :meth:`empty_queries` give, per aggregate group, the
    aggregates' values on an empty window; :meth:`final` is the select of the snapshot rows.
    """

    def __init__(self, defs: Definitions, metrics, anchors: bool = True):
        self.defs = defs
        self.metrics = list(metrics)
        missing = defs.missing(self.metrics)
        if missing:
            raise HScoreError(f"definitions: no definition for metric(s) {', '.join(missing)} "
                              f"(defined: {', '.join(defs.metrics)}); add an entry under "
                              "'metrics' in a definitions file (--definitions)")
        self.anchored = self._anchored() if anchors else set()
        self.windows = self._windows()
        self.baseline_windows = sorted({defs.metrics[m].window_days(defs) for m in self.metrics
                                        if defs.metrics[m].change})
        self.groups = self._groups()
        self.anchor_windows = sorted(
            {w for w in self.windows if w in self._anchored_windows()})
        self.steps: list[tuple[str, str, bool]] = []
        self._add_sources()
        for i, g in enumerate(self.groups):
            g.table = f"agg_{i}"
            self.steps.append((g.table, self._group_sql(g), True))

    # --- what is needed
    def _anchored(self) -> set[str]:
        """Relations that must also be evaluated at baseline days."""
        return set(self.defs.closure(self.defs.metrics[m].from_ for m in self.metrics
                                     if self.defs.metrics[m].change))

    def _anchored_windows(self) -> set:
        """Fixed windows of the relations (and metrics) evaluated at baseline days too."""
        defs = self.defs
        out = {defs.sources[n].window for n in self.anchored
               if n in defs.sources and defs.sources[n].windowed}
        out |= {defs.metrics[m].window for m in self.metrics if defs.metrics[m].change}
        return out

    def _windows(self) -> list[int]:
        defs = self.defs
        used = set(defs.closure(defs.metrics[m].from_ for m in self.metrics))
        days = {defs.sources[n].window for n in used if n in defs.sources
                and defs.sources[n].windowed}
        days |= {defs.metrics[m].window for m in self.metrics}
        return sorted(w for w in days if isinstance(w, int))

    def _groups(self) -> list[_Group]:
        groups: dict[tuple, _Group] = {}
        for m in self.metrics:
            spec = self.defs.metrics[m]
            # A metric's own rows are needed at baseline days only when it reports a change
            # (the sources it reads know whether they are anchored).
            key = (spec.from_, spec.where, spec.window,
                   bool(spec.change) and self.defs.rows_of(spec.from_) == "day")
            groups.setdefault(key, _Group(key, [])).metrics.append(m)
        return list(groups.values())

    # --- SQL pieces
    def _windowed_rows(self, relation: str, where: str | None, window, anchored: bool) -> str:
        """Rows of a day-level relation, each with the evaluation point (at_day) it belongs to."""
        rows = f"(SELECT * FROM {relation} WHERE {where})" if where else relation
        if isinstance(window, int):
            sql = f"SELECT s.*, m.at_day FROM {rows} s JOIN window_map_{window} m ON s.day = m.day"
            if anchored:
                sql += (f" UNION ALL SELECT s.*, m.at_day FROM {rows} s JOIN anchor_map_{window} m "
                        f"ON s.account_id = m.account_id AND s.day = m.day")
            return sql
        term = " AND s.day >= p.term_start_day" if window == "term" else ""
        return (f"SELECT s.*, p.at_day FROM {rows} s JOIN points p "
                f"ON s.account_id = p.account_id AND s.day < p.at_day{term}")

    def _add_sources(self) -> None:
        defs = self.defs
        needed = defs.closure(defs.metrics[m].from_ for m in self.metrics)
        for name, src in defs.sources.items():
            if name not in needed:
                continue
            if not src.windowed:
                self.steps.append((name, src.sql, src.materialize))
                continue
            rows = self._windowed_rows(src.from_, src.where, src.window, name in self.anchored)
            keys = ", ".join(["account_id", "at_day", *src.by])
            cols = ", ".join(f"{expr} AS {_q(c)}" for c, expr in src.columns.items())
            self.steps.append((name, f"SELECT {keys}, {cols} FROM ({rows}) w GROUP BY {keys}",
                               True))

    def _rows(self, group: _Group) -> str:
        relation, where, window, anchored = group.key
        if self.defs.rows_of(relation) == "day":
            return self._windowed_rows(relation, where, window, anchored)
        return f"SELECT * FROM {relation}" + (f" WHERE {where}" if where else "")

    def _agg_columns(self, group: _Group) -> list[tuple[str, str, str]]:
        """(metric, aggregate name, column in the group table) for every aggregate."""
        out = []
        for m in group.metrics:
            for a in self.defs.metrics[m].aggregates:
                out.append((m, a, f"{m}__{a}"))
        return out

    def _group_sql(self, group: _Group) -> str:
        cols = ", ".join(f"{self.defs.metrics[m].aggregates[a]} AS {_q(c)}"
                         for m, a, c in self._agg_columns(group))
        return (f"SELECT account_id, at_day, {cols} FROM ({self._rows(group)}) w "
                f"GROUP BY account_id, at_day")

    def empty_queries(self) -> list[tuple[_Group, str]]:
        """Per group: a query whose one row is each aggregate's value on an empty window."""
        out = []
        for g in self.groups:
            cols = ", ".join(f"{self.defs.metrics[m].aggregates[a]} AS {_q(c)}"
                             for m, a, c in self._agg_columns(g))
            out.append((g, f"SELECT {cols} FROM (SELECT * FROM ({self._rows(g)}) w LIMIT 0) w"))
        return out

    def metric_values(self, empties: dict[str, dict[str, Any]]) -> list[tuple[_Group, str]]:
        """(group, select of account_id, at_day and one value column per metric of the group,
        at every evaluation point)."""
        out = []
        point_cols = ", ".join(f"p.{c}" for c in SNAPSHOT_COLUMNS)
        for g in self.groups:
            empty = empties[g.table]
            aggs = ", ".join(f"CASE WHEN a.account_id IS NULL THEN {_literal_typed(empty[c])} "
                             f"ELSE a.{_q(c)} END AS {_q(c)}" for _, _, c in self._agg_columns(g))
            values = ", ".join(
                f"CAST({_prefixed(self.defs.metrics[m].value, self.defs.metrics[m].aggregates, m)}"
                f" AS DOUBLE) AS {_q(m)}" for m in g.metrics)
            out.append((g, f"SELECT account_id, at_day, {values} "
                           f"FROM (SELECT p.account_id, p.at_day, {point_cols}, {aggs} "
                           f"FROM points p LEFT JOIN {g.table} a "
                           f"ON a.account_id = p.account_id AND a.at_day = p.at_day) x"))
        return out

    def final(self, value_views: dict[str, str]) -> str:
        """The snapshot rows: account_id, at_day and one column per metric (``value_views``:
        the view of each group's values, by group table)."""
        cols, joins = {}, []
        for i, g in enumerate(self.groups):
            view = value_views[g.table]
            joins.append(f"LEFT JOIN {view} v{i} ON v{i}.account_id = g.account_id "
                         f"AND v{i}.at_day = g.at_day")
            for m in g.metrics:
                spec = self.defs.metrics[m]
                if not spec.change:
                    cols[m] = f"v{i}.{_q(m)}"
                    continue
                n = spec.window_days(self.defs)
                b = f"b{i}_{n}"
                if f" {b} " not in " ".join(joins) + " ":
                    joins.append(f"LEFT JOIN {view} {b} ON {b}.account_id = g.account_id "
                                 f"AND {b}.at_day = g.base_at_{n}")
                # 100 (v / b - 1), not 100 (v - b) / b: a fall to 0 is exactly -100
                cols[m] = f"100E0 * (v{i}.{_q(m)} / NULLIF({b}.{_q(m)}, 0) - 1)"
        select = ", ".join(f"{cols[m]} AS {_q(m)}" for m in self.metrics)
        return f"SELECT g.account_id, g.at_day, {select} FROM snapshots g " + " ".join(joins)


def _prefixed(value: str, aggregates, metric: str) -> str:
    """``value`` with each aggregate name replaced by its column in the group table (outside
    string literals)."""
    parts = _LITERAL.split(value)
    for i in range(0, len(parts), 2):             # even parts are outside literals
        for a in aggregates:
            parts[i] = re.sub(rf'(?<![\w."]){re.escape(a)}(?![\w"])', f"{metric}__{a}",
                              parts[i])
    return "".join(parts)


def _literal_typed(value: Any) -> str:
    """An empty-window value as SQL (the engine fetched it as a Python value)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    try:
        return _double(value)                    # float, Decimal, numpy scalars
    except (TypeError, ValueError):
        return _literal(value)

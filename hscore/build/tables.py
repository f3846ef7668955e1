"""The raw tables: finding their files, reading them in place, typing and checking them.

Each table of the contract (``tables`` in ``definitions.yaml``) is one file in the tables
folder: ``NAME.csv``, ``NAME.parquet`` (or ``.pq``), or a folder ``NAME/`` of Parquet (or
CSV) files. DuckDB reads them where they are; each becomes a typed view named after the
table, with a ``day`` column (days since 1970-01-01, UTC) from its time column.

Rules for what is read:

- **time zones**: a timestamp with a UTC offset (``2024-03-01T10:00:00+02:00``, ``...Z``) is
  converted to UTC; one without (``2024-03-01 10:00:00``) is read as UTC; a date alone is
  midnight UTC. A text column that mixes values with and without an offset (a date alone
  has none) is bad input (the ones without could be local times). Parquet timestamps with a zone are converted to
  UTC, those without are UTC. Only ISO 8601 is read: ``01/02/2024`` is an error, never a guess.
- **unknown accounts and users**: a row of any table whose account_id is not in ``accounts``
  is bad input; so is a row with a user_id (events) whose (account_id, user_id) is not in
  ``users``, when the build reads ``users``.
- **duplicates**: in activity tables (``dedupe: true``) identical rows are one row; the policy
  ``drop`` (default) counts them once and says how many it dropped, ``error`` refuses them,
  ``keep`` counts every copy (and skips the check). Tables with a ``key`` refuse duplicates.

Every problem is a :class:`~hscore.errors.DataError` naming ``table.column``, the number of
rows and the first accounts; nothing is dropped or turned into an empty value silently.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from hscore.build.definitions import Definitions, TableSpec
from hscore.errors import DataError, HScoreError, HScoreWarning, plural

__all__ = ["TableFile", "find_tables", "register_tables", "Registered", "DEDUPE_POLICIES"]

DEDUPE_POLICIES = ("drop", "error", "keep")
_N_EXAMPLES = 3
_DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
#: No offset: a date and time, or a date alone (midnight, but whose midnight?).
_NAIVE_RE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$"
_AWARE_RE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|z|[+-]\d{2}(:?\d{2})?)$"
_UNKNOWN_ACCOUNT = "rows for accounts that are not in the accounts table"
_UNKNOWN_ACCOUNT_SQL = ("c.account_id IS NOT NULL AND c.account_id NOT IN "
                        "(SELECT account_id FROM accounts)")
_UNKNOWN_USER = "__unknown_user__"
_UNKNOWN_USER_SQL = ("c.account_id IS NOT NULL AND c.user_id IS NOT NULL AND NOT EXISTS "
                     "(SELECT 1 FROM users u WHERE u.account_id = c.account_id "
                     "AND u.user_id = c.user_id)")


@dataclass(frozen=True)
class TableFile:
    """Where a table is: ``path`` (a file or a folder) and how to read it."""

    name: str
    path: Path
    format: str          # "csv" or "parquet"

    @property
    def pattern(self) -> str:
        if self.path.is_dir():
            return str(self.path / ("*.parquet" if self.format == "parquet" else "*.csv"))
        return str(self.path)

    def reader(self) -> str:
        path = self.pattern.replace("'", "''")
        if self.format == "parquet":
            return f"read_parquet('{path}')"
        return f"read_csv('{path}', header = true, all_varchar = true, delim = ',')"


def find_tables(folder, specs: dict[str, TableSpec]) -> dict[str, TableFile]:
    """The table files in ``folder`` (tables the contract does not know are ignored)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("(tables)", f"no such folder: {folder}")
    found: dict[str, TableFile] = {}
    for name in specs:
        candidates = []
        for suffix, fmt in ((".csv", "csv"), (".parquet", "parquet"), (".pq", "parquet")):
            if (folder / f"{name}{suffix}").is_file():
                candidates.append(TableFile(name, folder / f"{name}{suffix}", fmt))
        sub = folder / name
        if sub.is_dir():
            if any(sub.glob("*.parquet")):
                candidates.append(TableFile(name, sub, "parquet"))
            elif any(sub.glob("*.csv")):
                candidates.append(TableFile(name, sub, "csv"))
        if len(candidates) > 1:
            raise DataError(f"{name} (table)", "found more than one file for the table: "
                            + ", ".join(str(c.path) for c in candidates))
        if candidates:
            found[name] = candidates[0]
    return found


@dataclass
class Registered:
    """What reading the tables found out."""

    tables: dict[str, TableFile]
    columns: dict[str, set[str]]          # columns present, per table
    first_day: dict[str, int | None]      # earliest and latest day per table with a time
    last_day: dict[str, int | None]
    dropped_duplicates: dict[str, int]


def _describe(con, relation: str) -> dict[str, str]:
    return {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _number(raw: str, src_type: str) -> str:
    if src_type == "VARCHAR":
        return f"TRY_CAST(TRIM({raw}) AS DOUBLE)"
    if src_type == "BOOLEAN" or any(t in src_type for t in ("INT", "DOUBLE", "FLOAT", "DECIMAL",
                                                              "REAL", "HUGEINT")):
        return f"CAST({raw} AS DOUBLE)"
    return "CAST(NULL AS DOUBLE)"                        # any other type cannot be read: bad


def _timestamp(raw: str, src_type: str) -> str:
    if src_type == "VARCHAR":
        v = f"TRIM({raw})"
        return (f"CASE WHEN regexp_matches({v}, '{_DATE_RE}') THEN TRY_CAST({v} AS TIMESTAMP) "
                f"WHEN regexp_matches({v}, '{_NAIVE_RE}') THEN TRY_CAST({v} AS TIMESTAMP) "
                f"WHEN regexp_matches({v}, '{_AWARE_RE}') "
                f"THEN timezone('UTC', TRY_CAST({v} AS TIMESTAMPTZ)) END")
    if src_type == "TIMESTAMP WITH TIME ZONE":
        return f"timezone('UTC', {raw})"
    if src_type.startswith("TIMESTAMP") or src_type == "DATE":
        return f"CAST({raw} AS TIMESTAMP)"
    return "CAST(NULL AS TIMESTAMP)"


def _typed(col, raw: str, src_type: str) -> str:
    """The typed value of a raw column (NULL where it cannot be read)."""
    if col.type in ("id", "text"):
        return raw if src_type == "VARCHAR" else f"CAST({raw} AS VARCHAR)"
    if col.type in ("number", "int", "flag"):
        return _number(raw, src_type)
    if col.type == "timestamp":
        return _timestamp(raw, src_type)
    return f"CAST({_timestamp(raw, src_type)} AS DATE)"     # date


def _final_cast(col, name: str) -> str:
    q = _ident(name)
    if col.type == "int":
        return f"CAST({q} AS BIGINT) AS {q}"
    if col.type == "flag":
        return f"CAST({q} AS INTEGER) AS {q}"
    return q


def _problems(spec: TableSpec, present: dict[str, str], has_accounts: bool,
              known_users: bool = False):
    """(column, message, SQL condition on the checked view ``c``) in the order they are
    reported."""
    out = []
    for name, col in spec.columns.items():
        if name not in present:
            continue
        q, r = f"c.{_ident(name)}", f"c.{_ident('raw__' + name)}"
        text = present[name] == "VARCHAR"
        if col.type == "timestamp" and text:
            out.append((name, "__mixed_zones__", None))
        if not col.nullable:                  # (a blank text cell is an empty value)
            out.append((name, "empty values",
                        f"{r} IS NULL" + (f" OR TRIM({r}) = ''" if text else "")))
        what = {"timestamp": "ISO 8601 timestamps", "date": "ISO 8601 dates",
                "number": "numbers", "int": "numbers", "flag": "numbers"}.get(col.type)
        if what:
            out.append((name, f"values that are not {what}",
                        f"{q} IS NULL AND {r} IS NOT NULL" + (f" AND TRIM({r}) <> ''" if text
                                                              else "")))
        if col.type in ("number", "int", "flag"):
            out.append((name, "values that are not finite numbers", f"NOT isfinite({q})"))
        if col.type == "int":
            out.append((name, "values that are not whole numbers", f"{q} <> floor({q})"))
        if col.type == "flag":
            out.append((name, "values other than 0 and 1", f"{q} NOT IN (0, 1)"))
        if col.values:
            allowed = ", ".join("'" + v.replace("'", "''") + "'" for v in col.values)
            out.append((name, f"values other than {', '.join(col.values)}",
                        f"{q} NOT IN ({allowed})"))
        if col.min is not None:
            out.append((name, f"values below {col.min:g}"
                        + (" (negative)" if col.min == 0 else ""), f"{q} < {col.min!r}"))
        if col.max is not None:
            out.append((name, f"values above {col.max:g}", f"{q} > {col.max!r}"))
    if spec.scales:
        s = spec.scales
        value, by = _ident(s["column"]), _ident(s["by"])
        cases = " ".join(f"WHEN '{k}' THEN c.{value} < {lo!r} OR c.{value} > {hi!r}"
                         for k, (lo, hi) in s["ranges"].items())
        scales = ", ".join(f"{k} {lo:g}-{hi:g}" for k, (lo, hi) in s["ranges"].items())
        out.append((s["column"], f"values outside their {s['by']}'s scale ({scales})",
                    f"CASE c.{by} {cases} ELSE FALSE END"))
    if spec.name != "accounts" and has_accounts:
        if known_users and "user_id" in spec.columns and spec.name != "users":
            # One anti-join on (account_id, user_id) finds both kinds of unknown, since the
            # users were checked against the accounts; which kind is worked out on failure.
            out.append(("account_id", _UNKNOWN_USER, _UNKNOWN_USER_SQL))
        else:
            out.append(("account_id", _UNKNOWN_ACCOUNT, _UNKNOWN_ACCOUNT_SQL))
    for check in spec.checks:                 # conditions on the typed columns, by name
        out.append((check["column"], check["message"], f"({check['bad']})"))
    return out


def _fail(con, table: str, column: str, message: str, n: int, cond: str) -> DataError:
    examples = [r[0] for r in con.execute(
        f"SELECT DISTINCT account_id FROM (SELECT * FROM chk_{table} c WHERE {cond}) "
        f"WHERE account_id IS NOT NULL LIMIT {_N_EXAMPLES}").fetchall()]
    return DataError(f"{table}.{column}", message, n, examples)


def _unknown_user(con, table: str, n: int) -> DataError:
    """The rows whose (account_id, user_id) is not in ``users``: unknown accounts first (as
    for any table), else users the users table does not list."""
    cond = _UNKNOWN_ACCOUNT_SQL
    n_acc = con.execute(f"SELECT COUNT(*) FROM chk_{table} c WHERE {cond}").fetchone()[0]
    if n_acc:
        return _fail(con, table, "account_id", _UNKNOWN_ACCOUNT, int(n_acc), cond)
    return _fail(con, table, "user_id", "rows for users that are not in the users table "
                 "(no row there with the same account_id and user_id)", n, _UNKNOWN_USER_SQL)


def _check(con, spec: TableSpec, present: dict[str, str], has_accounts: bool,
           known_users: bool = False) -> tuple:
    """One pass over the table: counts of every problem, and the first and last day."""
    problems = _problems(spec, present, has_accounts, known_users)
    counts, labels = [], []
    for column, message, cond in problems:
        if message == "__mixed_zones__":
            r = f"TRIM(c.{_ident('raw__' + column)})"
            counts += [f"COUNT(*) FILTER (WHERE regexp_matches({r}, '{_AWARE_RE}'))",
                       f"COUNT(*) FILTER (WHERE regexp_matches({r}, '{_NAIVE_RE}'))"]
            labels += [(column, "aware", None), (column, "naive", None)]
        else:
            counts.append(f"COUNT(*) FILTER (WHERE {cond})")
            labels.append((column, message, cond))
    if spec.time:
        counts += ["MIN(c.day)", "MAX(c.day)"]
    row = con.execute(f"SELECT {', '.join(counts) or '0'} FROM chk_{spec.name} c").fetchone()
    values = dict(zip(range(len(labels)), row))
    i = 0
    while i < len(labels):
        column, message, cond = labels[i]
        if message == "aware":
            aware, naive = values[i], values[i + 1]
            if aware and naive:
                r = f"TRIM(c.{_ident('raw__' + column)})"
                raise _fail(con, spec.name, column,
                            f"timestamps with and without a UTC offset in one column: "
                            f"{plural(aware)} with an offset and {plural(naive)} without "
                            f"one (the rows counted here); a timestamp without an offset is "
                            f"read as UTC, which is safe only when no value of the column has "
                            f"one; give every value an offset or none", naive,
                            f"regexp_matches({r}, '{_NAIVE_RE}')")
            i += 2
            continue
        if values[i] and message == _UNKNOWN_USER:
            raise _unknown_user(con, spec.name, int(values[i]))
        if values[i]:
            raise _fail(con, spec.name, column, message, int(values[i]), cond)
        i += 1
    if spec.time:
        return row[-2], row[-1]
    return None, None


def _duplicates(con, spec: TableSpec, cols: list[str], policy: str) -> int:
    """Identical rows of an activity table: counted, then dropped or refused by ``policy``."""
    name = spec.name
    hashed = f"hash({', '.join(_ident(c) for c in cols)})"
    con.execute(f"CREATE OR REPLACE TEMP TABLE dup_{name} AS SELECT h FROM "
                f"(SELECT {hashed} AS h FROM typed_{name}) GROUP BY h HAVING COUNT(*) > 1")
    if not con.execute(f"SELECT COUNT(*) FROM dup_{name}").fetchone()[0]:
        return 0
    # Equal hashes are candidates; identical rows among them are the duplicates.
    collist = ", ".join(_ident(c) for c in cols)
    n, first = con.execute(
        f"SELECT COALESCE(SUM(n - 1), 0), MIN(account_id) FROM (SELECT {collist}, COUNT(*) AS n "
        f"FROM typed_{name} WHERE {hashed} IN (SELECT h FROM dup_{name}) "
        f"GROUP BY {collist} HAVING COUNT(*) > 1)").fetchone()
    n = int(n)
    if n and policy == "error":
        raise DataError(f"{name} (table)", "identical rows (dedupe policy 'error'; 'drop' counts "
                        "each once)", n, [first])
    return n


def register_tables(con, defs: Definitions, files: dict[str, TableFile], needed: set[str], *,
                    dedupe: str = "drop") -> Registered:
    """Create the typed, checked view of every table in ``needed`` (plus accounts).

    Raises :class:`~hscore.errors.DataError` for a missing table or column and for every kind
    of bad row; warns (:class:`~hscore.errors.HScoreWarning`) when identical rows are dropped.
    """
    if dedupe not in DEDUPE_POLICIES:
        raise HScoreError(f"dedupe: must be one of {', '.join(DEDUPE_POLICIES)}, got {dedupe!r}")
    # users before the tables whose user_id is checked against it
    order = ["accounts"] + sorted(needed - {"accounts"}, key=lambda n: (n != "users", n))
    for name in order:
        if name not in files:
            raise DataError(f"{name} (table)", "table is missing from the tables folder "
                            f"(expected {name}.csv, {name}.parquet or a folder {name}/)")
    reg = Registered({n: files[n] for n in order}, {}, {}, {}, {})
    for name in order:
        spec, tf = defs.tables[name], files[name]
        try:
            con.execute(f"CREATE OR REPLACE TEMP VIEW raw_{name} AS SELECT * FROM {tf.reader()}")
            present = _describe(con, f"raw_{name}")
        except Exception as err:                      # unreadable file: say which
            if type(err).__module__.split(".")[0] not in ("duckdb", "_duckdb"):
                raise
            raise DataError(f"{name} (table)", f"cannot read {tf.path}: "
                            + " ".join(str(err).split())[:300]) from None
        for cname, col in spec.columns.items():
            if col.required and cname not in present:
                n = con.execute(f"SELECT COUNT(*) FROM raw_{name}").fetchone()[0]
                raise DataError(f"{name}.{cname}", f"required column is missing from {tf.path} "
                                "(every row of the table lacks it)", int(n))
        reg.columns[name] = set(present) & set(spec.columns)
        typed = []
        for cname, col in spec.columns.items():
            if cname in present:
                raw = f"r.{_ident(cname)}"
                typed.append(f"{_typed(col, raw, present[cname])} AS {_ident(cname)}")
                typed.append(f"{raw} AS {_ident('raw__' + cname)}")
            else:                                     # an optional column that is absent
                sql_type = {"number": "DOUBLE", "int": "BIGINT", "flag": "INTEGER",
                            "timestamp": "TIMESTAMP", "date": "DATE"}.get(col.type, "VARCHAR")
                typed.append(f"CAST(NULL AS {sql_type}) AS {_ident(cname)}")
        day = (f", CAST(CAST(c.{_ident(spec.time)} AS DATE) - DATE '1970-01-01' AS BIGINT) AS day"
               if spec.time else "")
        con.execute(f"CREATE OR REPLACE TEMP VIEW chk0_{name} AS SELECT {', '.join(typed)} "
                    f"FROM raw_{name} r")
        con.execute(f"CREATE OR REPLACE TEMP VIEW chk_{name} AS SELECT c.*{day} FROM chk0_{name} c")
        first, last = _check(con, spec, present, has_accounts=name != "accounts",
                             known_users="users" in reg.columns)
        reg.first_day[name], reg.last_day[name] = first, last
        cols = list(spec.columns)
        final = ", ".join(_final_cast(spec.columns[c], c) for c in cols) + (", day" if day else "")
        materialize = tf.format == "csv"              # do not parse a CSV file twice
        kind = "TABLE" if materialize else "VIEW"
        con.execute(f"CREATE OR REPLACE TEMP {kind} typed_{name} AS SELECT {final} "
                    f"FROM chk_{name}")
        if spec.key:
            _check_key(con, spec)
        n_dup = _duplicates(con, spec, cols, dedupe) if spec.dedupe and dedupe != "keep" else 0
        if n_dup:
            hashed = f"hash({', '.join(_ident(c) for c in cols)})"
            con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS "
                        f"SELECT * FROM typed_{name} WHERE {hashed} NOT IN (SELECT h FROM dup_{name}) "
                        f"UNION ALL SELECT DISTINCT * FROM typed_{name} "
                        f"WHERE {hashed} IN (SELECT h FROM dup_{name})")
            reg.dropped_duplicates[name] = n_dup
            warnings.warn(f"{name}: {plural(n_dup, 'identical row')} counted once "
                          "(dedupe policy 'drop')", HScoreWarning, stacklevel=2)
        else:
            con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM typed_{name}")
        if spec.unique:
            _check_unique(con, spec)
    return reg


def _check_key(con, spec: TableSpec) -> None:
    keys = ", ".join(_ident(k) for k in spec.key)
    n, first = con.execute(
        f"SELECT COALESCE(SUM(n), 0), MIN(account_id) FROM (SELECT {keys}, COUNT(*) AS n "
        f"FROM typed_{spec.name} GROUP BY {keys} HAVING COUNT(*) > 1)").fetchone()
    if n:
        raise DataError(f"{spec.name}.{spec.key[-1]}",
                        f"duplicate ({', '.join(spec.key)}): each must appear once", int(n),
                        [first])


def _check_unique(con, spec: TableSpec) -> None:
    u = spec.unique
    keys = ", ".join(_ident(k) for k in u["columns"])
    where = f"WHERE {u['where']}" if u.get("where") else ""
    n, first = con.execute(
        f"SELECT COALESCE(SUM(n), 0), MIN(account_id) FROM (SELECT {keys}, COUNT(*) AS n "
        f"FROM {spec.name} {where} GROUP BY {keys} HAVING COUNT(*) > 1)").fetchone()
    if n:
        raise DataError(f"{spec.name}.{u['columns'][-1]}",
                        f"different rows with the same ({', '.join(u['columns'])})"
                        + (f" where {u['where']}" if u.get("where") else ""), int(n), [first])

"""Errors hscore raises for bad input.

Every error names what is wrong (a config path such as
``stages.renewal.components.product_usage.weight`` or a data column), and for
data errors how many rows are affected and which accounts come first, so that
an analyst can find the rows without a debugger.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["HScoreError", "ConfigError", "DataError", "MissingColumnError", "OutputError",
           "HScoreWarning", "print_warnings", "plural"]


def plural(n: int, noun: str = "row") -> str:
    """``n`` and the noun, singular for one: what every message that counts rows says.

    Examples
    --------
    >>> plural(1), plural(0), plural(12, "line")
    ('1 row', '0 rows', '12 lines')
    """
    return f"{n} {noun}{'' if n == 1 else 's'}"


class HScoreError(ValueError):
    """Base class: bad input that the user can fix. The CLI prints it as one line."""

    def one_line(self) -> str:
        return " ".join(str(self).split())


class ConfigError(HScoreError):
    """A config that breaks the schema; ``problems`` lists ``(path, message)`` pairs."""

    def __init__(self, problems: Sequence[tuple[str, str]], source: str | None = None, *,
                 hint: str | None = None):
        self.problems = list(problems)
        self.source = source
        self.hint = hint
        where = f" in {source}" if source else ""
        if len(self.problems) == 1:
            path, msg = self.problems[0]
            text = f"invalid config{where}: {path}: {msg}"
        else:
            lines = "; ".join(f"{p}: {m}" for p, m in self.problems)
            text = f"invalid config{where}: {len(self.problems)} problems: {lines}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)


#: The ``column`` of a :class:`DataError` about a file as a whole.
FILE = "(file)"


class DataError(HScoreError):
    """Bad snapshot data: names the column, the number of offending rows, the first accounts
    and the first row positions (0-based, as ``frame.iloc`` counts them).

    Read from a file, it names the file too (``file``), and the line when the problem is one
    line of it (``line``, 1-based as an editor counts). A problem with the file as a whole
    (unreadable, not UTF-8, not Parquet) has the column ``(file)``.

    Examples
    --------
    >>> print(DataError("csat", "non-numeric values", 2, ["acme"], [4, 9]))
    column 'csat': non-numeric values (2 rows; first accounts: acme; first rows: 4, 9)
    >>> print(DataError(FILE, "not UTF-8 text (byte 0xe9)", file="x.csv", line=3))
    x.csv, line 3: not UTF-8 text (byte 0xe9)
    """

    def __init__(self, column: str, message: str, n_rows: int | None = None,
                 examples: Sequence[object] = (), rows: Sequence[int] = (), *,
                 file: object = None, line: int | None = None):
        self.column = column
        self.message = message
        self.n_rows = n_rows
        self.examples = list(examples)
        self.rows = [int(r) for r in rows]
        self.file = None if file is None else str(file)
        self.line = line
        where = "" if self.file is None else self.file
        if line is not None:
            where += f", line {line}" if where else f"line {line}"
        text = f"{where}: " if where else ""
        if column != FILE:
            text += f"column '{column}': "
        text += message
        if n_rows is not None:
            text += f" ({plural(n_rows)}"
            if self.examples:
                shown = ", ".join(str(e) for e in self.examples)
                text += f"; first accounts: {shown}"
            if self.rows:
                text += f"; first rows: {', '.join(map(str, self.rows))}"
            text += ")"
        super().__init__(text)

    def in_file(self, file: object) -> DataError:
        """The same error naming ``file`` (a caller that knows which file the frame came
        from); unchanged if it already names one."""
        if self.file is not None:
            return self
        return type(self)(self.column, self.message, self.n_rows, self.examples, self.rows,
                          file=file, line=self.line)

    def amended(self, note: str) -> DataError:
        """The same error with ``note`` added to its message (a caller that knows more)."""
        return type(self)(self.column, f"{self.message}; {note}", self.n_rows, self.examples,
                          self.rows, file=self.file, line=self.line)


class MissingColumnError(DataError):
    """A column the config needs is not in the data (a metric, ``stage``, ``seats``...)."""


class OutputError(HScoreError):
    """An output path that would overwrite an input of the command or the MLflow store."""


class HScoreWarning(UserWarning):
    """Something the analyst should know that did not stop the work (thin data, separation...)."""


def print_warnings(caught, file=None) -> None:
    """Print the hscore warnings among ``caught`` (from ``warnings.catch_warnings(record=True)``)
    as ``warning: ...`` lines; other libraries' warnings are left out."""
    for w in caught:
        if issubclass(w.category, HScoreWarning):
            print(f"warning: {w.message}", file=file)

"""Errors hscore raises for bad input.

Every error names what is wrong (a config path such as
``stages.renewal.components.product_usage.weight`` or a data column), and for
data errors how many rows are affected and which accounts come first, so that
an analyst can find the rows without a debugger.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["HScoreError", "ConfigError", "DataError", "HScoreWarning", "print_warnings"]


class HScoreError(ValueError):
    """Base class: bad input that the user can fix. The CLI prints it as one line."""

    def one_line(self) -> str:
        return " ".join(str(self).split())


class ConfigError(HScoreError):
    """A config that breaks the schema; ``problems`` lists ``(path, message)`` pairs."""

    def __init__(self, problems: Sequence[tuple[str, str]], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        if len(self.problems) == 1:
            path, msg = self.problems[0]
            text = f"invalid config{where}: {path}: {msg}"
        else:
            lines = "; ".join(f"{p}: {m}" for p, m in self.problems)
            text = f"invalid config{where}: {len(self.problems)} problems: {lines}"
        super().__init__(text)


class DataError(HScoreError):
    """Bad snapshot data: names the column, the number of offending rows, the first accounts
    and the first row positions (0-based, as ``frame.iloc`` counts them)."""

    def __init__(self, column: str, message: str, n_rows: int | None = None,
                 examples: Sequence[object] = (), rows: Sequence[int] = ()):
        self.column = column
        self.message = message
        self.n_rows = n_rows
        self.examples = list(examples)
        self.rows = [int(r) for r in rows]
        text = f"column '{column}': {message}"
        if n_rows is not None:
            text += f" ({n_rows} row{'s' if n_rows != 1 else ''}"
            if self.examples:
                shown = ", ".join(str(e) for e in self.examples)
                text += f"; first accounts: {shown}"
            if self.rows:
                text += f"; first rows: {', '.join(map(str, self.rows))}"
            text += ")"
        super().__init__(text)


class HScoreWarning(UserWarning):
    """Something the analyst should know that did not stop the work (thin data, separation...)."""


def print_warnings(caught, file=None) -> None:
    """Print the hscore warnings among ``caught`` (from ``warnings.catch_warnings(record=True)``)
    as ``warning: ...`` lines; other libraries' warnings are left out."""
    for w in caught:
        if issubclass(w.category, HScoreWarning):
            print(f"warning: {w.message}", file=file)

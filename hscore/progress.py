"""Progress of long work, per phase, on stderr.

Long commands (calibrate, compare, promote, build, demo) say what they are doing: a
phase line with its time when a phase ends (and when it starts, if counted work or a notice
follows), and for counted work (bootstrap
refits, cross-validation folds) a bar on a terminal or a few plain lines otherwise (logs and
CI stay readable). ``--quiet`` silences it.

The library code reports to :func:`current`, whatever reporter the caller installed with
:func:`reporting`; without one it reports nowhere, so the Python API stays silent unless asked.

Examples
--------
>>> import io
>>> out = io.StringIO()
>>> with reporting(Progress(stream=out, clock=lambda: 0.0)):
...     with current().phase("cross-validation"):
...         steps = current().steps("bootstrap", 4)
...         for _ in range(4):
...             steps.advance()
>>> print(out.getvalue().strip())
cross-validation ...
bootstrap 1/4
bootstrap 2/4
bootstrap 3/4
bootstrap 4/4
cross-validation done in 0.0 s
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import time
from collections.abc import Callable, Iterator
from typing import TextIO

__all__ = ["Progress", "Silent", "current", "reporting"]

#: Plain (non-terminal) output prints a counted step at most this many times per phase.
_PLAIN_LINES = 4
#: A terminal bar is redrawn at most this often (seconds).
_REDRAW = 0.1
_BAR_WIDTH = 28


class Steps:
    """Counted work inside a phase: call :meth:`advance` after each unit."""

    def __init__(self, owner: "Progress", name: str, total: int):
        self._owner, self.name, self.total, self.done = owner, name, max(int(total), 0), 0
        self._last_draw = -1.0
        self._printed = 0

    def advance(self, n: int = 1) -> None:
        self.done = min(self.total, self.done + n)
        self._owner._draw(self)


class Silent:
    """Reports nowhere (the default for the Python API)."""

    def phase(self, name: str) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def steps(self, name: str, total: int) -> Steps:
        return Steps(self, name, total)  # type: ignore[arg-type]

    def note(self, text: str) -> None:
        pass

    def _draw(self, steps: Steps) -> None:
        pass


class Progress(Silent):
    """Phase lines and counted steps on ``stream`` (stderr by default).

    Parameters
    ----------
    stream : text stream, optional
        Where to write (default ``sys.stderr``).
    bar : bool, optional
        Draw a redrawn bar (default: when ``stream`` is a terminal) instead of plain lines.
    clock : callable, optional
        Seconds (default ``time.perf_counter``; tests pass a fixed clock).
    """

    def __init__(self, stream: TextIO | None = None, bar: bool | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.bar = bool(isatty and isatty()) if bar is None else bar
        self.clock = clock
        self._pending: list[str] = []

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Say how long ``name`` took when it ends; its start is said only when counted steps
        or a notice follow. A phase that fails says nothing, so that bad input still ends the
        command with exactly one ``error:`` line on stderr."""
        start = self.clock()
        self._pending.append(name)
        try:
            yield
        finally:
            if name in self._pending:       # not yet said (no steps or notice followed)
                self._pending.remove(name)
        self._flush()       # the enclosing phases are said before the first line inside them
        self._write(f"{name} done in {self.clock() - start:.1f} s\n")

    def _flush(self) -> None:
        for name in self._pending:
            self._write(f"{name} ...\n")
        self._pending.clear()

    def steps(self, name: str, total: int) -> Steps:
        self._flush()
        return Steps(self, name, total)

    def note(self, text: str) -> None:
        """A one-line notice (e.g. which holdout was chosen)."""
        self._flush()
        self._write(f"{text}\n")

    def _draw(self, steps: Steps) -> None:
        if not steps.total:
            return
        if self.bar:
            now = self.clock()
            if steps.done < steps.total and now - steps._last_draw < _REDRAW:
                return
            steps._last_draw = now
            filled = _BAR_WIDTH * steps.done // steps.total
            end = "\n" if steps.done == steps.total else ""
            self._write(f"\r{steps.name} [{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] "
                        f"{steps.done}/{steps.total}{end}")
            return
        # Plain lines: at evenly spaced counts, always the last one.
        due = -(-steps.total * (steps._printed + 1) // _PLAIN_LINES)
        if steps.done >= due or steps.done == steps.total:
            steps._printed = min(_PLAIN_LINES, -(-_PLAIN_LINES * steps.done // steps.total))
            self._write(f"{steps.name} {steps.done}/{steps.total}\n")


_CURRENT: contextvars.ContextVar[Silent] = contextvars.ContextVar("hscore_progress",
                                                                 default=Silent())


def current() -> Silent:
    """The reporter installed by the caller (silent if none)."""
    return _CURRENT.get()


@contextlib.contextmanager
def reporting(progress: Silent) -> Iterator[Silent]:
    """Install ``progress`` as the reporter for the code run inside the block."""
    token = _CURRENT.set(progress)
    try:
        yield progress
    finally:
        _CURRENT.reset(token)

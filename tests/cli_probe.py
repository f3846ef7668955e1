"""Helpers for the hardening tests (issue 8): run the CLI in-process and check that it failed
the promised way: exit 2, exactly one line on stderr, starting with ``error:``, no traceback."""

from __future__ import annotations

import signal
from contextlib import contextmanager
from pathlib import Path

from hscore.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample_snapshots.csv"


def run(capsys, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def one_error(capsys, *args, fragments=()) -> str:
    """Run the CLI; assert exit 2 with one ``error:`` line holding every fragment; return it."""
    rc, out, err = run(capsys, *args)
    lines = err.splitlines()
    assert rc == 2, (rc, out, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in out + err
    for fragment in fragments:
        assert str(fragment) in lines[0], lines[0]
    return lines[0]


@contextmanager
def deadline(seconds: int):
    """A guard, not a measurement: fail (instead of hanging the suite) past ``seconds``."""
    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)

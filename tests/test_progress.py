"""hscore.progress: phase lines, counted steps as a bar or a few plain lines, silent by default."""

from __future__ import annotations

import io

import pytest

from hscore import progress


class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_the_api_is_silent_unless_a_reporter_is_installed(capsys):
    steps = progress.current().steps("bootstrap", 10)
    with progress.current().phase("design"):
        for _ in range(10):
            steps.advance()
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("total", [1, 3, 4, 7, 200])
def test_plain_lines_are_few_and_end_on_the_total(total):
    out = io.StringIO()
    steps = progress.Progress(stream=out, bar=False).steps("bootstrap", total)
    for _ in range(total):
        steps.advance()
    lines = out.getvalue().splitlines()
    assert 1 <= len(lines) <= 4
    assert lines[-1] == f"bootstrap {total}/{total}"
    counts = [int(line.split()[1].split("/")[0]) for line in lines]
    assert counts == sorted(set(counts))                  # increasing, never repeated


def test_a_terminal_gets_one_redrawn_bar_ending_in_a_newline():
    clock = _Clock()
    out = io.StringIO()
    steps = progress.Progress(stream=out, bar=True, clock=clock).steps("refits", 50)
    for i in range(50):
        clock.t = i * 0.01          # redraws are throttled to every 0.1 s
        steps.advance()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("50/50\n")
    assert 1 < text.count("\r") <= 6


def test_a_phase_says_when_it_starts_and_how_long_it_took():
    clock = _Clock()
    out = io.StringIO()
    with progress.reporting(progress.Progress(stream=out, clock=clock)):
        with progress.current().phase("cross-validation"):
            clock.t = 2.25
    assert out.getvalue().splitlines() == ["cross-validation done in 2.2 s"]
    # the reporter is uninstalled after the block
    assert isinstance(progress.current(), progress.Silent)
    assert not isinstance(progress.current(), progress.Progress)


def test_a_terminal_is_detected_from_the_stream():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert progress.Progress(stream=Tty()).bar is True
    assert progress.Progress(stream=io.StringIO()).bar is False


def test_a_phase_with_steps_says_when_it_starts_and_a_failing_phase_says_nothing():
    out = io.StringIO()
    reporter = progress.Progress(stream=out, bar=False, clock=_Clock())
    with reporter.phase("bootstrap"):
        steps = reporter.steps("resamples", 1)
        steps.advance()
    assert out.getvalue().splitlines() == ["bootstrap ...", "resamples 1/1",
                                           "bootstrap done in 0.0 s"]
    out.seek(0)
    out.truncate()
    with pytest.raises(ValueError):
        with reporter.phase("design"):
            raise ValueError("bad input")
    assert out.getvalue() == ""          # the CLI's one error line stays the only line


def test_an_enclosing_phase_is_said_before_the_first_line_inside_it():
    """Before, the demo printed "design done in 0.0 s" and only later "calibrate ...":
    a reader saw the inner phase before the one it belongs to."""
    out = io.StringIO()
    reporter = progress.Progress(stream=out, bar=False, clock=_Clock())
    with reporter.phase("calibrate"):
        with reporter.phase("design"):
            pass
        with reporter.phase("bootstrap"):
            reporter.steps("resamples", 1).advance()
    assert out.getvalue().splitlines() == [
        "calibrate ...", "design done in 0.0 s", "bootstrap ...", "resamples 1/1",
        "bootstrap done in 0.0 s", "calibrate done in 0.0 s"]

"""The build benchmark's verdict: the 60 s target is claimed only at the size it is defined
for (a 2-million-event run printed "meets the target")."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # bench/ is not installed

from bench.build import FULL_SIZE_SHARE, TARGET_EVENTS, TARGET_SECONDS, verdict  # noqa: E402
from bench.load import Load  # noqa: E402

QUIET = Load((0.1, 0.1, 0.1), 2, 0.0)
BUSY = Load((6.0, 6.0, 6.0), 2, 0.0)


def test_below_the_target_size_the_target_is_not_claimed_however_fast():
    line = verdict(2_000_000, 1.0, 0.0, QUIET)
    assert line.startswith("target not claimed at this size")
    assert f"{TARGET_EVENTS:,} events" in line and "2,000,000" in line
    assert "meets" not in line and ": ok" not in line


def test_at_the_target_size_the_time_decides_on_a_quiet_machine_only():
    assert verdict(TARGET_EVENTS, TARGET_SECONDS - 1, 0.0, QUIET).endswith(": ok")
    assert verdict(TARGET_EVENTS, TARGET_SECONDS + 1, 0.0, QUIET).endswith(": missed")
    assert "not claimed: load average 6.00" in verdict(TARGET_EVENTS, 1.0, 0.0, BUSY)


def test_a_build_that_differs_from_the_reference_misses_at_any_size():
    for events in (2_000_000, TARGET_EVENTS):
        assert verdict(events, 1.0, 1e-3, QUIET).startswith("MISSES")


def test_a_full_size_run_is_one_whose_generator_drew_about_the_target_count():
    # the generator draws events per account: asked for 100 M, a run read 99,918,925
    drawn = 99_918_925
    assert drawn >= FULL_SIZE_SHARE * TARGET_EVENTS
    assert verdict(drawn, TARGET_SECONDS - 1, 0.0, QUIET).endswith(": ok")
    assert verdict(int(0.9 * TARGET_EVENTS), 1.0, 0.0, QUIET).startswith("target not claimed")

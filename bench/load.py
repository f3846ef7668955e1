"""The machine's load, and the verdict on a target that a loaded machine cannot support.

Every benchmark reads the load with :func:`read_load` just before it starts timing and
prints each target's verdict with :meth:`Load.verdict`:

- ``ok`` / ``missed``: the measurement met / missed the target on a machine free enough
  to judge;
- ``not claimed: load average X on N cores (measured: ok|missed)``: other work was
  running, so the figure says little about the code (a miss may be the other work's, and
  so may a ratio between two timings that it slowed unequally).

The rule: the 1-minute load average read before timing, minus the benchmark's own share
of it, may not exceed 0.5 per core (``MAX_OTHER_LOAD_PER_CORE``). The own share is
estimated from the CPU time of the benchmark's processes (this one with its threads and
finished children, and the live processes it started, such as Spark's JVM): a process that kept ``r`` cores busy on average over its
``t`` seconds of life adds about ``r * (1 - exp(-t / 60))`` to the 1-minute average.
Targets that timing does not decide (a share of right verdicts) are judged whatever the
load (``timed=False``). The exit status of a benchmark follows the measurement, not the
load.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

__all__ = ["Load", "read_load", "cpu_seconds", "MAX_OTHER_LOAD_PER_CORE"]

MAX_OTHER_LOAD_PER_CORE = 0.5


def _stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _descendants(root: int) -> list[int]:
    """Live processes started by ``root``, its children's children included."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(entry)
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def _processes() -> list[tuple[float, float]] | None:
    """(CPU seconds, age in seconds) of this process and every live process it started
    (Linux; None elsewhere). CPU time counts all threads and the finished children."""
    try:
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
        pids = [os.getpid(), *_descendants(os.getpid())]
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    found = []
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            # fields[0] is stat's 3rd field: utime, stime, cutime, cstime are 14-17, start 22
            found.append((sum(int(f) for f in fields[11:15]) / tick,
                          max(uptime - int(fields[19]) / tick, 1e-3)))
    return found


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and the processes it started (Spark's JVM
    and Python workers included, while they live)."""
    found = _processes()
    return time.process_time() if found is None else sum(cpu for cpu, _ in found)


def own_load() -> float:
    """About how much of the 1-minute load average this process and the processes it
    started (threads, Spark's JVM and Python workers, finished children) make."""
    found = _processes()
    if found is None:  # not Linux: this process's CPU time over its life
        found = [(time.process_time(), max(time.perf_counter(), 1e-3))]
    cores = os.cpu_count() or 1
    return sum(min(cpu / age, cores) * (1.0 - math.exp(-age / 60.0)) for cpu, age in found)


@dataclass(frozen=True)
class Load:
    """The load averages (1, 5, 15 min) read before timing, the cores and the own share."""

    averages: tuple[float, float, float]
    cores: int
    own: float

    @property
    def other(self) -> float:
        """The load from other work: the 1-minute average minus the benchmark's own share."""
        return max(0.0, self.averages[0] - self.own)

    @property
    def busy(self) -> bool:
        """Too much other work to claim a timed target (see the module's rule)."""
        return self.other > MAX_OTHER_LOAD_PER_CORE * self.cores

    def describe(self) -> str:
        a1, a5, a15 = self.averages
        rule = (f"over {MAX_OTHER_LOAD_PER_CORE:g} per core from other work: timed targets "
                f"not claimed" if self.busy else "timed targets can be claimed")
        return (f"load average {a1:.2f} {a5:.2f} {a15:.2f} (1/5/15 min) on {self.cores} cores "
                f"before timing, about {self.own:.1f} of it this benchmark's; {rule}")

    def verdict(self, ok: bool, timed: bool = True) -> str:
        """``ok``, ``missed``, or on a busy machine ``not claimed: load average X on N cores
        (measured: ...)`` for a target that timing decides."""
        measured = "ok" if ok else "missed"
        if timed and self.busy:
            return (f"not claimed: load average {self.averages[0]:.2f} on {self.cores} cores "
                    f"(measured: {measured})")
        return measured


def read_load() -> Load:
    """The load now: read it just before timing."""
    return Load(tuple(os.getloadavg()), os.cpu_count() or 1, own_load())

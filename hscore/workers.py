"""Worker threads: the ``n_jobs`` convention and a map over a thread pool.

``n_jobs`` follows scikit-learn: None or 1 works in the calling thread, -1 uses every
core available to the process, -2 all but one, and so on; 0 is refused. Threads, not
processes: the work shared out (scoring blocks, logistic refits) spends its time in numpy
loops and BLAS calls that release the GIL, reads one copy of the data and needs no pickling.

Examples
--------
>>> resolve_n_jobs(None), resolve_n_jobs(2)
(1, 2)
>>> with thread_map(2) as map_:
...     list(map_(abs, [-1, -2, -3]))        # results in input order, whatever finishes first
[1, 2, 3]
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

from hscore.errors import HScoreError

__all__ = ["resolve_n_jobs", "thread_map"]


def resolve_n_jobs(n_jobs, name: str = "n_jobs") -> int:
    """The number of threads ``n_jobs`` asks for (at least 1); HScoreError naming ``name``
    when it is not a non-zero whole number or None."""
    import numbers

    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise HScoreError(f"{name}: must be a non-zero whole number of threads or None, "
                          f"got {n_jobs!r}")
    if n_jobs < 0:
        cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                 else (os.cpu_count() or 1))
        return max(1, cores + 1 + int(n_jobs))
    return int(n_jobs)


@contextlib.contextmanager
def thread_map(n_threads: int) -> Iterator[Callable]:
    """A ``map`` that runs on ``n_threads`` threads (the built-in ``map`` for one) and
    yields results in input order. Work run in a pool thread does not see the caller's
    context variables (the progress reporter): report from the calling thread, as results
    come back."""
    if n_threads <= 1:
        yield map
        return
    with ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="hscore") as pool:
        yield pool.map

"""``python -m bench [NAME ...] [-- ARGS]``: run benchmarks by name, or all of them.

Names map to modules exposing ``main(argv: list[str]) -> int``. With no name,
every registered benchmark runs; one that crashes does not stop the others. Arguments after ``--``
(or any argument starting with ``-``) are passed to each selected benchmark,
e.g. ``python -m bench scorer --rows 100000``.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Sequence

REGISTRY = {
    "scorer": "bench.scorer",
    "calibrate": "bench.calibrate",
    "compare": "bench.compare_verdicts",
    "build": "bench.build",
    "spark": "bench.spark",
    "segments": "bench.segments",
    "pyfunc": "bench.pyfunc",
    "transforms": "bench.transforms",
    "tracking": "bench.tracking",
}


def _split(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    names: list[str] = []
    rest = list(argv)
    while rest and not rest[0].startswith("-"):
        names.append(rest.pop(0))
    if rest and rest[0] == "--":
        rest.pop(0)
    return names, rest


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        print("\nregistered: " + ", ".join(f"{k} ({v})" for k, v in REGISTRY.items()))
        return 0
    names, rest = _split(argv)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        print(f"error: unknown benchmark {', '.join(unknown)}; "
              f"registered: {', '.join(REGISTRY)}", file=sys.stderr)
        return 2
    status = 0
    for name in names or list(REGISTRY):
        module = REGISTRY[name]
        print(f"== bench {name} ({module}) ==", flush=True)
        try:
            rc = importlib.import_module(module).main(list(rest))
        except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others
            traceback.print_exc()
            rc = 1
        status = status or int(rc or 0)
    return status


if __name__ == "__main__":
    sys.exit(main())

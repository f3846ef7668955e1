"""Benchmarks, run as ``python -m bench [NAME ...]`` (not part of the test suite).

Each registered module exposes ``main(argv: list[str]) -> int`` and prints a
results table measured against a reference computed in the same run, the load
average read before timing, and per target a verdict: ``ok``, ``missed``, or
``not claimed: load average X on N cores`` when other work took more than 0.5
per core (the rule and how the benchmark's own share is estimated:
``bench.load``).
"""

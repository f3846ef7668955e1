"""Benchmarks, run as ``python -m bench [NAME ...]`` (not part of the test suite).

Each registered module exposes ``main(argv: list[str]) -> int`` and prints a
results table measured against a reference computed in the same run.
"""

"""Raw tables -> snapshot table: the point-in-time metrics builder.

- ``definitions.yaml`` / :mod:`~hscore.build.definitions`: the raw-table contract and one
  declarative entry per metric (a windowed aggregate over a table), compiled to SQL that
  DuckDB and Spark SQL both read;
- :mod:`~hscore.build.tables`: finding, typing and checking the raw tables;
- :mod:`~hscore.build.grid`: snapshot days, stages, segments, labels, baseline days;
- :mod:`~hscore.build.engine`: the embedded DuckDB connection (the only duckdb importer);
- :mod:`~hscore.build.builder`: :func:`build_snapshots`, the whole step.

``import hscore.build`` does not import duckdb; a build does.
"""

from hscore.build.builder import build_snapshots, check_output, describe
from hscore.build.definitions import DefinitionError, Definitions, load_definitions

__all__ = ["build_snapshots", "load_definitions", "Definitions", "DefinitionError",
           "describe", "check_output"]

"""The cell: a group of rows that shares one set of weights.

Today a cell is a lifecycle stage; a segment level under a stage (an ARR tier, say) adds
cells such as ``maturity/enterprise``. Everything that loops over "the stages" — the
scorer, the design matrices, calibration, the registry comparison, plots and tracking
keys — loops over :meth:`Config.cells <hscore.config.Config.cells>` instead, so that level
is added here and nowhere else.

Examples
--------
>>> from hscore.config import Cell, load_config
>>> [c.key for c in load_config("lifecycle").cells()]
['onboarding', 'adoption', 'maturity', 'renewal']
>>> Cell("maturity", "enterprise").key
'maturity/enterprise'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Cell", "SEPARATOR"]

#: Between stage and segment in a cell's key (a character no stage name may contain).
SEPARATOR = "/"


@dataclass(frozen=True, order=True)
class Cell:
    """One set of weights: a ``stage`` and, when the config has segment weights, a ``segment``."""

    stage: str
    segment: str | None = None

    @property
    def key(self) -> str:
        """The cell as text: the stage's name, or ``stage/segment``. Used in tables,
        tracking keys and file names."""
        return self.stage if self.segment is None else f"{self.stage}{SEPARATOR}{self.segment}"

    @property
    def label(self) -> str:
        """The cell in a sentence: ``stage 'maturity'`` or ``cell 'maturity/enterprise'``."""
        return f"stage '{self.stage}'" if self.segment is None else f"cell '{self.key}'"

    def __str__(self) -> str:
        return self.key

"""The cell: a group of rows that shares one set of weights.

A cell is a lifecycle stage, or a segment of one: a config whose stage declares
``segments`` (an ARR tier, say) has cells such as ``maturity/enterprise`` for the rows of
that stage whose ``segment`` column names the segment. Everything that loops over "the stages" — the
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
>>> Cell.from_key("maturity/enterprise") == Cell("maturity", "enterprise")
True
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

    @classmethod
    def from_key(cls, key: str) -> "Cell":
        """The cell whose :attr:`key` is ``key``."""
        stage, _, segment = key.partition(SEPARATOR)
        return cls(stage, segment or None)

    def __str__(self) -> str:
        return self.key

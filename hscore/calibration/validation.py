"""Declarative parameter checks for the calibration estimators (in scikit-learn's manner).

An estimator lists what each parameter may be in one table, ``_parameter_constraints``
(name -> allowed constraints; ``None`` allows None), and :func:`validate_params` checks the
table when the work starts, raising :class:`~hscore.errors.HScoreError` that starts with the
parameter's name. The two checks that several estimators share live here once: the label
horizon (:func:`resolve_horizon`) and the number of bootstrap resamples
(:func:`bootstrap_count`).

Examples
--------
>>> constraints = {"cv_folds": [Interval(Integral, 2, None)],
...                "holdout_share": [Interval(Real, 0, 1, closed="neither")]}
>>> validate_params({"cv_folds": 5, "holdout_share": 0.2}, constraints)
>>> validate_params({"cv_folds": 1, "holdout_share": 0.2}, constraints)
Traceback (most recent call last):
...
hscore.errors.HScoreError: cv_folds: must be a whole number >= 2, got 1
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Literal

import pandas as pd

from hscore.config import Config
from hscore.errors import HScoreError

__all__ = ["Interval", "InstanceOf", "Options", "DateLike", "Strengths", "validate_params",
           "bootstrap_count", "HORIZON", "CONFIG_LIKE", "resolve_horizon", "horizon_line",
           "Integral", "Real"]


@dataclass(frozen=True)
class Interval:
    """A whole number (``Integral``) or a number (``Real``) between ``left`` and ``right``
    (None: unbounded). Booleans are never numbers here."""

    kind: type
    left: float | None
    right: float | None
    closed: Literal["left", "right", "both", "neither"] = "left"

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, self.kind):
            return False
        if self.kind is Real and not math.isfinite(value):
            return False
        lo_ok = (self.left is None or value > self.left
                 or (value == self.left and self.closed in ("left", "both")))
        hi_ok = (self.right is None or value < self.right
                 or (value == self.right and self.closed in ("right", "both")))
        return lo_ok and hi_ok

    def __str__(self) -> str:
        what = "a whole number" if self.kind is Integral else "a number"
        if self.left is not None and self.right is not None:
            lo = "[" if self.closed in ("left", "both") else "("
            hi = "]" if self.closed in ("right", "both") else ")"
            return f"{what} in {lo}{self.left:g}, {self.right:g}{hi}"
        if self.left is not None:
            return f"{what} {'>=' if self.closed in ('left', 'both') else '>'} {self.left:g}"
        if self.right is not None:
            return f"{what} {'<=' if self.closed in ('right', 'both') else '<'} {self.right:g}"
        return what


@dataclass(frozen=True)
class InstanceOf:
    """An instance of one of ``types``; ``what`` names them for the error."""

    types: tuple[type, ...]
    what: str

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, self.types)

    def __str__(self) -> str:
        return self.what


@dataclass(frozen=True)
class Options:
    """One of a few words (a ``StrEnum`` member is its word)."""

    words: tuple[str, ...]

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.words

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(w) for w in self.words)


class DateLike:
    """A date: text ``YYYY-MM-DD``, a ``date``, ``datetime``, Timestamp or datetime64."""

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, (bool, int, float)):
            return False     # pandas would read 20250101 as nanoseconds since 1970
        try:
            return not pd.isna(pd.Timestamp(value))
        except (ValueError, TypeError):
            return False

    def __str__(self) -> str:
        return "a date (YYYY-MM-DD)"


class Strengths:
    """A non-empty sequence of penalty strengths >= 0 (``inf`` allowed), or one strength."""

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, (str, bytes, bool)):
            return False
        try:
            values = [value] if isinstance(value, Real) else list(value)
        except TypeError:
            return False
        return bool(values) and all(isinstance(s, Real) and not isinstance(s, bool)
                                    and s >= 0 for s in values)

    def __str__(self) -> str:
        return "penalty strengths >= 0 (inf allowed)"


def validate_params(params: Mapping[str, Any], constraints: Mapping[str, list]) -> None:
    """Check every parameter against its constraints; the first one that fails raises.

    Raises
    ------
    HScoreError
        ``"<name>: must be <what is allowed>, got <value>"``.
    """
    for name, allowed in constraints.items():
        value = params[name]
        if value is None and None in allowed:
            continue
        checks = [c for c in allowed if c is not None]
        if not any(c.is_satisfied_by(value) for c in checks):
            options = " or ".join(str(c) for c in checks) + (" or None" if None in allowed
                                                             else "")
            raise HScoreError(f"{name}: must be {options}, got {value!r}")


#: What a label horizon may be: whole days, at least one.
HORIZON = Interval(Integral, 1, None)

#: What a config (the starting point of a fit) may be given as.
CONFIG_LIKE = InstanceOf((Config, str, os.PathLike),
                         "a Config, a shipped default's name or a path")


def bootstrap_count(minimum: int) -> Interval:
    """The constraint on a number of bootstrap resamples (``minimum`` 0 allows none)."""
    return Interval(Integral, minimum, None)


def resolve_horizon(horizon_days: int | None, config_horizon: int | None, *,
                    required: bool) -> int | None:
    """The label horizon in days: ``horizon_days`` when given, else the config's.

    Raises
    ------
    HScoreError
        Neither is known and ``required`` (calibration cannot split without it), or the
        value is not a whole number of days >= 1.

    Examples
    --------
    >>> resolve_horizon(None, 90, required=True)
    90
    >>> resolve_horizon(None, None, required=False) is None
    True
    """
    horizon = config_horizon if horizon_days is None else horizon_days
    if horizon is None:
        if required:
            raise HScoreError("horizon_days: the label horizon is unknown; set "
                              "label_horizon_days in the config or pass --horizon-days")
        return None
    validate_params({"horizon_days": horizon}, {"horizon_days": [HORIZON]})
    return int(horizon)


def horizon_line(horizon_days: int | None, config_name: str,
                 config_horizon: int | None) -> str:
    """What ``churned`` means, in the words that open every calibration and comparison: the
    horizon in use and where it comes from (the config's ``label_horizon_days``, or given).

    Examples
    --------
    >>> horizon_line(30, "lifecycle-default", 30)
    "churned = churn within 30 days after the snapshot (label_horizon_days of 'lifecycle-default')"
    >>> horizon_line(90, "lifecycle-default", 30)
    "churned = churn within 90 days after the snapshot (horizon_days given; 'lifecycle-default' says 30)"
    """
    if horizon_days is None:
        return (f"churned = churn within an unknown horizon ('{config_name}' sets no "
                "label_horizon_days; pass --horizon-days)")
    where = (f"label_horizon_days of '{config_name}'" if horizon_days == config_horizon else
             f"horizon_days given; '{config_name}' sets none" if config_horizon is None else
             f"horizon_days given; '{config_name}' says {config_horizon}")
    return f"churned = churn within {horizon_days} days after the snapshot ({where})"

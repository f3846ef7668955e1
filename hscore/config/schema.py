"""The config's typed model (pydantic, strict) and its semantic checks.

Structural problems come from pydantic, semantic ones (weights summing to 1,
directions agreeing with transforms, ...) from :func:`_semantic_problems`; both
are reported together by :func:`config_from_dict`, each with its path.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hscore.config.cells import SEPARATOR, Cell
from hscore.errors import ConfigError, HScoreWarning

__all__ = ["Config", "Stage", "PiecewiseTransform", "Component", "Metric", "Provenance",
           "Segment", "config_from_dict",
           "normalize_weights", "WEIGHT_TOLERANCE", "PERCENT_HINT"]

SCHEMA_VERSION = 1
WEIGHT_TOLERANCE = 1e-9
ALL_STAGES = "all"

_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)


class _Model(BaseModel):
    model_config = _STRICT


# ----------------------------------------------------------------- transforms
class LinearTransform(_Model):
    """Clip to [lo, hi] and map linearly to 0-100."""

    kind: Literal["linear"]
    lo: float
    hi: float


class LogTransform(_Model):
    """Linear between log1p(lo) and log1p(hi): for counts with a long right tail."""

    kind: Literal["log"]
    lo: float
    hi: float


class ThresholdsTransform(_Model):
    """Ordered cut points -> points (Gainsight-style red/yellow/green ranges).

    ``value < cuts[0]`` scores ``points[0]``, ``cuts[i-1] <= value < cuts[i]``
    scores ``points[i]``, ``value >= cuts[-1]`` scores ``points[-1]``.
    """

    kind: Literal["thresholds"]
    cuts: list[float]
    points: list[float]


class RecencyTransform(_Model):
    """Days since an event -> 100 * 0.5 ** (days / half_life_days)."""

    kind: Literal["recency"]
    half_life_days: float


class BooleanTransform(_Model):
    """0/1 -> 0/100."""

    kind: Literal["boolean"]


class PiecewiseTransform(_Model):
    """Monotone knots ``[[x, sub-score], ...]``: linear between knots, flat outside them.

    What calibration writes when it learns a transform. As with ``thresholds``, the
    sub-scores are written in the metric's direction (rising for ``higher_is_better``,
    falling for ``lower_is_better``) and read as they stand: nothing is flipped.
    """

    kind: Literal["piecewise"]
    points: list[list[float]]


Transform = Annotated[
    Union[LinearTransform, LogTransform, ThresholdsTransform, RecencyTransform, BooleanTransform,
          PiecewiseTransform],
    Field(discriminator="kind"),
]
TRANSFORM_KINDS = ("linear", "log", "thresholds", "recency", "boolean", "piecewise")


# --------------------------------------------------------------------- model
class Metric(_Model):
    weight: float
    direction: Literal["higher_is_better", "lower_is_better"]
    transform: Transform
    per_seat: bool = False
    domain: list[float | None] | None = None
    meaning: str | None = None
    unit: str | None = None
    seed: str | None = None


class Component(_Model):
    weight: float
    metrics: dict[str, Metric]
    meaning: str | None = None


class Probability(_Model):
    """Churn probability from the score: ``1 / (1 + exp(-(intercept + slope * score)))``."""

    intercept: float
    slope: float


class SegmentMetric(_Model):
    """A metric's weight in a segment; its transform and direction are the stage's."""

    weight: float


class SegmentComponent(_Model):
    weight: float
    metrics: dict[str, SegmentMetric]


class Segment(_Model):
    """Own weights (and optionally an own probability mapping) for the rows of a stage whose
    ``segment`` column names this segment: the same components and metrics as the stage."""

    components: dict[str, SegmentComponent]
    probability: Probability | None = None
    meaning: str | None = None


class Stage(_Model):
    components: dict[str, Component]
    probability: Probability | None = None
    meaning: str | None = None
    segments: dict[str, Segment] | None = None

    @property
    def metric_names(self) -> list[str]:
        return [m for c in self.components.values() for m in c.metrics]

    def metric_weights(self) -> dict[str, float]:
        """Effective weight of each metric in the stage score (component x metric weight)."""
        return {m: c.weight * spec.weight
                for c in self.components.values() for m, spec in c.metrics.items()}

    def component_of(self, metric: str) -> str:
        for cname, comp in self.components.items():
            if metric in comp.metrics:
                return cname
        raise KeyError(metric)

    def with_segment(self, name: str) -> "Stage":
        """The stage with segment ``name``'s weights (and probability mapping, when it has
        one): what scores that segment's rows. Transforms and directions stay the stage's."""
        seg = self.segments[name]
        comps = {c: comp.model_copy(update={
            "weight": seg.components[c].weight,
            "metrics": {m: spec.model_copy(update={"weight": seg.components[c].metrics[m].weight})
                        for m, spec in comp.metrics.items()}})
            for c, comp in self.components.items()}
        return self.model_copy(update={"components": comps, "segments": None,
                                       "probability": seg.probability or self.probability})


class Bands(_Model):
    healthy: float = 75.0
    at_risk: float = 50.0


class Trend(_Model):
    alert_drop: float = 7.0


# ---------------------------------------------------------------- provenance
# Where a config came from. Every key is declared (extra="forbid", as everywhere in the
# schema): a provenance block is read by promotion, export and people, so a misspelt or
# ad-hoc key is an error with its path rather than a silent new field, and the block cannot
# grow without a schema change. This accepts every provenance hscore has written (shipped
# defaults, synth truths, calibrations, CLI runs, exports); ``notes`` holds free text for
# a hand-edited config.
class DataWindow(_Model):
    """The rows a calibration saw: first and last training and holdout snapshot dates, the
    label horizon, and the holdout: its kind (``out_of_time``, ``accounts``, ``none``), its
    start (out-of-time), share of accounts and seed (accounts), and why it was chosen when
    it was chosen automatically (``holdout_note``)."""

    train: list[str] | None = None
    holdout: list[str] | None = None
    holdout_from: str | None = None
    horizon_days: int
    holdout_kind: str | None = None
    holdout_share: float | None = None
    holdout_seed: int | None = None
    holdout_note: str | None = None


class CellRows(_Model):
    """Rows of one cell: used for training and holdout, and left out."""

    train: int
    train_events: int
    accounts: int
    holdout: int
    holdout_events: int
    censored: int
    no_score: int
    straddling_holdout: int
    holdout_unscored: int = 0
    labelled: int | None = None      # every labelled, scored row: what a refit uses
    exported: str | None = None      # the exported weights' rows: all | train | input


class LeftOut(_Model):
    censored: int
    no_score: int
    straddling_holdout: int


class CellQuality(_Model):
    """Holdout quality of the calibrated config in one cell (or pooled, ``all``)."""

    auc: float | None = None
    auc_low: float | None = None
    auc_high: float | None = None
    brier: float | None = None
    log_loss: float | None = None
    holdout_rows: int
    holdout_events: int


class Bootstrap(_Model):
    n: int
    seed: int


class ModelRef(_Model):
    """The registered model version a config is."""

    name: str
    version: str
    uri: str | None = None
    aliases: list[str] | None = None


class Exported(_Model):
    at: str
    from_: str = Field(alias="from")
    tracking_uri: str | None = None


class ProposedBands(_Model):
    """Band thresholds a calibration proposes (not applied until taken; see
    :func:`hscore.calibration.bands.take_bands`), with the rule and its evidence."""

    healthy: float
    at_risk: float
    rule: str
    base_rate: float | None = None
    book_date: str | None = None
    book_rows: int | None = None
    book_at_risk_rows: int | None = None
    holdout_at_risk_churn_rate: float | None = None
    holdout_at_risk_lift: float | None = None
    taken: bool | None = None


class Provenance(_Model):
    """Where a config came from: documented defaults (``source``, ``seeds``), a calibration
    (written by :func:`hscore.calibration.output.calibration_provenance`), and what export
    adds (``run_id``, ``model``, ``promotion``, ``exported``). Per-cell maps are keyed by
    cell key.

    Examples
    --------
    >>> p = Provenance(source="documented defaults")
    >>> p.extended(run_id="abc").run_id
    'abc'
    """

    source: str | None = None
    seeds: list[str] | None = None
    notes: str | None = None
    method: str | None = None
    input_config: str | None = None
    created: str | None = None
    data_window: DataWindow | None = None
    rows: dict[str, CellRows] | None = None
    left_out: LeftOut | None = None
    exported_fit: str | None = None    # all: refitted on every labelled row | train
    strength: dict[str, float] | None = None
    status: dict[str, str] | None = None
    quality: dict[str, CellQuality] | None = None
    bootstrap: Bootstrap | None = None
    run_id: str | None = None
    model: ModelRef | None = None
    promotion: dict[str, str] | None = None
    exported: Exported | None = None
    learned_transforms: dict[str, str] | None = None   # "stage.metric": what CV chose, why
    proposed_bands: ProposedBands | None = None

    def to_dict(self) -> dict[str, Any]:
        """As YAML holds it (keys left out where None)."""
        return self.model_dump(mode="python", exclude_none=True, by_alias=True)

    def extended(self, **fields: Any) -> "Provenance":
        """A validated copy with ``fields`` added or replaced (the way export adds its own);
        a nested field may be given as a model or as a mapping."""
        data = self.to_dict()
        data.update({k: v.model_dump(mode="python", exclude_none=True, by_alias=True)
                     if isinstance(v, BaseModel) else v for k, v in fields.items()})
        return Provenance.model_validate(data)


class Config(_Model):
    """A validated scoring model. Build it with :func:`load_config` or :func:`config_from_dict`."""

    schema_version: Literal[1]
    name: str
    description: str | None = None
    bands: Bands = Bands()
    trend: Trend = Trend()
    missing: Literal["reweight", "neutral", "zero"] = "reweight"
    min_coverage: float = 0.5
    label_horizon_days: int | None = None
    stages: dict[str, Stage]
    provenance: Provenance | None = None

    @property
    def single_stage(self) -> bool:
        return list(self.stages) == [ALL_STAGES]

    @property
    def metric_names(self) -> list[str]:
        """Every metric column the config reads, in first-seen order."""
        seen: dict[str, None] = {}
        for stage in self.stages.values():
            for m in stage.metric_names:
                seen.setdefault(m, None)
        return list(seen)

    @property
    def component_names(self) -> list[str]:
        seen: dict[str, None] = {}
        for stage in self.stages.values():
            for c in stage.components:
                seen.setdefault(c, None)
        return list(seen)

    def cells(self) -> list[Cell]:
        """The groups of rows with their own weights, in config order: each stage, followed
        by its segments."""
        return [cell for stage, st in self.stages.items()
                for cell in [Cell(stage)] + [Cell(stage, seg) for seg in st.segments or {}]]

    @property
    def has_segments(self) -> bool:
        """Does some stage declare segment weights (rows then need a ``segment`` column)?"""
        return any(st.segments for st in self.stages.values())

    def weights_of(self, cell: Cell | str) -> Stage:
        """The components, metrics and weights that score ``cell`` (a Cell or its key): a
        segment's weights with its stage's transforms."""
        if not isinstance(cell, Cell):
            cell = Cell.from_key(str(cell))
        stage = self.stages[cell.stage]
        return stage if cell.segment is None else stage.with_segment(cell.segment)

    def metric_specs(self, name: str) -> list[tuple[str, str, Metric]]:
        """Every (stage, component, spec) in which the metric ``name`` appears."""
        return [(s, c, comp.metrics[name]) for s, st in self.stages.items()
                for c, comp in st.components.items() if name in comp.metrics]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="python", exclude_none=True, by_alias=True)

    def replace(self, **changes: Any) -> "Config":
        """A new validated config with top-level fields replaced."""
        data = self.to_dict()
        data.update(changes)
        return config_from_dict(data)

    def __repr__(self) -> str:
        stages = ", ".join(f"{s}({len(st.components)} components, {len(st.metric_names)} metrics)"
                           for s, st in self.stages.items())
        return f"Config(name={self.name!r}, stages=[{stages}])"

    __str__ = __repr__


# ------------------------------------------------------------------ checking
def _format_loc(loc: tuple) -> str:
    parts = [str(p) for p in loc]
    # pydantic adds the union tag as a path element ("linear"); drop it so the
    # path matches the YAML the user wrote.
    out: list[str] = []
    for i, p in enumerate(parts):
        if i > 0 and parts[i - 1] == "transform" and p in TRANSFORM_KINDS:
            continue
        out.append(p)
    return ".".join(out) or "(top level)"


def _pydantic_problems(err: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for e in err.errors():
        loc = _format_loc(e["loc"])
        if e["type"] == "union_tag_invalid":
            tag = e.get("input", {}).get("kind") if isinstance(e.get("input"), dict) else None
            msg = f"unknown transform kind {tag!r}; expected one of {', '.join(TRANSFORM_KINDS)}"
            loc = loc + ".kind"
        elif e["type"] == "union_tag_not_found":
            msg = f"transform needs a 'kind' ({', '.join(TRANSFORM_KINDS)})"
        elif e["type"] == "extra_forbidden":
            msg = "unknown field"
        else:
            msg = e["msg"]
        problems.append((loc, msg))
    return problems


def _check_weights(path: str, items: Mapping[str, Any], what: str,
                   problems: list[tuple[str, str]]) -> None:
    total = 0.0
    for name, item in items.items():
        w = item.weight
        if not math.isfinite(w):
            problems.append((f"{path}.{name}.weight", f"weight must be a finite number, got {w}"))
            return
        if w < 0:
            problems.append((f"{path}.{name}.weight", f"weight must be non-negative, got {w:g}"))
        total += w
    if items and abs(total - 1.0) > WEIGHT_TOLERANCE:
        # The level, not one of its items: any of them may hold the typo, so show them all.
        shown = ", ".join(f"{name} {item.weight:.12g}" for name, item in items.items())
        problems.append((path, f"weights in this {what} sum to {total:.12g}, not 1 ({shown})"))


def _check_metric(path: str, m: Metric, problems: list[tuple[str, str]]) -> None:
    t = m.transform
    tpath = f"{path}.transform"
    nums = [v for v in (getattr(t, "lo", None), getattr(t, "hi", None)) if v is not None]
    if any(not math.isfinite(v) for v in nums):
        problems.append((tpath, "lo and hi must be finite"))
        return
    if t.kind in ("linear", "log") and not t.hi > t.lo:
        problems.append((f"{tpath}.hi", f"hi ({t.hi:g}) must be greater than lo ({t.lo:g})"))
    if t.kind == "log" and t.lo <= -1:
        problems.append((f"{tpath}.lo", f"log transform needs lo > -1 (log1p), got {t.lo:g}"))
    if t.kind == "recency":
        if not (math.isfinite(t.half_life_days) and t.half_life_days > 0):
            problems.append((f"{tpath}.half_life_days", "must be a positive number of days"))
        if m.direction != "lower_is_better":
            problems.append((f"{path}.direction",
                             "a recency metric counts days since an event: direction must be "
                             "lower_is_better"))
    if t.kind == "thresholds":
        if len(t.cuts) < 1:
            problems.append((f"{tpath}.cuts", "needs at least one cut point"))
        elif any(b <= a for a, b in zip(t.cuts, t.cuts[1:])) or not all(map(math.isfinite, t.cuts)):
            problems.append((f"{tpath}.cuts", "cut points must be finite and strictly increasing"))
        if len(t.points) != len(t.cuts) + 1:
            problems.append((f"{tpath}.points",
                             f"needs {len(t.cuts) + 1} points for {len(t.cuts)} cuts, "
                             f"got {len(t.points)}"))
        elif any(not (0 <= p <= 100) for p in t.points):
            problems.append((f"{tpath}.points", "points must lie in [0, 100]"))
        else:
            steps = [b - a for a, b in zip(t.points, t.points[1:])]
            rising = m.direction == "higher_is_better"
            if any((s < 0) if rising else (s > 0) for s in steps):
                order = "non-decreasing" if rising else "non-increasing"
                problems.append((f"{tpath}.points",
                                 f"points must be {order} for a {m.direction} metric"))
    if t.kind == "piecewise":
        _check_piecewise(tpath, t.points, m.direction, problems)
    if m.domain is not None:
        if len(m.domain) != 2:
            problems.append((f"{path}.domain", "domain is [min, max] (null for no bound)"))
        else:
            lo, hi = m.domain
            if lo is not None and hi is not None and not hi > lo:
                problems.append((f"{path}.domain", f"max ({hi:g}) must exceed min ({lo:g})"))
            if t.kind == "log" and lo is not None and lo <= -1:
                problems.append((f"{path}.domain", "a log-transformed metric needs min > -1"))


def _check_piecewise(tpath: str, points: list[list[float]], direction: str,
                     problems: list[tuple[str, str]]) -> None:
    """Knots: at least two ``[x, y]`` pairs, x finite and strictly increasing, y in [0, 100]
    and monotone in the metric's direction; each problem names the first bad knot."""
    if len(points) < 2:
        problems.append((f"{tpath}.points", f"needs at least two [x, sub-score] knots, "
                                            f"got {len(points)}"))
        return
    for i, knot in enumerate(points):
        if len(knot) != 2:
            problems.append((f"{tpath}.points[{i}]", f"a knot is [x, sub-score], got {knot}"))
            return
        if not all(map(math.isfinite, knot)):
            problems.append((f"{tpath}.points[{i}]", f"knot values must be finite, got {knot}"))
            return
        if not 0 <= knot[1] <= 100:
            problems.append((f"{tpath}.points[{i}]",
                             f"sub-score must lie in [0, 100], got {knot[1]:g}"))
            return
    rising = direction == "higher_is_better"
    for i in range(1, len(points)):
        (x0, y0), (x1, y1) = points[i - 1], points[i]
        if not x1 > x0:
            problems.append((f"{tpath}.points[{i}]", f"x ({x1:g}) must be greater than the "
                                                     f"previous knot's x ({x0:g})"))
            return
        if (y1 < y0) if rising else (y1 > y0):
            order = "non-decreasing" if rising else "non-increasing"
            problems.append((f"{tpath}.points[{i}]",
                             f"sub-scores must be {order} for a {direction} metric: "
                             f"{y1:g} after {y0:g}"))
            return


def _semantic_problems(cfg: Config) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if not cfg.stages:
        problems.append(("stages", "a config needs at least one stage"))
    if ALL_STAGES in cfg.stages and len(cfg.stages) > 1:
        problems.append((f"stages.{ALL_STAGES}",
                         "a stage named 'all' applies to every row and must be the only stage"))
    if not cfg.bands.healthy > cfg.bands.at_risk:
        problems.append(("bands.healthy", f"healthy ({cfg.bands.healthy:g}) must be above "
                                          f"at_risk ({cfg.bands.at_risk:g})"))
    for name in ("healthy", "at_risk"):
        v = getattr(cfg.bands, name)
        if not 0 <= v <= 100:
            problems.append((f"bands.{name}", f"must lie in [0, 100], got {v:g}"))
    if not (cfg.trend.alert_drop > 0 and math.isfinite(cfg.trend.alert_drop)):
        problems.append(("trend.alert_drop", "must be a positive number of points"))
    if not 0 <= cfg.min_coverage <= 1:
        problems.append(("min_coverage", f"must lie in [0, 1], got {cfg.min_coverage:g}"))
    if cfg.label_horizon_days is not None and cfg.label_horizon_days <= 0:
        problems.append(("label_horizon_days", "must be a positive number of days"))
    for sname, stage in cfg.stages.items():
        spath = f"stages.{sname}"
        if not stage.components:
            problems.append((f"{spath}.components", "a stage needs at least one component"))
            continue
        _check_weights(f"{spath}.components", stage.components, "stage", problems)
        seen: dict[str, str] = {}
        for cname, comp in stage.components.items():
            cpath = f"{spath}.components.{cname}.metrics"
            if not comp.metrics:
                problems.append((cpath, "a component needs at least one metric"))
                continue
            _check_weights(cpath, comp.metrics, "component", problems)
            for mname, metric in comp.metrics.items():
                if mname in seen:
                    problems.append((f"{cpath}.{mname}",
                                     f"metric already used in component '{seen[mname]}' of this "
                                     "stage; a metric may appear once per stage"))
                seen[mname] = cname
                _check_metric(f"{cpath}.{mname}", metric, problems)
        if stage.probability is not None:
            p = stage.probability
            if not (math.isfinite(p.intercept) and math.isfinite(p.slope)):
                problems.append((f"{spath}.probability", "intercept and slope must be finite"))
        _segment_problems(sname, stage, problems)
    # One column feeds every stage that uses it, so its reading must agree.
    for mname in cfg.metric_names:
        specs = cfg.metric_specs(mname)
        if len({s.per_seat for _, _, s in specs}) > 1:
            s, c, _ = specs[0]
            problems.append((f"stages.{s}.components.{c}.metrics.{mname}.per_seat",
                             "per_seat must be the same in every stage that uses this metric"))
    return problems


def _segment_problems(sname: str, stage: Stage, problems: list[tuple[str, str]]) -> None:
    """A segment has exactly its stage's components and metrics, weights summing to 1, and
    a name that can be part of a cell key."""
    if SEPARATOR in sname:
        problems.append((f"stages.{sname}", f"a stage name may not contain {SEPARATOR!r} "
                                            "(it separates stage and segment in cell keys)"))
    for gname, seg in (stage.segments or {}).items():
        gpath = f"stages.{sname}.segments.{gname}"
        if SEPARATOR in gname or not gname.strip():
            problems.append((gpath, f"a segment name must be non-empty text without "
                                    f"{SEPARATOR!r}"))
        if not _same_names(f"{gpath}.components", seg.components, stage.components,
                           "components", f"stage '{sname}'", problems):
            continue
        _check_weights(f"{gpath}.components", seg.components, "segment", problems)
        for cname, comp in seg.components.items():
            mpath = f"{gpath}.components.{cname}.metrics"
            if _same_names(mpath, comp.metrics, stage.components[cname].metrics, "metrics",
                           f"component '{cname}' of stage '{sname}'", problems):
                _check_weights(mpath, comp.metrics, "component", problems)
        if seg.probability is not None and not (math.isfinite(seg.probability.intercept)
                                                and math.isfinite(seg.probability.slope)):
            problems.append((f"{gpath}.probability", "intercept and slope must be finite"))


def _same_names(path: str, mine: Mapping[str, Any], theirs: Mapping[str, Any], what: str,
                owner: str, problems: list[tuple[str, str]]) -> bool:
    missing = [n for n in theirs if n not in mine]
    extra = [n for n in mine if n not in theirs]
    if missing or extra:
        said = "; ".join(part for part in (
            missing and f"missing {', '.join(missing)}",
            extra and f"not in the stage: {', '.join(extra)}") if part)
        problems.append((path, f"a segment has the same {what} as {owner} ({said}); "
                               "transforms and directions are the stage's, only weights differ"))
        return False
    return True


# ------------------------------------------------------------------- loading
def config_from_dict(data: Mapping[str, Any], source: str | None = None) -> Config:
    """Validate a mapping (parsed YAML) and return a :class:`Config`.

    Raises
    ------
    ConfigError
        With every problem found, each named by its path.
    """
    if not isinstance(data, Mapping):
        raise ConfigError([("(top level)", f"a config is a mapping, got {type(data).__name__}")],
                          source)
    data = _ints_to_floats(copy.deepcopy(dict(data)))
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ConfigError([("schema_version",
                            f"expected {SCHEMA_VERSION}, got {data.get('schema_version')!r}")],
                          source)
    try:
        cfg = Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_pydantic_problems(err), source) from None
    problems = _semantic_problems(cfg)
    if problems:
        raise ConfigError(problems, source, hint=PERCENT_HINT if _scaled(cfg) else None)
    return cfg


#: What a config whose weights sum to far more than 1 is told (typed as percentages).
PERCENT_HINT = ("weights typed as percentages? rescale them to sum to 1 with "
                "hscore.normalize_weights(config) or hscore.load_config(path, normalize=True), "
                "or pass --normalize-weights on the command line")


def _scaled(cfg: Config) -> bool:
    """Do the weights of some stage or component sum to well over 1 (``weight: 35``)?"""
    levels = [stage for stage in cfg.stages.values()]
    levels += [seg for stage in cfg.stages.values() for seg in (stage.segments or {}).values()]
    groups = [level.components for level in levels]
    groups += [comp.metrics for level in levels for comp in level.components.values()]
    return any(math.fsum(item.weight for item in group.values()) > 1.5 for group in groups)


_FLOAT_FIELDS = {"weight", "lo", "hi", "half_life_days", "healthy", "at_risk", "alert_drop",
                 "min_coverage", "intercept", "slope", "base_rate"}


def _ints_to_floats(node: Any, key: str | None = None) -> Any:
    """YAML reads ``weight: 1`` as an int; store numbers as floats so that dump/load is exact.

    Booleans are not numbers here: ``weight: true`` stays a bool and fails validation.
    """
    if isinstance(node, dict):
        return {k: _ints_to_floats(v, k) for k, v in node.items()}
    if isinstance(node, list):
        if key in ("cuts", "points", "domain"):
            return [float(v) if isinstance(v, int) and not isinstance(v, bool) else
                    _ints_to_floats(v, key) if isinstance(v, list) else v for v in node]
        return [_ints_to_floats(v) for v in node]
    if key in _FLOAT_FIELDS and isinstance(node, int) and not isinstance(node, bool):
        return float(node)
    return node


def _normalized_mapping(data: Any, source: str | None) -> Any:
    if not isinstance(data, Mapping):
        return data
    data = copy.deepcopy(dict(data))

    def rescale(items: Any, path: str) -> None:
        if not isinstance(items, dict):
            return
        ws = {k: v.get("weight") for k, v in items.items() if isinstance(v, dict)}
        if not all(isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0
                   for w in ws.values()):
            return  # validation reports the bad weight with its path
        total = float(sum(ws.values()))
        if total <= 0:
            raise ConfigError([(path, "cannot normalize: weights sum to 0")], source)
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            rescaled.append(f"{path} (sum {total:.12g})")
        for k, w in ws.items():
            items[k]["weight"] = w / total

    levels = []
    for sname, stage in (data.get("stages") or {}).items():
        if not isinstance(stage, dict):
            continue
        levels.append((f"stages.{sname}", stage))
        segments = stage.get("segments")
        if isinstance(segments, dict):
            levels += [(f"stages.{sname}.segments.{g}", seg) for g, seg in segments.items()
                       if isinstance(seg, dict)]
    rescaled: list[str] = []
    for path, level in levels:
        comps = level.get("components")
        rescale(comps, f"{path}.components")
        for cname, comp in (comps or {}).items():
            if isinstance(comp, dict):
                rescale(comp.get("metrics"), f"{path}.components.{cname}.metrics")
    if rescaled:
        # Said, not done silently: a sum of 1.05 is more often a typo than a rounding.
        warnings.warn(HScoreWarning(
            f"normalized weights: {len(rescaled)} level(s) rescaled to sum to 1: "
            f"{', '.join(rescaled)}"), stacklevel=3)
    return data


def normalize_weights(config: Config | Mapping[str, Any]) -> Config:
    """Rescale weights so they sum to 1 within each stage and each component.

    For configs typed as percentages (``weight: 35``) or rounded by hand.

    Examples
    --------
    >>> raw = {"schema_version": 1, "name": "pct", "stages": {"all": {"components": {
    ...     "usage": {"weight": 60, "metrics": {"logins": {"weight": 1, "direction":
    ...         "higher_is_better", "transform": {"kind": "linear", "lo": 0, "hi": 10}}}},
    ...     "nps": {"weight": 40, "metrics": {"nps": {"weight": 1, "direction":
    ...         "higher_is_better", "transform": {"kind": "linear", "lo": -100, "hi": 100}}}}}}}}
    >>> normalize_weights(raw).stages["all"].components["usage"].weight
    0.6
    """
    data = config.to_dict() if isinstance(config, Config) else config
    return config_from_dict(_normalized_mapping(data, None))



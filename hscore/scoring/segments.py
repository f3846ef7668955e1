"""Which weights score each row: its stage's, or its segment's where the stage has them.

A config's stage may declare ``segments`` (an ARR tier, say) with their own weights. A row
is scored with the weights of ``stage/segment`` when its stage declares the value of its
``segment`` column, else with its stage's. The rules for what does not match:

- segments declared but no ``segment`` column: an error naming the column and the rows of
  the stages that declare segments (the data cannot say which weights apply);
- a segment value that is not text (a number, a date): an error with the count;
- an empty segment, or one the row's stage has no weights for while another stage does
  (``mid`` in maturity when only renewal declares ``mid``): the stage's weights;
- a segment value that *no* stage of the config declares, on rows of a stage that has
  segments (a misspelt ``Enterprise``): the stage's weights and a :class:`SegmentWarning`
  naming the values and their row counts.

Scores always say which weights were used: ``segment_used`` (empty = the stage's).

Examples
--------
>>> import pandas as pd
>>> from hscore.config import Cell
>>> from hscore.scoring.snapshots import check_snapshots
>>> from hscore.config import config_from_dict
>>> metric = {"weight": 1, "direction": "higher_is_better",
...           "transform": {"kind": "linear", "lo": 0, "hi": 1}}
>>> cfg = config_from_dict({"schema_version": 1, "name": "x", "stages": {"all": {
...     "components": {"c": {"weight": 1, "metrics": {"m": metric}}},
...     "segments": {"ent": {"components": {"c": {"weight": 1, "metrics": {"m": {
...         "weight": 1}}}}}}}}})
>>> frame = pd.DataFrame({"account_id": ["a", "b"], "snapshot_date": "2025-01-01",
...                       "segment": ["ent", None], "m": [0.5, 0.5]})
>>> cells, codes = segment_cells(cfg, check_snapshots(frame, cfg))
>>> [cells[c].key for c in codes]
['all/ent', 'all']
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from hscore.config import Cell, Config
from hscore.errors import HScoreWarning
from hscore.scoring.snapshots import CheckedSnapshots, row_error

__all__ = ["segment_cells", "segments_used", "SegmentWarning"]


class SegmentWarning(HScoreWarning):
    """Rows whose segment no stage of the config has weights for: scored with the stage's."""


def segment_cells(config: Config, checked: CheckedSnapshots) -> tuple[list[Cell], np.ndarray]:
    """The cells that score ``checked``'s rows and each row's index into them.

    Without segments in the config: the stages and the stage codes, untouched. With them:
    the stages, then every declared segment; rows move to their segment's cell.
    """
    stage_cells = [Cell(stage) for stage in checked.stages]
    if not config.has_segments:
        return stage_cells, checked.stage_codes
    frame = checked.frame
    segmented = [i for i, s in enumerate(checked.stages)
                 if s in checked.present_stages and config.stages[s].segments]
    in_segmented = np.isin(checked.stage_codes, segmented)
    if "segment" not in frame.columns:
        if not in_segmented.any():
            return stage_cells, checked.stage_codes
        names = ", ".join(checked.stages[i] for i in segmented)
        raise row_error(frame, "segment", f"required column is missing: the config has segment "
                                      f"weights for stage {names}, and the rows of those "
                                      "stages need a segment to say which weights apply",
                    in_segmented)
    codes, uniques = pd.factorize(frame["segment"], use_na_sentinel=True)
    uniques = np.asarray(uniques, dtype=object)
    text = np.array([isinstance(u, str) for u in uniques], dtype=bool)
    if not text.all():
        bad = ~text[np.maximum(codes, 0)] & (codes >= 0)
        raise row_error(frame, "segment", "segment values that are not text (e.g. "
                                      f"{uniques[~text][0]!r}); a segment names a tier such "
                                      "as 'enterprise'", bad)
    cells = list(stage_cells)
    # cell_of[stage code, segment code + 1]: the column 0 is an empty segment.
    cell_of = np.repeat(np.arange(len(stage_cells), dtype=np.intp)[:, None],
                        len(uniques) + 1, axis=1)
    position = {u: j + 1 for j, u in enumerate(uniques)}
    declared: set[str] = set()
    for si, stage in enumerate(checked.stages):
        for seg in config.stages[stage].segments or {}:
            declared.add(seg)
            cells.append(Cell(stage, seg))
            if seg in position:
                cell_of[si, position[seg]] = len(cells) - 1
    unknown = [j for j, u in enumerate(uniques) if u not in declared]
    if unknown:
        stray = in_segmented & np.isin(codes, unknown)
        if stray.any():
            counts = pd.Series(uniques[codes[stray]]).value_counts()
            shown = ", ".join(f"{v!r} ({n} rows)" for v, n in counts.head(5).items())
            warnings.warn(
                f"segment: {int(stray.sum())} rows of stages with segment weights have a "
                f"segment no stage of the config declares: {shown}; scored with their "
                f"stage's weights (declared: {', '.join(sorted(declared))})",
                SegmentWarning, stacklevel=3)
    return cells, cell_of[checked.stage_codes, codes + 1]


def segments_used(cells: list[Cell], codes: np.ndarray) -> pd.Series:
    """Per row, the segment whose weights scored it; None where the stage's did."""
    names = np.array([c.segment for c in cells], dtype=object)
    return pd.Series(names[codes], dtype=object, copy=False)


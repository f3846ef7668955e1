"""The ``piecewise`` transform: scorer values worked out by hand, and its schema checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hscore import HealthScorer
from hscore.config import PiecewiseTransform, config_from_dict, dump_config, load_config
from hscore.errors import ConfigError
from hscore.scoring.transforms import subscore

NAN = np.nan
PATH = "stages.all.components.usage.metrics.logins.transform"


def _config(transform, direction="higher_is_better") -> dict:
    return {"schema_version": 1, "name": "pw", "stages": {"all": {"components": {
        "usage": {"weight": 1, "metrics": {"logins": {
            "weight": 1, "direction": direction, "transform": transform}}}}}}}


def test_piecewise_is_linear_between_knots_and_flat_outside():
    t = PiecewiseTransform(kind="piecewise", points=[[0, 0], [10, 35], [30, 100]])
    raw = [-5, 0, 5, 10, 20, 30, 99, NAN]
    # 5 is halfway to 10: 17.5; 20 is halfway from 10 (35) to 30 (100): 67.5
    expected = [0, 0, 17.5, 35, 67.5, 100, 100, NAN]
    np.testing.assert_allclose(subscore(t, "higher_is_better", raw), expected,
                               rtol=0, atol=1e-12, equal_nan=True)


def test_piecewise_for_a_lower_is_better_metric_is_not_flipped():
    # days since a CSM touch: the knots say the sub-score directly, falling with the days
    t = PiecewiseTransform(kind="piecewise", points=[[0, 100], [30, 40], [90, 0]])
    got = subscore(t, "lower_is_better", [0, 15, 60, 200])
    np.testing.assert_allclose(got, [100, 70, 20, 0], rtol=0, atol=1e-12)


def test_piecewise_in_place_equals_a_fresh_array():
    t = PiecewiseTransform(kind="piecewise", points=[[1, 10], [2, 20], [4, 90]])
    raw = np.array([0.5, 1.5, 3.0, NAN, 8.0])
    expected = subscore(t, "higher_is_better", raw)
    subscore(t, "higher_is_better", raw, out=raw)
    np.testing.assert_array_equal(raw, expected)


def test_piecewise_scores_through_the_config_after_a_yaml_round_trip(tmp_path):
    path = tmp_path / "pw.yaml"
    path.write_text(dump_config(config_from_dict(
        _config({"kind": "piecewise", "points": [[0, 0], [10, 50], [20, 80]]}))))
    cfg = load_config(path)
    assert cfg.stages["all"].components["usage"].metrics["logins"].transform.points == [
        [0.0, 0.0], [10.0, 50.0], [20.0, 80.0]]
    frame = {"account_id": ["a", "b", "c"], "snapshot_date": ["2025-01-01"] * 3,
             "logins": [5.0, 15.0, 40.0]}
    scores = HealthScorer(cfg).score(pd.DataFrame(frame))
    assert scores["score"].tolist() == [25.0, 65.0, 80.0]


@pytest.mark.parametrize("points, direction, where, fragment", [
    ([[0, 0]], "higher_is_better", "points", "at least two"),
    ([[0, 0], [5, 50], [5, 100]], "higher_is_better", "points[2]", "greater than"),
    ([[0, 0], [10, 60], [5, 100]], "higher_is_better", "points[2]", "greater than"),
    ([[0, 0], [5, 60], [10, 40]], "higher_is_better", "points[2]", "non-decreasing"),
    ([[0, 0], [5, 60]], "lower_is_better", "points[1]", "non-increasing"),
    ([[0, 0], [5, 120]], "higher_is_better", "points[1]", "[0, 100]"),
    ([[0, 0], [5, 50, 1]], "higher_is_better", "points[1]", "[x, sub-score]"),
    ([[0, 0], [float("inf"), 50]], "higher_is_better", "points[1]", "finite"),
])
def test_bad_knots_are_named_by_their_path(points, direction, where, fragment):
    with pytest.raises(ConfigError) as excinfo:
        config_from_dict(_config({"kind": "piecewise", "points": points}, direction))
    problems = dict(excinfo.value.problems)
    assert list(problems) == [f"{PATH}.{where}"]
    assert fragment in problems[f"{PATH}.{where}"]

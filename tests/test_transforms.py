"""Transforms: raw value -> 0-100 sub-score, each against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hscore.config import (BooleanTransform, LinearTransform, LogTransform, Metric,
                           RecencyTransform, ThresholdsTransform, load_config)
from hscore.scoring.transforms import metric_subscore, subscore

NAN = np.nan
HIB, LIB = "higher_is_better", "lower_is_better"


def _close(got, expected):
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(expected, dtype=float),
                               rtol=0, atol=1e-12, equal_nan=True)


# ------------------------------------------------------------------ linear
def test_linear_clips_and_scales():
    t = LinearTransform(kind="linear", lo=1, hi=5)  # the 1-5 CSM pulse scale
    raw = [0.0, 1.0, 2.0, 3.5, 5.0, 7.0, NAN]
    # clip to [1, 5] -> 1, 1, 2, 3.5, 5, 5; then (x - 1) * 100 / (5 - 1) = (x - 1) * 25
    _close(subscore(t, HIB, raw), [0, 0, 25, 62.5, 100, 100, NAN])
    # lower_is_better: 100 - s
    _close(subscore(t, LIB, raw), [100, 100, 75, 37.5, 0, 0, NAN])


def test_linear_top_of_the_range_is_exactly_100():
    t = LinearTransform(kind="linear", lo=0, hi=0.6)  # stickiness (DAU/MAU) in maturity
    # 0.6 * (100 / 0.6) is 100.00000000000001 in floating point; the sub-score must not
    # leave [0, 100], so the top of the range (and anything clipped to it) is exactly 100.
    assert subscore(t, HIB, [0.6, 1.0]).tolist() == [100.0, 100.0]
    assert subscore(t, LIB, [0.6, 1.0]).tolist() == [0.0, 0.0]
    assert subscore(LogTransform(kind="log", lo=0, hi=0.6), HIB, [0.6]).tolist() == [100.0]


def test_linear_on_a_0_100_scale_is_the_identity():
    # feature_adoption_rate is a percent: the sub-score is the value itself, bit for bit
    # (x / 100 * 100 is not: 29 / 100 * 100 = 28.999999999999996), so a value that sits
    # on a band edge stays on it.
    t = LinearTransform(kind="linear", lo=0, hi=100)
    raw = np.round(np.arange(0, 100.001, 0.01), 2)
    np.testing.assert_array_equal(subscore(t, HIB, raw), raw)
    np.testing.assert_array_equal(subscore(t, LIB, raw), 100.0 - raw)
    # -100..100 (NPS): (x + 100) / 2 exactly
    nps = LinearTransform(kind="linear", lo=-100, hi=100)
    ints = np.arange(-100.0, 101.0)
    np.testing.assert_array_equal(subscore(nps, HIB, ints), (ints + 100) / 2)


def test_linear_with_negative_range():
    t = LinearTransform(kind="linear", lo=-100, hi=100)  # NPS
    # (x + 100) / 200 * 100: -100 -> 0, -40 -> 30, 0 -> 50, 70 -> 85
    _close(subscore(t, HIB, [-100, -40, 0, 70]), [0, 30, 50, 85])


# --------------------------------------------------------------------- log
def test_log_is_linear_between_log1p_of_the_bounds():
    t = LogTransform(kind="log", lo=0, hi=30)  # champion logins per 30 days
    raw = [-1.0, 0.0, 3.0, 30.0, 99.0, NAN]
    # log1p(0) = 0, log1p(30) = ln 31; 3 logins: ln(4) / ln(31) * 100 = 1.386294 / 3.433987 * 100
    # = 40.36982
    expected = [0, 0, 100 * math.log(4) / math.log(31), 100, 100, NAN]
    _close(subscore(t, HIB, raw), expected)
    assert subscore(t, HIB, [3.0])[0] == pytest.approx(40.36982, abs=1e-5)


def test_log_with_positive_lower_bound():
    t = LogTransform(kind="log", lo=9, hi=99)
    # log1p(9) = ln 10, log1p(99) = ln 100 = 2 ln 10; x = 9 -> 0, 99 -> 100,
    # x = 30.6227766 (sqrt(1000) - 1): ln(sqrt(1000)) = 1.5 ln 10 -> halfway = 50
    _close(subscore(t, HIB, [9.0, math.sqrt(1000) - 1, 99.0]), [0, 50, 100])
    _close(subscore(t, LIB, [9.0, math.sqrt(1000) - 1, 99.0]), [100, 50, 0])


# -------------------------------------------------------------- thresholds
def test_thresholds_map_ranges_to_points():
    t = ThresholdsTransform(kind="thresholds", cuts=[7, 9], points=[0, 50, 100])
    # NPS answer: detractor 0-6 -> 0, passive 7-8 -> 50, promoter 9-10 -> 100;
    # a cut point belongs to the range above it.
    raw = [0.0, 6.0, 6.99, 7.0, 8.0, 8.99, 9.0, 10.0, NAN]
    _close(subscore(t, HIB, raw), [0, 0, 0, 50, 50, 50, 100, 100, NAN])


def test_thresholds_for_a_lower_is_better_metric_are_not_flipped():
    # days past due: on time -> 100, 1-30 days late -> 50, 31+ -> 0 (points already descend)
    t = ThresholdsTransform(kind="thresholds", cuts=[1, 31], points=[100, 50, 0])
    _close(subscore(t, LIB, [0.0, 0.5, 1.0, 30.0, 31.0, 400.0, NAN]),
           [100, 100, 50, 50, 0, 0, NAN])


# ----------------------------------------------------------------- recency
def test_recency_halves_every_half_life():
    t = RecencyTransform(kind="recency", half_life_days=14)
    raw = [0.0, 7.0, 14.0, 28.0, 42.0, -3.0, NAN]
    # 100 * 0.5 ** (d / 14): 0 -> 100, 7 -> 100 / sqrt(2) = 70.710678..., 14 -> 50,
    # 28 -> 25, 42 -> 12.5; a date in the future (-3 days) counts as today -> 100
    _close(subscore(t, LIB, raw), [100, 100 / math.sqrt(2), 50, 25, 12.5, 100, NAN])


# ----------------------------------------------------------------- boolean
def test_boolean():
    t = BooleanTransform(kind="boolean")
    _close(subscore(t, HIB, [0.0, 1.0, NAN]), [0, 100, NAN])
    _close(subscore(t, LIB, [0.0, 1.0, NAN]), [100, 0, NAN])


# ---------------------------------------------------------------- per seat
def test_per_seat_divides_by_seats_before_the_transform():
    m = Metric(weight=1.0, direction=HIB, per_seat=True,
               transform=LinearTransform(kind="linear", lo=0, hi=20))
    raw = np.array([100.0, 100.0, 30.0, NAN])
    seats = np.array([10.0, 5.0, 1.0, 3.0])
    # 100 / 10 = 10 days per seat -> 10 / 20 * 100 = 50; 100 / 5 = 20 -> 100;
    # 30 / 1 = 30 -> clipped to 20 -> 100; NaN stays NaN
    _close(metric_subscore(m, raw, seats), [50, 100, 100, NAN])
    with pytest.raises(ValueError, match="needs seats"):
        metric_subscore(m, raw)


def test_not_per_seat_ignores_seats():
    m = Metric(weight=1.0, direction=HIB, transform=LinearTransform(kind="linear", lo=0, hi=20))
    _close(metric_subscore(m, np.array([10.0]), np.array([5.0])), [50])


def test_shipped_per_seat_metric_through_the_config():
    spec = load_config("lifecycle").stages["maturity"].components["user_activity"]
    minutes = spec.metrics["minutes_30d"]  # log, lo 0, hi 1200, per seat
    # 12,000 account minutes over 10 seats = 1200 per seat = hi -> 100;
    # 1,100 minutes over 100 seats = 11 per seat -> ln(12) / ln(1201) * 100 = 35.0497...
    _close(metric_subscore(minutes, np.array([12000.0, 1100.0]), np.array([10.0, 100.0])),
           [100, 100 * math.log(12) / math.log(1201)])
    stickiness = spec.metrics["stickiness"]  # linear 0..0.6: DAU/MAU of 0.3 -> 50
    _close(metric_subscore(stickiness, np.array([0.3, 0.9])), [50, 100])


# ------------------------------------------------------- vectorized, in place
TRANSFORMS = [
    (LinearTransform(kind="linear", lo=1, hi=5), HIB),
    (LinearTransform(kind="linear", lo=1, hi=3), LIB),
    (LogTransform(kind="log", lo=0, hi=500), HIB),
    (ThresholdsTransform(kind="thresholds", cuts=[7, 9], points=[0, 50, 100]), HIB),
    (RecencyTransform(kind="recency", half_life_days=30), LIB),
    (BooleanTransform(kind="boolean"), HIB),
]


@pytest.mark.parametrize("t, direction", TRANSFORMS, ids=lambda v: getattr(v, "kind", v))
def test_writing_into_out_or_in_place_gives_the_same_values(t, direction):
    rng = np.random.default_rng(1)
    raw = rng.uniform(-2, 12, 1000)
    if t.kind == "boolean":
        raw = (raw > 5).astype(float)
    raw[::7] = NAN
    expected = subscore(t, direction, raw)
    out = np.full_like(raw, -1.0)
    assert subscore(t, direction, raw, out=out) is out
    np.testing.assert_array_equal(out, expected)
    inplace = raw.copy()
    subscore(t, direction, inplace, out=inplace)
    np.testing.assert_array_equal(inplace, expected)
    # element by element (the definition) agrees with the vectorized result
    one_by_one = np.array([subscore(t, direction, np.array([v]))[0] for v in raw[:50]])
    np.testing.assert_array_equal(one_by_one, expected[:50])


def _shipped_specs():
    out = []
    for name in ("lifecycle", "categories"):
        cfg = load_config(name)
        for metric in cfg.metric_names:
            stage, _, spec = cfg.metric_specs(metric)[0]
            out.append(pytest.param(spec, id=f"{name}-{stage}-{metric}"))
    return out


@pytest.mark.parametrize("spec", _shipped_specs())
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_shipped_transforms_stay_in_range_and_follow_their_direction(spec, data):
    lo, hi = spec.domain if spec.domain is not None else (None, None)
    lo = -1e4 if lo is None else lo
    hi = 1e4 if hi is None else hi
    if spec.transform.kind == "boolean":
        values = data.draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=2, max_size=20))
    else:
        values = data.draw(st.lists(st.floats(lo, hi, allow_nan=False), min_size=2,
                                    max_size=20))
    raw = np.sort(np.array(values))
    seats = np.full(len(raw), 7.0)
    s = metric_subscore(spec, raw, seats)
    assert np.all((s >= 0) & (s <= 100))
    steps = np.diff(s)
    if spec.direction == "higher_is_better":
        assert np.all(steps >= -1e-9)
    else:
        assert np.all(steps <= 1e-9)

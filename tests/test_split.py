"""The holdout rule (hscore.calibration.split): one rule for calibration, tracking and the
registry, checked against the rule written out by hand on snapshot dates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hscore.calibration.split import Holdout, HoldoutKind, choose_holdout
from hscore.errors import HScoreError

DATES = pd.date_range("2024-01-01", "2024-12-01", freq="MS")


def _days(dates) -> np.ndarray:
    return pd.DatetimeIndex(dates).to_numpy(dtype="datetime64[D]").astype(np.int64)


@pytest.mark.parametrize("start, horizon", [("2024-08-01", 30), ("2024-08-01", 45),
                                            ("2024-06-15", 90), ("2024-02-01", 31)])
def test_train_ends_its_label_window_by_the_start_and_the_holdout_starts_there(start, horizon):
    holdout = Holdout(pd.Timestamp(start), horizon)
    split = holdout.split(_days(DATES))
    start = pd.Timestamp(start)
    np.testing.assert_array_equal(split.train, DATES + pd.Timedelta(days=horizon) <= start)
    np.testing.assert_array_equal(split.holdout, DATES >= start)
    np.testing.assert_array_equal(split.straddling, (DATES < start)
                                  & (DATES + pd.Timedelta(days=horizon) > start))
    assert not (split.train & split.holdout).any()


def test_select_keeps_the_labelled_holdout_rows_of_a_frame():
    frame = pd.DataFrame({"account_id": "a", "snapshot_date": DATES.strftime("%Y-%m-%d"),
                          "churned": [0.0] * 10 + [np.nan, 1.0]})
    held = Holdout(pd.Timestamp("2024-09-01"), 30).select(frame)
    assert list(held["snapshot_date"]) == ["2024-09-01", "2024-10-01", "2024-12-01"]
    assert held.index.tolist() == [0, 1, 2]


def test_the_recorded_holdout_comes_from_the_provenance_or_else_the_tags():
    from hscore.config import Provenance

    prov = Provenance.model_validate({"data_window": {"holdout_from": "2024-08-01",
                                                      "horizon_days": 45}})
    assert Holdout.recorded(prov.data_window) == Holdout(pd.Timestamp("2024-08-01"), 45)
    tags = {"holdout_from": "2024-09-01", "horizon_days": "30"}
    assert Holdout.recorded(None, tags) == Holdout(pd.Timestamp("2024-09-01"), 30)
    assert Holdout.recorded(prov.data_window, tags).start == pd.Timestamp("2024-08-01")
    assert Holdout.recorded(None, {"holdout_from": "2024-09-01"}) is None
    assert Holdout.recorded(None) is None
    assert Holdout.recorded(prov.data_window).kind is HoldoutKind.OUT_OF_TIME


def test_the_default_start_leaves_about_the_share_asked_for_in_the_holdout():
    days = _days(np.repeat(DATES, 10))
    holdout = choose_holdout(None, days, 30, share=0.25)
    assert holdout.start in set(DATES)
    assert holdout.split(days).holdout.mean() == pytest.approx(0.25, abs=1 / 12)


@pytest.mark.parametrize("start", ["2024-01-15", "2024-12-02"])
def test_a_start_that_leaves_no_training_or_no_holdout_row_is_an_error(start):
    with pytest.raises(HScoreError, match=r"^holdout_from: .* is outside the labelled data"):
        choose_holdout(start, _days(DATES), 30)


def test_too_short_a_history_for_a_default_start_is_an_error():
    with pytest.raises(HScoreError, match=r"^holdout_from: .* span too little time"):
        choose_holdout(None, _days(DATES[:2]), 90)

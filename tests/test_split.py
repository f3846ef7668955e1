"""The holdout rule (hscore.calibration.split): one rule for calibration, tracking and the
registry, checked against the rule written out by hand on snapshot dates."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from hscore.calibration.split import Holdout, HoldoutKind, choose_holdout, held_out_accounts
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


def test_too_short_a_history_for_an_out_of_time_holdout_asked_for_is_an_error():
    with pytest.raises(HScoreError, match=r"^holdout_from: .* span too little time .*"
                                          r"use --holdout accounts"):
        choose_holdout(None, _days(DATES[:2]), 90, kind="out_of_time")


# ------------------------------------------------------------------ accounts and none
ACCOUNTS = np.array([f"acct-{i:04d}" for i in range(2000)])


def test_an_account_holdout_keeps_every_snapshot_of_an_account_on_one_side():
    accounts = np.repeat(ACCOUNTS, 3)
    days = _days(np.tile(DATES[:3], len(ACCOUNTS)))
    split = Holdout.accounts(30, share=0.2, seed=4).split(days, accounts)
    per_account = pd.Series(split.holdout).groupby(accounts).nunique()
    assert (per_account == 1).all()
    assert (split.train == ~split.holdout).all() and not split.straddling.any()
    # about a fifth of the accounts: binomial(2000, 0.2) has SD 0.009 as a share
    assert split.holdout.mean() == pytest.approx(0.2, abs=0.03)


def test_the_account_draw_depends_on_the_seed_and_the_id_only():
    holdout = Holdout.accounts(30, share=0.2, seed=4)
    days = np.zeros(len(ACCOUNTS), dtype=np.int64)
    held = holdout.split(days, ACCOUNTS).holdout
    order = np.random.default_rng(0).permutation(len(ACCOUNTS))
    np.testing.assert_array_equal(holdout.split(days, ACCOUNTS[order]).holdout, held[order])
    # an account's side does not depend on which other accounts the data hold
    np.testing.assert_array_equal(holdout.split(days[:50], ACCOUNTS[:50]).holdout, held[:50])
    other = Holdout.accounts(30, share=0.2, seed=5).split(days, ACCOUNTS).holdout
    assert (other != held).mean() > 0.2
    # numeric ids read from a file are the same accounts as their text
    ids = np.arange(300)
    np.testing.assert_array_equal(holdout.split(days[:300], ids).holdout,
                                  holdout.split(days[:300], ids.astype(str)).holdout)


def test_no_holdout_trains_on_every_row():
    split = Holdout.none(30).split(_days(DATES), np.array(["a"] * len(DATES)))
    assert split.train.all() and not split.holdout.any()
    assert choose_holdout(None, _days(DATES), 30, kind="none") == Holdout.none(30)


def test_one_snapshot_date_chooses_an_account_holdout_and_says_why():
    days = _days([DATES[-1]] * len(ACCOUNTS))
    holdout = choose_holdout(None, days, 90, accounts=ACCOUNTS, seed=2)
    assert holdout == Holdout.accounts(90, 0.2, 2, holdout.note)
    assert "span too little time for an out-of-time holdout after a 90-day label" in holdout.note
    assert "holding out about 20% of the accounts at random" in holdout.note
    # with time enough the rule is still out-of-time, and no note
    assert choose_holdout(None, _days(np.repeat(DATES, 10)), 30).kind is HoldoutKind.OUT_OF_TIME
    assert choose_holdout(None, _days(np.repeat(DATES, 10)), 30).note is None


def test_a_start_on_a_single_date_says_that_no_date_works_and_what_does():
    days = _days([DATES[-1]] * 10)
    with pytest.raises(HScoreError) as err:
        choose_holdout(DATES[-1], days, 90)
    text = str(err.value)
    assert text.startswith("holdout_from: 2024-12-01 cannot work")
    assert "so no date does; use --holdout accounts" in text and "--holdout none" in text
    assert "from 2025" not in text                          # no impossible range


@pytest.mark.parametrize("start", ["2024-01-15", "2024-12-02", "2030-01-01"])
def test_the_range_an_error_suggests_is_achievable(start):
    with pytest.raises(HScoreError) as err:
        choose_holdout(start, _days(DATES), 30)
    lo, hi = re.search(r"so from (\S+) to (\S+)\)$", str(err.value)).groups()
    assert pd.Timestamp(lo) <= pd.Timestamp(hi)
    for date in (lo, hi):
        split = choose_holdout(date, _days(DATES), 30).split(_days(DATES))
        assert split.train.any() and split.holdout.any()


def test_a_start_and_another_kind_together_is_an_error():
    with pytest.raises(HScoreError, match=r"^holdout: holdout_from \(--holdout-from\) sets the "
                                          r"start of an out-of-time holdout; it cannot go with "
                                          r"holdout 'accounts'"):
        choose_holdout("2024-08-01", _days(DATES), 30, kind="accounts")


def test_an_account_draw_that_leaves_one_side_empty_is_an_error_that_says_what_works():
    days = _days([DATES[0]] * 3)
    with pytest.raises(HScoreError, match=r"^holdout: an account holdout needs two accounts or "
                                          r"more; the labelled rows hold 1; use --holdout none"):
        choose_holdout(None, days, 30, accounts=np.array(["a"] * 3), kind="accounts")
    three = np.array(["a", "b", "c"])
    seeds = [s for s in range(20) if not held_out_accounts(three, 0.2, s).any()]
    with pytest.raises(HScoreError, match=r"^holdout: the account holdout \(about 20% of 3 "
                                          r"accounts, seed \d+\) holds out no account; use "
                                          r"another --seed \(seed\) or --holdout none"):
        choose_holdout(None, days, 30, accounts=three, kind="accounts", seed=seeds[0])
    works = next(s for s in range(20) if 0 < held_out_accounts(three, 0.2, s).sum() < 3)
    assert choose_holdout(None, days, 30, accounts=three, kind="accounts", seed=works).seed == works


def test_account_and_no_holdouts_are_recorded_and_read_back():
    from hscore.config import Provenance

    accounts = Holdout.accounts(90, 0.25, 7)
    prov = Provenance.model_validate({"data_window": {
        "horizon_days": 90, "holdout_kind": "accounts", "holdout_share": 0.25,
        "holdout_seed": 7}})
    assert Holdout.recorded(prov.data_window) == accounts
    tags = {"holdout_kind": "accounts", "holdout_share": "0.25", "holdout_seed": "7",
            "horizon_days": "90"}
    assert Holdout.recorded(None, tags) == accounts
    assert Holdout.recorded(None, {**tags, "holdout_kind": "none"}) == Holdout.none(90)
    assert Holdout.recorded(None, {"holdout_kind": "accounts", "horizon_days": "90"}) is None

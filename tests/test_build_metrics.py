"""Every metric of the lifecycle config, computed by the builder on a tiny hand-made book
(tests/tiny_book.py) and compared with values worked out by hand from its rows.

The snapshot is d = 2024-03-01 for account A (see tiny_book.py for the windows). Each
expected value says which rows it counts.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from hscore import HealthScorer, load_config
from hscore.build import build_snapshots, load_definitions
import tiny_book

# Account A on 2024-03-01, by hand.
EXPECTED = {
    # events in [2024-01-31, 2024-03-01): u1 5 (2 on Jan 31, 3 on Feb 15), u2 21 (Feb 10,
    # Feb 11, 18 on Feb 12, Feb 29 23:59:59), u3 1 (Feb 21); not Jan 30 23:59:59, not Mar 1
    "events_30d": 27,
    # (user, day): u1 {Jan 31, Feb 15}, u2 {Feb 10, 11, 12, 29}, u3 {Feb 21}
    "active_days_30d": 7,
    # mean DAU = 7 / 30, MAU = 3 users
    "stickiness": 7 / 30 / 3,
    # session minutes 25 (Jan 31) + 35 (Feb 15)
    "minutes_30d": 60,
    # 3 active users / 4 seats
    "seat_utilization": 0.75,
    # only u2 reaches 20 events: 1 / 4 seats
    "seats_hitting_event_goal_share": 0.25,
    # key-feature users u1 (reports), u2 (dashboards, reports): 2 / 4 seats
    "key_feature_users_share": 0.5,
    # 2 key-feature users / 3 active users
    "feature_adoption_rate": 100 * 2 / 3,
    # reports and dashboards of the 5 key features (api on Mar 1 is not seen)
    "key_features_used_share": 2 / 5,
    # u1 (champion) logins on Jan 31 and Feb 15 (Jan 30 is outside)
    "champion_logins_30d": 2,
    "champion_minutes_30d": 60,
    # first weeks over before d: u1, u2 (2023, no events), u3 (Feb 20-26, login Feb 21);
    # u4's (Feb 27 - Mar 4) is not over: 1 / 3
    "week1_active_seat_share": 1 / 3,
    # assigned before d: u1-u4; u4 had no event in the window: 1 / 4
    "inactive_seat_share": 0.25,
    # key events now 3 (Feb 10, 11, 15) vs the baseline window [2023-12-11, 2024-01-10): 1
    "feature_usage_change_pct": 200.0,
    # minutes 60 now vs 40 (Jan 5) in the baseline window
    "minutes_change_pct": 50.0,
    # stickiness 7/30/3 now vs 3 user-days / 30 / 2 users = 0.05 in the baseline window
    "stickiness_change_pct": 100 * (7 / 90 - 0.05) / 0.05,
    # since the term started 2024-01-10: jira +1 (Jan 10), slack -1 (Feb 1), zoom +1 (Feb 20);
    # slack enabled 2023-06-01 is in the previous term, github on Mar 1 is not seen
    "integrations_net_change": 1,
    # touches with the champion in [Jan 31, Mar 1): Feb 5
    "champion_csm_touches_30d": 1,
    # touches in [2023-12-02, Mar 1): Dec 15, Jan 20, Feb 5, Feb 10, Feb 28
    "csm_touches_90d": 5,
    # the QBR of 2024-01-20 (the one of 2023-09-01 is more than 180 days back)
    "qbr_held_180d": 1,
    # last touch Feb 28 -> 2 days (leap year: Feb 29 in between)
    "days_since_csm_touch": 2,
    # last touch with the champion Feb 5 -> 25 days
    "days_since_champion_csm_touch": 25,
    # latest pulse in [2023-09-03, Mar 1): Feb 20 -> 4 (Mar 1's 1 is not seen)
    "csm_pulse": 4,
    "csm_sentiment": 0.8,
    "advocacy_score": 7,
    "champion_nps": 10,
    # user answers in 180 days: 9, 9, 6, 8, 3, 10 -> 3 promoters, 2 detractors of 6
    "user_nps": 100 * (3 - 2) / 6,
    # champion and user CSAT in 180 days: 5, 4, 3 (the CSM's 1 and Mar 1's 1 do not count)
    "csat": 4.0,
    # all 3 steps done
    "setup_checklist_done": 1.0,
    # last step done 2023-03-06, 55 days after the start; plan 45 days
    "setup_days_vs_plan": 55 / 45,
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tiny_book.write(tmp_path_factory.mktemp("tiny"), tiny_book.frames())
    return build_snapshots(folder, "lifecycle", start="2023-02-01")


def _row(frame, account, day):
    rows = frame[(frame["account_id"] == account) & (frame["snapshot_date"] == day)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_every_lifecycle_metric_has_a_hand_checked_value():
    assert set(EXPECTED) == set(load_config("lifecycle").metric_names)


@pytest.mark.parametrize("metric", sorted(EXPECTED))
def test_metric_matches_the_hand_computed_value(built, metric):
    row = _row(built, "A", tiny_book.SNAPSHOT)
    assert row[metric] == pytest.approx(EXPECTED[metric], rel=1e-12), metric


def test_snapshot_columns(built):
    row = _row(built, "A", tiny_book.SNAPSHOT)
    # 2024-03-01 is after the end of year one (2024-01-10) and 315 days before the next renewal
    assert (row["stage"], row["seats"], row["segment"]) == ("maturity", 4, "mid")
    b = _row(built, "B", "2024-03-01")
    # B: renewal 2024-06-01 is 92 days ahead (not yet renewal), tenure 9 months: adoption
    assert (b["stage"], b["segment"]) == ("adoption", "smb")
    # the data's last day is 2024-03-01: the horizon of its snapshot runs past it
    assert np.isnan(row["churned"])


def test_open_checklist_counts_days_so_far(built):
    row = _row(built, "A", "2023-02-01")
    # listed s1-s3 on Jan 10, s1 done Jan 25; steps remain open: (Feb 1 - Jan 10) / 45
    assert row["setup_checklist_done"] == pytest.approx(1 / 3)
    assert row["setup_days_vs_plan"] == pytest.approx(22 / 45)
    assert row["stage"] == "onboarding"


def test_empty_windows_are_zero_counts_and_empty_ratios(built):
    # B has no events, touches or surveys at all
    row = _row(built, "B", "2024-02-01")
    assert row["events_30d"] == 0 and row["csm_touches_90d"] == 0 and row["qbr_held_180d"] == 0
    for metric in ("stickiness", "feature_adoption_rate", "days_since_csm_touch", "csm_pulse",
                   "user_nps", "setup_checklist_done"):
        assert np.isnan(row[metric]), metric


def test_output_scores_and_round_trips(built, tmp_path):
    from hscore.scoring.snapshots import read_snapshots, write_frame

    scores = HealthScorer(load_config("lifecycle")).score(built)
    assert scores["score"].notna().any()
    back = read_snapshots(write_frame(built, tmp_path / "snap.csv"))
    pd.testing.assert_frame_equal(back.drop(columns="snapshot_date"),
                                  built.drop(columns="snapshot_date"), check_dtype=False)


def test_parquet_tables_give_the_same_table(tmp_path, built):
    folder = tiny_book.write(tmp_path / "pq", tiny_book.frames(), fmt="parquet")
    again = build_snapshots(folder, "lifecycle", start="2023-02-01")
    pd.testing.assert_frame_equal(again, built)


def test_an_analyst_adds_a_metric_by_adding_an_entry(tmp_path):
    folder = tiny_book.write(tmp_path / "t", tiny_book.frames())
    (tmp_path / "mine.yaml").write_text(
        "params: {event_goal_30d: 5}\n"
        "metrics:\n"
        "  email_touches_90d:\n"
        "    from: touches\n"
        "    where: kind = 'email'\n"
        "    window: 90\n"
        "    aggregates: {n: COUNT(*)}\n", encoding="utf-8")
    config = load_config("lifecycle").to_dict()
    comp = config["stages"]["maturity"]["components"]["customer_engagement"]["metrics"]
    comp["email_touches_90d"] = {"weight": 0.0, "direction": "higher_is_better",
                                 "transform": {"kind": "linear", "lo": 0, "hi": 3}}
    from hscore.config import config_from_dict

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = build_snapshots(folder, config_from_dict(config), start="2024-03-01",
                                definitions=tmp_path / "mine.yaml")
    row = _row(frame, "A", tiny_book.SNAPSHOT)
    assert row["email_touches_90d"] == 1                     # the email of Feb 10
    # the param override reaches the shipped metric: u1 (5 events) and u2 (21) hit 5
    assert row["seats_hitting_event_goal_share"] == pytest.approx(2 / 4)


def test_importing_the_builder_does_not_import_duckdb():
    import subprocess
    import sys

    code = ("import sys, hscore, hscore.build; hscore.build_snapshots; "
            "print('duckdb' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def _plan_sql(plan) -> dict[str, str]:
    """Every statement the plan gives an engine, by a name for the failure message; the
    empty-window values are floats, as DuckDB returns for SUM/AVG of doubles."""
    sql = {f"step {name}": text for name, text, _ in plan.steps}
    sql.update({f"empty {g.table}": text for g, text in plan.empty_queries()})
    empties = {g.table: {c: 0.0 for _, _, c in plan._agg_columns(g)} for g in plan.groups}
    views = {}
    for g, text in plan.metric_values(empties):
        sql[f"values {g.table}"] = text
        views[g.table] = f"values_{g.table}"
    sql["final"] = plan.final(views)
    return sql


def test_the_plan_divides_in_double_precision_in_every_engine():
    # Spark SQL reads 30.0 as DECIMAL and rounds its divisions to 6 places (stickiness
    # 0.033333 there, 0.0333333 in DuckDB): a number with a fraction must carry an exponent.
    from hscore.build.definitions import Plan, decimal_literals

    assert decimal_literals("a / 30.0 + b / .5 + c * 1E0 + v0.x - 2.5E-3 + '7.5'") == [
        "30.0", ".5"]
    defs = load_definitions()
    for name, text in _plan_sql(Plan(defs, list(defs.metrics))).items():
        assert decimal_literals(text) == [], (name, text)


def test_a_definition_with_a_decimal_literal_is_refused(tmp_path):
    from hscore.build import DefinitionError

    extra = tmp_path / "mine.yaml"
    extra.write_text("metrics:\n  touches_per_week:\n    from: touches\n    window: 28\n"
                     "    aggregates: {n: COUNT(*)}\n    value: n / 4.0\n", encoding="utf-8")
    with pytest.raises(DefinitionError, match=r"metrics\.touches_per_week\.value: 4\.0: .*4\.0E0"):
        load_definitions(extra)
    extra.write_text(extra.read_text().replace("4.0", "4E0"), encoding="utf-8")
    assert load_definitions(extra).metrics["touches_per_week"].value == "n / 4E0"


def test_a_metric_defined_twice_in_one_file_is_refused(tmp_path):
    # Read as configs are (the one safe loader): YAML would silently keep the second entry.
    from hscore.build import DefinitionError

    entry = ("  touches_28d:\n    from: touches\n    window: 28\n"
             "    aggregates: {n: COUNT(*)}\n")
    extra = tmp_path / "mine.yaml"
    extra.write_text("metrics:\n" + entry + entry.replace("window: 28", "window: 14"),
                     encoding="utf-8")
    with pytest.raises(DefinitionError, match=r"line 6\): duplicate key 'touches_28d'"):
        load_definitions(extra)
    extra.write_bytes("metrics: {}\n# caf\u00e9\n".encode("latin-1"))
    with pytest.raises(DefinitionError, match="not UTF-8"):
        load_definitions(extra)

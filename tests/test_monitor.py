"""Drift monitoring: PSI against hand-computed values and known synthetic shifts, the
`hscore monitor` command end to end, and the drift lines of a promotion (real store)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from hscore import synth
from hscore.cli import main
from hscore.errors import DataError, HScoreError, MissingColumnError
from hscore.monitoring import (EPSILON, SCORE, ReferenceBins, monitor, population_stability,
                               psi_flag)
from hscore.monitoring.psi import chance_level
from hscore.scoring.scorer import HealthScorer
from hscore.scoring.snapshots import write_frame


@pytest.fixture(scope="module")
def frame():
    return synth.make_history(n_accounts=200, months=6, seed=5).frame


def _psi_of(result, stage: str, metric: str) -> float:
    table = result.table
    return float(table.loc[(table["stage"] == stage) & (table["metric"] == metric), "psi"]
                 .item())


# ---------------------------------------------------------------- PSI on arrays
def test_psi_matches_the_hand_computed_value():
    reference = [10, 20, 30, 40, 50, 60, 70, 80]
    current = [10, 20, 30, 35, 40, 50, 70, np.nan]
    # Quartiles of the reference (numpy's linear rule): 27.5, 45, 62.5, so the bins are
    # (-inf, 27.5] (27.5, 45] (45, 62.5] (62.5, inf) and missing.
    # reference shares: 2/8 2/8 2/8 2/8 0      current shares: 2/8 3/8 1/8 1/8 1/8
    # The empty reference missing bin counts as EPSILON = 1e-4.
    r = [0.25, 0.25, 0.25, 0.25, 1e-4]
    c = [0.25, 0.375, 0.125, 0.125, 0.125]
    by_hand = ((0.25 - 0.25) * math.log(0.25 / 0.25)          # 0
               + (0.375 - 0.25) * math.log(0.375 / 0.25)     # 0.125 * ln 1.5 = 0.0507
               + (0.125 - 0.25) * math.log(0.125 / 0.25)     # 0.125 * ln 2   = 0.0866
               + (0.125 - 0.25) * math.log(0.125 / 0.25)     # 0.0866
               + (0.125 - 1e-4) * math.log(0.125 / 1e-4))    # 0.1249 * ln 1250 = 0.8906
    assert by_hand == pytest.approx(sum((ci - ri) * math.log(ci / ri) for ri, ci in zip(r, c)))
    assert EPSILON == 1e-4
    assert population_stability(reference, current, bins=4) == pytest.approx(by_hand, rel=1e-12)
    assert psi_flag(by_hand) == "major shift"


def test_identical_arrays_give_zero_and_flags_follow_the_thresholds():
    x = np.r_[np.linspace(0, 100, 50), [np.nan] * 5, [100.0] * 20]
    assert population_stability(x, x) == 0.0
    assert population_stability(x, x[::-1]) == 0.0          # order does not matter
    assert [psi_flag(v) for v in (0.0999, 0.1, 0.2499, 0.25)] == [
        "stable", "moderate shift", "moderate shift", "major shift"]


def test_point_masses_get_their_own_bin_instead_of_collapsing_the_deciles():
    # 40% of the values at 100 (a clipped sub-score): deciles 7, 8 and 9 would all be 100.
    reference = np.r_[[100.0] * 40, np.linspace(1, 99, 60)]
    bins = ReferenceBins.fit(reference, 10)
    assert bins.labels()[-2:] == ["= 100", "missing"]
    np.testing.assert_allclose(bins.shares(reference), [0.06] * 10 + [0.4, 0.0])
    # Those accounts drop from 100 to 95: the point mass empties into the last interval.
    moved = np.where(reference == 100, 95.0, reference)
    last = 0.06 + 0.4                     # the interval (last cut, inf) gets the 40 rows
    by_hand = (last - 0.06) * math.log(last / 0.06) + (EPSILON - 0.4) * math.log(EPSILON / 0.4)
    assert population_stability(reference, moved) == pytest.approx(by_hand, rel=1e-12)


def test_psi_by_chance_is_what_two_samples_of_one_distribution_reach():
    # Sub-score-like values: clipped to 0-100, 16% of them at 100 (a point-mass bin).
    rng = np.random.default_rng(7)
    draw = lambda n: np.clip(rng.normal(60, 40, n), 0, 100)          # noqa: E731
    assert "= 100" in ReferenceBins.fit(draw(300)).labels()
    n_ref, n_cur = 300, 150
    psis, levels = [], []
    for _ in range(200):
        ref, cur = draw(n_ref), draw(n_cur)
        psis.append(population_stability(ref, cur))
        levels.append(chance_level(ReferenceBins.fit(ref).shares(ref), n_ref, n_cur))
    assert np.mean(psis) == pytest.approx(np.mean(levels), rel=0.15)


def test_bad_arrays_and_bins_are_clear_errors():
    with pytest.raises(HScoreError, match="bins: must be a whole number >= 2"):
        population_stability([1, 2], [1, 2], bins=1)
    with pytest.raises(HScoreError, match=r"values: 1 infinite values \(first at positions 0\)"):
        population_stability([1.0, 2.0], [np.inf, 1.0])


# ---------------------------------------------------------------- monitor on frames
def test_identical_windows_give_zero_everywhere(frame):
    result = monitor("lifecycle", frame, frame)
    assert (result.table["psi"] == 0).all()
    assert set(result.table["flag"]) == {"stable"}
    config = HealthScorer("lifecycle").config
    stages = [s for s in config.stages if (frame["stage"] == s).any()]
    expected = [(s, m) for s in stages
                for m in [SCORE] + config.stages[s].metric_names]
    assert list(zip(result.table["stage"], result.table["metric"])) == expected


def test_a_shifted_metric_is_flagged_and_nothing_else_moves(frame):
    current = frame.copy()
    current["csat"] = (current["csat"] - 1.5).clip(lower=1)       # csat: 1-5, one and a half down
    result = monitor("lifecycle", frame, current)
    table = result.table.set_index(["stage", "metric"])
    for stage in ("maturity", "renewal"):                          # the stages that use csat
        assert table.loc[(stage, "csat"), "flag"] == "major shift"
        assert table.loc[(stage, "csat"), "current_mean"] < table.loc[(stage, "csat"),
                                                                      "reference_mean"]
        assert table.loc[(stage, SCORE), "psi"] > 0
    others = table.drop(index=[("maturity", "csat"), ("renewal", "csat"),
                               ("maturity", SCORE), ("renewal", SCORE)])
    assert (others["psi"] == 0).all()
    assert {(r.stage, r.metric) for r in result.shifted.itertuples()} >= {
        ("maturity", "csat"), ("renewal", "csat")}
    # The score PSI is the PSI of what HealthScorer.score gives, stage by stage.
    ref, cur = (HealthScorer("lifecycle").score(f) for f in (frame, current))
    for stage in ("maturity", "renewal"):
        want = population_stability(ref.loc[ref["stage"] == stage, "score"],
                                    cur.loc[cur["stage"] == stage, "score"])
        assert table.loc[(stage, SCORE), "psi"] == pytest.approx(want, rel=1e-12)


def test_a_rise_in_missing_values_is_drift(frame):
    # The current window: every row twice, the copy without csat. Its measured csat values are
    # exactly the reference's, so each measured bin holds half its reference share and the
    # missing bin (1 + m0) / 2, with m0 the reference's missing share:
    # PSI = (1 - m0)/2 * ln 2 + ((1 + m0)/2 - m0) * ln((1 + m0) / (2 m0)).
    copy = frame.assign(account_id=frame["account_id"] + "-copy", csat=np.nan)
    current = pd.concat([frame, copy], ignore_index=True)
    result = monitor("lifecycle", frame, current)
    rows = frame[frame["stage"] == "maturity"]
    m0 = rows["csat"].isna().mean()
    assert 0 < m0 < 0.2
    by_hand = (1 - m0) / 2 * math.log(2) + ((1 + m0) / 2 - m0) * math.log((1 + m0) / (2 * m0))
    assert _psi_of(result, "maturity", "csat") == pytest.approx(by_hand, rel=1e-12)
    row = result.table[(result.table["stage"] == "maturity")
                       & (result.table["metric"] == "csat")].iloc[0]
    assert row["current_missing"] == pytest.approx((1 + m0) / 2)
    assert row["flag"] == "major shift"
    assert _psi_of(result, "maturity", "stickiness") == 0     # measured the same, as often


def test_a_stage_in_one_window_only_and_small_windows_are_said(frame):
    reference = frame[frame["stage"] != "onboarding"]
    result = monitor("lifecycle", reference, frame[frame["snapshot_date"]
                                                   == frame["snapshot_date"].max()])
    onboarding = result.table[result.table["stage"] == "onboarding"]
    assert onboarding["psi"].isna().all() and set(onboarding["flag"]) == {"n/a"}
    assert (onboarding["reference_rows"] == 0).all()
    text = str(result)
    assert "warning: stage onboarding: no rows in the reference window, so no PSI" in text
    assert "by chance alone" in text                        # one month of 200 accounts
    assert result.summary() is not result.table and "<table" in result._repr_html_()


def test_both_windows_must_carry_the_metrics_and_errors_name_the_window(frame):
    reference = frame[frame["stage"] == "onboarding"].drop(columns=["stickiness"])
    n = int((frame["stage"] == "maturity").sum())
    with pytest.raises(MissingColumnError, match=rf"column 'stickiness': metric column is "
                       rf"missing from the reference window, but the current window has {n} "
                       r"rows of stage maturity"):
        monitor("lifecycle", reference, frame)
    bad = frame.copy()
    at = np.flatnonzero(bad["csat"].notna().to_numpy())[:2]
    bad.loc[bad.index[at], "csat"] = 9.0
    with pytest.raises(DataError, match=r"^current window: column 'csat': .*\(2 rows"):
        monitor("lifecycle", frame, bad)
    with pytest.raises(HScoreError, match="bins"):
        monitor("lifecycle", frame, frame, bins=0)


# ---------------------------------------------------------------- the command
@pytest.fixture
def windows(frame, tmp_path):
    dates = frame["snapshot_date"]
    cut = sorted(dates.unique())[3]
    ref, cur = frame[dates < cut], frame[dates >= cut]
    return (write_frame(ref, tmp_path / "reference.csv"),
            write_frame(cur, tmp_path / "current.csv"), ref, cur)


def test_monitor_command_prints_writes_the_table_and_draws(windows, tmp_path, capsys):
    ref_path, cur_path, ref, cur = windows
    out, plots = tmp_path / "psi.csv", tmp_path / "plots"
    code = main(["monitor", "--config", "lifecycle", "--reference", str(ref_path),
                 "--current", str(cur_path), "--out", str(out), "--plots", str(plots),
                 "--quiet"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert printed.out.startswith("population stability (PSI) of sub-scores and scores per "
                                  f"stage: reference {ref_path} ({len(ref)} rows")
    assert "psi_by_chance" in printed.out and "flags: PSI < 0.1 stable" in printed.out
    written = pd.read_csv(out)
    expected = monitor("lifecycle", ref, cur).summary()
    pd.testing.assert_frame_equal(written, expected, check_dtype=False)
    for name in ("psi", "score_shift"):
        assert (plots / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("case", ["out_is_input", "missing_column", "bad_bins"])
def test_monitor_command_bad_input_is_one_error_line(windows, tmp_path, capsys, case):
    ref_path, cur_path, ref, cur = windows
    args = ["monitor", "--config", "lifecycle", "--reference", str(ref_path),
            "--current", str(cur_path), "--quiet"]
    if case == "out_is_input":
        args += ["--out", str(cur_path)]
        words = ["--out", "is --current", "destroy the input"]
    elif case == "missing_column":
        write_frame(cur.drop(columns=["csat"]), cur_path)
        words = [f"error: current {cur_path}: column 'csat'", "missing"]
    else:
        args += ["--bins", "1"]
        words = ["--bins", "must be a whole number >= 2"]
    before = cur_path.read_bytes()
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert all(w in err[0] for w in words), err[0]
    assert cur_path.read_bytes() == before


# ---------------------------------------------------------------- promote shows it
def test_promote_shows_psi_from_the_champion_training_window(registered_store, book):
    from hscore.mlops.comparison import comparison_window
    from hscore.mlops.promotion import promote
    from hscore.mlops.registry import resolve_version, version_config

    first = promote(1, n_bootstrap=0)                 # no champion: v1's own training window
    cfg = version_config(resolve_version(1))
    train = cfg.provenance.data_window.train
    dates = book.frame["snapshot_date"]
    reference = book.frame[(dates >= train[0]) & (dates <= train[1])]
    window = comparison_window(resolve_version(1), cfg)[0]
    expected = monitor(cfg, reference, window).table
    scores = expected[expected["metric"] == SCORE]
    lines = [n for n in first.notes if n.startswith(("drift", "  score:"))]
    assert lines[0].startswith(f"drift (PSI; 0.1 moderate shift, 0.25 major shift) from v1's "
                               f"training window ({train[0]}..{train[1]}, {len(reference)} "
                               f"rows of {book.path}) to this window, v1's config:")
    assert lines[1] == "  score: " + ", ".join(f"{r.stage} {r.psi:.3f} {r.flag}"
                                                 for r in scores.itertuples())
    assert "drift (PSI" in str(first)
    # Next promotion: the reference is the champion's (v1) training window again.
    second = promote(2, tolerance=1.0, n_bootstrap=0)
    assert any(n.startswith("drift (PSI") and "from v1's training window" in n
               for n in second.notes)


def test_promote_without_the_training_rows_says_so_and_still_decides(registered_store, book):
    from hscore.mlops.promotion import promote
    from hscore.mlops.registry import resolve_version, version_config

    train = version_config(resolve_version(1)).provenance.data_window.train
    later = book.frame[book.frame["snapshot_date"] > train[1]]       # no training-window row
    result = promote(1, snapshots=later, n_bootstrap=0)
    assert result.decision == "first champion"
    assert any(n.startswith("drift: not shown for v1: (frame) has no snapshot in the "
                            "training window") for n in result.notes), result.notes


def test_monitoring_stays_light():
    """A production job can monitor the file it scores: no mlflow, statsmodels, sklearn,
    matplotlib, scipy, duckdb or pyspark (checked in a fresh interpreter)."""
    from test_light_import import _loaded_heavy

    assert _loaded_heavy("""
        import numpy as np
        from hscore.monitoring import monitor, population_stability
        population_stability(np.arange(20.0), np.arange(20.0) + 3)
    """) == []


def test_the_readme_monitor_example_shows_the_real_output(tmp_path, monkeypatch, capsys):
    """The README's example (the sample's first nine months against its latest six): every
    line it shows, except the elisions, is what the command prints."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    text = (root / "README.md").read_text("utf-8")
    shown = re.search(r"```\n(population stability \(PSI\).*?)```", text, flags=re.S).group(1)
    lines = text.splitlines()
    sample = (root / "data" / "sample_snapshots.csv").read_text("utf-8").splitlines()
    for name, pattern in (("reference.csv", r",2024-0[1-9]-01,"),
                          ("current.csv", r",2025-0[1-6]-01,")):
        assert any(pattern in line and name in line for line in lines), name
        keep = [sample[0]] + [row for row in sample[1:] if re.search(pattern, row)]
        (tmp_path / name).write_text("\n".join(keep) + "\n", "utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["monitor", "--config", "lifecycle", "--reference", "reference.csv",
                 "--current", "current.csv", "--out", "psi.csv", "--plots", "plots",
                 "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    for line in shown.splitlines():
        if line.strip() and not line.startswith("..."):
            assert line in out, line

"""Segment weights: config checks with paths, hand-computed scores, the data rules, partial
pooling against a known synthetic truth, compare(segment=), and the MLflow round trip."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import pytest

from hscore import HealthScorer, calibrate, compare, synth
from hscore.calibration.cell import CalibrationWarning
from hscore.config import config_from_dict, dump_config, load_config, normalize_weights
from hscore.errors import ConfigError, DataError
from hscore.scoring.segments import SegmentWarning
from cli_probe import one_error, run

NAN = np.nan


def _lin(weight, direction="higher_is_better"):
    return {"weight": weight, "direction": direction,
            "transform": {"kind": "linear", "lo": 0, "hi": 10}}


def _data() -> dict:
    """maturity: usage 60% (a, b equal), voice 40% (c); enterprise: usage 20% (a only),
    voice 80%, its own probability. renewal: a alone, no segments."""
    return {
        "schema_version": 1, "name": "seg", "min_coverage": 0.25,
        "stages": {
            "maturity": {
                "components": {"usage": {"weight": 0.6, "metrics": {"a": _lin(0.5),
                                                                    "b": _lin(0.5)}},
                               "voice": {"weight": 0.4, "metrics": {"c": _lin(1.0)}}},
                "probability": {"intercept": 2.0, "slope": -0.04},
                "segments": {"enterprise": {
                    "components": {"usage": {"weight": 0.2, "metrics": {"a": {"weight": 1.0},
                                                                        "b": {"weight": 0.0}}},
                                   "voice": {"weight": 0.8, "metrics": {"c": {"weight": 1.0}}}},
                    "probability": {"intercept": 1.0, "slope": -0.05}}}},
            "renewal": {"components": {"usage": {"weight": 1.0, "metrics": {"a": _lin(1.0)}}}},
        },
    }


def _frame(**over) -> pd.DataFrame:
    frame = pd.DataFrame({
        "account_id": ["e1", "s1", "r1", "n1", "e2"],
        "snapshot_date": "2025-01-01",
        "stage": ["maturity", "maturity", "renewal", "maturity", "maturity"],
        "segment": ["enterprise", "smb", "enterprise", None, "enterprise"],
        "a": [10.0, 10.0, 5.0, 2.0, NAN],
        "b": [0.0, 0.0, 0.0, 4.0, 8.0],
        "c": [5.0, 5.0, 0.0, 10.0, 5.0]})
    return frame.assign(**over)


# ------------------------------------------------------------------ config
def _problems(data) -> str:
    with pytest.raises(ConfigError) as err:
        config_from_dict(data)
    return str(err.value)


def test_a_segment_with_other_metrics_than_its_stage_is_named_by_path():
    data = _data()
    comps = data["stages"]["maturity"]["segments"]["enterprise"]["components"]
    del comps["usage"]["metrics"]["b"]
    comps["usage"]["metrics"]["z"] = {"weight": 0.0}
    text = _problems(data)
    assert "stages.maturity.segments.enterprise.components.usage.metrics:" in text
    assert "missing b" in text and "not in the stage: z" in text


def test_a_segment_with_other_components_than_its_stage_is_named_by_path():
    data = _data()
    del data["stages"]["maturity"]["segments"]["enterprise"]["components"]["voice"]
    text = _problems(data)
    assert "stages.maturity.segments.enterprise.components: " in text and "missing voice" in text


def test_segment_weights_that_do_not_sum_to_one_are_named_by_path():
    data = _data()
    seg = data["stages"]["maturity"]["segments"]["enterprise"]["components"]
    seg["voice"]["weight"] = 0.5                       # 0.2 + 0.5
    seg["usage"]["metrics"]["b"]["weight"] = 0.3       # 1.0 + 0.3
    text = _problems(data)
    assert ("stages.maturity.segments.enterprise.components: weights in this "
            "segment sum to 0.7, not 1 (usage 0.2, voice 0.5)") in text
    assert ("stages.maturity.segments.enterprise.components.usage.metrics: weights "
            "in this component sum to 1.3, not 1 (a 1, b 0.3)") in text


def test_a_segment_may_not_set_a_transform_and_its_name_may_not_hold_the_separator():
    data = _data()
    seg = data["stages"]["maturity"]["segments"]
    seg["ent/big"] = copy.deepcopy(seg["enterprise"])
    assert "stages.maturity.segments.ent/big: a segment name must be" in _problems(data)
    seg["enterprise"]["components"]["voice"]["metrics"]["c"]["direction"] = "lower_is_better"
    assert ("segments.enterprise.components.voice.metrics.c.direction: unknown field"
            in _problems(data))


def test_segments_survive_a_yaml_round_trip_and_normalization():
    cfg = config_from_dict(_data())
    assert config_from_dict(__import__("yaml").safe_load(dump_config(cfg))) == cfg
    pct = _data()
    seg = pct["stages"]["maturity"]["segments"]["enterprise"]["components"]
    seg["usage"]["weight"], seg["voice"]["weight"] = 20, 80
    assert normalize_weights(pct) == cfg
    assert [c.key for c in cfg.cells()] == ["maturity", "maturity/enterprise", "renewal"]


# ------------------------------------------------------------------ scoring
def test_rows_use_their_segments_weights_hand_computed():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SegmentWarning)
        out = HealthScorer(config_from_dict(_data())).score(_frame(), trend=False)
    # Sub-scores are 10 x the value. e1 (enterprise): 0.2 x 100 + 0.8 x 50 = 60.
    # s1 (smb, not declared): stage weights 0.6 x (100 + 0) / 2 + 0.4 x 50 = 50.
    # r1 (renewal has no segments): a = 50. n1 (no segment): 0.6 x (20 + 40) / 2 + 0.4 x 100 = 58.
    # e2 (enterprise, a missing): reweight moves usage's weight to b (its weight is 0 there,
    # so usage has nothing measured) and then to voice: 50.
    assert out["score"].tolist() == pytest.approx([60.0, 50.0, 50.0, 58.0, 50.0], abs=1e-12)
    assert out["segment_used"].tolist() == ["enterprise", None, None, None, "enterprise"]
    assert out["contribution_a"].tolist()[:2] == pytest.approx([20.0, 30.0])
    assert out["contribution_c"].tolist()[:2] == pytest.approx([40.0, 20.0])
    # The segment's own probability mapping; the stage's for the stage's rows.
    p = out["churn_probability"].to_numpy()
    assert p[0] == pytest.approx(1 / (1 + np.exp(-(1.0 - 0.05 * 60))))
    assert p[1] == pytest.approx(1 / (1 + np.exp(-(2.0 - 0.04 * 50))))
    assert np.isnan(p[2])                      # renewal has no mapping


def test_a_segment_without_a_probability_uses_its_stages():
    data = _data()
    del data["stages"]["maturity"]["segments"]["enterprise"]["probability"]
    out = HealthScorer(config_from_dict(data)).score(_frame().iloc[[0]], trend=False)
    assert out["churn_probability"].iloc[0] == pytest.approx(1 / (1 + np.exp(-(2.0 - 0.04 * 60))))


def test_a_segment_no_stage_declares_gets_the_stage_weights_and_a_warning_with_counts():
    frame = _frame(segment=["Enterprise", "smb", "smb", "smb", "enterprise"])
    with pytest.warns(SegmentWarning) as caught:
        out = HealthScorer(config_from_dict(_data())).score(frame)
    text = str(caught[0].message)
    # r1 is in renewal, which has no segments: not counted.
    assert "3 rows of stages with segment weights" in text
    assert "'smb' (2 rows)" in text and "'Enterprise' (1 rows)" in text
    assert out["segment_used"].tolist() == [None, None, None, None, "enterprise"]


def test_segments_declared_but_no_segment_column_is_an_error_with_the_count():
    with pytest.raises(DataError) as err:
        HealthScorer(config_from_dict(_data())).score(_frame().drop(columns="segment"))
    assert err.value.column == "segment"
    assert err.value.n_rows == 4                  # the maturity rows; renewal needs none
    assert "segment weights for stage maturity" in str(err.value)


def test_a_segment_that_is_not_text_is_refused():
    with pytest.raises(DataError) as err:
        HealthScorer(config_from_dict(_data())).score(_frame(segment=[1, 1, 2, None, 1]))
    assert err.value.column == "segment" and err.value.n_rows == 4


def test_segment_scores_do_not_depend_on_the_row_order():
    cfg = config_from_dict(_data())
    frame = _frame(segment=["enterprise", None, "enterprise", None, "enterprise"])
    forward = HealthScorer(cfg).score(frame)
    backward = HealthScorer(cfg).score(frame.iloc[::-1].reset_index(drop=True))
    pd.testing.assert_frame_equal(forward, backward.iloc[::-1].reset_index(drop=True))


# ------------------------------------------------------------------ calibration
@pytest.fixture(scope="module")
def differing():
    """Enterprise churns on the relationship, smb on usage (synth.SEGMENT_TRUE_WEIGHTS)."""
    book = synth.make_segmented_book(n_accounts=2000, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return book, calibrate(book.frame, book.segmented_config, n_bootstrap=20,
                               strengths=STRENGTHS)


#: Fewer strengths than the default grid, for speed; from complete pooling to none.
STRENGTHS = (np.inf, 1.0, 0.1, 0.01, 1e-3, 1e-4, 0.0)


def _weights(result, key) -> pd.Series:
    s = result.summary()
    return s[s["stage"] == key].set_index("metric")["weight"]


def test_segment_weights_recover_each_segments_truth(differing):
    book, result = differing
    pooled = _weights(result, "all")
    for key, truth in book.true_weights.items():
        truth = pd.Series(truth)
        own = _weights(result, key)[truth.index]
        assert result.fits[key].status.value == "calibrated"
        assert (own - truth).abs().max() < 0.07, key
        # The pooled fit is far from both truths: the segments really differ.
        assert (pooled[truth.index] - truth).abs().max() > 0.15, key


def test_segments_have_bootstrap_cis_and_are_written_under_their_stage(differing):
    book, result = differing
    s = result.summary()
    seg = s[s["stage"].str.contains("/")]
    assert len(seg) == 12 and seg[["ci_low", "ci_high"]].notna().all().all()
    assert ((seg["ci_low"] <= seg["weight"] + 1e-12) & (seg["weight"] <= seg["ci_high"] + 1e-12)).all()
    written = result.config.stages["all"].segments["enterprise"]
    fit = result.fits["all/enterprise"]
    assert written.components["relationship"].weight == pytest.approx(
        fit.component_weights[fit.layout.components.index("relationship")])
    assert written.probability.slope == pytest.approx(fit.exported.probability[1])
    # Each holdout row counted once in the book-wide rows ("book": the stage is named "all").
    q = result.quality.set_index(["stage", "model"])
    assert q.loc[("book", "calibrated"), "rows"] == q.loc[("all", "calibrated"), "rows"]
    assert ("book", "input") not in q.index


def test_infinite_pooling_returns_the_stages_weights_exactly():
    book = synth.make_segmented_book(n_accounts=600, seed=4)
    frame = book.frame.copy()
    frame.loc[[0, 1, 700], "churned"] = NAN         # two enterprise rows, one smb row
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = calibrate(frame, book.segmented_config, strengths=[0.01], n_bootstrap=0,
                           holdout="none")
    # Left-out rows are counted once, with their stage, not again in their segment.
    assert result.n_censored == 3
    assert result.config.provenance.left_out.censored == 3
    assert result.fits["all/enterprise"].counts.n_censored == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        centre = result.fits["all"].exported.weights
        pooled = calibrate(book.frame, book.segmented_config, strengths=[np.inf],
                           n_bootstrap=0, holdout="none")
    # strength 0.01 moves a segment away from its stage; inf keeps it there, bit for bit.
    assert not np.array_equal(result.fits["all/smb"].exported.weights, centre)
    for key in ("all/enterprise", "all/smb"):
        assert np.array_equal(pooled.fits[key].exported.weights,
                              pooled.fits["all"].exported.weights)


def test_a_thin_segment_stays_at_the_stage_weights_with_a_warning():
    book = synth.make_segmented_book(n_accounts=1500, seed=5)
    frame = book.frame
    ent = frame.index[(frame["segment"] == "enterprise")]
    frame = frame.drop(ent[60:])                       # 60 enterprise accounts: few events
    with pytest.warns(CalibrationWarning, match=r"cell 'all/enterprise': only \d+ churn events"
                                                r".*kept the stage's weights"):
        result = calibrate(frame, book.segmented_config, n_bootstrap=0, holdout="none")
    fit = result.fits["all/enterprise"]
    assert fit.status.value == "thin_data"
    stage = result.config.stages["all"]
    written = stage.with_segment("enterprise")
    assert written.metric_weights() == pytest.approx(stage.metric_weights(), abs=1e-12)
    assert stage.segments["enterprise"].probability is None      # the stage's mapping


def test_segments_that_do_not_differ_do_no_harm_on_the_holdout():
    book = synth.make_segmented_book(n_accounts=2500, seed=6, differ=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seg = calibrate(book.frame, book.segmented_config, n_bootstrap=0, strengths=STRENGTHS)
        pooled = calibrate(book.frame, book.config, n_bootstrap=0, strengths=STRENGTHS)
    ll_seg = seg.quality.set_index(["stage", "model"]).loc[("book", "calibrated"), "log_loss"]
    ll_pooled = pooled.quality.set_index(["stage", "model"]).loc[("all", "calibrated"),
                                                                 "log_loss"]
    assert ll_seg <= ll_pooled + 0.002


# ------------------------------------------------------------------ compare
def test_compare_in_a_segment_finds_what_drives_it_and_uses_its_rows_only():
    book = synth.make_segmented_book(n_accounts=1200, seed=7)
    verdicts = {}
    for seg in ("enterprise", "smb"):
        r = compare(book.frame, book.segmented_config, "all", "usage", "relationship",
                    segment=seg, n_bootstrap=100)
        assert r.n_rows == 1200 and r.segment == seg
        verdicts[seg] = r.verdict
    assert verdicts["enterprise"].startswith("In stage 'all', segment 'enterprise', "
                                             "relationship is more predictive")
    assert verdicts["smb"].startswith("In stage 'all', segment 'smb', usage is more predictive")
    with pytest.raises(DataError, match="no rows of stage 'all' have segment 'mid'"):
        compare(book.frame, book.segmented_config, "all", "usage", "relationship",
                segment="mid")


def test_cli_compare_takes_a_segment_and_names_a_missing_segment_column(tmp_path, capsys):
    book = synth.make_segmented_book(n_accounts=400, seed=8)
    snaps, cfg = tmp_path / "book.csv", tmp_path / "seg.yaml"
    book.frame.to_csv(snaps, index=False)
    cfg.write_text(dump_config(book.segmented_config))
    args = ["compare", "--snapshots", snaps, "--config", cfg, "--stage", "all",
            "--bootstrap", "50", "--quiet", "usage", "relationship"]
    rc, out, err = run(capsys, *args, "--segment", "smb")
    assert rc == 0, err
    assert "segment 'smb', usage is more predictive" in out
    flat = tmp_path / "flat.csv"
    book.frame.drop(columns="segment").to_csv(flat, index=False)
    args[2] = flat
    one_error(capsys, *args, "--segment", "smb", fragments=("segment", "800 rows"))


# ------------------------------------------------------------------ tracking and export
def test_segment_weights_are_tracked_and_the_export_scores_exactly_like_the_pyfunc(
        initialized_store, tmp_path):
    import mlflow

    from hscore.mlops.export import export_config
    from hscore.mlops.model import pyfunc_output
    from hscore.mlops.tracking import log_calibration

    book = synth.make_segmented_book(n_accounts=600, seed=9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = calibrate(book.frame, book.segmented_config, strengths=[0.01],
                           n_bootstrap=0, holdout="accounts")
        info = log_calibration(result, frame=book.frame)
    run = mlflow.get_run(info.run_id)
    assert run.data.params["strength.all/enterprise"] == "0.01"
    assert run.data.params["status.all/smb"] == "calibrated"
    assert "all/smb.auc_calibrated" in run.data.metrics
    out = export_config(info.model_uri, tmp_path / "prod.yaml")
    exported = load_config(out)
    assert exported.stages == result.config.stages               # segments included
    # Rows of both segments and rows without one (the stage's weights).
    frame = book.frame.iloc[::7].copy()
    frame["snapshot_date"] = frame["snapshot_date"].dt.strftime("%Y-%m-%d")   # as a CSV has it
    frame.loc[frame.index[:5], "segment"] = None
    predicted = mlflow.pyfunc.load_model(info.model_uri).predict(frame).reset_index(drop=True)
    scored = pyfunc_output(HealthScorer(exported).score(frame))
    assert set(scored["segment_used"].dropna()) == {"enterprise", "smb"}
    assert scored["segment_used"].isna().sum() == 5
    pd.testing.assert_frame_equal(predicted, scored, check_exact=True)


def test_version_comparison_keeps_a_stage_named_all_apart_from_the_pooled_rows():
    from hscore.mlops.comparison import compare_versions

    book = synth.make_segmented_book(n_accounts=300, seed=10)
    window = book.frame.copy()
    window.loc[window.index[:50], "segment"] = None          # scored with the stage's weights
    table = compare_versions({"seg": book.segmented_config, "flat": book.config}, window,
                             n_bootstrap=0).set_index("stage")
    assert list(table.index) == ["all", "all/enterprise", "all/smb", "book"]
    assert table.loc["all", "rows"] == 50
    assert table.loc["book", "rows"] == 600 == table.loc[["all", "all/enterprise", "all/smb"],
                                                         "rows"].sum()


def test_learned_transforms_on_a_segmented_config_are_learned_once_per_stage():
    """Transforms belong to the stage (segments have only weights): with segments declared,
    `transforms="learn"` chooses each of the stage's metrics once and the segments of the
    calibrated config keep their own weights over the stage's (possibly learned) transforms."""
    book = synth.make_segmented_book(n_accounts=600, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = calibrate(book.frame, book.segmented_config, n_bootstrap=0,
                           strengths=[float("inf")], transforms="learn")
    chosen = [(c.stage, c.metric) for c in result.transforms]
    assert len(chosen) == len(set(chosen))
    assert {m for _, m in chosen} == set(book.segmented_config.metric_names)
    cfg = result.config
    for stage_name, stage in cfg.stages.items():
        assert set(stage.segments) == set(book.segmented_config.stages[stage_name].segments)
    scored = HealthScorer(cfg).score(book.frame)
    assert scored["segment_used"].isin(["enterprise", "smb"]).all()

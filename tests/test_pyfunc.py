"""The registered pyfunc model: typed signature, exact scores, whole-number inputs, reasons.

Reads version 2 (@challenger) of the registered template of conftest.py (a real SQLite
store); the expected values come from ``HealthScorer`` on the same frame and, for the
reasons, from the config's weights directly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hscore.errors import DataError
from hscore.mlops import model
from hscore.scoring.scorer import HealthScorer


@pytest.fixture
def result(calibrations):
    return calibrations["full"]


@pytest.fixture
def loaded(client, registered_template):
    import mlflow

    return mlflow.pyfunc.load_model(f"models:/{model.MODEL_NAME}@challenger")


def test_the_signature_is_typed_and_only_the_ids_are_required(loaded, result):
    schema = loaded.metadata.get_input_schema()
    types = {c.name: c.type.name for c in schema.inputs}
    metrics = result.config.metric_names
    assert set(types) == {"account_id", "snapshot_date", "stage", "segment", "seats", *metrics}
    assert {types[m] for m in metrics} == {"double"}
    assert (types["seats"], types["snapshot_date"]) == ("long", "datetime")
    assert {types[c] for c in ("account_id", "stage", "segment")} == {"string"}
    required = {c.name for c in schema.inputs if c.required}
    assert required == {"account_id", "snapshot_date", "stage", "seats"}
    params = loaded.metadata.get_params_schema()
    assert [(p.name, p.default) for p in params.params] == [(model.TOP_REASONS, 0)]


def test_pyfunc_predictions_are_the_scorer_output(loaded, result, book):
    frame = book.frame
    got = loaded.predict(frame)
    want = model.pyfunc_output(HealthScorer(result.config).score(frame))
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want, check_exact=True)
    assert "reasons" not in got.columns
    # A frame without the label or a metric the stages present do not read still scores.
    no_label = loaded.predict(frame.drop(columns="churned").head(50))
    np.testing.assert_array_equal(no_label["score"].to_numpy(), want["score"].head(50))


def test_whole_number_and_nullable_columns_score_as_the_scorer_scores_them(loaded, result,
                                                                          book):
    """Seats and count metrics often arrive as int64, or as nullable Int64 with gaps: cast by
    model_input, the model scores them exactly as HealthScorer scores the frame as given."""
    from mlflow.exceptions import MlflowException

    frame = book.frame.copy()
    counts = ["champion_logins_30d", "active_days_30d", "events_30d"]
    rounded = frame[counts].round()
    frame[counts] = rounded
    frame["seats"] = frame["seats"].astype("float64")        # whole numbers as floats
    nullable = frame.copy()
    for col in [*counts, "seats"]:
        nullable[col] = frame[col].round().astype("Int64")   # gaps stay <NA>
    assert nullable["events_30d"].isna().any() and frame["events_30d"].isna().any()
    whole = frame.copy()
    whole[counts] = rounded.fillna(0).astype("int64")        # no gaps: plain int64
    whole["seats"] = whole["seats"].astype("int64")
    for variant in (frame, nullable, whole):
        want = model.pyfunc_output(HealthScorer(result.config).score(variant))
        got = loaded.predict(model.model_input(variant, result.config))
        pd.testing.assert_frame_equal(got.reset_index(drop=True), want, check_exact=True)
    # The floats with NaN score the same as the nullable integers with <NA>.
    np.testing.assert_array_equal(
        loaded.predict(model.model_input(frame, result.config))["score"].to_numpy(),
        loaded.predict(model.model_input(nullable, result.config))["score"].to_numpy())
    # Uncast, MLflow's own check refuses an int64 metric and names it.
    with pytest.raises(MlflowException, match="champion_logins_30d"):
        loaded.predict(whole)


def test_model_input_leaves_the_frame_and_what_it_cannot_cast_alone(result):
    frame = pd.DataFrame({"seats": [2.0, 2.5], "events_30d": pd.array([1, None], "Int64"),
                          "note": [1, 2]})
    typed = model.model_input(frame, result.config)
    assert str(frame["events_30d"].dtype) == "Int64"              # the input is not modified
    assert typed["events_30d"].tolist()[0] == 1.0 and np.isnan(typed["events_30d"].iloc[1])
    assert typed["seats"].dtype == "float64"                      # a fraction: left to refuse
    assert typed["note"].dtype == "int64"                         # not a metric: as given
    with pytest.raises(DataError, match="events_30d") as info:
        model.model_input(pd.DataFrame({"events_30d": [2**53 + 1, 3]}), result.config)
    assert info.value.n_rows == 1


def test_text_dates_are_read_by_hscores_rule_before_mlflow_can_guess(loaded, result, book):
    """MLflow parses a text date column itself (pandas' guess: 01/02/2024 is 2 January);
    model_input reads it first by hscore's rule: ISO, or the format given, else an error."""
    frame = book.frame.head(40).copy()
    want = model.pyfunc_output(HealthScorer(result.config).score(frame))
    day_first = frame.assign(snapshot_date=frame["snapshot_date"].dt.strftime("%d/%m/%Y"))
    with pytest.raises(DataError, match="snapshot_date") as info:
        model.model_input(day_first, result.config)
    assert info.value.n_rows == len(frame)
    typed = model.model_input(day_first, result.config, date_format="%d/%m/%Y")
    got = loaded.predict(typed)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want, check_exact=True)
    iso = frame.assign(snapshot_date=frame["snapshot_date"].dt.strftime("%Y-%m-%d"))
    pd.testing.assert_frame_equal(loaded.predict(model.model_input(iso, result.config))
                                  .reset_index(drop=True), want, check_exact=True)


def test_top_reasons_are_the_components_that_cost_the_most_points(loaded, result, book):
    frame = book.frame
    got = loaded.predict(frame, params={model.TOP_REASONS: 2})
    plain = loaded.predict(frame)
    pd.testing.assert_frame_equal(got.drop(columns="reasons"), plain, check_exact=True)
    # By hand from the config: with every component of the stage measured, a component
    # costs its weight share times (100 - its score).
    checked = 0
    for stage, st in result.config.stages.items():
        rows = got[got["stage"] == stage]
        comps = list(st.components)
        level = rows[[f"component_{c}" for c in comps]].to_numpy()
        full = ~np.isnan(level).any(axis=1) & rows["score"].notna().to_numpy()
        share = np.array([c.weight for c in st.components.values()])
        lost = share / share.sum() * (100.0 - level[full])
        for reasons, row_level, row_lost in zip(rows["reasons"][full], level[full], lost):
            worst = [j for j in np.argsort(-row_lost, kind="stable")[:2] if row_lost[j] > 0]
            assert reasons == ", ".join(f"{comps[j]} {row_level[j]:.0f}" for j in worst)
            checked += 1
    assert checked > 500
    assert (got.loc[got["score"].isna(), "reasons"] == "").all()


@pytest.mark.parametrize("top", [-1, 1.5, True])
def test_top_reasons_must_be_a_count(result, book, top):
    from hscore.errors import HScoreError

    scores = HealthScorer(result.config).score(book.frame.head(20))
    with pytest.raises(HScoreError, match="top_reasons"):
        model.reasons(scores, result.config, top)

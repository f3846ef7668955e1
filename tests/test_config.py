"""Config: loading, validation with paths, exact round trip, normalization, shipped defaults.

The expected weights of the shipped defaults are typed here from the seed
documents (the seed line is quoted next to each number), not read from the
YAML under test.
"""

from __future__ import annotations

import copy
import math
import re
import warnings

import pydantic
import pytest
import yaml

import hscore
from hscore.config import (DEFAULTS_DIR, Config, config_from_dict, dump_config, load_config,
                           normalize_weights, save_config, shipped_defaults)
from hscore.errors import ConfigError, HScoreError, HScoreWarning


def _metric(**over):
    spec = {"weight": 1.0, "direction": "higher_is_better",
            "transform": {"kind": "linear", "lo": 0, "hi": 10}}
    spec.update(over)
    return spec


def _small(**over) -> dict:
    """A valid two-component config in plain Python data."""
    data = {
        "schema_version": 1,
        "name": "small",
        "stages": {"all": {"components": {
            "usage": {"weight": 0.6, "metrics": {
                "logins": _metric(weight=0.5),
                "minutes": _metric(weight=0.5, transform={"kind": "log", "lo": 0, "hi": 600}),
            }},
            "sentiment": {"weight": 0.4, "metrics": {
                "nps": _metric(transform={"kind": "linear", "lo": -100, "hi": 100},
                               domain=[-100, 100]),
            }},
        }}},
    }
    data.update(over)
    return data


def _problems(excinfo) -> dict[str, str]:
    return dict(excinfo.value.problems)


# ------------------------------------------------------------------ loading
def test_shipped_defaults_load_by_name_and_through_the_package():
    assert shipped_defaults() == ["categories", "lifecycle"]
    life = hscore.load_config("lifecycle")
    assert isinstance(life, Config)
    assert list(life.stages) == ["onboarding", "adoption", "maturity", "renewal"]
    cats = hscore.load_config("categories")
    assert list(cats.stages) == ["all"] and cats.single_stage


def test_load_from_a_yaml_path_and_from_a_mapping(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(_small()), encoding="utf-8")
    from_file = load_config(path)
    assert from_file == load_config(str(path)) == load_config(_small())
    assert from_file.stages["all"].components["usage"].weight == 0.6
    # a Config passes through unchanged
    assert load_config(from_file) is from_file


def test_unknown_name_or_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such config file") as excinfo:
        load_config(tmp_path / "nope.yaml")
    assert isinstance(excinfo.value, HScoreError)
    with pytest.raises(ConfigError, match="lifecycle"):  # lists the shipped names
        load_config("lifecycel")


# ------------------------------------------------------- shipped defaults
# Seed 000 ("How to Build a Customer Health Score by customer lifecycle stage"),
# component weights per stage, each number typed from the seed line quoted.
SEED_000_COMPONENT_WEIGHTS = {
    "onboarding": {
        "champion_engagement": 0.15,  # "Product Champion Engagement Health Score (15%)"
        "implementation": 0.45,       # "Implementation Health Score (45%)"
        "champion_activity": 0.40,    # "Product Champion Activity Health Score (40%)"
    },
    "adoption": {
        "customer_engagement": 0.25,  # "Customer Engagement Health Score (25%)"
        "product_usage": 0.35,        # "Product Usage Health Score (35%)"
        "user_activity": 0.40,        # "User Activity Health Score (40%)"
    },
    "maturity": {
        "customer_engagement": 0.20,  # "Customer Engagement Health Score (20%)"
        "product_usage": 0.40,        # "Product Usage Health Score (40%)"
        "user_activity": 0.40,        # "User Activity Health Score (40%)"
    },
    "renewal": {
        "customer_engagement": 0.35,  # "Customer Engagement (35%)	Product Usage (35%)	User Activity (30%)"
        "product_usage": 0.35,        # "Product Usage Health Score (35%)"
        "user_activity": 0.30,        # "User Activity Health Score (30%)"
    },
}

# Seed 002 ("Anatomy of a High Performing Health Score"): "If I was going to use all
# eight of these categories in my Health Score today, here is what my category
# weighting matrix would look like:"
SEED_002_CATEGORY_WEIGHTS = {
    "engagement": 0.15,        # "Engagement – 15%"
    "usage": 0.15,             # "Usage – 15%"
    "adoption": 0.15,          # "Adoption – 15%"
    "customer_journey": 0.10,  # "Customer Journey – 10%"
    "invoice_payments": 0.05,  # "Invoice Payments – 5%"
    "relationships": 0.15,     # "Relationships – 15%"
    "sentiment": 0.15,         # "Sentiment – 15%"
    "advocacy": 0.10,          # "Advocacy – 10%"
}

# DESIGN.md, "Suggested metric names" (seed 000 bullet lists).
DESIGN_METRICS = {
    ("onboarding", "champion_engagement"): ["csm_pulse", "champion_csm_touches_30d"],
    ("onboarding", "implementation"): ["setup_checklist_done", "setup_days_vs_plan",
                                       "days_since_champion_csm_touch"],
    ("onboarding", "champion_activity"): ["champion_logins_30d", "champion_minutes_30d"],
    ("adoption", "customer_engagement"): ["days_since_csm_touch", "csm_pulse", "champion_nps",
                                          "week1_active_seat_share"],
    ("adoption", "product_usage"): ["active_days_30d", "key_features_used_share"],
    ("adoption", "user_activity"): ["events_30d", "seats_hitting_event_goal_share"],
    ("maturity", "customer_engagement"): ["csm_pulse", "csm_touches_90d", "qbr_held_180d",
                                          "user_nps", "champion_nps", "csat", "advocacy_score"],
    ("maturity", "product_usage"): ["key_feature_users_share", "feature_adoption_rate"],
    ("maturity", "user_activity"): ["events_30d", "stickiness", "minutes_30d"],
    ("renewal", "customer_engagement"): ["csm_sentiment", "champion_nps", "user_nps", "csat"],
    ("renewal", "product_usage"): ["feature_usage_change_pct", "minutes_change_pct",
                                   "seat_utilization", "inactive_seat_share"],
    ("renewal", "user_activity"): ["integrations_net_change", "stickiness_change_pct"],
}


def test_lifecycle_carries_exactly_the_seed_000_component_weights():
    cfg = load_config("lifecycle")
    got = {s: {c: comp.weight for c, comp in st.components.items()}
           for s, st in cfg.stages.items()}
    assert got == SEED_000_COMPONENT_WEIGHTS  # exact floats, same keys in the same stages
    for stage, comps in SEED_000_COMPONENT_WEIGHTS.items():
        assert list(cfg.stages[stage].components) == list(comps)


def test_lifecycle_metrics_are_the_design_names_and_weigh_equally():
    cfg = load_config("lifecycle")
    for (stage, comp), names in DESIGN_METRICS.items():
        metrics = cfg.stages[stage].components[comp].metrics
        assert list(metrics) == names, (stage, comp)
        for name, spec in metrics.items():
            # DESIGN.md: "Metrics inside a component weigh equally."
            assert spec.weight == pytest.approx(1 / len(names), abs=1e-15), (stage, comp, name)
    # the design's direction notes: "(lower better)"
    lower = {m for st in cfg.stages.values() for c in st.components.values()
             for m, spec in c.metrics.items() if spec.direction == "lower_is_better"}
    assert lower == {"setup_days_vs_plan", "days_since_champion_csm_touch",
                     "days_since_csm_touch", "inactive_seat_share"}
    # "active_days_30d (per seat)", "events_30d (per seat)", "minutes_30d (per seat)"
    per_seat = {m for st in cfg.stages.values() for c in st.components.values()
                for m, spec in c.metrics.items() if spec.per_seat}
    assert per_seat == {"active_days_30d", "events_30d", "minutes_30d"}


def test_categories_carries_exactly_the_seed_002_weighting_matrix():
    cfg = load_config("categories")
    comps = cfg.stages["all"].components
    assert {c: comp.weight for c, comp in comps.items()} == SEED_002_CATEGORY_WEIGHTS
    for comp in comps.values():
        ws = [m.weight for m in comp.metrics.values()]
        assert ws == pytest.approx([1 / len(ws)] * len(ws), abs=1e-15)


@pytest.mark.parametrize("name", ["lifecycle", "categories"])
def test_every_shipped_metric_documents_meaning_unit_direction_seed_in_the_yaml(name):
    # Read the YAML text itself: the documentation must be in the file, not filled in by code.
    raw = yaml.safe_load((DEFAULTS_DIR / f"{name}.yaml").read_text("utf-8"))
    seed = {"lifecycle": "000", "categories": "002"}[name]
    n = 0
    for sname, stage in raw["stages"].items():
        for cname, comp in stage["components"].items():
            for mname, spec in comp["metrics"].items():
                where = f"{name}: stages.{sname}.components.{cname}.metrics.{mname}"
                for field in ("meaning", "unit", "seed"):
                    assert isinstance(spec.get(field), str) and spec[field].strip(), where
                assert "\n" not in spec["meaning"], f"{where}: meaning is one line"
                assert spec["direction"] in ("higher_is_better", "lower_is_better"), where
                assert re.fullmatch(r"\d{3}(, \d{3})*", spec["seed"]), where
                assert seed in spec["seed"].split(", "), where
                n += 1
    assert n == {"lifecycle": 37, "categories": 15}[name]


# -------------------------------------------------------------- round trip
def _rich_config() -> Config:
    """Everything the schema can hold: probability, provenance, thresholds, open domains."""
    data = _small(
        description="round trip",
        bands={"healthy": 80, "at_risk": 40},
        trend={"alert_drop": 5.5},
        missing="neutral",
        min_coverage=0.25,
        label_horizon_days=30,
        provenance={"source": "calibration", "run_id": "abc",
                    "data_window": {"train": ["2025-01-01", "2025-12-31"],
                                    "holdout_from": "2026-01-01", "horizon_days": 30},
                    "strength": {"all": float("inf")},
                    "quality": {"all": {"auc": 0.7312345678901234, "holdout_rows": 10,
                                        "holdout_events": 2}}},
    )
    stage = data["stages"]["all"]
    stage["probability"] = {"intercept": 1.2345678901234567, "slope": -0.0412}
    stage["components"]["usage"]["metrics"]["logins"]["domain"] = [0, None]
    stage["components"]["usage"]["metrics"]["logins"]["per_seat"] = True
    stage["components"]["sentiment"]["metrics"]["nps"]["transform"] = {
        "kind": "thresholds", "cuts": [-20, 30], "points": [0, 50, 100]}
    stage["components"]["usage"]["metrics"]["minutes"]["weight"] = 0.1 + 0.2  # 0.30000000000000004
    stage["components"]["usage"]["metrics"]["logins"]["weight"] = 1 - (0.1 + 0.2)
    return config_from_dict(data)


@pytest.mark.parametrize("make", [lambda: load_config("lifecycle"),
                                  lambda: load_config("categories"), _rich_config],
                         ids=["lifecycle", "categories", "rich"])
def test_save_load_round_trip_is_exact(tmp_path, make):
    cfg = make()
    first = save_config(cfg, tmp_path / "a" / "cfg.yaml")
    back = load_config(first)
    assert back == cfg
    assert back.to_dict() == cfg.to_dict()
    second = save_config(back, tmp_path / "b.yaml")
    assert first.read_bytes() == second.read_bytes()
    assert dump_config(back) == dump_config(cfg)


def test_round_trip_keeps_floats_bit_exact(tmp_path):
    cfg = _rich_config()
    back = load_config(save_config(cfg, tmp_path / "c.yaml"))
    w = back.stages["all"].components["usage"].metrics["minutes"].weight
    assert w == 0.30000000000000004 and w.hex() == (0.1 + 0.2).hex()
    assert back.stages["all"].probability.intercept == 1.2345678901234567
    assert back.provenance.quality["all"].auc == 0.7312345678901234


# ---------------------------------------------------------------- provenance
#: The provenance block of a config exported before provenance was typed, as export wrote it
#: (a stage kept at its input weights, a NaN AUC written as null, the promotion tags).
EXPORTED_BEFORE = """
source: calibration
method: per-stage logistic fit
input_config: lifecycle-default
created: '2025-06-02T10:00:00Z'
data_window:
  train: ['2024-01-01', '2025-01-01']
  holdout: ['2025-02-01', '2025-05-01']
  holdout_from: '2025-02-01'
  horizon_days: 30
rows:
  maturity: {train: 1116, train_events: 50, accounts: 167, holdout: 299, holdout_events: 9,
             censored: 72, no_score: 0, straddling_holdout: 0, holdout_unscored: 0}
left_out: {censored: 138, no_score: 0, straddling_holdout: 0}
strength: {maturity: .inf}
status: {maturity: kept input weights (thin data), renewal: 'not in data: input weights'}
quality:
  maturity: {auc: null, auc_low: null, auc_high: null, brier: 0.026, log_loss: 0.12,
             holdout_rows: 299, holdout_events: 9}
bootstrap: {n: 200, seed: 0}
run_id: 3f2a9c0e5b7d4e1f8a6b2c3d4e5f6a7b
model: {name: customer-health-score, version: '4', aliases: [champion],
        uri: models:/customer-health-score/4}
promotion: {decision: promoted, auc_challenger: '0.81'}
exported: {at: '2025-06-03T08:00:00Z', from: models:/customer-health-score@champion,
           tracking_uri: 'sqlite:////data/mlruns.db'}
"""


def test_provenance_accepts_every_shape_hscore_has_written(tmp_path):
    for name in ("lifecycle", "categories"):
        assert load_config(name).provenance.source == "documented defaults"
        assert load_config(name).provenance.seeds
    cfg = config_from_dict(_small(provenance=yaml.safe_load(EXPORTED_BEFORE)))
    prov = cfg.provenance
    assert prov.quality["maturity"].auc is None and prov.strength["maturity"] == math.inf
    assert prov.exported.from_ == "models:/customer-health-score@champion"
    assert prov.model.aliases == ["champion"]
    back = load_config(save_config(cfg, tmp_path / "exported.yaml"))
    assert back == cfg
    assert "from: 'models:/customer-health-score@champion'" in dump_config(back)   # not from_


def test_an_unknown_provenance_key_is_an_error_with_its_path():
    with pytest.raises(ConfigError) as err:
        config_from_dict(_small(provenance={"source": "calibration", "windw": ["2025-01-01"]}))
    assert _problems(err) == {"provenance.windw": "unknown field"}
    with pytest.raises(ConfigError) as err:
        config_from_dict(_small(provenance={"data_window": {"holdout_from": "2025-01-01"}}))
    assert "provenance.data_window.horizon_days" in _problems(err)


def test_extended_provenance_is_validated_like_a_loaded_one():
    prov = load_config("lifecycle").provenance
    added = prov.extended(run_id="abc", model={"name": "m", "version": "2"})
    assert (added.source, added.run_id, added.model.version) == ("documented defaults", "abc", "2")
    assert prov.run_id is None                                # the original is unchanged
    with pytest.raises(pydantic.ValidationError, match="model.name"):
        prov.extended(model={"version": "2"})


def test_save_writes_no_python_tags_and_leaves_no_temp_file(tmp_path):
    path = save_config(load_config("lifecycle"), tmp_path / "out.yaml")
    text = path.read_text("utf-8")
    assert "!!python" not in text
    assert [p.name for p in tmp_path.iterdir()] == ["out.yaml"]


# ---------------------------------------------------------- normalization
def test_normalize_weights_turns_percentages_into_shares():
    pct = _small()
    comps = pct["stages"]["all"]["components"]
    comps["usage"]["weight"], comps["sentiment"]["weight"] = 60, 40
    comps["usage"]["metrics"]["logins"]["weight"] = 1
    comps["usage"]["metrics"]["minutes"]["weight"] = 3
    cfg = normalize_weights(pct)
    c = cfg.stages["all"].components
    assert c["usage"].weight == 0.6          # 60 / (60 + 40)
    assert c["sentiment"].weight == 0.4      # 40 / 100
    assert c["usage"].metrics["logins"].weight == 0.25   # 1 / (1 + 3)
    assert c["usage"].metrics["minutes"].weight == 0.75  # 3 / 4
    assert c["sentiment"].metrics["nps"].weight == 1.0
    # the same through load_config(normalize=True), and the input was not modified
    assert load_config(pct, normalize=True) == cfg
    assert comps["usage"]["weight"] == 60


def test_normalizing_says_which_levels_it_rescaled():
    typo = _small()
    typo["stages"]["all"]["components"]["usage"]["weight"] += 0.05      # 1.05: a typo?
    with pytest.warns(HScoreWarning) as caught:
        cfg = load_config(typo, normalize=True)
    assert [str(w.message) for w in caught] == [
        "normalized weights: 1 level(s) rescaled to sum to 1: stages.all.components (sum 1.05)"]
    assert math.isclose(sum(c.weight for c in cfg.stages["all"].components.values()), 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # nothing to rescale, nothing said
        load_config(_small(), normalize=True)


def test_normalize_weights_of_the_seed_percentages_gives_the_shipped_weights():
    data = load_config("categories").to_dict()
    for name, comp in data["stages"]["all"]["components"].items():
        comp["weight"] = round(SEED_002_CATEGORY_WEIGHTS[name] * 100)  # 15, 15, 15, 10, 5, ...
    assert normalize_weights(data) == load_config("categories")


def test_percentages_without_normalize_are_an_error_with_the_path():
    pct = _small()
    comps = pct["stages"]["all"]["components"]
    comps["usage"]["weight"], comps["sentiment"]["weight"] = 60, 40
    with pytest.raises(ConfigError) as excinfo:
        load_config(pct)
    assert _problems(excinfo) == {
        "stages.all.components": "weights in this stage sum to 100, not 1 (usage 60, "
                                 "sentiment 40)"}


def test_normalize_cannot_rescale_weights_that_sum_to_zero():
    data = _small()
    data["stages"]["all"]["components"]["usage"]["weight"] = 0
    data["stages"]["all"]["components"]["sentiment"]["weight"] = 0
    with pytest.raises(ConfigError, match=r"stages\.all\.components: cannot normalize"):
        normalize_weights(data)


# ---------------------------------------------------- validation with paths
def test_weights_not_summing_to_one_name_the_component_path():
    data = load_config("lifecycle").to_dict()
    metrics = data["stages"]["renewal"]["components"]["product_usage"]["metrics"]
    metrics["seat_utilization"]["weight"] = 0.15  # 0.25 + 0.25 + 0.15 + 0.25 = 0.9
    with pytest.raises(ConfigError) as excinfo:
        load_config(data)
    path = "stages.renewal.components.product_usage.metrics"
    assert _problems(excinfo) == {path: "weights in this component sum to 0.9, not 1 ("
                                  "feature_usage_change_pct 0.25, minutes_change_pct 0.25, "
                                  "seat_utilization 0.15, inactive_seat_share 0.25)"}
    assert path in str(excinfo.value)


def test_stage_weights_not_summing_to_one():
    data = load_config("lifecycle").to_dict()
    data["stages"]["maturity"]["components"]["product_usage"]["weight"] = 0.5  # .2 + .5 + .4
    with pytest.raises(ConfigError) as excinfo:
        load_config(data)
    assert _problems(excinfo) == {"stages.maturity.components":
                                  "weights in this stage sum to 1.1, not 1 (customer_engagement "
                                  "0.2, product_usage 0.5, user_activity 0.4)"}


def test_weights_within_tolerance_are_accepted_and_beyond_it_are_not():
    data = _small()
    comps = data["stages"]["all"]["components"]
    comps["usage"]["weight"] = 0.6 + 5e-10  # sum 1 + 5e-10: inside the 1e-9 tolerance
    load_config(data)
    comps["usage"]["weight"] = 0.6 + 5e-9
    with pytest.raises(ConfigError, match="sum to 1.000000005"):
        load_config(data)


def test_negative_weight_is_reported_with_its_path():
    data = _small()
    metrics = data["stages"]["all"]["components"]["usage"]["metrics"]
    metrics["logins"]["weight"], metrics["minutes"]["weight"] = -0.5, 1.5
    with pytest.raises(ConfigError) as excinfo:
        load_config(data)
    assert _problems(excinfo) == {
        "stages.all.components.usage.metrics.logins.weight":
            "weight must be non-negative, got -0.5"}


def test_unknown_transform_is_reported_with_its_path():
    data = _small()
    data["stages"]["all"]["components"]["usage"]["metrics"]["logins"]["transform"] = {
        "kind": "sigmoid", "lo": 0, "hi": 1}
    with pytest.raises(ConfigError) as excinfo:
        load_config(data)
    problems = _problems(excinfo)
    path = "stages.all.components.usage.metrics.logins.transform.kind"
    assert list(problems) == [path]
    assert "unknown transform kind 'sigmoid'" in problems[path]
    assert "linear, log, thresholds, recency, boolean" in problems[path]


def test_yaml_python_tag_is_rejected_and_never_executed(tmp_path):
    marker = tmp_path / "executed"
    path = tmp_path / "evil.yaml"
    path.write_text(f'schema_version: 1\nname: !!python/object/apply:os.system ["touch {marker}"]\n'
                    "stages: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as excinfo:
        load_config(path)
    assert not marker.exists()
    (where, message), = excinfo.value.problems
    assert where == "(yaml)"
    assert "not safe YAML (line 2)" in message and "python/object/apply" in message
    assert str(path) in str(excinfo.value)


def test_yaml_python_object_tag_is_rejected(tmp_path):
    path = tmp_path / "obj.yaml"
    path.write_text("!!python/object:collections.OrderedDict {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"not safe YAML .*python/object:collections"):
        load_config(path)


def test_every_problem_is_reported_at_once_each_with_its_path():
    data = _small(bands={"healthy": 40, "at_risk": 60}, min_coverage=1.5)
    comps = data["stages"]["all"]["components"]
    comps["usage"]["metrics"]["logins"]["wieght"] = 0.5       # typo: unknown field
    comps["sentiment"]["metrics"]["nps"]["direction"] = "up"  # not an allowed value
    with pytest.raises(ConfigError) as excinfo:
        load_config(data)
    problems = _problems(excinfo)
    assert set(problems) == {"stages.all.components.usage.metrics.logins.wieght",
                             "stages.all.components.sentiment.metrics.nps.direction"}
    assert problems["stages.all.components.usage.metrics.logins.wieght"] == "unknown field"
    assert "2 problems" in str(excinfo.value)

    # structure is fine, semantics are not: all semantic problems come together
    data = _small(bands={"healthy": 40, "at_risk": 60}, min_coverage=1.5)
    data["stages"]["all"]["components"]["usage"]["metrics"]["minutes"]["transform"] = {
        "kind": "linear", "lo": 5, "hi": 5}
    with pytest.raises(ConfigError) as excinfo:
        load_config(data)
    assert set(_problems(excinfo)) == {
        "bands.healthy", "min_coverage",
        "stages.all.components.usage.metrics.minutes.transform.hi"}


@pytest.mark.parametrize("mutate, path, fragment", [
    (lambda d: d.update(schema_version=2), "schema_version", "expected 1, got 2"),
    (lambda d: d["stages"]["all"]["components"]["usage"].update(weight=True),
     "stages.all.components.usage.weight", "valid number"),
    (lambda d: d["stages"]["all"]["components"]["usage"]["metrics"]["logins"].pop("direction"),
     "stages.all.components.usage.metrics.logins.direction", "Field required"),
    (lambda d: d["stages"]["all"]["components"]["usage"]["metrics"]["logins"].update(
        transform={"kind": "recency", "half_life_days": 14}),
     "stages.all.components.usage.metrics.logins.direction", "lower_is_better"),
    (lambda d: d["stages"]["all"]["components"]["usage"]["metrics"]["logins"].update(
        transform={"kind": "thresholds", "cuts": [5, 3], "points": [0, 50, 100]}),
     "stages.all.components.usage.metrics.logins.transform.cuts", "strictly increasing"),
    (lambda d: d["stages"]["all"]["components"]["usage"]["metrics"]["logins"].update(
        transform={"kind": "thresholds", "cuts": [3, 5], "points": [100, 50, 0]}),
     "stages.all.components.usage.metrics.logins.transform.points", "non-decreasing"),
    (lambda d: d["stages"]["all"]["components"]["usage"]["metrics"]["logins"].update(
        transform={"kind": "thresholds", "cuts": [3, 5], "points": [0, 100]}),
     "stages.all.components.usage.metrics.logins.transform.points", "needs 3 points"),
    (lambda d: d["stages"]["all"]["components"]["usage"]["metrics"]["logins"].update(
        transform={"kind": "log", "lo": -2, "hi": 5}),
     "stages.all.components.usage.metrics.logins.transform.lo", "lo > -1"),
    (lambda d: d["stages"]["all"]["components"]["usage"]["metrics"]["logins"].update(
        domain=[5, 1]), "stages.all.components.usage.metrics.logins.domain", "must exceed"),
    (lambda d: d["stages"].update(maturity=copy.deepcopy(d["stages"]["all"])),
     "stages.all", "must be the only stage"),
    (lambda d: d["stages"]["all"]["components"].update(empty={"weight": 0.0, "metrics": {}}),
     "stages.all.components.empty.metrics", "at least one metric"),
    (lambda d: d.update(trend={"alert_drop": -1}), "trend.alert_drop", "positive"),
    (lambda d: d.update(missing="drop"), "missing", "'reweight', 'neutral' or 'zero'"),
])
def test_each_schema_problem_names_its_path(mutate, path, fragment):
    data = _small()
    mutate(data)
    with pytest.raises(ConfigError) as excinfo:
        load_config(data)
    problems = _problems(excinfo)
    assert path in problems, problems
    assert fragment in problems[path]
    assert path in str(excinfo.value)


def test_a_metric_read_per_seat_in_one_stage_must_be_per_seat_in_all():
    data = load_config("lifecycle").to_dict()
    data["stages"]["maturity"]["components"]["user_activity"]["metrics"]["events_30d"][
        "per_seat"] = False
    with pytest.raises(ConfigError, match=r"stages\.adoption\.components\.user_activity\."
                                          r"metrics\.events_30d\.per_seat"):
        load_config(data)


def test_config_is_immutable_and_replace_revalidates():
    cfg = load_config("lifecycle")
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        cfg.name = "changed"
    assert cfg.replace(missing="zero").missing == "zero"
    with pytest.raises(ConfigError, match="min_coverage"):
        cfg.replace(min_coverage=2.0)


def test_stage_metric_weights_are_component_times_metric_weight():
    stage = load_config("lifecycle").stages["maturity"]
    w = stage.metric_weights()
    assert w["feature_adoption_rate"] == pytest.approx(0.40 * 0.5)  # product_usage 40%, 2 metrics
    assert w["csat"] == pytest.approx(0.20 / 7)                     # engagement 20%, 7 metrics
    assert math.fsum(w.values()) == pytest.approx(1.0, abs=1e-12)

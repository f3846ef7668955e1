"""The scoring model as a validated, round-trippable config (schema_version 1).

A config is the whole scoring model: the shipped defaults, what calibration
writes, what export emits and what the production scorer reads. It is loaded
with a safe YAML loader, checked structurally by pydantic (strict types, no
unknown keys) and then semantically (weights sum to 1 at each level,
directions agree with transforms, ...). Every problem is reported with its
path, all at once.

``schema`` holds the typed model and its checks, ``io`` the YAML files and the
shipped defaults (``defaults/``).

Examples
--------
>>> from hscore.config import load_config
>>> cfg = load_config("lifecycle")
>>> list(cfg.stages)
['onboarding', 'adoption', 'maturity', 'renewal']
>>> cfg.stages["maturity"].components["product_usage"].weight
0.4
"""

from hscore.config.cells import Cell
from hscore.config.io import DEFAULTS_DIR, dump_config, load_config, save_config, shipped_defaults
from hscore.config.schema import (ALL_STAGES, SCHEMA_VERSION, TRANSFORM_KINDS, WEIGHT_TOLERANCE,
                                  BooleanTransform, Bands, Component, Config, LinearTransform,
                                  LogTransform, Metric, Probability, Provenance,
                                  RecencyTransform, Segment, Stage,
                                  ThresholdsTransform, Trend, config_from_dict, normalize_weights)

__all__ = ["Cell", "Config", "Stage", "Segment", "Component", "Metric", "Probability", "Provenance",
           "Bands", "Trend",
           "LinearTransform", "LogTransform", "ThresholdsTransform", "RecencyTransform",
           "BooleanTransform", "TRANSFORM_KINDS", "SCHEMA_VERSION", "WEIGHT_TOLERANCE",
           "ALL_STAGES", "load_config", "save_config", "dump_config", "config_from_dict",
           "normalize_weights", "shipped_defaults", "DEFAULTS_DIR"]

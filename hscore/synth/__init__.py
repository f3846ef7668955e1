"""Synthetic data with a documented ground-truth churn model, for tests, demos and benchmarks.

- :mod:`hscore.synth.history`: snapshot tables (one row per account per month) whose metrics
  drive churn through a known logistic truth (``make_history``, ``make_stage_sample``,
  ``make_cross_section`` and the committed samples ``write_sample``, ``write_crm_sample``);
- :mod:`hscore.synth.raw`: raw tables (accounts, users, events, touches, surveys,
  integrations, setup) whose built metrics follow a known churn truth (``make_raw_book``),
  for ``hscore build`` -> ``calibrate`` end to end;
- :mod:`hscore.synth.segments`: a book whose enterprise and small accounts churn for
  different reasons (``make_segmented_book``), for segment weights;
- :mod:`hscore.synth.reference`: the metrics computed from raw tables with plain pandas
  (``reference_metrics``), the independent implementation the raw truth is drawn on.

Everything is re-exported here, so ``from hscore import synth; synth.make_history(...)`` works.

Examples
--------
>>> from hscore import synth
>>> len(synth.make_history(n_accounts=20, months=3, seed=1).frame) > 0
True
"""

from hscore.synth.history import (BASE_RATES, CRM_SAMPLE_ARGS, CRM_TRUE_WEIGHTS, HORIZON_DAYS,
                                  SAMPLE_ARGS, TRUE_STRENGTH, TRUE_WEIGHTS, History, Truth,
                                  _stage_of_tenure, make_cross_section, make_history,
                                  make_stage_sample, write_crm_sample, write_sample)
from hscore.synth.raw import RawBook, make_raw_book
from hscore.synth.segments import (SEGMENT_TRUE_WEIGHTS, SegmentedBook, make_segmented_book)
from hscore.synth.reference import reference_metrics

__all__ = ["History", "Truth", "make_history", "make_stage_sample", "make_cross_section",
           "write_sample", "write_crm_sample", "TRUE_WEIGHTS", "TRUE_STRENGTH", "BASE_RATES",
           "HORIZON_DAYS", "SAMPLE_ARGS", "CRM_TRUE_WEIGHTS", "CRM_SAMPLE_ARGS", "RawBook",
           "make_raw_book", "reference_metrics", "SegmentedBook", "make_segmented_book",
           "SEGMENT_TRUE_WEIGHTS"]

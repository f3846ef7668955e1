"""The registered MLflow model, logged as code (models-from-code).

MLflow stores this file with each registered version of
``customer-health-score``; its only artifact is the config file. Predicting is
``HealthScorer(config).score(frame)``, the same single scoring path as
production, so an exported config scores exactly like the registered model.

The parameter ``top_reasons`` (default 0) adds a ``reasons`` column: the components
that cost each row the most points (:func:`hscore.mlops.model.reasons`). Spark asks
for it with ``spark_udf(..., result_type="score double, band string, reasons string",
params={"top_reasons": 3})``.
"""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class HealthScoreModel(PythonModel):
    """Scores a snapshot frame with the version's config (see :class:`hscore.HealthScorer`)."""

    def load_context(self, context):
        from hscore.config import load_config
        from hscore.scoring.scorer import HealthScorer

        self.config = load_config(context.artifacts["config"])
        self.scorer = HealthScorer(self.config)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        from hscore.mlops.model import pyfunc_output

        top = (params or {}).get("top_reasons") or 0  # MLflow checked it is a long
        return pyfunc_output(self.scorer.score(model_input), self.config, top_reasons=top)


mlflow.models.set_model(HealthScoreModel())

"""The MLflow pyfunc model, logged as code (models-from-code).

Its only artifact is the config file; predicting is ``HealthScorer(config).score``,
the same single scoring path as production, so an exported config scores
exactly like the registered model.
"""

from __future__ import annotations

import mlflow
from mlflow.pyfunc import PythonModel


class HealthScoreModel(PythonModel):
    def load_context(self, context):
        from hscore.config import load_config
        from hscore.scorer import HealthScorer

        self.scorer = HealthScorer(load_config(context.artifacts["config"]))

    def predict(self, context, model_input, params=None):
        from hscore.tracking import pyfunc_output

        return pyfunc_output(self.scorer.score(model_input))


mlflow.models.set_model(HealthScoreModel())

"""MLflow: tracking runs, the model registry, promotion, export and the pyfunc model.

The only place in hscore that imports mlflow. The store is an embedded SQLite file per
checkout unless ``MLFLOW_TRACKING_URI`` says otherwise (see :mod:`hscore.mlops.tracking`).
"""

import os

# hscore runs against an embedded store on analysts' machines and in production jobs that may
# have no network: MLflow 3's usage telemetry would try to reach the internet from every run.
# Opt out by default, here where MLflow is first used (not on `import hscore`, which leaves the
# environment alone); setting the variable yourself wins.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

"""The light production path: transforms, snapshot checks, the scorer, table files.

``import hscore.scoring`` loads numpy, pandas, pyyaml and pydantic (pyarrow only when a
Parquet file is read or written), and none of mlflow, statsmodels, scikit-learn,
matplotlib, duckdb or pyspark: it is what a production job scoring an exported config runs.
"""

from hscore.scoring.scorer import HealthScorer, score
from hscore.scoring.snapshots import CheckedSnapshots, check_snapshots, read_snapshots, write_frame

__all__ = ["HealthScorer", "score", "check_snapshots", "CheckedSnapshots", "read_snapshots",
           "write_frame"]

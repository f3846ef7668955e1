"""The registered model: a models-from-code pyfunc whose only artifact is the config file.

:mod:`hscore.mlops.pyfunc_model` is the code MLflow stores with each version; this module
gives it a typed signature and an input example, and registers a version with the alias
``challenger`` and tags that say where it came from.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import pandas as pd

from hscore.mlops.store import safe_key

__all__ = ["MODEL_NAME", "PYFUNC_CODE", "pyfunc_output", "input_example", "signature",
           "register", "without_mlflow_hints"]

MODEL_NAME = "customer-health-score"
PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")

#: Input columns typed by the example in the signature; every other column is numeric.
_TYPED_INPUTS = ("account_id", "snapshot_date", "stage", "segment")
_REQUIRED_INPUTS = {"account_id", "snapshot_date", "stage", "seats"}


@contextlib.contextmanager
def without_mlflow_hints():
    """Silence MLflow's advice that does not apply here: the frame is typed by an explicit
    signature (not by predict's type hints), seats is a whole number by contract, and MLflow
    registers its local-file dataset source twice, then warns that a path is ambiguous."""
    with warnings.catch_warnings():
        for text in ("(?s).*[Ii]nteger column", "(?s).*type hint",
                     "(?s).*interpreted in multiple ways"):
            warnings.filterwarnings("ignore", message=text, category=UserWarning)
        yield


def pyfunc_output(scores: pd.DataFrame) -> pd.DataFrame:
    """The scorer's frame with categoricals as plain strings (what MLflow schemas know).

    Examples
    --------
    >>> import pandas as pd
    >>> from hscore.mlops.model import pyfunc_output
    >>> scores = pd.DataFrame({"score": [71.5, None],
    ...                        "band": pd.Categorical(["healthy", None])})
    >>> out = pyfunc_output(scores)
    >>> out["band"].tolist(), str(out["band"].dtype)
    (['healthy', None], 'object')
    """
    out = scores.copy()
    for col in ("stage", "band"):
        if col in out.columns:
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


def input_example(frame: pd.DataFrame, per_stage: int = 2) -> pd.DataFrame:
    """A few rows of each stage (so the example exercises every stage of the config).

    Whole-number columns (seats, counts) become float64: a later frame may miss values
    in them, and an integer example would suggest they cannot be missing.
    """
    if "stage" in frame.columns:
        rows = frame.groupby("stage", sort=False, observed=True).head(per_stage)
    else:
        rows = frame.head(per_stage * 2)
    rows = rows.reset_index(drop=True)
    for col in rows.columns:
        if col not in _TYPED_INPUTS and (pd.api.types.is_integer_dtype(rows[col])
                                         or pd.api.types.is_bool_dtype(rows[col])):
            rows[col] = rows[col].to_numpy(dtype="float64", na_value=float("nan"))
    return rows


def signature(example: pd.DataFrame, output: pd.DataFrame):
    """Input and output schema. Only the identifying columns are required: a frame without,
    say, the churn label or a metric still scores.

    The identifying columns are typed like the example. The numeric columns (metrics,
    seats) accept any type: MLflow's ``double`` refuses ``int64`` and nullable
    ``Int64`` columns and ``long`` refuses missing values, while the scorer reads all of
    these (and names the column of a bad value itself), so the registered model accepts
    every frame :class:`~hscore.scoring.scorer.HealthScorer` accepts.
    """
    from mlflow.models import infer_signature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    with without_mlflow_hints():
        sig = infer_signature(example, output)
    sig.inputs = Schema([
        ColSpec(spec.type if spec.name in _TYPED_INPUTS else AnyType(), spec.name,
                required=spec.name in _REQUIRED_INPUTS)
        for spec in sig.inputs.inputs])
    return sig


def register(client, config, config_file: Path, frame: pd.DataFrame, tags: dict[str, str],
             quality: pd.DataFrame | None = None) -> str:
    """Log the pyfunc of ``config`` into the active run, register it as a new version of
    :data:`MODEL_NAME`, move ``challenger`` to it and tag it; returns the version.

    ``config_file`` (``config`` saved) is the version's only artifact; ``frame`` gives the
    input example; ``quality`` (the calibration's holdout table) adds a tag
    ``holdout_auc.<cell>`` per cell of the config, and ``holdout_auc.all`` pooled
    (``holdout_auc.book`` when a stage is itself named ``all``). Call
    inside :func:`hscore.mlops.store.opened` with the lock held.
    """
    import mlflow

    from hscore import __version__
    from hscore.scoring.scorer import HealthScorer

    example = input_example(frame)
    with without_mlflow_hints():
        info = mlflow.pyfunc.log_model(
            name="health_score",
            python_model=str(PYFUNC_CODE),
            artifacts={"config": str(config_file)},
            signature=signature(example, pyfunc_output(HealthScorer(config).score(example))),
            input_example=example,
            registered_model_name=MODEL_NAME,
            # hscore is the model's code; pinning it (not inferring) keeps logging fast.
            pip_requirements=[f"hscore=={__version__}", "numpy", "pandas", "pyyaml",
                              "pydantic"],
        )
    version = str(info.registered_model_version)
    client.set_registered_model_alias(MODEL_NAME, "challenger", version)
    tags = dict(tags)
    if quality is not None:
        auc = quality[quality["model"] == "calibrated"].set_index("stage")["auc"]
        for key in dict.fromkeys([cell.key for cell in config.cells()] + ["all", "book"]):
            if key in auc.index and pd.notna(auc[key]):
                tags[f"holdout_auc.{safe_key(key)}"] = f"{auc[key]:.4f}"
    for k, v in tags.items():
        client.set_model_version_tag(MODEL_NAME, version, k, v)
    return version

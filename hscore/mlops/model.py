"""The registered model: a models-from-code pyfunc whose only artifact is the config file.

:mod:`hscore.mlops.pyfunc_model` is the code MLflow stores with each version; this module
gives it a typed signature and an input example, and registers a version with the alias
``challenger`` and tags that say where it came from.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from pathlib import Path

import pandas as pd

from hscore.errors import HScoreError
from hscore.mlops.store import safe_key

__all__ = ["MODEL_NAME", "PYFUNC_CODE", "pyfunc_output", "input_example", "signature",
           "register", "without_mlflow_hints", "model_name_for", "check_model_name"]

#: The registered model of the shipped lifecycle config (and of configs calibrated from it).
MODEL_NAME = "customer-health-score"
#: Config names whose book is registered as :data:`MODEL_NAME` (the shipped lifecycle config).
_SHIPPED_BOOKS = {"lifecycle-default": MODEL_NAME}
# Calibration names its output "<input name>-calibrated"; a recalibration adds another.
_CALIBRATED = re.compile(r"(?:-calibrated)+$")
# MLflow refuses "/" and ":" in a name; "@" would split models:/NAME@ALIAS; spaces and the
# rest make URIs that need quoting. What is left is safe everywhere a name goes.
_UNSAFE = re.compile(r"[^0-9A-Za-z_.-]+")
PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")

#: Input columns typed by the example in the signature; every other column is numeric.
_TYPED_INPUTS = ("account_id", "snapshot_date", "stage", "segment")
_REQUIRED_INPUTS = {"account_id", "snapshot_date", "stage", "seats"}


def model_name_for(config_name: str) -> str:
    """The registered model a config's calibrations land on: one model per book.

    The config's ``name`` without the ``-calibrated`` suffixes calibration adds (so
    recalibrating a calibrated or exported config lands on the same model), with every
    character other than letters, digits, ``_``, ``.`` and ``-`` turned into ``-``. The
    shipped lifecycle config's book is :data:`MODEL_NAME`.

    Examples
    --------
    >>> from hscore.mlops.model import model_name_for
    >>> model_name_for("lifecycle-default-calibrated")
    'customer-health-score'
    >>> model_name_for("crm-export-calibrated-calibrated")
    'crm-export'
    >>> model_name_for("Acme CRM: EMEA/2025")
    'Acme-CRM-EMEA-2025'
    """
    base = _CALIBRATED.sub("", str(config_name).strip())
    if base in _SHIPPED_BOOKS:
        return _SHIPPED_BOOKS[base]
    name = _UNSAFE.sub("-", base).strip("-._")
    if not name:
        raise HScoreError(f"name: the config name {config_name!r} leaves no usable registered "
                          "model name; pass --model-name NAME")
    return name


def check_model_name(name: str) -> str:
    """``name`` if it can name a registered model (letters, digits, ``_``, ``.``, ``-``),
    else an :class:`~hscore.errors.HScoreError` naming ``--model-name``.

    Examples
    --------
    >>> from hscore.mlops.model import check_model_name
    >>> check_model_name("emea-book")
    'emea-book'
    >>> check_model_name("emea/book")
    Traceback (most recent call last):
    ...
    hscore.errors.HScoreError: --model-name: 'emea/book' is not a registered model name; use letters, digits, '_', '.' and '-' (e.g. 'emea-book')
    """
    text = str(name).strip()
    if text and not _UNSAFE.search(text) and text.strip("._"):
        return text
    hint = _UNSAFE.sub("-", text).strip("-._")
    raise HScoreError(f"--model-name: {name!r} is not a registered model name; use letters, "
                      "digits, '_', '.' and '-'" + (f" (e.g. {hint!r})" if hint else ""))


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


#: Set while the pyfunc is logged. The model is hscore's code and its config; its requirements
#: are pinned below. MLflow would otherwise copy the working directory's uv.lock and
#: pyproject.toml into every version (MLFLOW_LOG_UV_FILES) and run `uv export` on them
#: (MLFLOW_UV_AUTO_DETECT) when hscore is run from a uv project, such as its own checkout.
_LOGGING_ENV = {"MLFLOW_LOG_UV_FILES": "false", "MLFLOW_UV_AUTO_DETECT": "false"}


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    """``os.environ`` with ``values`` for the block, restored after it."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def register(client, config, config_file: Path, frame: pd.DataFrame, tags: dict[str, str],
             quality: pd.DataFrame | None = None, model_name: str | None = None
             ) -> tuple[str, str]:
    """Log the pyfunc of ``config`` into the active run, register it as a new version of
    ``model_name`` (default :func:`model_name_for` the config's name) with ``tags``, and move
    ``challenger`` to it; returns ``(version, logged model id)``.

    ``config_file`` (``config`` saved) is the version's only artifact; ``frame`` gives the
    input example; ``quality`` (the calibration's holdout table) adds a tag
    ``holdout_auc.<cell>`` per cell of the config, and ``holdout_auc.all`` pooled. Call
    inside :func:`hscore.mlops.store.opened` with the lock held.
    """
    import mlflow

    from hscore import __version__
    from hscore.scoring.scorer import HealthScorer

    name = check_model_name(model_name) if model_name else model_name_for(config.name)
    example = input_example(frame)
    with without_mlflow_hints(), _environment(_LOGGING_ENV):
        info = mlflow.pyfunc.log_model(
            name="health_score",
            python_model=str(PYFUNC_CODE),
            artifacts={"config": str(config_file)},
            signature=signature(example, pyfunc_output(HealthScorer(config).score(example))),
            input_example=example,
            # hscore is the model's code; pinning it (not inferring) keeps logging fast.
            pip_requirements=[f"hscore=={__version__}", "numpy", "pandas", "pyyaml",
                              "pydantic"],
        )
    tags = dict(tags)
    if quality is not None:
        auc = quality[quality["model"] == "calibrated"].set_index("stage")["auc"]
        for key in dict.fromkeys([cell.key for cell in config.cells()] + ["all"]):
            if key in auc.index and pd.notna(auc[key]):
                tags[f"holdout_auc.{safe_key(key)}"] = f"{auc[key]:.4f}"
    # Registered here rather than by log_model: the tags go in with the version (one write
    # instead of one per tag, each of which reads the model back first).
    version = str(mlflow.register_model(info.model_uri, name, tags=tags).version)
    client.set_registered_model_alias(name, "challenger", version)
    return version, info.model_id

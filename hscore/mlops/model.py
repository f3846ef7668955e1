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

import numpy as np
import pandas as pd

from hscore.errors import HScoreError
from hscore.mlops.store import safe_key

__all__ = ["MODEL_NAME", "PYFUNC_CODE", "TOP_REASONS", "pyfunc_output", "reasons",
           "input_example", "input_schema", "model_input", "signature", "save", "register",
           "without_mlflow_hints", "model_name_for", "check_model_name"]

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

#: Input columns that hold text; ``snapshot_date`` is a datetime, seats a whole number, every
#: metric a double.
_TEXT_INPUTS = ("account_id", "stage", "segment")
#: The pyfunc's one parameter: how many reasons to give per row (0: no ``reasons`` column).
TOP_REASONS = "top_reasons"
#: Above this, a whole number has no exact double.
_EXACT_DOUBLE = 2**53


def _safe_name(text: str) -> str:
    """``text`` with every run of characters a model name cannot hold turned into ``-``."""
    return _UNSAFE.sub("-", text).strip("-._")


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
    name = _safe_name(base)
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
    hint = _safe_name(text)
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


def pyfunc_output(scores: pd.DataFrame, config=None, top_reasons: int = 0) -> pd.DataFrame:
    """The scorer's frame with categoricals as plain strings (what MLflow schemas know), and
    with ``top_reasons`` > 0 a ``reasons`` column (:func:`reasons`; needs ``config``). The
    other columns are ``scores``' own arrays, not copies.

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
    # A shallow copy: the float columns are shared, not copied into one block again; the
    # columns replaced below are replaced in the copy only.
    out = scores.copy(deep=False)
    for col in ("stage", "band"):
        if col in out.columns:
            values = out[col]
            if isinstance(values.dtype, pd.CategoricalDtype):
                # by the codes: a lookup per row (code -1, no value, picks the None at the end)
                lookup = np.append(values.cat.categories.to_numpy(dtype=object), None)
                out[col] = pd.Series(lookup[values.cat.codes.to_numpy()], index=out.index,
                                     dtype=object)
            else:
                out[col] = values.astype(object).where(values.notna(), None)
    if top_reasons:
        out["reasons"] = reasons(scores, config, top_reasons)
    return out


def reasons(scores: pd.DataFrame, config, top: int = 3) -> np.ndarray:
    """Per row, the ``top`` components that cost the score the most points, worst first:
    ``"support 12, usage 48"`` (each with its score out of 100); ``""`` for a row without a
    score or with every component at 100 (not None: MLflow's Spark UDF would turn it into
    the text ``"None"``).

    A component's points lost are what the score would gain were the component at 100:
    its contribution (the sum of its metrics' ``contribution_*``) is its share of the score
    times its score, so the loss is ``contribution * (100 - score) / score``: read from the
    scorer's output, it follows whatever weights and missing-value rule scored the row.
    Components at 0 (no contribution to read a share from) split the share the others
    leave in proportion to their config weights.

    Examples
    --------
    >>> import pandas as pd
    >>> from hscore import HealthScorer
    >>> from hscore.mlops.model import reasons
    >>> frame = pd.DataFrame({
    ...     "account_id": ["acme"], "snapshot_date": ["2026-02-01"], "seats": [10],
    ...     "days_since_last_meeting": [30], "content_engagements_90d": [5],
    ...     "seat_utilization": [0.6], "active_days_30d": [120],
    ...     "modules_adopted_share": [0.5], "key_features_used_share": [0.5],
    ...     "milestones_on_time_share": [1.0], "days_in_current_stage": [60],
    ...     "days_past_due": [0], "exec_contacts": [2], "days_since_exec_touch": [60],
    ...     "user_nps": [20], "csat": [4], "advocacy_score": [5], "referrals_12m": [1]})
    >>> reasons(HealthScorer("categories").score(frame), "categories", top=2)[0]
    'adoption 50, engagement 54'
    """
    from hscore.config import load_config
    from hscore.errors import HScoreError

    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise HScoreError(f"top_reasons: must be a whole number >= 1 (0: no reasons), "
                          f"got {top!r}")
    config = load_config(config)
    n = len(scores)
    out = np.full(n, "", dtype=object)
    stage_of = (np.zeros(n, dtype=np.int64) if config.single_stage
                else pd.Categorical(scores["stage"], categories=list(config.stages)).codes)
    has_score = scores["score"].notna().to_numpy()
    for code, stage in enumerate(config.stages):
        rows = np.flatnonzero((stage_of == code) & has_score)
        if not len(rows):
            continue
        comps = list(config.weights_of(stage).components.items())
        level = np.column_stack([scores[f"component_{c}"].to_numpy()[rows] for c, _ in comps])
        points = np.column_stack([
            sum(scores[f"contribution_{m}"].to_numpy()[rows] for m in comp.metrics)
            for _, comp in comps])
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(level > 0, points / level, 0.0)
        # Components at 0 share what the others leave (shares add up to 1), in proportion
        # to their weights in the config.
        zero = level == 0
        if zero.any():
            weight = np.where(zero, [comp.weight for _, comp in comps], 0.0)
            rest = np.clip(1.0 - share.sum(axis=1), 0.0, None)
            with np.errstate(divide="ignore", invalid="ignore"):
                share = np.where(zero, (rest / weight.sum(axis=1))[:, None] * weight, share)
        lost = share * (100.0 - level)
        lost[~(lost > 0)] = -np.inf            # empty (NaN), perfect or weightless: no reason
        worst = np.argsort(-lost, axis=1, kind="stable")[:, :top]
        # The text, "name level", by numpy over the ranked cells only (no loop over rows).
        # Component scores are 0-100: every label is one of a small table, made once.
        table = np.array([[f"{c} {v}" for v in range(101)] for c, _ in comps], dtype=object)
        shown = np.take_along_axis(level, worst, axis=1)
        label = table[worst, np.round(np.nan_to_num(shown)).clip(0, 100).astype(np.intp)]
        keep = np.take_along_axis(lost, worst, axis=1) > 0   # worst first: a prefix is kept
        text = label[:, 0]
        for t in range(1, worst.shape[1]):
            text = np.where(keep[:, t], text + ", " + label[:, t], text)
        text[~keep[:, 0]] = ""
        out[rows] = text
    return out


def input_example(frame: pd.DataFrame, config, per_stage: int = 2) -> pd.DataFrame:
    """A few rows of each stage (so the example exercises every stage of the config), in the
    columns and types of :func:`input_schema`."""
    if "stage" in frame.columns:
        rows = frame.groupby("stage", sort=False, observed=True).head(per_stage)
    else:
        rows = frame.head(per_stage * 2)
    columns = [spec.name for spec in input_schema(config).inputs]
    return model_input(rows[[c for c in columns if c in rows.columns]].reset_index(drop=True),
                       config)


def input_schema(config):
    """The registered model's input columns, typed: ``account_id``, ``stage`` and ``segment``
    strings, ``snapshot_date`` a datetime, ``seats`` a long, every metric a double.

    MLflow checks a frame against it before the model sees it; typed columns pass as
    whole arrays (a column typed "any" is checked value by value, 50 times slower). Only
    the identifying columns are required (and ``seats`` when a metric is per seat): a frame
    without a metric still reaches the scorer, which names the missing column itself.
    MLflow refuses ``int64`` where a double is declared and floats where a long is:
    :func:`model_input` casts such frames first.
    """
    from mlflow.types.schema import ColSpec, Schema

    per_seat = any(spec.per_seat for m in config.metric_names
                   for _, _, spec in config.metric_specs(m))
    specs = [ColSpec("string", "account_id"), ColSpec("datetime", "snapshot_date"),
             ColSpec("string", "stage", required=not config.single_stage),
             ColSpec("string", "segment", required=False),
             ColSpec("long", "seats", required=per_seat)]
    specs += [ColSpec("double", m, required=False) for m in config.metric_names]
    return Schema(specs)


def model_input(frame: pd.DataFrame, config, date_format: str | None = None) -> pd.DataFrame:
    """``frame`` with whole-number columns in the types the signature declares, so that
    MLflow's check lets them through to the scorer, and text dates read by hscore's rule.

    A text ``snapshot_date`` is read here as the scorer reads it: ISO 8601 unless
    ``date_format`` is given, anything else an error naming the column. (Given text, MLflow's
    own check would parse it with pandas' guess, ``01/02/2024`` as the 2nd of January,
    before hscore sees it.)

    Integer, boolean and nullable (``Int64``) metric columns become doubles (``<NA>``
    becomes NaN); a float ``seats`` column of whole numbers becomes ``int64`` and a
    nullable one without gaps plain ``int64``. Seats with a gap or a fraction stay as they
    are (MLflow refuses them, naming ``seats``), and so does everything else (text in a
    metric: the scorer's error). The frame is not modified.

    Examples
    --------
    >>> import pandas as pd
    >>> from hscore.mlops.model import model_input
    >>> frame = pd.DataFrame({"seats": [10.0, 12.0], "active_days_30d": [3, 0]})
    >>> typed = model_input(frame, "lifecycle")
    >>> str(typed["seats"].dtype), str(typed["active_days_30d"].dtype)
    ('int64', 'float64')
    """
    from hscore.config import load_config
    from hscore.errors import DataError
    from hscore.scoring.dates import parse_dates

    config = load_config(config)
    out = frame.copy(deep=False)
    if "snapshot_date" in out.columns and not pd.api.types.is_datetime64_any_dtype(
            out["snapshot_date"]):
        out["snapshot_date"] = parse_dates(out["snapshot_date"], date_format, frame=frame)
    for name in config.metric_names:
        if name not in out.columns:
            continue
        col = out[name]
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_integer_dtype(col):
            if not pd.api.types.is_bool_dtype(col):
                # compared as integers: as a double, 2**53 + 1 already is 2**53
                big = (col.abs() > _EXACT_DOUBLE).to_numpy(dtype=bool, na_value=False)
                if big.any():
                    raise DataError(name, "whole numbers beyond 2**53, which a double cannot "
                                          "hold exactly", int(big.sum()))
            out[name] = col.to_numpy(dtype=np.float64, na_value=np.nan)
    if "seats" in out.columns:
        col = out["seats"]
        if pd.api.types.is_float_dtype(col):
            values = col.to_numpy(dtype=np.float64, na_value=np.nan)
            # A gap or a fraction stays: MLflow then refuses the column, naming it.
            if np.isfinite(values).all() and (values == np.round(values)).all() \
                    and (np.abs(values) <= _EXACT_DOUBLE).all():
                out["seats"] = values.astype(np.int64)
        elif pd.api.types.is_integer_dtype(col) and not col.isna().any():
            out["seats"] = col.to_numpy(dtype=np.int64)
    return out


def signature(example: pd.DataFrame, output: pd.DataFrame, config=None):
    """Input schema (:func:`input_schema`), output schema (the scorer's columns, and
    ``reasons`` when asked) and the one parameter ``top_reasons`` (default 0)."""
    from mlflow.models import infer_signature

    with without_mlflow_hints():
        sig = infer_signature(example, output, params={TOP_REASONS: 0})
    if config is not None:
        sig.inputs = input_schema(config)
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


def _pyfunc_args(config, config_file: Path, frame: pd.DataFrame) -> dict:
    """What the registered model is made of: the code, the config, signature and example."""
    from hscore import __version__
    from hscore.scoring.scorer import HealthScorer

    example = input_example(frame, config)
    output = pyfunc_output(HealthScorer(config).score(example), config, top_reasons=3)
    return dict(python_model=str(PYFUNC_CODE), artifacts={"config": str(config_file)},
                signature=signature(example, output, config), input_example=example,
                # hscore is the model's code; pinning it (not inferring) keeps logging fast.
                pip_requirements=[f"hscore=={__version__}", "numpy", "pandas", "pyyaml",
                                  "pydantic"])


def save(config, config_file: Path, frame: pd.DataFrame, path: Path) -> Path:
    """Save the pyfunc model :func:`register` would log to the folder ``path`` (no run, no
    registry): for ``mlflow.pyfunc.load_model(path)`` or ``spark_udf(spark, path)``.
    ``config_file`` is ``config`` saved; ``frame`` gives the input example."""
    import mlflow

    with without_mlflow_hints(), _environment(_LOGGING_ENV):
        mlflow.pyfunc.save_model(str(path), **_pyfunc_args(config, config_file, frame))
    return Path(path)


def register(client, config, config_file: Path, frame: pd.DataFrame, tags: dict[str, str],
             quality: pd.DataFrame | None = None, *, model_name: str) -> tuple[str, str]:
    """Log the pyfunc of ``config`` into the active run, register it as a new version of
    ``model_name`` with ``tags``, and move ``challenger`` to it; returns
    ``(version, logged model id)``.

    ``model_name`` is the name the entry point resolved and checked
    (:func:`hscore.mlops.tracking.log_calibration`: :func:`check_model_name` or
    :func:`model_name_for`), before any run was written.

    ``config_file`` (``config`` saved) is the version's only artifact; ``frame`` gives the
    input example; ``quality`` (the calibration's holdout table) adds a tag
    ``holdout_auc.<cell>`` per cell of the config, and ``holdout_auc.all`` pooled
    (``holdout_auc.book`` when a stage is itself named ``all``). Call
    inside :func:`hscore.mlops.store.opened` with the lock held.
    """
    import mlflow

    with without_mlflow_hints(), _environment(_LOGGING_ENV):
        info = mlflow.pyfunc.log_model(name="health_score",
                                       **_pyfunc_args(config, config_file, frame))
    tags = dict(tags)
    if quality is not None:
        auc = quality[quality["model"] == "calibrated"].set_index("stage")["auc"]
        for key in dict.fromkeys([cell.key for cell in config.cells()] + ["all", "book"]):
            if key in auc.index and pd.notna(auc[key]):
                tags[f"holdout_auc.{safe_key(key)}"] = f"{auc[key]:.4f}"
    # Registered here rather than by log_model: the tags go in with the version (one write
    # instead of one per tag, each of which reads the model back first).
    version = str(mlflow.register_model(info.model_uri, model_name, tags=tags).version)
    client.set_registered_model_alias(model_name, "challenger", version)
    return version, info.model_id

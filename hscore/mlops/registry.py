"""The model registry: find a registered version and read its config.

One registered model per book (:func:`hscore.mlops.model.model_name_for`: the shipped
lifecycle config's is ``customer-health-score``). Versions carry aliases (MLflow 3; no
deprecated stages): a new calibration gets ``challenger``, and
:mod:`hscore.mlops.promotion` moves ``champion``. Where no model name is given,
:func:`model_name_in` takes the store's only model and refuses to guess among several.
"""

from __future__ import annotations

import re
import tempfile

from hscore.config import Config, load_config
from hscore.errors import HScoreError
from hscore.mlops import store
from hscore.mlops.model import check_model_name

__all__ = ["resolve_version", "resolve_model", "by_alias", "version_config", "run_config",
           "mlflow_message", "not_found", "model_names", "model_name_in"]

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_HOW = "use models:/NAME@ALIAS, models:/NAME/VERSION, a version number or a run id"


def mlflow_message(err) -> str:
    """An MLflow error's message on one line, at most 300 characters."""
    return " ".join(str(getattr(err, "message", err)).split())[:300]


# What MLflow answers for a name, alias, version or run that does not exist. Anything else
# (an unreachable or broken store) propagates as the store's own error.
_NOT_FOUND = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}


def not_found(err) -> bool:
    """Whether an ``MlflowException`` says that what was asked for does not exist."""
    return getattr(err, "error_code", None) in _NOT_FOUND


def model_names(client) -> list[str]:
    """The names of the registered models in the store, sorted."""
    return sorted(m.name for m in client.search_registered_models())


def model_name_in(client, model_name: str | None = None) -> str:
    """``model_name`` (checked), else the store's only registered model; with none or
    several, an :class:`~hscore.errors.HScoreError` that lists the names to choose from.

    Examples
    --------
    >>> from hscore.mlops.registry import model_name_in
    >>> from hscore.mlops.store import opened
    >>> with opened() as client:                                   # doctest: +SKIP
    ...     model_name_in(client)
    Traceback (most recent call last):
    ...
    HScoreError: --model-name: the store holds 2 registered models (crm-export, customer-health-score); name one with --model-name
    """
    if model_name:
        return check_model_name(model_name)
    names = model_names(client)
    if len(names) == 1:
        return names[0]
    if not names:
        raise HScoreError("model: the store holds no registered model yet; run "
                          "`hscore calibrate` first")
    raise HScoreError(f"--model-name: the store holds {len(names)} registered models "
                      f"({', '.join(names)}); name one with --model-name")


def resolve_version(model, model_name: str | None = None):
    """The registered ModelVersion behind ``models:/NAME@ALIAS``, ``models:/NAME/N``, a version
    number of ``model_name`` (default: the store's only model; :func:`model_name_in`) or a run
    id (its newest registered version).

    Raises
    ------
    HScoreError
        Unknown model, alias, version or run, or text that is none of these.

    Examples
    --------
    >>> from hscore.mlops.registry import resolve_version
    >>> v = resolve_version("models:/customer-health-score@champion")   # doctest: +SKIP
    >>> v.version, v.aliases                                             # doctest: +SKIP
    ('3', ['champion'])
    >>> resolve_version(3).version                                       # doctest: +SKIP
    '3'
    """
    version, run_id = resolve_model(model, model_name)
    if version is None:
        raise HScoreError(f"model: run {run_id} has no registered version")
    return version


def resolve_model(model, model_name: str | None = None):
    """``(ModelVersion or None, run_id)``: like :func:`resolve_version`, but a run id whose
    calibration was tracked without registering gives ``(None, run_id)``. A ``models:/`` URI
    names its model itself: a different ``model_name`` is an error.

    Examples
    --------
    >>> from hscore.mlops.registry import resolve_model
    >>> version, run_id = resolve_model("3f2a9c0e5b7d4e1f8a6b2c3d4e5f6a7b")  # doctest: +SKIP
    >>> version is None                  # tracked with register=False   # doctest: +SKIP
    True
    """
    from mlflow.exceptions import MlflowException

    text = str(model).strip()
    with store.opened() as client:
        try:
            version, run_id = _resolve(client, text, model_name)
        except MlflowException as err:
            if not not_found(err):
                raise
            raise HScoreError(f"model: {text}: {mlflow_message(err)}") from None
    if model_name and version is not None and version.name != model_name:
        raise HScoreError(f"--model-name: {text} is a version of {version.name}, "
                          f"not of {model_name}")
    return version, run_id


def _resolve(client, text: str, model_name: str | None = None):
    if text.startswith("models:/"):
        rest = text[len("models:/"):]
        if "@" in rest:
            name, alias = rest.split("@", 1)
            if not name or not alias:
                raise HScoreError(f"model: cannot read {text!r}; {_HOW}")
            v = by_alias(client, name, alias)
            return v, v.run_id
        name, _, number = rest.rpartition("/")
        if name and number.isdigit():
            v = client.get_model_version(name, number)
            return v, v.run_id
        raise HScoreError(f"model: cannot read {text!r}; {_HOW}")
    if text.isdigit():
        v = client.get_model_version(model_name_in(client, model_name), text)
        return v, v.run_id
    if _RUN_ID.match(text):
        client.get_run(text)   # unknown run -> MlflowException
        found = client.search_model_versions(f"run_id='{text}'")
        if not found:
            return None, text
        newest = max(found, key=lambda v: int(v.version))
        v = client.get_model_version(newest.name, str(newest.version))  # search omits aliases
        return v, v.run_id
    raise HScoreError(f"model: cannot read {text!r}; {_HOW}")


def by_alias(client, name: str, alias: str):
    """The version of model ``name`` with ``alias``; an HScoreError that says which is
    missing (the model or the alias) otherwise. ``client`` is from
    :func:`hscore.mlops.store.opened`."""
    from mlflow.exceptions import MlflowException

    try:
        v = client.get_model_version_by_alias(name, alias)
    except MlflowException as err:
        if not not_found(err):
            raise
        try:
            client.get_registered_model(name)
        except MlflowException as err2:
            if not not_found(err2):
                raise
            names = model_names(client)
            have = (f"registered: {', '.join(names)}; pick one with --model-name" if names
                    else "run `hscore calibrate` first")
            raise HScoreError(f"model: there is no registered model {name!r} ({have})") \
                from None
        raise HScoreError(f"model: {name} has no version with the alias @{alias} "
                          f"({mlflow_message(err)})") from None
    return v


def version_config(version) -> Config:
    """The config file that is a registered version's only artifact.

    Examples
    --------
    >>> from hscore.mlops.registry import resolve_version, version_config
    >>> cfg = version_config(resolve_version("models:/customer-health-score@champion"))  # doctest: +SKIP
    >>> cfg.provenance.data_window.holdout_from                                        # doctest: +SKIP
    '2025-06-01'
    """
    import mlflow

    with store.opened() as client, tempfile.TemporaryDirectory(prefix="hscore-model-") as tmp:
        root = client.get_model_version_download_uri(version.name, version.version).rstrip("/")
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{root}/artifacts/config.yaml", dst_path=tmp)
        except Exception as err:  # noqa: BLE001 - any artifact store error means the same
            raise HScoreError(f"model: {version.name} version {version.version} holds no "
                              f"config file ({mlflow_message(err)})") from None
        return load_config(local)


def run_config(run_id: str) -> Config:
    """The calibrated config a calibration run logged (``calibration/config.yaml``).

    Examples
    --------
    >>> from hscore.mlops.registry import run_config
    >>> cfg = run_config("3f2a9c0e5b7d4e1f8a6b2c3d4e5f6a7b")   # doctest: +SKIP
    >>> cfg.name                                               # doctest: +SKIP
    'lifecycle-calibrated'
    """
    import mlflow

    with store.opened(), tempfile.TemporaryDirectory(prefix="hscore-run-") as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path="calibration/config.yaml", dst_path=tmp)
        except Exception as err:  # noqa: BLE001
            raise HScoreError(f"model: run {run_id} holds no calibration/config.yaml "
                              f"({mlflow_message(err)})") from None
        return load_config(local)

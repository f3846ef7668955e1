"""Export a registered (or tracked) config as the one file production scoring reads.

Production runs ``HealthScorer(load_config(FILE)).score(frame)``: no MLflow,
no statsmodels, no scikit-learn. The exported file is the version's config
unchanged except for ``provenance``, which gains where it came from (run id,
model version and aliases, the URI asked for, when it was exported) next to
what calibration recorded (data window, rows, quality, method), so its scores
are exactly the registered pyfunc model's.

The write is atomic: the text goes to a temporary file in the same folder,
is flushed to disk, then renamed over ``out``. An interrupted export leaves
``out`` as it was (absent, or the previous export), never half written.

Examples
--------
Shell::

    hscore export --model models:/customer-health-score@champion --out prod/health.yaml

Python::

    >>> from hscore.mlops.export import export_config              # doctest: +SKIP
    >>> export_config("models:/customer-health-score@champion", "health.yaml")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

from hscore.config import Provenance, dump_config
from hscore.files import atomic_write

__all__ = ["export_config", "describe_export"]


def export_config(model_uri, out: str | os.PathLike, *, model_name: str | None = None) -> Path:
    """Write the config of a registered version (or a calibration run) to ``out`` with provenance.

    Parameters
    ----------
    model_uri : str, int or None
        ``models:/customer-health-score@champion``, ``models:/customer-health-score/3``,
        a version number (``3``) or a calibration run id (its newest registered version, or
        the config the run logged when it registered none); None: ``@champion`` of
        ``model_name``.
    out : path
        The YAML file to write (atomically).
    model_name : str, optional
        The registered model (one per book) of a version number or of the default
        ``@champion``; default the store's only model (with several, an error lists them).

    Returns
    -------
    Path
        ``out``; :func:`describe_export` says what it holds.

    Raises
    ------
    HScoreError
        Unknown model, alias, version or run, several models and no ``model_name``, no
        store or a damaged one (the CLI prints it as one ``error:`` line).
    """
    from hscore.mlops.registry import model_name_in, resolve_model, run_config, version_config
    from hscore.mlops.store import opened, tracking_uri

    if model_uri is None:
        with opened() as client:
            model_uri = f"models:/{model_name_in(client, model_name)}@champion"
    version, run_id = resolve_model(model_uri, model_name)
    cfg = version_config(version) if version is not None else run_config(run_id)
    added = {"run_id": run_id}
    if version is not None:
        added["model"] = {"name": version.name, "version": str(version.version),
                          "aliases": sorted(version.aliases or []),
                          "uri": f"models:/{version.name}/{version.version}"}
        decision = (version.tags or {}).get("promotion.decision")
        if decision:
            added["promotion"] = {k: version.tags[f"promotion.{k}"]
                                  for k in ("decision", "time", "auc_challenger", "auc_champion",
                                            "window") if f"promotion.{k}" in version.tags}
    added["exported"] = {
        "at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "from": str(model_uri),
        "tracking_uri": tracking_uri(),
    }
    prov = (cfg.provenance or Provenance()).extended(**added)
    exported = cfg.replace(provenance=prov.to_dict())
    return atomic_write(out, dump_config(exported))


def describe_export(path: str | os.PathLike) -> str:
    """One line: which version / run an exported file holds, and its holdout quality."""
    from hscore.config import load_config

    prov = load_config(path).provenance or Provenance()
    model = prov.model
    what = (f"{model.name} version {model.version}"
            + (f" ({', '.join('@' + a for a in model.aliases)})" if model.aliases else "")
            ) if model else "an unregistered calibration"
    window = prov.data_window.holdout if prov.data_window else None
    pooled = (prov.quality or {}).get("all")
    auc = (f", pooled holdout AUC {pooled.auc:.3f}" if pooled and pooled.auc is not None
           else "")
    span = f" on {window[0]}..{window[1]}" if window else ""
    return f"exported {what} from run {prov.run_id} to {path}{span}{auc}"

"""Config files: the shipped defaults, safe YAML reading, and writing a config back.

``load_config`` is the one way a config comes in (a shipped default's name, a YAML
path, a mapping or a Config) and ``save_config`` the one way it goes out.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from hscore.config.schema import Config, _normalized_mapping, config_from_dict, normalize_weights
from hscore.errors import ConfigError

__all__ = ["load_config", "save_config", "dump_config", "shipped_defaults", "DEFAULTS_DIR"]

DEFAULTS_DIR = Path(__file__).parent / "defaults"


def shipped_defaults() -> list[str]:
    """Names of the configs shipped in ``hscore/config/defaults``."""
    return sorted(p.stem for p in DEFAULTS_DIR.glob("*.yaml"))


def _read_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError([("(yaml)", f"not safe YAML{where}: {problem}")], source) from None


def load_config(name_or_path: str | os.PathLike | Mapping | Config, *,
                normalize: bool = False) -> Config:
    """Load a shipped default by name (``"lifecycle"``, ``"categories"``) or a YAML file.

    Parameters
    ----------
    name_or_path
        A shipped default's name, a path to a YAML file, a mapping, or a Config.
    normalize
        Rescale weights to sum to 1 at each level before validating (for
        configs typed as percentages). Off by default: a config that does not
        sum to 1 is usually a typo.

    Examples
    --------
    >>> cfg = load_config("categories")
    >>> round(sum(c.weight for c in cfg.stages["all"].components.values()), 12)
    1.0
    """
    if isinstance(name_or_path, Config):
        return normalize_weights(name_or_path) if normalize else name_or_path
    if isinstance(name_or_path, Mapping):
        data, source = dict(name_or_path), None
    else:
        text, source = _config_text(name_or_path)
        data = _read_yaml(text, source)
    if normalize:
        data = _normalized_mapping(data, source)
    return config_from_dict(data, source)


def _config_text(name_or_path: str | os.PathLike) -> tuple[str, str]:
    s = os.fspath(name_or_path)
    if s in shipped_defaults():
        return (DEFAULTS_DIR / f"{s}.yaml").read_text("utf-8"), s
    path = Path(s)
    if not path.exists():
        raise ConfigError([("(file)", f"no such config file, and not a shipped default "
                                      f"({', '.join(shipped_defaults())})")], s)
    return path.read_text("utf-8"), s


# -------------------------------------------------------------------- saving
def dump_config(config: Config) -> str:
    """The config as YAML text; ``load_config`` of it gives back an equal Config."""
    buf = io.StringIO()
    yaml.safe_dump(config.to_dict(), buf, sort_keys=False, allow_unicode=True,
                   default_flow_style=None, width=100)
    return buf.getvalue()


def save_config(config: Config, path: str | os.PathLike) -> Path:
    """Write the config as YAML atomically (a temp file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(dump_config(config), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path

"""Config files: the shipped defaults, safe YAML reading, and writing a config back.

``load_config`` is the one way a config comes in (a shipped default's name, a YAML
path, a mapping or a Config) and ``save_config`` the one way it goes out.

Every YAML file is read with :class:`SafeLoader`: no Python tags, no key given twice,
bounded nesting and bounded alias expansion. A problem is a :class:`ConfigError` naming
the file and the line.
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
from hscore.files import atomic_write

__all__ = ["load_config", "save_config", "dump_config", "shipped_defaults", "DEFAULTS_DIR",
           "SafeLoader", "MAX_DEPTH", "MAX_NODES"]

DEFAULTS_DIR = Path(__file__).parent / "defaults"


def shipped_defaults() -> list[str]:
    """Names of the configs shipped in ``hscore/config/defaults``."""
    return sorted(p.stem for p in DEFAULTS_DIR.glob("*.yaml"))


#: How deep a YAML document may nest (a config needs about a dozen levels).
MAX_DEPTH = 64
#: How many nodes a YAML document may hold once its aliases are expanded (a config holds a
#: few hundred): the bound on "billion laughs" documents, whose aliases multiply at each level.
MAX_NODES = 100_000


class _Refused(yaml.YAMLError):
    def __init__(self, problem: str, mark):
        super().__init__(problem)
        self.problem, self.problem_mark = problem, mark


class SafeLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader (no Python tags) that also refuses, with the line:

    - a key given twice in one mapping (YAML would keep the last one: a second
      ``maturity:`` would replace the whole stage without a word);
    - nesting deeper than :data:`MAX_DEPTH` (deep nesting exhausts Python's stack);
    - more than :data:`MAX_NODES` nodes once aliases are expanded, and an alias inside
      the node it names (alias bombs: a few lines that expand to billions of nodes).

    The counts are made while the document is composed, before anything is expanded, so
    a bomb is refused in the time it takes to read it.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._sizes: dict[int, int] = {}   # id(node) -> nodes once its aliases are expanded

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = super().compose_node(parent, index)
            if id(node) not in self._sizes:
                raise _Refused(f"alias *{event.anchor} is used inside the node it names",
                               event.start_mark)
            return node
        mark = self.peek_event().start_mark
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(f"nested more than {MAX_DEPTH} levels deep", mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        size = 1
        if isinstance(node, yaml.MappingNode):
            self._refuse_duplicate_keys(node)
            size += sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            size += sum(self._sizes[id(v)] for v in node.value)
        if size > MAX_NODES:
            raise _Refused(f"more than {MAX_NODES:,} values once its aliases (*name) are "
                           f"expanded", mark)
        self._sizes[id(node)] = size
        return node

    @staticmethod
    def _refuse_duplicate_keys(node) -> None:
        seen: dict[tuple[str, str], int] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            ident = (key.tag, key.value)
            if ident in seen:
                raise _Refused(f"duplicate key '{key.value}' (first on line {seen[ident] + 1}):"
                               f" the second would silently replace the first", key.start_mark)
            seen[ident] = key.start_mark.line


def _read_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=SafeLoader)  # noqa: S506 - a SafeLoader subclass
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
    try:
        return path.read_text("utf-8"), s
    except UnicodeDecodeError as err:
        raw = path.read_bytes()
        line = raw.count(b"\n", 0, err.start) + 1
        raise ConfigError([("(file)", f"not UTF-8 text (line {line}, byte "
                                      f"0x{raw[err.start]:02x}): a config is a UTF-8 YAML "
                                      f"file")], s) from None


# -------------------------------------------------------------------- saving
def dump_config(config: Config) -> str:
    """The config as YAML text; ``load_config`` of it gives back an equal Config."""
    buf = io.StringIO()
    yaml.safe_dump(config.to_dict(), buf, sort_keys=False, allow_unicode=True,
                   default_flow_style=None, width=100)
    return buf.getvalue()


def save_config(config: Config, path: str | os.PathLike) -> Path:
    """Write the config as YAML atomically (see :func:`hscore.files.atomic_write`)."""
    return atomic_write(path, dump_config(config))

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
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from hscore.config.schema import Config, _normalized_mapping, config_from_dict, normalize_weights
from hscore.errors import ConfigError
from hscore.files import atomic_write

__all__ = ["load_config", "save_config", "dump_config", "shipped_defaults", "DEFAULTS_DIR",
           "SafeLoader", "PureSafeLoader", "yaml_problem", "MAX_DEPTH", "MAX_NODES"]

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


#: libyaml's parser and emitter when PyYAML was built with them: several times faster than
#: the pure-Python ones, which matters because configs are read often (every export, every
#: registered version the registry looks at). The checks below work on either.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Checked:
    """The checks of :class:`SafeLoader`, on whichever parser the loader mixes them into."""

    def __init__(self, stream):
        super().__init__(stream)  # type: ignore[call-arg]
        self._text = stream if isinstance(stream, str) else None

    def get_single_node(self):
        try:
            node = super().get_single_node()
        except RecursionError:      # the pure-Python composer, on nesting thousands deep
            raise _Refused(f"nested more than {MAX_DEPTH} levels deep", None) from None
        except yaml.YAMLError as err:
            # libyaml stops at its own nesting bound (1,000) before the document is composed.
            if "maximum nesting depth" in str(getattr(err, "problem", "")):
                raise _Refused(f"nested more than {MAX_DEPTH} levels deep",
                               err.problem_mark) from None
            raise
        if node is not None:
            _check_node(node, self._text)
        return node


class SafeLoader(_Checked, _Loader):
    """PyYAML's safe loader (no Python tags) that also refuses, with the line:

    - a key given twice in one mapping (YAML would keep the last one: a second
      ``maturity:`` would replace the whole stage without a word);
    - nesting deeper than :data:`MAX_DEPTH` (deep nesting exhausts Python's stack);
    - more than :data:`MAX_NODES` nodes once aliases are expanded, and an alias inside
      the node it names (alias bombs: a few lines that expand to billions of nodes).

    The document is composed first (an alias is one shared node there, so a bomb costs
    what its text costs) and checked before anything is constructed from it.
    """


class PureSafeLoader(_Checked, yaml.SafeLoader):
    """:class:`SafeLoader` on PyYAML's pure-Python parser: what runs where libyaml is missing."""


def _anchor_at(text: str | None, mark) -> str:
    """The anchor (``&name``) written where a node starts, for naming it in an error."""
    if text is None or mark is None:
        return ""
    lines = text.splitlines()
    found = re.match(r"&([^\s,\[\]{}]+)", lines[mark.line][mark.column:]) \
        if mark.line < len(lines) else None
    return f" *{found.group(1)}" if found else ""


def _check_node(root, text: str | None = None) -> None:
    """Refuse duplicate keys, deep nesting and alias expansion past the bounds.

    One depth-first walk without recursion. A node an alias names more than once is
    walked once: its expanded size and height are remembered by identity.
    """
    done: dict[int, tuple[int, int]] = {}     # id(node) -> (nodes expanded, levels)
    open_: set[int] = set()                   # nodes whose walk has begun, not ended
    stack: list = [(root, 1, None)]           # (node, depth, its children when leaving it)
    while stack:
        node, depth, kids = stack.pop()
        key = id(node)
        if kids is not None:                  # leaving: every child is done
            size, height = 1, 1
            for child in kids:
                s, h = done.get(id(child), (1, 1))    # (1, 1): a scalar
                size += s
                height = max(height, h + 1)
            if size > MAX_NODES:
                raise _Refused(f"more than {MAX_NODES:,} values once its aliases (*name) "
                               f"are expanded", node.start_mark)
            done[key] = (size, height)
            open_.discard(key)
            continue
        if key in done:                       # an alias of a node already walked
            if depth - 1 + done[key][1] > MAX_DEPTH:
                raise _Refused(f"nested more than {MAX_DEPTH} levels deep", node.start_mark)
            continue
        if key in open_:
            raise _Refused(f"alias{_anchor_at(text, node.start_mark)} is used inside the "
                           f"node it names", node.start_mark)
        if isinstance(node, yaml.MappingNode):
            _refuse_duplicate_keys(node)
            kids = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            kids = node.value
        else:
            kids = ()
        if depth + (1 if kids else 0) > MAX_DEPTH:
            raise _Refused(f"nested more than {MAX_DEPTH} levels deep", node.start_mark)
        if not kids:
            continue
        open_.add(key)
        stack.append((node, depth, kids))
        stack.extend((child, depth + 1, None) for child in kids
                     if not isinstance(child, yaml.ScalarNode))


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


def yaml_problem(err: yaml.YAMLError) -> str:
    """What a YAML error says, in one line with the line number."""
    mark = getattr(err, "problem_mark", None)
    where = f" (line {mark.line + 1})" if mark is not None else ""
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return f"not safe YAML{where}: {problem}"


def _read_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=SafeLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        raise ConfigError([("(yaml)", yaml_problem(err))], source) from None


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
    yaml.dump(config.to_dict(), buf, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
              default_flow_style=None, width=100)
    return buf.getvalue()


def save_config(config: Config, path: str | os.PathLike) -> Path:
    """Write the config as YAML atomically (see :func:`hscore.files.atomic_write`)."""
    return atomic_write(path, dump_config(config))

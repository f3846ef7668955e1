"""Config YAML is read safely (issue 8, items 3, 4 and 7): alias bombs and deep nesting are
refused fast instead of hanging or overflowing the stack, a key given twice is refused
instead of silently replacing the first, and a file that is not UTF-8 is a ConfigError.
Each through the API (``load_config``) and the CLI (exit 2, one ``error:`` line)."""

from __future__ import annotations

import pytest
import yaml

from cli_probe import SAMPLE, deadline, one_error
from hscore import ConfigError, load_config
from hscore.config import dump_config
from hscore.config.io import MAX_DEPTH, MAX_NODES, PureSafeLoader, SafeLoader

LIFECYCLE = load_config("lifecycle")


def _exported_text() -> str:
    """A valid config as export writes it, with a free-form provenance at the end."""
    cfg = LIFECYCLE.replace(provenance={
        "source": "calibration", "data_window": {"train": ["2024-01-01", "2025-06-30"],
                                                 "holdout_from": "2025-07-01",
                                                 "horizon_days": 30},
        "run_id": "abc"})
    text = dump_config(cfg)
    assert text.rstrip().endswith("\n  run_id: abc")
    return text


def _bomb(levels: int) -> str:
    """Ten aliases of the level below at each level: 10**levels values once expanded."""
    lines = ['  lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"  lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def _refused(tmp_path, capsys, text, *fragments):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with deadline(60):
        with pytest.raises(ConfigError) as excinfo:
            load_config(path)
        line = one_error(capsys, "score", "--config", path, "--snapshots", SAMPLE,
                         fragments=[str(path), *fragments])
    (where, message), = excinfo.value.problems
    assert where == "(yaml)" or where == "(file)"
    assert line == f"error: {excinfo.value.one_line()}"
    return message


def test_an_alias_bomb_in_the_provenance_of_an_exported_config_fails_fast(tmp_path, capsys):
    text = _exported_text() + _bomb(9)
    message = _refused(tmp_path, capsys, text, "not safe YAML", "aliases")
    assert f"more than {MAX_NODES:,} values" in message


def test_a_recursive_alias_is_refused(tmp_path, capsys):
    _refused(tmp_path, capsys, _exported_text() + "  loop: &loop [1, *loop]\n",
             "alias *loop is used inside the node it names")


def test_modest_aliases_still_load():
    # The loader itself (provenance is typed now, so a config with these keys fails later,
    # in validation, not in YAML): 1,000 values are fine.
    data = yaml.load(_exported_text() + _bomb(3), Loader=SafeLoader)
    lol3 = data["provenance"]["lol3"]
    assert len(lol3) == 10 and lol3[0][0][0] == ["lol"] * 10


@pytest.mark.parametrize("flow", [True, False], ids=["flow", "block"])
def test_nesting_100k_deep_is_refused_not_a_recursion_error(tmp_path, capsys, flow):
    depth = 100_000
    if flow:
        deep = "  deep: " + "[" * depth + "]" * depth + "\n"
    else:  # block style: "- - - ... x", one sequence inside the other
        deep = "  deep:\n    " + "- " * depth + "x\n"
    _refused(tmp_path, capsys, _exported_text() + deep, f"nested more than {MAX_DEPTH} levels")


def test_a_stage_given_twice_is_refused_with_both_lines(tmp_path, capsys):
    lines = _exported_text().splitlines(keepends=True)
    first = lines.index("  maturity:\n") + 1
    second = lines.index("  renewal:\n") + 1
    lines[second - 1:second - 1] = ["  maturity:\n", "    components: {}\n"]
    message = _refused(tmp_path, capsys, "".join(lines), "duplicate key 'maturity'")
    assert f"(line {second}): duplicate key 'maturity' (first on line {first})" in message


def test_a_nested_key_given_twice_is_refused(tmp_path, capsys):
    text = _exported_text().replace("        weight: 0.45\n", "        weight: 0.45\n"
                                    "        weight: 0.9\n", 1)
    _refused(tmp_path, capsys, text, "duplicate key 'weight'")


def test_a_quoted_and_a_plain_spelling_of_one_key_are_duplicates(tmp_path, capsys):
    _refused(tmp_path, capsys, "schema_version: 1\n'schema_version': 1\n",
             "duplicate key 'schema_version'")


def test_merge_keys_may_still_override_what_they_merge():
    text = _exported_text() + "  base: &base {a: 1, b: 2}\n  derived: {<<: *base, b: 3}\n"
    assert yaml.load(text, Loader=SafeLoader)["provenance"]["derived"] == {"a": 1, "b": 3}


def test_a_config_that_is_not_utf8_is_a_config_error(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_bytes(_exported_text().replace("calibration", "calibraci\u00f3n").encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)
    one_error(capsys, "score", "--config", path, "--snapshots", SAMPLE,
              fragments=[str(path), "not UTF-8", "line"])


# ---------------------------------------------------------------- both parsers
#: What each document must be refused with, by the libyaml loader and the pure-Python one.
_REFUSALS = {
    "bomb": (_bomb(9), f"more than {MAX_NODES:,} values"),
    "recursive alias": ("  loop: &loop [1, *loop]\n", "alias *loop is used inside the node"),
    "deep flow": ("  deep: " + "[" * 100_000 + "]" * 100_000 + "\n",
                  f"nested more than {MAX_DEPTH} levels"),
    "deep block": ("  deep:\n    " + "- " * 5_000 + "x\n", f"nested more than {MAX_DEPTH} levels"),
    "one level too deep": ("  deep: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n",
                           f"nested more than {MAX_DEPTH} levels"),
    "an alias too deep": ("  a: &a " + "[" * 40 + "]" * 40 + "\n  b: " + "[" * 30 + "*a"
                          + "]" * 30 + "\n", f"nested more than {MAX_DEPTH} levels"),
    "duplicate": ("  same: 1\n  same: 2\n", "duplicate key 'same'"),
}


@pytest.mark.parametrize("loader", [SafeLoader, PureSafeLoader], ids=["libyaml", "python"])
@pytest.mark.parametrize("case", list(_REFUSALS))
def test_both_parsers_refuse_the_same_documents(loader, case):
    text, fragment = _REFUSALS[case]
    with deadline(60), pytest.raises(yaml.YAMLError) as excinfo:
        yaml.load(_exported_text() + text, Loader=loader)
    assert fragment in excinfo.value.problem


@pytest.mark.parametrize("loader", [SafeLoader, PureSafeLoader], ids=["libyaml", "python"])
def test_both_parsers_read_a_config_as_plain_yaml_does(loader):
    text = _exported_text() + "  base: &base {a: 1, b: 2}\n  derived: {<<: *base, b: 3}\n"
    # provenance sits two levels down: its deepest value here is on level MAX_DEPTH
    text += "  near: " + "[" * (MAX_DEPTH - 3) + "1" + "]" * (MAX_DEPTH - 3) + "\n"
    assert yaml.load(text, Loader=loader) == yaml.load(text, Loader=yaml.SafeLoader)


def test_the_fast_parser_is_used_where_pyyaml_has_it():
    # The configs are read on every export and registry look-up: the C parser reads them
    # several times faster (a shipped config: ~6 ms against ~55 ms).
    assert issubclass(SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader))

"""Every line of the README's "Guarantees" section names at least one test, and every test it
names exists: a promise without a test, or a test renamed from under its promise, fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _section() -> str:
    text = (ROOT / "README.md").read_text("utf-8")
    start = text.index("## Guarantees\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    return {node.name for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def test_every_guarantee_names_tests_that_exist():
    items = re.split(r"\n- ", _section())[1:]
    assert len(items) >= 8
    for item in items:
        refs = re.findall(r"`(tests/test_\w+\.py)::(test_\w+)`", item)
        assert refs, f"a guarantee without a test: {item[:80]!r}"
        for path, name in refs:
            assert name in _tests_in(ROOT / path), f"{path}::{name} does not exist"

"""The README's Python example runs as written (from the checkout, on the shipped sample)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example_runs(monkeypatch, capsys):
    text = (ROOT / "README.md").read_text("utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "the README has no Python example"
    monkeypatch.chdir(ROOT)                      # it reads data/sample_snapshots.csv
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for code in blocks:
            exec(compile(code, "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "verdict:" in out and "->" in out
    assert namespace["scores"]["score"].between(0, 100).all()

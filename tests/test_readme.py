"""The README's Python example runs as written (from the checkout, on the shipped sample)."""

from __future__ import annotations

import re
import shlex
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


def test_readme_command_line_examples_run(monkeypatch, tmp_path, capsys):
    """The concrete `hscore calibrate` / `hscore compare` lines on the shipped data run as
    written, and each says first what `churned` means."""
    from hscore.cli import main

    text = (ROOT / "README.md").read_text("utf-8")
    commands = re.findall(r"^hscore (?:calibrate|compare) --snapshots data/.*$", text, flags=re.M)
    assert len(commands) == 2, commands
    (tmp_path / "data").symlink_to(ROOT / "data")
    monkeypatch.chdir(tmp_path)                  # the examples write into the working folder
    for command in commands:
        assert main(shlex.split(command)[1:]) == 0, command
        out = capsys.readouterr().out
        assert out.startswith("churned = churn within "), command

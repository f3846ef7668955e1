"""Outputs never destroy inputs or the store, and are written whole (issue 8, items 1 and 9;
issue 7, item 4: one atomic writer).

- An output path that resolves to an input of the command (through ``..``, a symbolic link
  or a hard link) or to the MLflow store (database, its side files, the artifacts folder) is
  refused before any work starts: exit 2, one ``error:`` line, the input untouched.
- Every file hscore writes goes through :func:`hscore.files.atomic_write`: a temp file named
  ``.<name>.hscore-<pid>-<random>.tmp`` beside the target, fsync, rename, mode kept. A write
  killed with SIGKILL leaves the old output intact and its temp file, which the next write to
  the same target removes.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

import hscore.scoring.snapshots as snapshots_module
from cli_probe import SAMPLE, deadline, one_error, run
from hscore import load_config, save_config, write_frame
from hscore.files import atomic_write, refuse_overwrite, stale_temps


@pytest.fixture
def sample(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(SAMPLE.read_bytes())
    return path


@pytest.fixture
def no_work(monkeypatch):
    """Reading the snapshots counts as work: the guard must refuse before it."""
    def read(*args, **kwargs):
        raise AssertionError("the snapshots were read before the output was checked")
    monkeypatch.setattr(snapshots_module, "read_snapshots", read)


# ------------------------------------------------------------------ output over input
@pytest.mark.parametrize("spell", ["same", "dotdot", "symlink", "hardlink"])
def test_score_output_over_its_input_is_refused_before_any_work(tmp_path, sample, no_work,
                                                                 capsys, spell):
    out = {"same": sample, "dotdot": tmp_path / "sub" / ".." / "x.csv",
           "symlink": tmp_path / "link.csv", "hardlink": tmp_path / "hard.csv"}[spell]
    if spell == "symlink":
        out.symlink_to(sample)
    elif spell == "hardlink":
        os.link(sample, out)
    before = sample.read_bytes()
    one_error(capsys, "score", "--config", "lifecycle", "--snapshots", sample, "--out", out,
              fragments=["--out", "--snapshots", "would destroy the input"])
    assert sample.read_bytes() == before


def test_calibrate_output_over_its_snapshots_or_config_is_refused(tmp_path, sample, no_work,
                                                                   capsys):
    before = sample.read_bytes()
    one_error(capsys, "calibrate", "--snapshots", sample, "--out", sample, "--no-track",
              fragments=["--out", "--snapshots"])
    assert sample.read_bytes() == before
    config = save_config(load_config("lifecycle"), tmp_path / "start.yaml")
    text = config.read_text("utf-8")
    one_error(capsys, "calibrate", "--snapshots", sample, "--config", config, "--out", config,
              fragments=["--out", "--config"])
    assert config.read_text("utf-8") == text


def test_output_over_a_shipped_default_config_is_refused(tmp_path, sample, no_work, capsys):
    from hscore.config import DEFAULTS_DIR

    one_error(capsys, "calibrate", "--snapshots", sample, "--config", "categories",
              "--out", DEFAULTS_DIR / "categories.yaml", fragments=["--config"])


# ------------------------------------------------------------------ output over the store
def _store(home):
    db = home / "mlruns.db"      # where conftest points MLFLOW_TRACKING_URI
    db.write_bytes(b"SQLite format 3\x00 stand-in for the store")
    return db


@pytest.mark.parametrize("target", ["mlruns.db", "mlruns.db-wal", "mlartifacts/1/x.yaml"])
def test_export_over_the_store_is_refused(_isolated_store, capsys, target):
    db = _store(_isolated_store)
    before = db.read_bytes()
    one_error(capsys, "export", "--model", "1", "--out", _isolated_store / target,
              fragments=["MLflow", "--out"])
    assert db.read_bytes() == before
    assert not (_isolated_store / target).exists() or target == "mlruns.db"


def test_calibrate_over_the_store_is_refused_even_before_the_store_exists(
        _isolated_store, sample, no_work, capsys, monkeypatch):
    monkeypatch.chdir(_isolated_store)
    one_error(capsys, "calibrate", "--snapshots", sample, "--out", "mlruns.db",
              fragments=["MLflow store"])
    assert not (_isolated_store / "mlruns.db").exists()


def test_an_output_that_is_a_folder_is_refused_before_any_work(tmp_path, sample, no_work,
                                                               capsys):
    (tmp_path / "out.csv").mkdir()
    one_error(capsys, "score", "--config", "lifecycle", "--snapshots", sample,
              "--out", tmp_path / "out.csv", fragments=["is a folder"])


def test_a_distinct_output_is_fine(tmp_path, sample, capsys):
    rc, out, err = run(capsys, "score", "--config", "lifecycle", "--snapshots", sample,
                       "--out", tmp_path / "scores.csv")
    assert rc == 0, err
    assert len(pd.read_csv(tmp_path / "scores.csv")) == len(pd.read_csv(sample))


def test_the_guard_through_the_python_api(tmp_path):
    from hscore.errors import OutputError

    (tmp_path / "a.csv").write_text("x\n")
    with pytest.raises(OutputError, match="--out .* is --snapshots"):
        refuse_overwrite({"--out": tmp_path / "." / "a.csv"}, {"--snapshots": tmp_path / "a.csv"})
    refuse_overwrite({"--out": tmp_path / "b.csv"}, {"--snapshots": tmp_path / "a.csv"})


# ------------------------------------------------------------------ the one atomic writer
def test_atomic_write_takes_text_bytes_or_a_writer_and_keeps_the_mode(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old " * 1000)
    target.chmod(0o640)
    atomic_write(target, "text")
    assert target.read_text() == "text" and target.stat().st_mode & 0o777 == 0o640
    atomic_write(target, b"bytes")
    assert target.read_bytes() == b"bytes" and target.stat().st_mode & 0o777 == 0o640
    atomic_write(target, lambda tmp: tmp.write_text("from a writer"))
    assert target.read_text() == "from a writer" and target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
    fresh = atomic_write(tmp_path / "new.yaml", "x\n")
    umask = os.umask(0)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask   # as a plain open() would make it


def test_atomic_write_follows_a_symlink_and_keeps_it(tmp_path):
    real = tmp_path / "real.yaml"
    real.write_text("old")
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    atomic_write(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def test_a_failed_write_leaves_the_target_and_no_temp_file(tmp_path):
    target = tmp_path / "f.csv"
    target.write_text("previous")

    def half(tmp):
        tmp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, half)
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["f.csv"]


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


@pytest.mark.parametrize("write", [
    lambda path: write_frame(pd.DataFrame({"a": [1]}), path),
    lambda path: save_config(load_config("lifecycle"), path),
    lambda path: atomic_write(path, "exported: 1\n"),
], ids=["write_frame", "save_config", "atomic_write"])
def test_every_writer_removes_stale_temps_of_dead_processes_only(tmp_path, write):
    target = tmp_path / "out.csv"
    dead = _dead_pid()
    stale = [tmp_path / f".out.csv.hscore-{dead}-0badf00d.tmp",
             tmp_path / f".out.csv.{dead}.tmp"]              # the name of hscore < 0.2
    alive = tmp_path / f".out.csv.hscore-{os.getpid()}-0123abcd.tmp"  # a write in progress
    other = tmp_path / f".other.csv.hscore-{dead}-0badf00d.tmp"      # another target's
    for p in (*stale, alive, other):
        p.write_text("partial")
    assert stale_temps(target) == sorted(stale)
    write(target)
    assert target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["out.csv", alive.name, other.name])


def test_a_write_killed_by_sigkill_keeps_the_old_output_and_the_next_write_cleans_up(tmp_path):
    out = tmp_path / "scores.csv"
    out.write_text("the previous output\n")
    script = textwrap.dedent("""
        import sys
        import numpy as np, pandas as pd
        from hscore.scoring.snapshots import write_frame
        n = 2_000_000
        rng = np.random.default_rng(0)
        frame = pd.DataFrame({"account_id": np.arange(n).astype(str), "score": rng.random(n),
                              "coverage": rng.random(n)})
        print("ready", flush=True)
        write_frame(frame, sys.argv[1])
        print("finished", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script, str(out)], stdout=subprocess.PIPE,
                            text=True)
    temp = re.compile(rf"^\.scores\.csv\.hscore-{proc.pid}-[0-9a-f]+\.tmp$")
    try:
        with deadline(120):
            assert proc.stdout.readline().strip() == "ready"
            while True:  # kill it in the middle of the write: once its temp file has data
                found = [p for p in tmp_path.iterdir() if temp.match(p.name)]
                if found and found[0].stat().st_size > 1_000_000:
                    break
                assert proc.poll() is None, "the write finished before it could be killed"
                time.sleep(0.005)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert out.read_text() == "the previous output\n"
    left = [p.name for p in tmp_path.iterdir() if p != out]
    assert len(left) == 1 and temp.match(left[0]), left   # clearly named: .<name>.hscore-<pid>
    write_frame(pd.DataFrame({"score": [1.0]}), out)
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]
    assert out.read_text() == "score\n1.0\n"


# ------------------------------------------------------------------ determinism
def test_the_same_command_twice_writes_the_same_scores(tmp_path, sample, capsys):
    for name in ("a.csv", "b.csv"):
        rc, _, err = run(capsys, "score", "--config", "lifecycle", "--snapshots", sample,
                         "--out", tmp_path / name)
        assert rc == 0, err
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_the_same_calibration_twice_gives_the_same_config(tmp_path, sample, capsys):
    texts = []
    for name in ("a.yaml", "b.yaml"):
        rc, _, err = run(capsys, "calibrate", "--snapshots", sample, "--out", tmp_path / name,
                         "--no-track", "--horizon-days", "30", "--bootstrap", "10",
                         "--strengths", "1", "--seed", "3")
        assert rc == 0, err
        # the one line that may differ: when the file was made
        texts.append(re.sub(r"(?m)^  created: .*$", "", (tmp_path / name).read_text("utf-8")))
    assert texts[0] == texts[1]

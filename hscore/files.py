"""Files hscore writes: one atomic writer, and the guard that keeps outputs off inputs.

Light on purpose (standard library only): the scorer, the config writer, the CLI and the
MLflow export all use it.

Atomic writes
-------------
:func:`atomic_write` writes to a temporary file in the target's folder, flushes and
fsyncs it, renames it over the target (``os.replace``) and fsyncs the folder. Readers see
the old file or the new one, never a part of either. The new file keeps the mode of the
file it replaces (a new file gets the mode a plain ``open()`` would give it).

The temporary file is named ``.<name>.hscore-<pid>-<random>.tmp`` beside the target,
so that anyone who finds one knows what wrote it. When a write is interrupted in Python
(an exception, Ctrl-C) the temporary file is removed there and then. A process killed
outright (SIGKILL, power loss) cannot clean up; **the next write to the same target
removes the temporary files whose process is no longer running** (a pid that is alive
may be another write in progress, so its file stays). Temporary files of the older
``.<name>.<pid>.tmp`` form follow the same rule.

Output guard
------------
:func:`refuse_overwrite` refuses, before any work starts, an output path that is one of
the command's inputs or a protected file (the MLflow store) or lies in a protected folder
(the store's artifacts), after resolving symbolic links and ``..`` and comparing
existing files by device and inode (so a hard link is seen too).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from hscore.errors import OutputError

__all__ = ["atomic_write", "temp_name", "stale_temps", "refuse_overwrite"]

TEMP_TAG = "hscore"
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?:" + TEMP_TAG + r"-)?(?P<pid>\d+)(?:-[0-9a-f]+)?\.tmp$")

Payload = bytes | str | Callable[[Path], object]


def temp_name(target: str | os.PathLike, pid: int | None = None) -> str:
    """The name of a temporary file for ``target`` (in its folder):
    ``.<name>.hscore-<pid>-<random>.tmp``."""
    pid = os.getpid() if pid is None else pid
    return f".{Path(target).name}.{TEMP_TAG}-{pid}-{os.urandom(4).hex()}.tmp"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True        # exists (another user's process), or we cannot tell: keep the file
    return True


def stale_temps(target: str | os.PathLike) -> list[Path]:
    """Temporary files left beside ``target`` by writes whose process is no longer running."""
    target = Path(target)
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return []
    stale = []
    for entry in entries:
        m = _TEMP.match(entry.name)
        if m and m["name"] == target.name and not _pid_alive(int(m["pid"])):
            stale.append(Path(entry.path))
    return sorted(stale)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):     # not every platform or file system allows it
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: str | os.PathLike, data: Payload, *, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` atomically; return ``path``.

    Parameters
    ----------
    path
        The target. A symbolic link is followed: the file it points to is replaced and the
        link stays. Missing parent folders are created.
    data
        ``bytes``, ``str`` (written with ``encoding``) or a function that writes the content
        to the path it is given (``lambda tmp: frame.to_csv(tmp)``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> atomic_write(folder / "a.txt", "hello\\n").read_text()
    'hello\\n'
    >>> sorted(p.name for p in folder.iterdir())
    ['a.txt']
    >>> import shutil; shutil.rmtree(folder)
    """
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    for old in stale_temps(path):
        with contextlib.suppress(OSError):
            old.unlink()
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    tmp = folder / temp_name(path)
    # O_EXCL: a name nobody else holds; 0o666 minus the umask, as a plain open() gives.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        if callable(data):
            os.close(fd)
            fd = -1
            data(tmp)
            fd = os.open(tmp, os.O_RDONLY)
        else:
            raw = data.encode(encoding) if isinstance(data, str) else bytes(data)
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view):]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        # KeyboardInterrupt included: whatever stopped us, the target stays as it was.
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)
    return path


# ----------------------------------------------------------------- output guard
def _resolved(path: str | os.PathLike) -> Path:
    return Path(os.path.abspath(Path(path).expanduser())).resolve()


def _same_file(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:                       # one of them does not exist (yet)
        return False


def refuse_overwrite(outputs: Mapping[str, str | os.PathLike | None],
                     inputs: Mapping[str, str | os.PathLike | None], *,
                     protected: Mapping[str, str | os.PathLike | None] = {},
                     protected_dirs: Mapping[str, str | os.PathLike | None] = {}) -> None:
    """Refuse an output that would overwrite an input, a protected file or a protected folder.

    Each mapping goes from what the path is to the user (``"--out"``, ``"--snapshots"``, ``"the
    MLflow store"``) to the path (``None`` = not given). Raises
    :class:`~hscore.errors.OutputError` naming both; returns None when every output is safe.

    Examples
    --------
    >>> refuse_overwrite({"--out": "scores.csv"}, {"--snapshots": "history.csv"})
    >>> refuse_overwrite({"--out": "x.csv"}, {"--snapshots": "./x.csv"})
    Traceback (most recent call last):
    ...
    hscore.errors.OutputError: --out x.csv is --snapshots ./x.csv: writing there would destroy the input; ...
    """
    for out_label, out in outputs.items():
        if out is None:
            continue
        target = _resolved(out)
        if target.is_dir():
            raise OutputError(f"{out_label} {out} is a folder, not a file")
        for label, other in {**inputs, **protected}.items():
            if other is not None and _same_file(target, _resolved(other)):
                what = "the input" if label in inputs else "it"
                raise OutputError(f"{out_label} {out} is {label} {other}: writing there would "
                                  f"destroy {what}; choose another {out_label}")
        for label, folder in protected_dirs.items():
            if folder is not None and target.is_relative_to(_resolved(folder)):
                raise OutputError(f"{out_label} {out} is inside {label} {folder}; choose "
                                  f"another {out_label}")

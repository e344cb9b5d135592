"""Atomic file writes that never follow a link: configs, keys, checkpoint state, exports.

Every file the node writes whole goes through :func:`write_atomically`, so a reader (a serving
node, another process) sees the old file or the new one, never half of one, and a crash leaves
one of them on disk. The temporary file is created fresh and exclusively in the target's
directory (``mkstemp``: ``O_CREAT | O_EXCL | O_NOFOLLOW``, an unpredictable name), so a file or
link planted at a well-known name such as ``<target>.partial`` is never written through; the
target itself is refused when it is a link or not a regular file; the data and then the
directory entry are fsynced before the call returns.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["UnsafeTarget", "fsync_directory", "write_atomically"]


class UnsafeTarget(ValueError):
    """The target is a symbolic link or not a regular file: nothing was written."""


def fsync_directory(directory: Path) -> None:
    """Make a rename or link in ``directory`` durable (POSIX: fsync the directory itself)."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _refuse_unsafe(path: Path) -> bool:
    """Raise if ``path`` is a link or not a regular file; True if a regular file is there."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(found.st_mode):
        raise UnsafeTarget(f"{path} is a symbolic link; refusing to write through it")
    if not stat.S_ISREG(found.st_mode):
        raise UnsafeTarget(f"{path} is not a regular file; refusing to replace it")
    return True


def write_atomically(
    path: Path | str, data: bytes | str, *, mode: int = 0o600, overwrite: bool = True
) -> Path:
    """Write ``data`` (str: UTF-8) to ``path`` atomically and durably; return the path.

    ``overwrite=False`` creates the file only if it does not exist (``FileExistsError``
    otherwise, the existing file untouched): for keys, where exactly one of two concurrent
    creators must win. Raises :class:`UnsafeTarget` when ``path`` is a symbolic link or not a
    regular file.
    """
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    directory = path.parent
    if _refuse_unsafe(path) and not overwrite:
        raise FileExistsError(f"{path} exists")
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            # rename() replaces the directory entry itself: a link planted at ``path`` since
            # the check above is replaced, never written through.
            os.replace(temporary, path)
        else:
            os.link(temporary, path)  # fails if anything (even a dangling link) is there
            os.unlink(temporary)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    fsync_directory(directory)
    return path

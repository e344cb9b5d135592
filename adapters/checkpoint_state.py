"""The last checkpoint the node signed, kept in its data directory, not in its database.

``ledger.transparency.SignedCheckpointState`` on files: ``last-checkpoint.note`` holds the exact
signed note (C2SP signed-note text: anyone with the node's public key can check it), written
with :func:`adapters.atomic.write_atomically` (fsynced, file and directory) before the
checkpoint is stored in the database or published. ``last-checkpoint.lock`` is locked
exclusively (``flock``) around "read the last, check, record, store", so every process of the
node (SQLite or PostgreSQL workers sharing the data directory) and every thread in one takes
its turn. A database restored from a backup does not roll this file back; see
``docs/transparency.md``, "A database older than the last checkpoint".
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from adapters.atomic import UnsafeTarget, fsync_directory, write_atomically

__all__ = ["LAST_CHECKPOINT_FILE", "LOCK_FILE", "FileCheckpointState"]

LAST_CHECKPOINT_FILE = "last-checkpoint.note"
LOCK_FILE = "last-checkpoint.lock"


class FileCheckpointState:
    """The node's last signed checkpoint in ``data_dir``; see the module docstring."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.path = data_dir / LAST_CHECKPOINT_FILE
        # flock excludes other open file descriptions, so threads are excluded too; the
        # thread lock only lets a thread re-enter (issue inside issue) without deadlocking.
        self._local = threading.local()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield
            finally:
                self._local.depth = depth
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(
            self.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._local.depth = 1
            try:
                yield
            finally:
                self._local.depth = 0
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def last(self) -> str | None:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise UnsafeTarget(f"{self.path} is a symbolic link; refusing it") from error
            raise
        with os.fdopen(fd, "rb") as handle:
            return handle.read().decode("utf-8", errors="replace")

    def record(self, note: str) -> None:
        write_atomically(self.path, note, mode=0o600)

    def set_aside(self, why: str) -> str:
        """Rename the kept note to ``last-checkpoint.<UTC time>.set-aside.note``; never delete."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        aside = self.data_dir / f"last-checkpoint.{stamp}.set-aside.note"
        note = self.last()
        if note is None:
            return "nowhere (nothing was kept)"
        write_atomically(aside, note, overwrite=False)  # the exact note, still verifiable
        os.unlink(self.path)
        fsync_directory(self.data_dir)
        return f"{aside} ({why})"

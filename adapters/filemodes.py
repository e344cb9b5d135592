"""Modes of what the node keeps on disk: its directories 0700, its files 0600.

The data directory holds the ledger, the vault and its master key, the access database (token
hashes; who read whose data, and why), the node key and ``trust.json`` (the roots the node
trusts). Nobody but the node's own user may read them, and nobody else may write them: whoever
can replace ``trust.json`` or a key file can make the node accept a forged registry.

Files are created with their mode (``os.open(..., 0o600)``; ``adapters.atomic`` writes through
a ``mkstemp`` file, 0600 from its creation), never widened for a moment another user could use.
SQLite creates a database's ``-wal``, ``-shm`` and ``-journal`` files with the mode of the
database file itself, so creating that file 0600 before SQLite opens it covers them too.
``tongban`` also sets umask 077 at start (``api/cli.py``), for whatever a library writes on its
own.

Errors::

    UnsafePermissions (ValueError)   path, mode: group or others may write it; refused
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Final

from adapters.atomic import write_atomically

PRIVATE_DIR: Final = 0o700
PRIVATE_FILE: Final = 0o600
#: Write permission for group or others.
_OTHERS_WRITE: Final = stat.S_IWGRP | stat.S_IWOTH


class UnsafePermissions(ValueError):
    """``path`` (a data directory, key or trust file) may be written by group or others."""

    def __init__(self, path: Path, mode: int, what: str) -> None:
        super().__init__(
            f"{path}: this {what} has mode {mode:04o}, so users other than its owner may "
            f"write it; refusing to use it (chmod go-w {path}; expected "
            f"{PRIVATE_DIR if what.endswith('directory') else PRIVATE_FILE:04o})"
        )
        self.path = path
        self.mode = mode


def refuse_if_others_can_write(path: Path, what: str) -> None:
    """Raise :class:`UnsafePermissions` if group or others may write ``path`` (if it exists)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & _OTHERS_WRITE:
        raise UnsafePermissions(path, mode, what)


def private_directory(path: Path, what: str = "data directory") -> Path:
    """``path``, created 0700 if absent (missing parents too); refused if others can write it.

    An existing directory keeps its mode: an operator may have let a backup group read it.
    """
    if not path.exists():
        # mkdir's mode is masked by the umask, which only ever removes bits from 0700.
        path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    refuse_if_others_can_write(path, what)
    return path


def create_private_file(path: Path) -> Path:
    """Create ``path`` empty and 0600 if absent (an existing file is left as it is).

    For SQLite databases: created here before SQLite opens them, they and their ``-wal`` and
    ``-shm`` files are 0600 whatever the umask.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    return path


def write_private_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) in a new 0600 file, atomically
    (:func:`adapters.atomic.write_atomically`): an old file's wider mode does not carry over."""
    if not path.parent.exists():
        path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    write_atomically(path, text, mode=PRIVATE_FILE)

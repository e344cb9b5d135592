"""A node's data directory: what it must hold before a node runs on it, and the lock a serving
node holds on it.

``tongban init`` (or ``tongban demo``) makes a directory a node: it writes ``trust.json`` (the
roots the node trusts) and, on SQLite, the ledger file. Serving or reading any other directory
would start an empty node that trusts nobody (a mistyped ``--data-dir``), so it is refused.

SQLite serves one writer process: a second ``tongban serve`` on the same directory would take
writes too, each checking appends against its own view of the ledger. The first holds an
exclusive lock on ``serve.lock`` for its whole life (released by the kernel when it exits, even
by ``kill -9``); the second is refused, naming the holder.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlparse

from adapters.keyfiles import TRUST_FILE
from adapters.settings import Settings

LOCK_FILE = "serve.lock"


class NotANode(ValueError):
    """The data directory holds no initialised node."""


class DataDirLocked(RuntimeError):
    """Another process serves this data directory."""


def sqlite_path(settings: Settings) -> Path | None:
    """The SQLite ledger file of ``settings``; None for PostgreSQL."""
    url = urlparse(settings.resolved_database_url())
    return Path(unquote(url.path)) if url.scheme == "sqlite" else None


def require_node(settings: Settings) -> None:
    """Raise :class:`NotANode` unless ``settings.data_dir`` holds an initialised node."""
    data_dir = settings.data_dir
    hint = (
        f"run `tongban init --data-dir {data_dir} --region {settings.region} --root-key "
        "ROOT.key` to make it one, or check --data-dir / TONGBAN_DATA_DIR"
    )
    if not data_dir.is_dir():
        raise NotANode(f"no node at {data_dir}: the directory does not exist; {hint}")
    if not (data_dir / TRUST_FILE).is_file():
        raise NotANode(f"no node at {data_dir}: it has no {TRUST_FILE}; {hint}")
    ledger = sqlite_path(settings)
    if ledger is not None and not ledger.is_file():
        raise NotANode(f"no node at {data_dir}: its ledger {ledger} does not exist; {hint}")


def lock_data_dir(data_dir: Path) -> IO[str]:
    """Take the serving lock of ``data_dir``; keep the returned file open while serving.

    Raises :class:`DataDirLocked` naming the holder (pid and host it wrote) when another
    process holds it.
    """
    path = data_dir / LOCK_FILE
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise DataDirLocked(
            f"{data_dir} is already served by {holder} (lock {path}); SQLite serves one "
            "writer: stop it first, or serve PostgreSQL with --workers"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
    handle.flush()
    return handle

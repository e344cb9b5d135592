"""Small stores beside the ledger on SQLite or PostgreSQL: one implementation, two drivers.

The access store (tokens, access log, applicant bindings) and the witness store use it: a
connection per call on SQLite, a reused idle one on PostgreSQL (never two calls on one at
once, so safe across server threads), ``?`` placeholders rewritten to ``%s`` for psycopg,
driver errors translated once into the store's own error. On PostgreSQL every commit follows
the node's one rule for writes (``adapters.postgres_ha.confirmed_writes``): bounded by
``commit_wait_seconds``, and a commit the server warned about (its wait for the synchronous
standby cancelled) fails as the store's error from ``CommitNotConfirmed``: 503, never a 200.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlparse

import psycopg

from adapters.filemodes import create_private_file
from adapters.postgres_ha import COMMIT_WAIT_SECONDS, CommitNotConfirmed, commit_confirmed

Connect = Callable[[], contextlib.AbstractContextManager[Any]]
C = TypeVar("C", sqlite3.Connection, "psycopg.Connection[Any]")  # a kept connection

# Node processes starting together on a fresh PostgreSQL schema (``serve --workers N``, two
# nodes on one database) each create their tables: concurrent ``CREATE TABLE IF NOT EXISTS``
# collide in the catalog (``pg_type_typname_nsp_index``), so schema creation takes this lock.
SCHEMA_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('tongban.schema'))"
SCHEMA_SESSION_LOCK_SQL = "SELECT pg_advisory_lock(hashtext('tongban.schema'))"


def read_only_uri(path: Path) -> str:
    """An SQLite URI that opens ``path`` read-only. A WAL database is read through its -shm
    file; when nobody may create it (a read-only snapshot without one) the file is read as
    immutable."""
    shm = path.with_name(path.name + "-shm")
    immutable = not shm.exists() and not os.access(path.parent, os.W_OK)
    return f"file:{quote(str(path.resolve()))}?mode=ro" + ("&immutable=1" if immutable else "")


class _KeptConnections(Generic[C]):
    """Connections kept open between a store's calls (at most ``keep`` idle ones): a store's
    calls are short (a token or session look-up on every request), and a new connection costs
    more than the call. A connection goes back only when its block ended without error and
    outside a transaction; any other is closed, so no call sees another's transaction. A
    process forked from this one opens its own."""

    def __init__(self, keep: int = 8):
        self.keep = keep
        self._idle: list[C] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def _open(self) -> C:
        raise NotImplementedError

    def _finish(self, conn: C) -> bool:
        """End the block's work on ``conn`` (raise if it failed); True if it may be kept."""
        raise NotImplementedError

    @contextlib.contextmanager
    def connect(self) -> Iterator[C]:
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's connections are not ours
                self._idle, self._pid = [], os.getpid()
            conn = self._idle.pop() if self._idle else None
        conn = conn or self._open()
        try:
            yield conn
            reusable = self._finish(conn)
        except BaseException:
            conn.close()
            raise
        with self._lock:
            if reusable and len(self._idle) < self.keep:
                self._idle.append(conn)
                return
        conn.close()

    def idle(self) -> tuple[C, ...]:
        with self._lock:
            return tuple(self._idle)

    def close(self) -> None:
        """Close the idle connections; a later call opens a new one."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class _ReusedSqlite(_KeptConnections[sqlite3.Connection]):
    """SQLite's: a new connection reads the database's schema again before its first
    statement, several times a page. Used by one call at a time, whichever thread."""

    def __init__(self, path: Path, read_only: bool, keep: int = 8):
        super().__init__(keep)
        self.path = path
        self.read_only = read_only

    def _open(self) -> sqlite3.Connection:
        if self.read_only:
            return sqlite3.connect(
                read_only_uri(self.path), uri=True, timeout=10, check_same_thread=False
            )
        return sqlite3.connect(self.path, timeout=10, check_same_thread=False)

    def _finish(self, conn: sqlite3.Connection) -> bool:
        return not conn.in_transaction


def sqlite_connector(path: Path, *, read_only: bool = False) -> Connect:
    if not read_only:
        create_private_file(path)  # before SQLite: its -wal and -shm take this mode
    return _ReusedSqlite(path, read_only).connect


class _ReusedConnections(_KeptConnections["psycopg.Connection[Any]"]):
    """PostgreSQL's: opening one is a server process, a handshake and ``search_path``."""

    def __init__(self, database_url: str, schema: str | None, keep: int = 8):
        super().__init__(keep)
        self.database_url = database_url
        self.schema = schema
        self.commit_wait_seconds = COMMIT_WAIT_SECONDS

    def _open(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.database_url, connect_timeout=5)
        if self.schema:
            conn.execute(f'SET search_path TO "{self.schema}"')
            conn.commit()
        return conn

    def _finish(self, conn: psycopg.Connection[Any]) -> bool:
        # What leaving ``with psycopg.connect()`` did, bounded and watched: a commit that
        # waits for a synchronous standby that is gone must not hang, nor pass unconfirmed.
        commit_confirmed(conn, self.commit_wait_seconds)
        return conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE

    def __del__(self) -> None:
        for conn in getattr(self, "_idle", ()):
            conn.close()


def postgres_connector(database_url: str, schema: str | None) -> Connect:
    return _ReusedConnections(database_url, schema).connect


def connector_for(
    database_url: str,
    data_dir: Path,
    sqlite_file: str,
    *,
    schema: str | None = None,
    read_only: bool = False,
) -> tuple[Connect, str]:
    """``(connect, placeholder)``: PostgreSQL when the URL says so, else an SQLite file
    (opened read-only with ``read_only``)."""
    if urlparse(database_url).scheme in {"postgresql", "postgres"}:
        return postgres_connector(database_url, schema), "%s"
    return sqlite_connector(data_dir / sqlite_file, read_only=read_only), "?"


class SqlStore:
    """Base of the small stores: ``_tx()`` yields a cursor and commits; ``_sql`` fixes
    placeholders; ``schema`` statements run once at start."""

    schema: Sequence[str] = ()
    error: type[Exception] = Exception

    def __init__(self, connect: Connect, placeholder: str, *, create: bool = True):
        self._connect = connect
        self._p = placeholder
        if not create:  # a reader's view: the tables exist, nothing may be written
            return
        with self._tx() as cur:
            if placeholder == "%s":
                cur.execute(SCHEMA_LOCK_SQL)
            for statement in self.schema:
                cur.execute(statement)

    @property
    def commit_wait_seconds(self) -> float | None:
        """PostgreSQL: the longest a commit may take (its wait for the synchronous standby
        included) before it is cancelled and refused; None on SQLite."""
        kept = getattr(self._connect, "__self__", None)
        return kept.commit_wait_seconds if isinstance(kept, _ReusedConnections) else None

    @commit_wait_seconds.setter
    def commit_wait_seconds(self, seconds: float) -> None:
        kept = getattr(self._connect, "__self__", None)
        if isinstance(kept, _ReusedConnections):
            kept.commit_wait_seconds = seconds

    def kept_connections(self) -> list[Any]:
        """The connections kept open between calls now."""
        kept = getattr(self._connect, "__self__", None)
        return list(kept.idle()) if isinstance(kept, _KeptConnections) else []

    def close(self) -> None:
        """Give back the connections kept between calls (PostgreSQL keeps some open: a test
        suite that opens many stores would otherwise run the server out of connections)."""
        kept = getattr(self._connect, "__self__", None)
        if isinstance(kept, _KeptConnections):
            kept.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Any]:
        try:
            with self._connect() as conn:
                cur = conn.cursor()
                try:
                    yield cur
                    if isinstance(conn, sqlite3.Connection):
                        conn.commit()  # PostgreSQL's: leaving ``_connect()``, under the rule
                finally:
                    # A failed statement's exception, kept by a caller (a refusal raised from
                    # it, a test), keeps this cursor alive through its traceback; an open
                    # SQLite cursor keeps a closed connection's transaction, and its write
                    # lock, until it is collected. Closing it lets the connection go now.
                    cur.close()
        except (sqlite3.Error, psycopg.Error, CommitNotConfirmed) as failure:
            raise self.error(f"{type(self).__name__} failed: {failure}") from failure

    def _sql(self, statement: str) -> str:
        return statement.replace("?", self._p)

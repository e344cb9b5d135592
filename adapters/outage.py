"""Which failures mean "the database cannot be reached right now": retry later, not a bug.

Each store translates its driver's errors into its own (eventsourcing's PEP 249 errors for the
ledger, ``AccessStoreError``, ``VaultOperationalError``, ``WitnessStoreError``), always
``from`` the driver's error, so the cause chain says what happened. A refused or broken
connection, a pool that found no connection in time, an administrator's shutdown, a lock or
statement timeout are all psycopg ``OperationalError`` (or ``InterfaceError`` for a closed
connection); SQLite's equivalent is a database still locked after its busy timeout.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, closing, contextmanager
from typing import Any
from urllib.parse import quote

import psycopg
from eventsourcing.postgres import PostgresDatastore
from psycopg_pool import PoolTimeout

from adapters.postgres_ha import CommitNotConfirmed

RETRY_AFTER_SECONDS = 5  # what the API advises: about one reconnect attempt of the pool


class DatabaseUnavailable(Exception):
    """The database did not answer a probe (``/health``); the cause is the driver's error."""


def is_database_unavailable(error: BaseException) -> bool:
    """True when ``error`` (or what caused it) is the database being unreachable or busy."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DatabaseUnavailable | CommitNotConfirmed):
            return True
        if isinstance(current, psycopg.OperationalError | psycopg.InterfaceError):
            return True
        if isinstance(current, sqlite3.OperationalError) and "locked" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


class FailFastWhileDown:
    """Once the pool found no connection in time, fail every request at once for as long
    again, instead of letting each wait the full pool timeout.

    The ledger appends one at a time (its lock): with the database down, each queued append
    waited the pool timeout in turn, so the tenth client waited fifty seconds for its 503 and
    gave up first (found by the outage test with 16 clients). Now the first request after an
    outage waits, the others answer 503 at once, and the next probe comes ``hold`` seconds
    later; the pool keeps reconnecting in the background meanwhile.
    """

    def __init__(
        self,
        get_connection: Callable[[], AbstractContextManager[Any]],
        hold: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._get_connection = get_connection
        self._hold = hold
        self._clock = clock
        self._until = 0.0
        self._error: Exception | None = None

    @contextmanager
    def __call__(self) -> Iterator[Any]:
        error = self._error
        if error is not None and self._clock() < self._until:
            raise type(error)(f"{error} (the database was unreachable moments ago)") from error
        with ExitStack() as stack:
            try:
                connection = stack.enter_context(self._get_connection())
            except Exception as failed:
                if isinstance(failed.__cause__, PoolTimeout):
                    self._error, self._until = failed, self._clock() + self._hold
                raise
            self._error = None
            yield connection


def fail_fast_while_down(datastore: Any, hold: float) -> None:
    """Put :class:`FailFastWhileDown` in front of an eventsourcing ``PostgresDatastore``
    (every recorder method gets its connections through ``get_connection``)."""
    datastore.get_connection = FailFastWhileDown(datastore.get_connection, hold)


HEALTH_PROBE_SECONDS = 2.0  # /health answers within about this long while the database is down


def probe_database(recorder: Any, timeout: float = HEALTH_PROBE_SECONDS) -> None:
    """One cheap query on the ledger's database; raises :class:`DatabaseUnavailable` (from
    the driver's error: refused, a ``PoolTimeout`` after ``timeout`` seconds, a missing file)
    when it does not answer.

    PostgreSQL: ``SELECT 1`` on a connection asked of the pool directly with a short wait (the
    pool pre-pings it: a connection broken by a restart is not taken for a live one), not
    through the recorder, which would wait the full pool timeout. SQLite is a file beside the
    process: ``SELECT 1`` on a fresh read-write connection finds it missing or unreadable.
    """
    datastore = getattr(recorder, "datastore", None)
    try:
        if isinstance(datastore, PostgresDatastore):
            with datastore.pool.connection(timeout=timeout) as connection:
                connection.execute("SELECT 1")
            return
        db_name = getattr(getattr(datastore, "pool", None), "db_name", None)
        if isinstance(db_name, str) and db_name and ":memory:" not in db_name:
            path = db_name.removeprefix("file:").split("?")[0]
            if path.startswith("/"):
                path = "/" + path.lstrip("/")  # "//tmp/x" would name a URI authority
            uri = f"file:{quote(path)}?mode=rw"
            with closing(sqlite3.connect(uri, uri=True, timeout=timeout)) as connection:
                connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except (psycopg.Error, sqlite3.Error) as error:
        raise DatabaseUnavailable(f"the database did not answer: {error}") from error

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

import psycopg

RETRY_AFTER_SECONDS = 5  # what the API advises: about one reconnect attempt of the pool


def is_database_unavailable(error: BaseException) -> bool:
    """True when ``error`` (or what caused it) is the database being unreachable or busy."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, psycopg.OperationalError | psycopg.InterfaceError):
            return True
        if isinstance(current, sqlite3.OperationalError) and "locked" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False

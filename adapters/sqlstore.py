"""Small stores beside the ledger on SQLite or PostgreSQL: one implementation, two drivers.

The access store (tokens, access log, applicant bindings) and the witness store use it: a
connection per call (safe across server threads), ``?`` placeholders rewritten to ``%s`` for
psycopg, driver errors translated once into the store's own error.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg

Connect = Callable[[], contextlib.AbstractContextManager[Any]]


def sqlite_connector(path: Path) -> Connect:
    path.parent.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def connect() -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(path, timeout=10)
        try:
            yield conn
        finally:
            conn.close()

    return connect


def postgres_connector(database_url: str, schema: str | None) -> Connect:
    def connect() -> contextlib.AbstractContextManager[Any]:
        conn = psycopg.connect(database_url, connect_timeout=5)
        if schema:
            conn.execute(f'SET search_path TO "{schema}"')
        return conn

    return connect


def connector_for(
    database_url: str, data_dir: Path, sqlite_file: str, *, schema: str | None = None
) -> tuple[Connect, str]:
    """``(connect, placeholder)``: PostgreSQL when the URL says so, else an SQLite file."""
    if urlparse(database_url).scheme in {"postgresql", "postgres"}:
        return postgres_connector(database_url, schema), "%s"
    return sqlite_connector(data_dir / sqlite_file), "?"


class SqlStore:
    """Base of the small stores: ``_tx()`` yields a cursor and commits; ``_sql`` fixes
    placeholders; ``schema`` statements run once at start."""

    schema: Sequence[str] = ()
    error: type[Exception] = Exception

    def __init__(self, connect: Connect, placeholder: str):
        self._connect = connect
        self._p = placeholder
        with self._tx() as cur:
            for statement in self.schema:
                cur.execute(statement)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Any]:
        try:
            with self._connect() as conn:
                cur = conn.cursor()
                yield cur
                conn.commit()
        except (sqlite3.Error, psycopg.Error) as failure:
            raise self.error(f"{type(self).__name__} failed: {failure}") from failure

    def _sql(self, statement: str) -> str:
        return statement.replace("?", self._p)

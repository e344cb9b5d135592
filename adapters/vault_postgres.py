"""The vault in PostgreSQL tables, in the same database as the ledger.

Its writes follow the node's one rule (``adapters.postgres_ha.confirmed_writes``): bounded by
``commit_wait_seconds``, and a commit whose wait for the synchronous standby was cancelled is a
``VaultOperationalError`` from ``CommitNotConfirmed`` (503), never a stored applicant.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg import sql

from adapters.postgres_ha import COMMIT_WAIT_SECONDS, CommitNotConfirmed, confirmed_writes
from adapters.sqlstore import SCHEMA_LOCK_SQL
from adapters.vault_base import (
    _SELECT_ROW,
    UnknownApplicant,
    VaultOperationalError,
    _NewApplicant,
    _Row,
    _VaultBase,
)
from adapters.vault_ciphers import AES_256_GCM

# --- PostgreSQL ------------------------------------------------------------------------------

_POSTGRES_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS {data} (
    ref text PRIMARY KEY,
    nonce bytea NOT NULL,
    ciphertext bytea NOT NULL,
    stored_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS {keys} (
    ref text PRIMARY KEY,
    wrapped_data_key bytea NOT NULL,
    wrapped_commitment_secret bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS {erasures} (
    ref text PRIMARY KEY,
    erased_at timestamptz NOT NULL,
    reason text NOT NULL
);
"""


@contextlib.contextmanager
def _postgres_errors() -> Iterator[None]:
    try:
        yield
    except CommitNotConfirmed as error:
        raise VaultOperationalError(f"PostgreSQL vault: {error}") from error
    except psycopg.Error as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise VaultOperationalError(f"PostgreSQL vault: {first_line}") from error


class PostgresVault(_VaultBase):
    """The vault in PostgreSQL tables (created if missing) in ``schema``."""

    def __init__(
        self,
        conninfo: str,
        schema: str = "public",
        *,
        master_key: bytes,
        rng: Callable[[int], bytes] = os.urandom,
        read_only: bool = False,
        cipher: str = AES_256_GCM,
    ) -> None:
        super().__init__(master_key, rng, cipher)
        self._conninfo = conninfo
        self.commit_wait_seconds = COMMIT_WAIT_SECONDS
        self._tables: dict[str, Any] = {
            "data": sql.Identifier(schema, "applicant_data"),
            "keys": sql.Identifier(schema, "applicant_keys"),
            "erasures": sql.Identifier(schema, "applicant_erasures"),
        }
        if read_only:  # an auditor's role may not create tables; they exist
            return
        with _postgres_errors(), self._write() as conn, conn.transaction():
            # Concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalog;
            # an advisory lock makes node start-up races harmless.
            conn.execute(SCHEMA_LOCK_SQL)
            conn.execute(sql.SQL(_POSTGRES_SCHEMA).format(**self._tables))

    def _connect(self) -> psycopg.Connection[Any]:
        # Bounded: an unreachable database is a quick 503, never a request stuck in connect.
        return psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)

    @contextlib.contextmanager
    def _write(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection whose commits are bounded and watched (see the module docstring)."""
        with self._connect() as conn, confirmed_writes(conn, self.commit_wait_seconds):
            yield conn

    def _insert(self, new: _NewApplicant) -> None:
        with _postgres_errors(), self._write() as conn, conn.transaction():
            conn.execute(
                sql.SQL(
                    "INSERT INTO {data} (ref, nonce, ciphertext, stored_at) VALUES (%s, %s, %s, %s)"
                ).format(**self._tables),
                (new.ref, new.nonce, new.ciphertext, new.stored_at),
            )
            conn.execute(
                sql.SQL(
                    "INSERT INTO {keys} (ref, wrapped_data_key, wrapped_commitment_secret)"
                    " VALUES (%s, %s, %s)"
                ).format(**self._tables),
                (new.ref, new.wrapped_data_key, new.wrapped_commitment_secret),
            )

    def _load(self, ref: str) -> _Row | None:
        query = sql.SQL(
            _SELECT_ROW.format(data="{data}", keys="{keys}", erasures="{erasures}", param="%s")
        ).format(**self._tables)
        with _postgres_errors(), self._connect() as conn:
            found = conn.execute(query, (ref,)).fetchone()
        if found is None:
            return None
        nonce, ciphertext, wrapped_key, wrapped_secret, erased_at, reason = found
        return _Row(
            nonce=bytes(nonce),
            ciphertext=bytes(ciphertext),
            wrapped_data_key=None if wrapped_key is None else bytes(wrapped_key),
            wrapped_commitment_secret=None if wrapped_secret is None else bytes(wrapped_secret),
            erased_at=erased_at,
            erasure_reason=reason,
        )

    def _erase(self, ref: str, erased_at: datetime, reason: str) -> None:
        with _postgres_errors(), self._write() as conn, conn.transaction():
            # Lock the data row so two concurrent erasures serialise on it.
            locked = conn.execute(
                sql.SQL("SELECT 1 FROM {data} WHERE ref = %s FOR UPDATE").format(**self._tables),
                (ref,),
            ).fetchone()
            if locked is None:
                raise UnknownApplicant(ref)
            already = conn.execute(
                sql.SQL("SELECT 1 FROM {erasures} WHERE ref = %s").format(**self._tables), (ref,)
            ).fetchone()
            if already:
                return
            # Overwrite before delete. Under MVCC the old tuple survives until VACUUM; it
            # holds only wrapped keys, useless without the master key (see module docstring).
            conn.execute(
                sql.SQL(
                    "UPDATE {keys} SET"
                    " wrapped_data_key = decode(repeat('00', length(wrapped_data_key)), 'hex'),"
                    " wrapped_commitment_secret ="
                    " decode(repeat('00', length(wrapped_commitment_secret)), 'hex')"
                    " WHERE ref = %s"
                ).format(**self._tables),
                (ref,),
            )
            conn.execute(
                sql.SQL("DELETE FROM {keys} WHERE ref = %s").format(**self._tables), (ref,)
            )
            conn.execute(
                sql.SQL(
                    "INSERT INTO {erasures} (ref, erased_at, reason) VALUES (%s, %s, %s)"
                ).format(**self._tables),
                (ref, erased_at, reason),
            )

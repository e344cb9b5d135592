"""The vault in its own SQLite file (``vault.sqlite3``), apart from the ledger database."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Final

from adapters.filemodes import create_private_file
from adapters.sqlstore import read_only_uri
from adapters.vault_base import (
    _SELECT_ROW,
    UnknownApplicant,
    VaultOperationalError,
    _NewApplicant,
    _Row,
    _VaultBase,
)
from adapters.vault_ciphers import AES_256_GCM

# --- SQLite ----------------------------------------------------------------------------------

_SQLITE_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS applicant_data (
    ref TEXT PRIMARY KEY,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    stored_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS applicant_keys (
    ref TEXT PRIMARY KEY,
    wrapped_data_key BLOB NOT NULL,
    wrapped_commitment_secret BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS applicant_erasures (
    ref TEXT PRIMARY KEY,
    erased_at TEXT NOT NULL,
    reason TEXT NOT NULL
);
"""


@contextlib.contextmanager
def _sqlite_errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as error:
        raise VaultOperationalError(f"SQLite vault: {error}") from error


class SQLiteVault(_VaultBase):
    """The vault in its own SQLite file (WAL), apart from the ledger database."""

    def __init__(
        self,
        path: Path,
        *,
        master_key: bytes,
        rng: Callable[[int], bytes] = os.urandom,
        read_only: bool = False,
        cipher: str = AES_256_GCM,
    ) -> None:
        super().__init__(master_key, rng, cipher)
        self.path = path
        self._read_only = read_only
        if read_only:  # an auditor's view: the file exists, nothing may be written
            return
        with _sqlite_errors():
            create_private_file(path)  # before SQLite: its -wal and -shm take this mode
            with self._connect() as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SQLITE_SCHEMA)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # A connection per operation: cheap for SQLite, and safe across threads.
        if self._read_only:
            conn = sqlite3.connect(
                read_only_uri(self.path), uri=True, isolation_level=None, timeout=5.0
            )
        else:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
        try:
            # Zero freed pages, so an erased key does not linger in the file's free list.
            conn.execute("PRAGMA secure_delete=ON")
            yield conn
        finally:
            conn.close()

    def _insert(self, new: _NewApplicant) -> None:
        with _sqlite_errors(), self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "INSERT INTO applicant_data (ref, nonce, ciphertext, stored_at)"
                    " VALUES (?, ?, ?, ?)",
                    (new.ref, new.nonce, new.ciphertext, new.stored_at.isoformat()),
                )
                conn.execute(
                    "INSERT INTO applicant_keys"
                    " (ref, wrapped_data_key, wrapped_commitment_secret) VALUES (?, ?, ?)",
                    (new.ref, new.wrapped_data_key, new.wrapped_commitment_secret),
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _load(self, ref: str) -> _Row | None:
        query = _SELECT_ROW.format(
            data="applicant_data", keys="applicant_keys", erasures="applicant_erasures", param="?"
        )
        with _sqlite_errors(), self._connect() as conn:
            found = conn.execute(query, (ref,)).fetchone()
        if found is None:
            return None
        nonce, ciphertext, wrapped_key, wrapped_secret, erased_at, reason = found
        return _Row(
            nonce=nonce,
            ciphertext=ciphertext,
            wrapped_data_key=wrapped_key,
            wrapped_commitment_secret=wrapped_secret,
            erased_at=None if erased_at is None else datetime.fromisoformat(erased_at),
            erasure_reason=reason,
        )

    def _erase(self, ref: str, erased_at: datetime, reason: str) -> None:
        with _sqlite_errors(), self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if not conn.execute(
                    "SELECT 1 FROM applicant_data WHERE ref = ?", (ref,)
                ).fetchone():
                    raise UnknownApplicant(ref)
                already = conn.execute(
                    "SELECT 1 FROM applicant_erasures WHERE ref = ?", (ref,)
                ).fetchone()
                if not already:
                    # Overwrite before delete: the old bytes do not survive in the page.
                    conn.execute(
                        "UPDATE applicant_keys SET"
                        " wrapped_data_key = zeroblob(length(wrapped_data_key)),"
                        " wrapped_commitment_secret ="
                        " zeroblob(length(wrapped_commitment_secret))"
                        " WHERE ref = ?",
                        (ref,),
                    )
                    conn.execute("DELETE FROM applicant_keys WHERE ref = ?", (ref,))
                    conn.execute(
                        "INSERT INTO applicant_erasures (ref, erased_at, reason) VALUES (?, ?, ?)",
                        (ref, erased_at.isoformat(), reason),
                    )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            if not already:
                # Move the WAL's copies of the old key pages into the (zeroed) main file and
                # truncate the WAL. Best effort: a concurrent reader can hold it back.
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

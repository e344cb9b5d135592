"""What a node keeps about licenses beside its ledger, on SQLite or PostgreSQL.

The ledger holds the signed license events; this store holds what must not or need not be in
signed bytes:

* ``tongban_license_indexes``   status list entries handed out: (list, index) is the primary
  key, so one entry never goes to two licenses, whatever the race;
* ``tongban_license_documents`` the draft and the issued license documents, AES-256-GCM
  encrypted under a per-license key that ``tongban_license_doc_keys`` keeps wrapped under the
  node master key (as the vault does): they carry the holder's name and ID, and erasing a
  license's key makes both unreadable while every ledger signature still verifies;
* ``tongban_status_lists``      every signed status list this node published (list, version);
* ``tongban_peer_status_lists`` the newest signed status list fetched of each other region's list;
* ``tongban_trust_lists``       the newest signed trust list of this region and of each peer,
  with the peer's URL;
* ``tongban_license_grants``    grants issued here and how many uses were made;
* ``tongban_license_uses``      the use log (用证记录): who read which license, when, why, with
  which grant. It holds no personal data: identifiers, principals and purposes only.

It implements the license service's store port (``licenses.ports.LicenseStore``). Driver
errors become :class:`LicenseStoreError`; a taken status entry is :class:`StatusIndexTaken`
(both declared by ``licenses.errors``, re-exported here).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from adapters.sqlstore import Connect, SqlStore, connector_for
from licenses.errors import (
    DocumentConflict,
    DocumentErased,
    LicenseStoreError,
    StatusIndexTaken,
)
from licenses.ports import LicenseUse, StoredGrant

__all__ = [
    "LICENSE_DB",
    "DocumentConflict",
    "DocumentErased",
    "LicenseStoreError",
    "LicenseUse",
    "SqlLicenseStore",
    "StatusIndexTaken",
    "StoredGrant",
    "open_license_store",
]

_AAD: Final = b"tongban/license-document/v1/"


def _schema(binary: str) -> tuple[str, ...]:
    return (
        "CREATE TABLE IF NOT EXISTS tongban_license_indexes ("
        "list_id TEXT NOT NULL, status_index BIGINT NOT NULL, identifier TEXT NOT NULL UNIQUE, "
        "body TEXT NOT NULL, PRIMARY KEY (list_id, status_index))",
        "CREATE TABLE IF NOT EXISTS tongban_license_documents ("
        f"identifier TEXT NOT NULL, kind TEXT NOT NULL, nonce {binary} NOT NULL, "
        f"ciphertext {binary} NOT NULL, PRIMARY KEY (identifier, kind))",
        "CREATE TABLE IF NOT EXISTS tongban_license_doc_keys ("
        f"identifier TEXT PRIMARY KEY, wrapped {binary}, erased_at TEXT)",
        "CREATE TABLE IF NOT EXISTS tongban_status_lists ("
        f"list_id TEXT NOT NULL, version BIGINT NOT NULL, raw {binary} NOT NULL, "
        "PRIMARY KEY (list_id, version))",
        "CREATE TABLE IF NOT EXISTS tongban_peer_status_lists ("
        f"list_id TEXT PRIMARY KEY, region TEXT NOT NULL, version BIGINT NOT NULL, "
        f"raw {binary} NOT NULL)",
        "CREATE TABLE IF NOT EXISTS tongban_trust_lists ("
        f"region TEXT PRIMARY KEY, version BIGINT NOT NULL, raw {binary} NOT NULL, url TEXT)",
        "CREATE TABLE IF NOT EXISTS tongban_license_grants ("
        "grant_id TEXT PRIMARY KEY, identifier TEXT NOT NULL, uses BIGINT NOT NULL, "
        f"used BIGINT NOT NULL, withdrawn_at TEXT, raw {binary} NOT NULL)",
        "CREATE TABLE IF NOT EXISTS tongban_license_uses ("
        "identifier TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL, "
        "purpose TEXT NOT NULL, scope TEXT NOT NULL, grant_id TEXT NOT NULL, at TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS tongban_license_uses_id ON tongban_license_uses (identifier)",
    )


def _integrity(error: BaseException) -> bool:
    cause = error.__cause__
    return isinstance(cause, sqlite3.IntegrityError | psycopg.errors.IntegrityError)


class SqlLicenseStore(SqlStore):
    """The node's license data beside the ledger (SQLite or PostgreSQL): a
    ``licenses.ports.LicenseStore``."""

    error = LicenseStoreError

    def __init__(
        self,
        connect: Connect,
        placeholder: str,
        master_key: bytes,
        *,
        rng: Callable[[int], bytes] = os.urandom,
    ):
        if len(master_key) != 32:
            raise ValueError("the master key is 32 bytes")
        self.schema = _schema("BYTEA" if placeholder == "%s" else "BLOB")
        self._master = AESGCM(master_key)
        self._rng = rng
        super().__init__(connect, placeholder)

    def _one(self, statement: str, params: tuple[Any, ...]) -> Any:
        with self._tx() as cur:
            cur.execute(self._sql(statement), params)
            return cur.fetchone()

    # -- status entries ----------------------------------------------------------------------

    def taken_indexes(self, list_id: str) -> set[int]:
        with self._tx() as cur:
            cur.execute(
                self._sql("SELECT status_index FROM tongban_license_indexes WHERE list_id = ?"),
                (list_id,),
            )
            return {int(row[0]) for row in cur.fetchall()}

    def list_ids(self) -> set[str]:
        """The status lists that hold at least one entry."""
        with self._tx() as cur:
            cur.execute("SELECT DISTINCT list_id FROM tongban_license_indexes")
            return {row[0] for row in cur.fetchall()}

    def index_of(self, identifier: str) -> tuple[str, int, str] | None:
        """``(list, index, body)`` held by ``identifier``, or None."""
        row = self._one(
            "SELECT list_id, status_index, body FROM tongban_license_indexes WHERE identifier = ?",
            (identifier,),
        )
        return (row[0], int(row[1]), row[2]) if row else None

    def hold_index(self, list_id: str, index: int, identifier: str, body: str) -> None:
        """Give entry ``index`` of ``list_id`` to ``identifier`` (again: a no-op).

        Raises ``StatusIndexTaken`` if another license holds the entry, or if ``identifier``
        already holds another one.
        """
        try:
            with self._tx() as cur:
                cur.execute(
                    self._sql("INSERT INTO tongban_license_indexes VALUES (?, ?, ?, ?)"),
                    (list_id, index, identifier, body),
                )
            return
        except LicenseStoreError as error:
            if not _integrity(error):
                raise
        held = self.index_of(identifier)
        if held is not None and held[:2] == (list_id, index):
            return
        row = self._one(
            "SELECT identifier FROM tongban_license_indexes WHERE list_id = ? AND status_index = ?",
            (list_id, index),
        )
        if row is not None:
            raise StatusIndexTaken(list_id, index, row[0])
        assert held is not None
        raise StatusIndexTaken(held[0], held[1], identifier)

    # -- documents (encrypted, erasable) ----------------------------------------------------

    def _document_key(self, identifier: str, *, create: bool) -> bytes:
        aad = _AAD + identifier.encode()
        row = self._one(
            "SELECT wrapped, erased_at FROM tongban_license_doc_keys WHERE identifier = ?",
            (identifier,),
        )
        if row is not None:
            if row[1] is not None:
                raise DocumentErased(f"the documents of {identifier} were erased at {row[1]}")
            wrapped = bytes(row[0])
            try:
                return self._master.decrypt(wrapped[:12], wrapped[12:], aad)
            except InvalidTag as error:
                raise LicenseStoreError(f"the key of {identifier} does not unwrap") from error
        if not create:
            raise LookupError(identifier)
        key, nonce = self._rng(32), self._rng(12)
        wrapped = nonce + self._master.encrypt(nonce, key, aad)
        try:
            with self._tx() as cur:
                cur.execute(
                    self._sql("INSERT INTO tongban_license_doc_keys VALUES (?, ?, NULL)"),
                    (identifier, wrapped),
                )
        except LicenseStoreError as error:
            if not _integrity(error):
                raise
            return self._document_key(identifier, create=False)  # another request made it
        return key

    def put_document(self, identifier: str, kind: str, raw: bytes) -> None:
        """Store the ``draft`` or ``issued`` document of a license (the same bytes again: ok)."""
        key = self._document_key(identifier, create=True)
        nonce = self._rng(12)
        sealed = AESGCM(key).encrypt(nonce, raw, _AAD + f"{identifier}/{kind}".encode())
        try:
            with self._tx() as cur:
                cur.execute(
                    self._sql("INSERT INTO tongban_license_documents VALUES (?, ?, ?, ?)"),
                    (identifier, kind, nonce, sealed),
                )
        except LicenseStoreError as error:
            if not _integrity(error):
                raise
            if self.document(identifier, kind) != raw:
                raise DocumentConflict(
                    f"another {kind} document of {identifier} is stored"
                ) from None
            # A re-post finds the same bytes: maybe its own earlier insert, committed here but
            # refused as unconfirmed (adapters/postgres_ha.py). Rewriting the row unchanged is a
            # commit that waits for the synchronous standby past that insert: done only then.
            with self._tx() as cur:
                cur.execute(
                    self._sql(
                        "UPDATE tongban_license_documents SET kind = kind "
                        "WHERE identifier = ? AND kind = ?"
                    ),
                    (identifier, kind),
                )

    def document(self, identifier: str, kind: str) -> bytes | None:
        """The stored document, None if there is none; ``DocumentErased`` once erased."""
        row = self._one(
            "SELECT nonce, ciphertext FROM tongban_license_documents "
            "WHERE identifier = ? AND kind = ?",
            (identifier, kind),
        )
        if row is None:
            return None
        key = self._document_key(identifier, create=False)
        try:
            return AESGCM(key).decrypt(
                bytes(row[0]), bytes(row[1]), _AAD + f"{identifier}/{kind}".encode()
            )
        except InvalidTag as error:
            raise LicenseStoreError(f"the {kind} document of {identifier} was altered") from error

    def erase_documents(self, identifier: str, *, now: datetime) -> None:
        """Destroy the license's document key: its documents are unreadable from now on."""
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "UPDATE tongban_license_doc_keys SET wrapped = NULL, "
                    "erased_at = COALESCE(erased_at, ?) WHERE identifier = ?"
                ),
                (now.isoformat(), identifier),
            )

    # -- status lists ------------------------------------------------------------------------

    def latest_status_list(self, list_id: str) -> tuple[int, bytes] | None:
        row = self._one(
            "SELECT version, raw FROM tongban_status_lists WHERE list_id = ? "
            "ORDER BY version DESC LIMIT 1",
            (list_id,),
        )
        return (int(row[0]), bytes(row[1])) if row else None

    def add_status_list(self, list_id: str, version: int, raw: bytes) -> bool:
        """Record a published version; False if another request published it first."""
        try:
            with self._tx() as cur:
                cur.execute(
                    self._sql("INSERT INTO tongban_status_lists VALUES (?, ?, ?)"),
                    (list_id, version, raw),
                )
        except LicenseStoreError as error:
            if _integrity(error):
                return False
            raise
        return True

    def _peer_status_list(self, cur: Any, list_id: str) -> bytes | None:
        cur.execute(
            self._sql("SELECT raw FROM tongban_peer_status_lists WHERE list_id = ?"), (list_id,)
        )
        row = cur.fetchone()
        return bytes(row[0]) if row else None

    def keep_peer_status_list(self, list_id: str, region: str, version: int, raw: bytes) -> bool:
        """Keep a peer's list if it is newer than the one held; whether it was kept."""
        with self._tx() as cur:
            cur.execute(
                self._sql("SELECT version FROM tongban_peer_status_lists WHERE list_id = ?"),
                (list_id,),
            )
            row = cur.fetchone()
            if row is not None and int(row[0]) >= version:
                return False
            cur.execute(
                self._sql("DELETE FROM tongban_peer_status_lists WHERE list_id = ?"), (list_id,)
            )
            cur.execute(
                self._sql("INSERT INTO tongban_peer_status_lists VALUES (?, ?, ?, ?)"),
                (list_id, region, version, raw),
            )
        return True

    # -- trust lists -------------------------------------------------------------------------

    def trust_lists(self) -> dict[str, tuple[int, bytes, str | None]]:
        """``region -> (version, raw, url)`` of every trust list held."""
        with self._tx() as cur:
            return self._trust_lists(cur)

    @staticmethod
    def _trust_lists(cur: Any) -> dict[str, tuple[int, bytes, str | None]]:
        cur.execute("SELECT region, version, raw, url FROM tongban_trust_lists")
        return {row[0]: (int(row[1]), bytes(row[2]), row[3]) for row in cur.fetchall()}

    def verification_inputs(
        self, list_id: str | None
    ) -> tuple[dict[str, tuple[int, bytes, str | None]], bytes | None]:
        """What verifying a license reads, in one transaction: :meth:`trust_lists` and
        :meth:`peer_status_list` of ``list_id`` (None: no list)."""
        with self._tx() as cur:
            held = self._trust_lists(cur)
            return held, None if list_id is None else self._peer_status_list(cur, list_id)

    def keep_trust_list(self, region: str, version: int, raw: bytes, url: str | None) -> None:
        """Hold ``raw`` as the region's list (the caller checked it supersedes the held one)."""
        with self._tx() as cur:
            cur.execute(self._sql("DELETE FROM tongban_trust_lists WHERE region = ?"), (region,))
            cur.execute(
                self._sql("INSERT INTO tongban_trust_lists VALUES (?, ?, ?, ?)"),
                (region, version, raw, url),
            )

    # -- grants and uses ---------------------------------------------------------------------

    def add_grant(self, grant_id: str, identifier: str, uses: int, raw: bytes) -> None:
        with self._tx() as cur:
            cur.execute(
                self._sql("INSERT INTO tongban_license_grants VALUES (?, ?, ?, 0, NULL, ?)"),
                (grant_id, identifier, uses, raw),
            )

    def grant(self, grant_id: str) -> StoredGrant | None:
        row = self._one(
            "SELECT grant_id, identifier, uses, used, withdrawn_at, raw "
            "FROM tongban_license_grants WHERE grant_id = ?",
            (grant_id,),
        )
        if row is None:
            return None
        return StoredGrant(row[0], row[1], int(row[2]), int(row[3]), row[4], bytes(row[5]))

    def use_grant(self, grant_id: str) -> bool:
        """Count one use, atomically; False when none is left or the grant was withdrawn."""
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "UPDATE tongban_license_grants SET used = used + 1 "
                    "WHERE grant_id = ? AND used < uses AND withdrawn_at IS NULL"
                ),
                (grant_id,),
            )
            return bool(cur.rowcount == 1)

    def withdraw_grant(self, grant_id: str, *, now: datetime) -> None:
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "UPDATE tongban_license_grants SET withdrawn_at = COALESCE(withdrawn_at, ?) "
                    "WHERE grant_id = ?"
                ),
                (now.isoformat(), grant_id),
            )

    def record_use(self, use: LicenseUse) -> None:
        with self._tx() as cur:
            cur.execute(
                self._sql("INSERT INTO tongban_license_uses VALUES (?, ?, ?, ?, ?, ?, ?)"),
                (
                    use.identifier,
                    use.kind,
                    use.subject,
                    use.purpose,
                    use.scope,
                    use.grant_id,
                    use.at,
                ),
            )

    def uses(self, identifier: str) -> list[LicenseUse]:
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "SELECT identifier, kind, subject, purpose, scope, grant_id, at "
                    "FROM tongban_license_uses WHERE identifier = ? ORDER BY at"
                ),
                (identifier,),
            )
            return [LicenseUse(*row) for row in cur.fetchall()]


#: The license store's SQLite file in a node's data directory.
LICENSE_DB = "licenses.sqlite3"


def open_license_store(
    database_url: str, data_dir: Path, master_key: bytes, *, schema: str | None = None
) -> SqlLicenseStore:
    """The license store beside the ledger: SQLite ``licenses.sqlite3`` or PostgreSQL."""
    connect, placeholder = connector_for(database_url, data_dir, LICENSE_DB, schema=schema)
    return SqlLicenseStore(connect, placeholder, master_key)

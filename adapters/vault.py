"""The personal-data vault: applicants' plaintext, encrypted, erasable.

Signed envelopes carry only an applicant reference and HMAC commitments (``ledger.personal``).
The plaintext lives here, in a store separate from the ledger's, so that erasure never touches
a ledger row and every signature and chain keeps verifying.

Per applicant the vault keeps:

* ``applicant_data``    — ref, a random 12-byte nonce and the AES-256-GCM ciphertext of the
  data's JSON under the applicant's own data key, with the ref as associated data (a row
  copied to another ref fails to decrypt);
* ``applicant_keys``    — the data key and the 32-byte commitment secret, each wrapped
  (AES-256-GCM, random nonce, ref and purpose as associated data) under the node master key;
* ``applicant_erasures`` — a tombstone (ref, erased_at, reason) once erased.

Erasure is crypto-shredding: in one transaction the key row is overwritten, deleted, and the
tombstone written. The ciphertext stays (so "erased" is told apart from "never existed") but
nobody can decrypt it, and the commitments in the ledger can no longer be tied to a person.
Limits, by design of the storage engines: SQLite runs with ``secure_delete`` and a WAL
checkpoint after erasure, but backups and PostgreSQL's dead tuples (until VACUUM), WAL and
replicas may still hold the *wrapped* keys, unreadable without the master key. Rotating the
master key after erasures is what finally shreds those copies.

The master key (32 bytes) comes from the node's data directory (:func:`load_or_create_master_key`,
file ``vault.key``, mode 0600) or, in production, from a KMS; it never enters the database.

Two backends behave the same (the contract test in ``tests/integration/test_vault.py``):
:class:`SQLiteVault` (its own file, ``vault.sqlite3``, never the ledger database) and
:class:`PostgresVault`. :func:`open_vault` picks one from the database URL.

Errors (driver errors are translated once, here)::

    VaultError
    ├── VaultConfigurationError (also ValueError)  bad master key, URL scheme, key file
    ├── UnknownApplicant            ref: never stored here
    ├── ApplicantErased             ref, erased_at, reason: stored, then erased
    ├── VaultIntegrityError         ref, reason: a GCM tag failed (tampered row or wrong
    │                               master key) or the key row is missing; never garbage
    └── VaultOperationalError       the database failed (sqlite3.Error, psycopg.Error)
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg import sql

from adapters.atomic import write_atomically
from adapters.filemodes import create_private_file, private_directory
from adapters.sqlstore import SCHEMA_LOCK_SQL, read_only_uri
from ledger.personal import FIELDS, PersonalData, applicant_ref, commitments

__all__ = [
    "MASTER_KEY_FILE",
    "VAULT_SQLITE_FILE",
    "ApplicantErased",
    "PersonalDataVault",
    "PostgresVault",
    "SQLiteVault",
    "StoredApplicant",
    "UnknownApplicant",
    "VaultConfigurationError",
    "VaultError",
    "VaultIntegrityError",
    "VaultOperationalError",
    "load_or_create_master_key",
    "open_vault",
]

MASTER_KEY_FILE: Final = "vault.key"
VAULT_SQLITE_FILE: Final = "vault.sqlite3"
KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
_PLAINTEXT_VERSION: Final = 1
_WRAP_AAD_PREFIX: Final = b"tongban/vault/v1/"


# --- errors ----------------------------------------------------------------------------------


class VaultError(Exception):
    """Base of every error raised by the vault."""


class VaultConfigurationError(VaultError, ValueError):
    """The vault was configured wrongly: master key size, URL scheme, key file."""


class UnknownApplicant(VaultError):
    """No applicant with this reference was ever stored in this vault."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"unknown applicant {ref!r}")
        self.ref = ref


class ApplicantErased(VaultError):
    """The applicant was stored, then erased: the data can no longer be read."""

    def __init__(self, ref: str, erased_at: datetime, reason: str) -> None:
        super().__init__(f"applicant {ref!r} was erased at {erased_at.isoformat()}")
        self.ref = ref
        self.erased_at = erased_at
        self.reason = reason


class VaultIntegrityError(VaultError):
    """Decryption failed or a row is missing; ``reason`` is machine-readable.

    Reasons: ``key_unwrap_failed`` (wrong master key, or the key row was altered),
    ``ciphertext_rejected`` (the data row was altered), ``keys_missing``,
    ``plaintext_malformed``.
    """

    def __init__(self, ref: str, reason: str) -> None:
        super().__init__(f"applicant {ref!r}: {reason}")
        self.ref = ref
        self.reason = reason


class VaultOperationalError(VaultError):
    """The underlying database failed."""


# --- interface -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredApplicant:
    """What the caller keeps after storing: the reference and the commitments to sign."""

    ref: str
    commitments: Mapping[str, bytes]
    stored_at: datetime


@runtime_checkable
class PersonalDataVault(Protocol):
    """Encrypted, erasable store of applicants' personal data."""

    def store(self, data: PersonalData, *, now: datetime) -> StoredApplicant:
        """Encrypt ``data`` under fresh per-applicant keys; return the ref and commitments."""
        ...

    def read(self, ref: str) -> PersonalData:
        """The applicant's data; raises UnknownApplicant or ApplicantErased."""
        ...

    def commitment_secret(self, ref: str) -> bytes:
        """The applicant's 32-byte commitment secret, to verify a commitment."""
        ...

    def erase(self, ref: str, *, now: datetime, reason: str) -> None:
        """Destroy the applicant's keys; idempotent (the first erasure's time is kept)."""
        ...

    def is_erased(self, ref: str) -> bool:
        """Whether the applicant was erased; raises UnknownApplicant if never stored."""
        ...


# --- crypto shared by the backends -------------------------------------------------------------


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def _wrap_aad(ref: str, purpose: str) -> bytes:
    # Binding ref and purpose stops a key row being swapped to another applicant, or the
    # commitment secret being used as a data key.
    return _WRAP_AAD_PREFIX + purpose.encode("ascii") + b"\x00" + ref.encode("utf-8")


@dataclass(frozen=True)
class _Row:
    nonce: bytes
    ciphertext: bytes
    wrapped_data_key: bytes | None
    wrapped_commitment_secret: bytes | None
    erased_at: datetime | None
    erasure_reason: str | None


@dataclass(frozen=True)
class _NewApplicant:
    ref: str
    nonce: bytes
    ciphertext: bytes
    wrapped_data_key: bytes
    wrapped_commitment_secret: bytes
    stored_at: datetime


class _VaultBase(ABC):
    """Crypto and error mapping; the backends only move rows."""

    def __init__(self, master_key: bytes, rng: Callable[[int], bytes]) -> None:
        if len(master_key) != KEY_BYTES:
            raise VaultConfigurationError(
                f"master key has {len(master_key)} bytes, expected {KEY_BYTES}"
            )
        self._master = AESGCM(master_key)
        self._rng = rng

    # backend primitives

    @abstractmethod
    def _insert(self, new: _NewApplicant) -> None: ...

    @abstractmethod
    def _load(self, ref: str) -> _Row | None: ...

    @abstractmethod
    def _erase(self, ref: str, erased_at: datetime, reason: str) -> None:
        """Overwrite and delete the key row and write the tombstone, in one transaction.

        Raise UnknownApplicant if there is no data row; do nothing if already erased.
        """

    # public behaviour

    def store(self, data: PersonalData, *, now: datetime) -> StoredApplicant:
        stored_at = _aware(now)
        ref = applicant_ref(self._rng)
        data_key = self._rng(KEY_BYTES)
        secret = self._rng(KEY_BYTES)
        nonce = self._rng(NONCE_BYTES)
        plaintext = json.dumps(
            {"v": _PLAINTEXT_VERSION, **data.as_dict()},
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
        ).encode("utf-8")
        ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, ref.encode("utf-8"))
        self._insert(
            _NewApplicant(
                ref=ref,
                nonce=nonce,
                ciphertext=ciphertext,
                wrapped_data_key=self._wrap(ref, "data-key", data_key),
                wrapped_commitment_secret=self._wrap(ref, "commitment-secret", secret),
                stored_at=stored_at,
            )
        )
        return StoredApplicant(ref=ref, commitments=commitments(secret, data), stored_at=stored_at)

    def read(self, ref: str) -> PersonalData:
        row = self._live_row(ref)
        data_key = self._unwrap(ref, "data-key", row.wrapped_data_key)
        try:
            plaintext = AESGCM(data_key).decrypt(row.nonce, row.ciphertext, ref.encode("utf-8"))
        except InvalidTag:
            raise VaultIntegrityError(ref, "ciphertext_rejected") from None
        try:
            fields = json.loads(plaintext)
            if fields.pop("v") != _PLAINTEXT_VERSION or set(fields) != set(FIELDS):
                raise ValueError("unexpected fields")
        except (ValueError, KeyError, AttributeError):
            raise VaultIntegrityError(ref, "plaintext_malformed") from None
        return PersonalData.restore(fields)

    def commitment_secret(self, ref: str) -> bytes:
        row = self._live_row(ref)
        return self._unwrap(ref, "commitment-secret", row.wrapped_commitment_secret)

    def erase(self, ref: str, *, now: datetime, reason: str) -> None:
        erased_at = _aware(now)
        if not reason.strip():
            raise ValueError("an erasure needs a reason (never personal data)")
        self._erase(ref, erased_at, reason)

    def is_erased(self, ref: str) -> bool:
        row = self._load(ref)
        if row is None:
            raise UnknownApplicant(ref)
        return row.erased_at is not None

    # helpers

    def _live_row(self, ref: str) -> _Row:
        row = self._load(ref)
        if row is None:
            raise UnknownApplicant(ref)
        if row.erased_at is not None:
            raise ApplicantErased(ref, row.erased_at, row.erasure_reason or "")
        return row

    def _wrap(self, ref: str, purpose: str, key: bytes) -> bytes:
        nonce = self._rng(NONCE_BYTES)
        return nonce + self._master.encrypt(nonce, key, _wrap_aad(ref, purpose))

    def _unwrap(self, ref: str, purpose: str, wrapped: bytes | None) -> bytes:
        if wrapped is None:
            raise VaultIntegrityError(ref, "keys_missing")
        try:
            return self._master.decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_aad(ref, purpose)
            )
        except InvalidTag:
            raise VaultIntegrityError(ref, "key_unwrap_failed") from None


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

_SELECT_ROW: Final = """
SELECT d.nonce, d.ciphertext, k.wrapped_data_key, k.wrapped_commitment_secret,
       e.erased_at, e.reason
FROM {data} d
LEFT JOIN {keys} k ON k.ref = d.ref
LEFT JOIN {erasures} e ON e.ref = d.ref
WHERE d.ref = {param}
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
    ) -> None:
        super().__init__(master_key, rng)
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
    ) -> None:
        super().__init__(master_key, rng)
        self._conninfo = conninfo
        self._tables: dict[str, Any] = {
            "data": sql.Identifier(schema, "applicant_data"),
            "keys": sql.Identifier(schema, "applicant_keys"),
            "erasures": sql.Identifier(schema, "applicant_erasures"),
        }
        if read_only:  # an auditor's role may not create tables; they exist
            return
        with _postgres_errors(), self._connect() as conn, conn.transaction():
            # Concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalog;
            # an advisory lock makes node start-up races harmless.
            conn.execute(SCHEMA_LOCK_SQL)
            conn.execute(sql.SQL(_POSTGRES_SCHEMA).format(**self._tables))

    def _connect(self) -> psycopg.Connection[Any]:
        # Bounded: an unreachable database is a quick 503, never a request stuck in connect.
        return psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)

    def _insert(self, new: _NewApplicant) -> None:
        with _postgres_errors(), self._connect() as conn, conn.transaction():
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
        with _postgres_errors(), self._connect() as conn, conn.transaction():
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


# --- wiring ----------------------------------------------------------------------------------


def open_vault(
    database_url: str,
    data_dir: Path,
    master_key: bytes,
    *,
    schema: str = "public",
    read_only: bool = False,
) -> PersonalDataVault:
    """The vault for this node's database URL.

    ``postgresql://`` (or ``postgres://``, ``postgresql+psycopg://``) → :class:`PostgresVault`
    in the same database as the ledger; empty or ``sqlite://`` → :class:`SQLiteVault` in
    ``data_dir/vault.sqlite3``, never the ledger's own file.
    """
    scheme, separator, rest = database_url.partition("://")
    scheme = scheme.lower()
    if not database_url or scheme.startswith("sqlite"):
        return SQLiteVault(data_dir / VAULT_SQLITE_FILE, master_key=master_key, read_only=read_only)
    if separator and scheme in {"postgresql", "postgres", "postgresql+psycopg"}:
        return PostgresVault(
            f"postgresql://{rest}", schema, master_key=master_key, read_only=read_only
        )
    raise VaultConfigurationError(f"unsupported database URL scheme {scheme!r}")


def load_or_create_master_key(data_dir: Path) -> bytes:
    """The node master key from ``data_dir/vault.key``, created (32 random bytes, 0600) if absent.

    Refuses a key file of the wrong size or readable by group or others. Production nodes
    should fetch the key from a KMS instead; losing this file makes the vault unreadable.
    """
    path = data_dir / MASTER_KEY_FILE
    if not path.exists():
        private_directory(data_dir)
        # Created whole or not at all, never through a link: a concurrent starter never
        # sees a half-written key, and exactly one key wins.
        with contextlib.suppress(FileExistsError):
            write_atomically(path, os.urandom(KEY_BYTES), mode=0o600, overwrite=False)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise VaultConfigurationError(f"{path} has mode {mode:04o}; expected 0600")
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise VaultConfigurationError(f"{path} holds {len(key)} bytes, expected {KEY_BYTES}")
    return key

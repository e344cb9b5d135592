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
:class:`SQLiteVault` (its own file, ``vault.sqlite3``, never the ledger database;
``adapters/vault_sqlite.py``) and :class:`PostgresVault` (``adapters/vault_postgres.py``), over
what they share (``adapters/vault_base.py``). :func:`open_vault` picks one from the database URL.

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
import os
import stat
from pathlib import Path
from typing import Final

from adapters.atomic import write_atomically
from adapters.filemodes import private_directory
from adapters.vault_base import (
    KEY_BYTES,
    ApplicantErased,
    PersonalDataVault,
    StoredApplicant,
    UnknownApplicant,
    VaultConfigurationError,
    VaultError,
    VaultIntegrityError,
    VaultOperationalError,
)
from adapters.vault_ciphers import AES_256_GCM
from adapters.vault_postgres import PostgresVault
from adapters.vault_sqlite import SQLiteVault

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

# --- wiring ----------------------------------------------------------------------------------


def open_vault(
    database_url: str,
    data_dir: Path,
    master_key: bytes,
    *,
    schema: str = "public",
    read_only: bool = False,
    cipher: str = AES_256_GCM,
) -> PersonalDataVault:
    """The vault for this node's database URL.

    ``postgresql://`` (or ``postgres://``, ``postgresql+psycopg://``) → :class:`PostgresVault`
    in the same database as the ledger; empty or ``sqlite://`` → :class:`SQLiteVault` in
    ``data_dir/vault.sqlite3``, never the ledger's own file. ``cipher`` encrypts new rows
    (``aes-256-gcm`` or ``sm4-gcm``, the node's crypto profile); every row is read with its own.
    """
    scheme, separator, rest = database_url.partition("://")
    scheme = scheme.lower()
    if not database_url or scheme.startswith("sqlite"):
        return SQLiteVault(
            data_dir / VAULT_SQLITE_FILE, master_key=master_key, read_only=read_only, cipher=cipher
        )
    if separator and scheme in {"postgresql", "postgres", "postgresql+psycopg"}:
        return PostgresVault(
            f"postgresql://{rest}",
            schema,
            master_key=master_key,
            read_only=read_only,
            cipher=cipher,
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

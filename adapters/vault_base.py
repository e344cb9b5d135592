"""What every vault backend shares: the errors, the ``PersonalDataVault`` interface and the
crypto (``_VaultBase``: encryption, key wrapping, error mapping; a backend only moves rows).

The vault itself, its storage layout and its error tree: ``adapters/vault.py``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag

from adapters.postgres_ha import not_confirmed
from adapters.vault_ciphers import (
    AES_256_GCM,
    DATA_KEY_BYTES,
    VAULT_CIPHERS,
    cipher_of_wrapped_data_key,
    data_cipher,
    master_cipher,
)
from ledger.personal import FIELDS, PersonalData, applicant_ref, commitments, is_applicant_ref

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

    def adopt(
        self, ref: str, data: PersonalData, secret: bytes, *, now: datetime
    ) -> StoredApplicant:
        """Keep an applicant another node stored, under its ref and commitment secret."""
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

    def __init__(
        self, master_key: bytes, rng: Callable[[int], bytes], cipher: str = AES_256_GCM
    ) -> None:
        if len(master_key) != KEY_BYTES:
            raise VaultConfigurationError(
                f"master key has {len(master_key)} bytes, expected {KEY_BYTES}"
            )
        if cipher not in VAULT_CIPHERS:
            raise VaultConfigurationError(f"vault cipher {cipher!r} is not one of {VAULT_CIPHERS}")
        # New rows use ``cipher``; each row is read with the cipher it was written with.
        self._cipher = cipher
        self._masters = {name: master_cipher(name, master_key) for name in VAULT_CIPHERS}
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
        ref = applicant_ref(self._rng)
        data_key = self._rng(DATA_KEY_BYTES[self._cipher])
        secret = self._rng(KEY_BYTES)
        nonce = self._rng(NONCE_BYTES)
        return self._encrypt(ref, data, secret, (data_key, nonce), _aware(now))

    def adopt(
        self, ref: str, data: PersonalData, secret: bytes, *, now: datetime
    ) -> StoredApplicant:
        """Keep an applicant another node stored, under its ref and commitment secret (a
        relayed ``received`` step: the home node holds the record from then on). A ref
        already held is left as it is (a delivery repeated)."""
        if not is_applicant_ref(ref) or len(secret) != KEY_BYTES:
            raise VaultConfigurationError("an adopted applicant needs a ref and a 32-byte secret")
        held = StoredApplicant(ref=ref, commitments=commitments(secret, data), stored_at=now)
        if self._load(ref) is not None:
            return held
        fresh = (self._rng(DATA_KEY_BYTES[self._cipher]), self._rng(NONCE_BYTES))
        try:
            return self._encrypt(ref, data, secret, fresh, _aware(now))
        except VaultOperationalError as failed:
            # Two deliveries of one step at once (the request's and the server's loop): the
            # other kept the ref between our look and our insert; a repeat, as above. Not
            # when our own insert is the one stored but unconfirmed (adapters/postgres_ha.py):
            # finding it would take it as done.
            if not_confirmed(failed) or self._load(ref) is None:
                raise
            return held

    def _encrypt(
        self,
        ref: str,
        data: PersonalData,
        secret: bytes,
        fresh: tuple[bytes, bytes],
        stored_at: datetime,
    ) -> StoredApplicant:
        data_key, nonce = fresh  # drawn by the caller, in the order tests with a fixed rng expect
        plaintext = json.dumps(
            {"v": _PLAINTEXT_VERSION, **data.as_dict()},
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
        ).encode("utf-8")
        ciphertext = data_cipher(self._cipher, data_key).encrypt(
            nonce, plaintext, ref.encode("utf-8")
        )
        self._insert(
            _NewApplicant(
                ref=ref,
                nonce=nonce,
                ciphertext=ciphertext,
                wrapped_data_key=self._wrap(self._cipher, ref, "data-key", data_key),
                wrapped_commitment_secret=self._wrap(
                    self._cipher, ref, "commitment-secret", secret
                ),
                stored_at=stored_at,
            )
        )
        return StoredApplicant(ref=ref, commitments=commitments(secret, data), stored_at=stored_at)

    def read(self, ref: str) -> PersonalData:
        row = self._live_row(ref)
        cipher = self._row_cipher(row)
        data_key = self._unwrap(cipher, ref, "data-key", row.wrapped_data_key)
        try:
            plaintext = data_cipher(cipher, data_key).decrypt(
                row.nonce, row.ciphertext, ref.encode("utf-8")
            )
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
        cipher = self._row_cipher(row)
        return self._unwrap(cipher, ref, "commitment-secret", row.wrapped_commitment_secret)

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

    @staticmethod
    def _row_cipher(row: _Row) -> str:
        wrapped = row.wrapped_data_key
        return AES_256_GCM if wrapped is None else cipher_of_wrapped_data_key(wrapped)

    def _wrap(self, cipher: str, ref: str, purpose: str, key: bytes) -> bytes:
        nonce = self._rng(NONCE_BYTES)
        return nonce + self._masters[cipher].encrypt(nonce, key, _wrap_aad(ref, purpose))

    def _unwrap(self, cipher: str, ref: str, purpose: str, wrapped: bytes | None) -> bytes:
        if wrapped is None:
            raise VaultIntegrityError(ref, "keys_missing")
        try:
            return self._masters[cipher].decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_aad(ref, purpose)
            )
        except InvalidTag:
            raise VaultIntegrityError(ref, "key_unwrap_failed") from None


_SELECT_ROW: Final = """
SELECT d.nonce, d.ciphertext, k.wrapped_data_key, k.wrapped_commitment_secret,
       e.erased_at, e.reason
FROM {data} d
LEFT JOIN {keys} k ON k.ref = d.ref
LEFT JOIN {erasures} e ON e.ref = d.ref
WHERE d.ref = {param}
"""

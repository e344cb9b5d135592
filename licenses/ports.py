"""What the license service needs from outside ``licenses``, as ports (Protocols).

The service (:mod:`licenses.service`) is written against these; ``adapters`` implements them
(``adapters.license_store.SqlLicenseStore`` on SQLite or PostgreSQL, the vault through
``adapters.license_vault.VaultHolderSecrets``, ``adapters.peers.http_fetch``) and
``adapters.bootstrap`` wires them. The ledger itself is not a port: ``licenses`` may use
``ledger`` (its ``LedgerApplication`` appends the license events and keeps the registry).

- :class:`LicenseStore`   what a node keeps about licenses beside its ledger: status entries
  handed out, the encrypted and erasable documents, published and fetched status lists, trust
  lists, grants and the use log. It raises the ``LicenseStoreError`` tree of
  :mod:`licenses.errors` (a taken entry is ``StatusIndexTaken``, an erased document
  ``DocumentErased``);
- :class:`HolderSecrets`  the commitment secret of a case's applicant (from the personal-data
  vault), to check a draft's holder against the case; ``HolderSecretUnavailable`` when it
  cannot be had;
- :data:`Fetch`           GET another region's node: a URL in, the body's bytes out (``OSError``
  when the node does not answer 200).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeAlias

__all__ = [
    "Fetch",
    "HeldTrustLists",
    "HolderSecrets",
    "LicenseStore",
    "LicenseUse",
    "StoredGrant",
]

#: GET a URL of another node; the body's bytes.
Fetch: TypeAlias = Callable[[str], bytes]
#: ``region -> (version, raw, url)`` of every trust list held (url: where a peer's came from).
HeldTrustLists: TypeAlias = dict[str, tuple[int, bytes, str | None]]


@dataclass(frozen=True)
class StoredGrant:
    grant_id: str
    identifier: str
    uses: int
    used: int
    withdrawn_at: str | None
    raw: bytes


@dataclass(frozen=True)
class LicenseUse:
    """One line of the use log (用证记录): identifiers, principals and purposes only."""

    identifier: str
    kind: str
    subject: str
    purpose: str
    scope: str
    grant_id: str
    at: str


class LicenseStore(Protocol):
    """The node's license data beside the ledger."""

    # -- status entries --

    def taken_indexes(self, list_id: str) -> set[int]: ...

    def list_ids(self) -> set[str]: ...

    def index_of(self, identifier: str) -> tuple[str, int, str] | None:
        """``(list, index, body)`` held by ``identifier``, or None."""
        ...

    def hold_index(self, list_id: str, index: int, identifier: str, body: str) -> None:
        """Give entry ``index`` of ``list_id`` to ``identifier`` (again: a no-op); raises
        ``StatusIndexTaken`` if another license holds the entry, or if ``identifier`` already
        holds another one."""
        ...

    # -- documents (encrypted, erasable) --

    def put_document(self, identifier: str, kind: str, raw: bytes) -> None:
        """Store the ``draft`` or ``issued`` document (the same bytes again: ok; others:
        ``DocumentConflict``)."""
        ...

    def document(self, identifier: str, kind: str) -> bytes | None:
        """The stored document, None if there is none; ``DocumentErased`` once erased."""
        ...

    def erase_documents(self, identifier: str, *, now: datetime) -> None: ...

    # -- status lists --

    def latest_status_list(self, list_id: str) -> tuple[int, bytes] | None: ...

    def add_status_list(self, list_id: str, version: int, raw: bytes) -> bool:
        """Record a published version; False if another request published it first."""
        ...

    def keep_peer_status_list(self, list_id: str, region: str, version: int, raw: bytes) -> bool:
        """Keep a peer's list if it is newer than the one held; whether it was kept."""
        ...

    # -- trust lists --

    def trust_lists(self) -> HeldTrustLists: ...

    def verification_inputs(self, list_id: str | None) -> tuple[HeldTrustLists, bytes | None]:
        """The trust lists held and the peer status list ``list_id`` (None: no list), read
        together."""
        ...

    def keep_trust_list(self, region: str, version: int, raw: bytes, url: str | None) -> None:
        """Hold ``raw`` as the region's list (the caller checked it supersedes the held one)."""
        ...

    # -- grants and uses --

    def add_grant(self, grant_id: str, identifier: str, uses: int, raw: bytes) -> None: ...

    def grant(self, grant_id: str) -> StoredGrant | None: ...

    def use_grant(self, grant_id: str) -> bool:
        """Count one use, atomically; False when none is left or the grant was withdrawn."""
        ...

    def withdraw_grant(self, grant_id: str, *, now: datetime) -> None: ...

    def record_use(self, use: LicenseUse) -> None: ...

    def uses(self, identifier: str) -> list[LicenseUse]: ...


class HolderSecrets(Protocol):
    """The commitment secrets of case applicants (the personal-data vault)."""

    def commitment_secret(self, ref: str) -> bytes:
        """The secret of applicant ``ref``; ``HolderSecretUnavailable`` when it cannot be had."""
        ...

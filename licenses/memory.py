"""An in-memory ``licenses.ports.LicenseStore``, for tests and tools that need no database.

It keeps the SQL store's contract (``tests/integration/test_license_store_contract.py`` runs
the same cases on both): one entry per license and one license per entry, documents readable
until erased and then ``DocumentErased``, one status list per (list, version), the newest peer
list only, grants counted atomically. Documents are kept in clear: nothing here is durable or
shared with another process, so there is no disk to protect them from.
"""

from __future__ import annotations

import threading
from datetime import datetime

from licenses.errors import DocumentConflict, DocumentErased, LicenseStoreError, StatusIndexTaken
from licenses.ports import HeldTrustLists, LicenseUse, StoredGrant

__all__ = ["InMemoryLicenseStore"]


class InMemoryLicenseStore:
    """The node's license data in dictionaries, under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, int], tuple[str, str]] = {}  # -> (identifier, body)
        self._documents: dict[tuple[str, str], bytes] = {}
        self._erased: dict[str, str] = {}  # identifier -> when
        self._status_lists: dict[tuple[str, int], bytes] = {}
        self._peer_lists: dict[str, tuple[int, bytes]] = {}
        self._trust_lists: HeldTrustLists = {}
        self._grants: dict[str, StoredGrant] = {}
        self._uses: list[LicenseUse] = []

    # -- status entries --

    def taken_indexes(self, list_id: str) -> set[int]:
        with self._lock:
            return {index for held, index in self._entries if held == list_id}

    def list_ids(self) -> set[str]:
        with self._lock:
            return {list_id for list_id, _ in self._entries}

    def index_of(self, identifier: str) -> tuple[str, int, str] | None:
        with self._lock:
            return self._index_of(identifier)

    def _index_of(self, identifier: str) -> tuple[str, int, str] | None:
        for (list_id, index), (held, body) in self._entries.items():
            if held == identifier:
                return list_id, index, body
        return None

    def hold_index(self, list_id: str, index: int, identifier: str, body: str) -> None:
        with self._lock:
            held = self._index_of(identifier)
            if held is not None and held[:2] == (list_id, index):
                return
            holder = self._entries.get((list_id, index))
            if holder is not None:
                raise StatusIndexTaken(list_id, index, holder[0])
            if held is not None:
                raise StatusIndexTaken(held[0], held[1], identifier)
            self._entries[(list_id, index)] = (identifier, body)

    # -- documents --

    def _check_not_erased(self, identifier: str) -> None:
        erased_at = self._erased.get(identifier)
        if erased_at is not None:
            raise DocumentErased(f"the documents of {identifier} were erased at {erased_at}")

    def put_document(self, identifier: str, kind: str, raw: bytes) -> None:
        with self._lock:
            self._check_not_erased(identifier)
            stored = self._documents.setdefault((identifier, kind), raw)
            if stored != raw:
                raise DocumentConflict(f"another {kind} document of {identifier} is stored")

    def document(self, identifier: str, kind: str) -> bytes | None:
        with self._lock:
            raw = self._documents.get((identifier, kind))
            if raw is None:
                return None
            self._check_not_erased(identifier)
            return raw

    def erase_documents(self, identifier: str, *, now: datetime) -> None:
        with self._lock:
            # Like the SQL store: only a license with a document has a key to destroy.
            if any(held == identifier for held, _ in self._documents):
                self._erased.setdefault(identifier, now.isoformat())

    # -- status lists --

    def latest_status_list(self, list_id: str) -> tuple[int, bytes] | None:
        with self._lock:
            versions = [v for held, v in self._status_lists if held == list_id]
            if not versions:
                return None
            return max(versions), self._status_lists[(list_id, max(versions))]

    def add_status_list(self, list_id: str, version: int, raw: bytes) -> bool:
        with self._lock:
            if (list_id, version) in self._status_lists:
                return False
            self._status_lists[(list_id, version)] = raw
            return True

    def keep_peer_status_list(self, list_id: str, region: str, version: int, raw: bytes) -> bool:
        with self._lock:
            held = self._peer_lists.get(list_id)
            if held is not None and held[0] >= version:
                return False
            self._peer_lists[list_id] = (version, raw)
            return True

    # -- trust lists --

    def trust_lists(self) -> HeldTrustLists:
        with self._lock:
            return dict(self._trust_lists)

    def verification_inputs(self, list_id: str | None) -> tuple[HeldTrustLists, bytes | None]:
        with self._lock:
            peer = None if list_id is None else self._peer_lists.get(list_id)
            return dict(self._trust_lists), None if peer is None else peer[1]

    def keep_trust_list(self, region: str, version: int, raw: bytes, url: str | None) -> None:
        with self._lock:
            self._trust_lists[region] = (version, raw, url)

    # -- grants and uses --

    def add_grant(self, grant_id: str, identifier: str, uses: int, raw: bytes) -> None:
        with self._lock:
            if grant_id in self._grants:
                raise LicenseStoreError(f"grant {grant_id} exists")
            self._grants[grant_id] = StoredGrant(grant_id, identifier, uses, 0, None, raw)

    def grant(self, grant_id: str) -> StoredGrant | None:
        with self._lock:
            return self._grants.get(grant_id)

    def use_grant(self, grant_id: str) -> bool:
        with self._lock:
            stored = self._grants.get(grant_id)
            if stored is None or stored.used >= stored.uses or stored.withdrawn_at is not None:
                return False
            self._grants[grant_id] = StoredGrant(
                stored.grant_id,
                stored.identifier,
                stored.uses,
                stored.used + 1,
                None,
                stored.raw,
            )
            return True

    def withdraw_grant(self, grant_id: str, *, now: datetime) -> None:
        with self._lock:
            stored = self._grants.get(grant_id)
            if stored is not None and stored.withdrawn_at is None:
                self._grants[grant_id] = StoredGrant(
                    stored.grant_id,
                    stored.identifier,
                    stored.uses,
                    stored.used,
                    now.isoformat(),
                    stored.raw,
                )

    def record_use(self, use: LicenseUse) -> None:
        with self._lock:
            self._uses.append(use)

    def uses(self, identifier: str) -> list[LicenseUse]:
        with self._lock:
            # ORDER BY at, stable for equal times as the SQL store's insertion order is.
            return sorted((u for u in self._uses if u.identifier == identifier), key=lambda u: u.at)

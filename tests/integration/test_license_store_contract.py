"""The license store port's contract (``licenses.ports.LicenseStore``), written once and run on
every implementation: SQLite and PostgreSQL (``adapters.license_store``) and in memory
(``licenses.memory``), the way eventsourcing subclasses its recorder test cases per backend;
and the license service on the in-memory store (it needs only the ports)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.license_store import open_license_store
from ledger.workflow import CaseWorkflow
from licenses.errors import (
    DocumentConflict,
    DocumentErased,
    HolderSecretUnavailable,
    LicenseNotFound,
    LicenseStoreError,
    StatusIndexTaken,
)
from licenses.memory import InMemoryLicenseStore
from licenses.ports import LicenseStore, LicenseUse
from licenses.service import LicenseService
from licenses.status_lists import check_status_list
from tests.support.world import make_world

A, B = "1.2.156.3005.2.A", "1.2.156.3005.2.B"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class LicenseStoreContract:
    """Every case a license store must pass; a subclass gives the ``store`` fixture."""

    def test_an_entry_goes_to_one_license_and_a_license_holds_one_entry(
        self, store: LicenseStore
    ) -> None:
        store.hold_index("510000-1", 7, A, "510104-RS")
        store.hold_index("510000-1", 7, A, "510104-RS")  # again: a no-op
        with pytest.raises(StatusIndexTaken) as taken:
            store.hold_index("510000-1", 7, B, "510104-RS")
        assert (taken.value.list_id, taken.value.index, taken.value.holder) == ("510000-1", 7, A)
        with pytest.raises(StatusIndexTaken) as moved:
            store.hold_index("510000-1", 8, A, "510104-RS")
        assert (moved.value.list_id, moved.value.index, moved.value.holder) == ("510000-1", 7, A)
        store.hold_index("510000-2", 7, B, "510104-RS")
        assert store.index_of(A) == ("510000-1", 7, "510104-RS")
        assert store.index_of("unknown") is None
        assert store.taken_indexes("510000-1") == {7}
        assert store.taken_indexes("510000-3") == set()
        assert store.list_ids() == {"510000-1", "510000-2"}

    def test_documents_round_trip_conflict_and_erase(self, store: LicenseStore) -> None:
        assert store.document(A, "draft") is None
        store.put_document(A, "draft", b"draft of A")
        store.put_document(A, "draft", b"draft of A")  # the same bytes again: ok
        with pytest.raises(DocumentConflict):
            store.put_document(A, "draft", b"another draft")
        store.put_document(A, "issued", b"issued A")
        store.put_document(B, "draft", b"draft of B")
        assert store.document(A, "draft") == b"draft of A"
        assert store.document(A, "issued") == b"issued A"
        store.erase_documents(A, now=NOW)
        store.erase_documents(A, now=NOW)  # idempotent
        for kind in ("draft", "issued"):
            with pytest.raises(DocumentErased):
                store.document(A, kind)
        with pytest.raises(DocumentErased):
            store.put_document(A, "issued", b"issued A")
        assert isinstance(DocumentErased("x"), LicenseStoreError)
        assert store.document(B, "draft") == b"draft of B"  # the other license untouched

    def test_one_status_list_per_version_and_the_newest_is_latest(
        self, store: LicenseStore
    ) -> None:
        assert store.latest_status_list("510000-1") is None
        assert store.add_status_list("510000-1", 1, b"v1")
        assert not store.add_status_list("510000-1", 1, b"v1 again")
        assert store.add_status_list("510000-1", 2, b"v2")
        assert store.latest_status_list("510000-1") == (2, b"v2")
        assert store.latest_status_list("510000-2") is None

    def test_only_a_newer_peer_status_list_is_kept(self, store: LicenseStore) -> None:
        assert store.verification_inputs("320000-1") == ({}, None)
        assert store.keep_peer_status_list("320000-1", "320000", 2, b"v2")
        assert not store.keep_peer_status_list("320000-1", "320000", 1, b"v1")
        assert not store.keep_peer_status_list("320000-1", "320000", 2, b"v2 again")
        assert store.verification_inputs("320000-1") == ({}, b"v2")
        assert store.keep_peer_status_list("320000-1", "320000", 3, b"v3")
        assert store.verification_inputs("320000-1")[1] == b"v3"

    def test_a_trust_list_is_held_per_region(self, store: LicenseStore) -> None:
        store.keep_trust_list("510000", 1, b"sc 1", None)
        store.keep_trust_list("320000", 4, b"js 4", "http://jiangsu")
        store.keep_trust_list("510000", 2, b"sc 2", None)
        held = {"510000": (2, b"sc 2", None), "320000": (4, b"js 4", "http://jiangsu")}
        assert store.trust_lists() == held
        assert store.verification_inputs(None) == (held, None)

    def test_grants_are_counted_and_withdrawn(self, store: LicenseStore) -> None:
        assert store.grant("g1") is None
        assert not store.use_grant("g1")
        store.add_grant("g1", A, 2, b"grant 1")
        store.add_grant("g2", A, 5, b"grant 2")
        assert store.use_grant("g1") and store.use_grant("g1")
        assert not store.use_grant("g1")  # both uses made
        stored = store.grant("g1")
        assert stored is not None
        assert (stored.identifier, stored.uses, stored.used, stored.raw) == (A, 2, 2, b"grant 1")
        assert stored.withdrawn_at is None
        store.withdraw_grant("g2", now=NOW)
        store.withdraw_grant("g2", now=datetime(2027, 1, 1, tzinfo=UTC))  # the first time stays
        assert not store.use_grant("g2")
        withdrawn = store.grant("g2")
        assert withdrawn is not None
        assert (withdrawn.used, withdrawn.withdrawn_at) == (0, NOW.isoformat())

    def test_the_use_log_is_per_license_in_time_order(self, store: LicenseStore) -> None:
        later = LicenseUse(A, "peer", "320000", "核验", "status", "", "2026-01-02T00:00:00+00:00")
        earlier = LicenseUse(A, "body", "320102-X", "办理", "metadata", "g1", "2026-01-01")
        other = LicenseUse(B, "auditor", "au", "status", "status", "", "2026-01-01")
        for use in (later, earlier, other):
            store.record_use(use)
        assert store.uses(A) == [earlier, later]
        assert store.uses(B) == [other]
        assert store.uses("unknown") == []


class TestInMemory(LicenseStoreContract):
    @pytest.fixture
    def store(self) -> LicenseStore:
        return InMemoryLicenseStore()


class TestSQLite(LicenseStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> LicenseStore:
        return open_license_store("", tmp_path, bytes(range(32)))


@pytest.mark.postgres
class TestPostgres(LicenseStoreContract):
    @pytest.fixture
    def store(
        self, postgres_url: str, postgres_schema: str, tmp_path: Path
    ) -> Iterator[LicenseStore]:
        yield open_license_store(postgres_url, tmp_path, bytes(range(32)), schema=postgres_schema)


class _NoHolders:
    def commitment_secret(self, ref: str) -> bytes:
        raise HolderSecretUnavailable("UnknownApplicant")


def test_the_service_runs_on_the_in_memory_store(tmp_path: Path) -> None:
    world = make_world(tmp_path, workflow=CaseWorkflow())
    store = InMemoryLicenseStore()
    service = LicenseService(world.app, store, _NoHolders(), region="510000")
    try:
        with pytest.raises(LicenseNotFound) as none:
            service.trust_list()
        assert none.value.reason == "no_trust_list"
        raw = service.status_list("510000-1")
        assert service.status_list("510000-1") == raw  # fresh and unchanged: not re-signed
        assert store.latest_status_list("510000-1") == (1, raw)
        world.app.refresh_registry()
        assert check_status_list(world.app.registry, raw).list_id == "510000-1"
        with pytest.raises(LicenseNotFound):
            service.status_list("510000-2")  # no entry held on it
    finally:
        world.app.close()

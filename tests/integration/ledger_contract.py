"""What every ledger backend must do, written once (house style: contract tests).

``LedgerContract`` holds every test; ``test_ledger_sqlite.py`` and ``test_ledger_postgres.py``
subclass it and provide three fixtures: ``world`` (``tests.support.world.make_world`` on that
backend), ``raw`` (a :class:`RawStore` that reads and tampers with the stored rows directly)
and ``vault`` (the personal-data vault on that backend).
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import EllipsisType
from typing import Any

import msgpack
import psycopg
import pytest

from adapters.vault import ApplicantErased, PersonalDataVault
from ledger import canonical
from ledger.application import Appended
from ledger.audit import INTEGRITY, POLICY, AuditReport, verify_case, verify_ledger
from ledger.envelope import EVENT_CONTEXT, FORMAT_VERSION, ZERO_HASH, build_event, parse_event
from ledger.errors import ConflictError, Head, LedgerError
from ledger.keys import build_key_record, registry_stream_id, rotation_proof_input
from ledger.personal import PersonalData, verify_commitment
from ledger.receipts import make_receipt, parse_receipt
from tests.support.world import Officer, World, iter_cases, seeded

RS_BODY = "510104-RS"
ZW_BODY = "510000-ZWFW"
REGISTRY_RECORDS = 6  # root, node key, two bodies, two officers (make_world)
ZHANG = PersonalData(
    name="张三丰",
    id_number="11010519491231002X",
    phone="13812345678",
    address="北京市朝阳区建国路1号",
)


# -- raw access to the stored rows ----------------------------------------------------------


class RawStore(ABC):
    """The ledger's two tables, reached around the application (for tampering).

    Queries name the tables ``{events}`` and ``{ledger}`` and use ``?`` placeholders.
    """

    events: str
    ledger: str

    @abstractmethod
    def run(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def sid(self, stream_id: uuid.UUID) -> Any:
        """A stream id as the backend stores it."""

    def _q(self, query: str) -> str:
        return query.format(events=self.events, ledger=self.ledger)

    def snapshot(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Every row of both tables, bytes normalized, in a stable order."""

        def norm(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
            return [
                tuple(
                    bytes(v)
                    if isinstance(v, memoryview | bytearray)
                    else str(uuid.UUID(str(v)))
                    if i == 0
                    else v
                    for i, v in enumerate(row)
                )
                for row in rows
            ]

        events = self.run(
            "SELECT originator_id, originator_version, topic, state FROM {events} "
            "ORDER BY originator_id, originator_version"
        )
        ledger = self.run(
            "SELECT originator_id, originator_version, ledger_index, event_hash, receipt "
            "FROM {ledger} ORDER BY ledger_index"
        )
        return norm(events), norm(ledger)

    def everything(self) -> bytes:
        events, ledger = self.snapshot()
        return b"".join(
            v if isinstance(v, bytes) else str(v).encode() for r in events + ledger for v in r
        )

    def state(self, case_id: uuid.UUID, seq: int) -> bytes:
        [(state,)] = self.run(
            "SELECT state FROM {events} WHERE originator_id = ? AND originator_version = ?",
            (self.sid(case_id), seq),
        )
        return bytes(state)

    def set_state(self, case_id: uuid.UUID, seq: int, state: bytes) -> None:
        self.run(
            "UPDATE {events} SET state = ? WHERE originator_id = ? AND originator_version = ?",
            (state, self.sid(case_id), seq),
        )

    def set_topic(self, case_id: uuid.UUID, seq: int, topic: str) -> None:
        self.run(
            "UPDATE {events} SET topic = ? WHERE originator_id = ? AND originator_version = ?",
            (topic, self.sid(case_id), seq),
        )

    def receipt(self, case_id: uuid.UUID, seq: int) -> bytes:
        [(receipt,)] = self.run(
            "SELECT receipt FROM {ledger} WHERE originator_id = ? AND originator_version = ?",
            (self.sid(case_id), seq),
        )
        return bytes(receipt)

    def set_ledger_row(
        self, case_id: uuid.UUID, seq: int, *, event_hash: bytes, receipt: bytes
    ) -> None:
        self.run(
            "UPDATE {ledger} SET event_hash = ?, receipt = ? "
            "WHERE originator_id = ? AND originator_version = ?",
            (event_hash, receipt, self.sid(case_id), seq),
        )

    def set_receipt(self, case_id: uuid.UUID, seq: int, receipt: bytes) -> None:
        self.run(
            "UPDATE {ledger} SET receipt = ? WHERE originator_id = ? AND originator_version = ?",
            (receipt, self.sid(case_id), seq),
        )

    def delete(self, case_id: uuid.UUID, seq: int) -> None:
        for table in ("{events}", "{ledger}"):
            self.run(
                f"DELETE FROM {table} WHERE originator_id = ? AND originator_version = ?",
                (self.sid(case_id), seq),
            )


class SQLiteRawStore(RawStore):
    events = "stored_events"
    ledger = "stored_ledger"

    def __init__(self, path: Path):
        self.path = path

    def run(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.path, timeout=10)
        try:
            with conn:
                return conn.execute(self._q(query), params).fetchall()
        finally:
            conn.close()

    def sid(self, stream_id: uuid.UUID) -> Any:
        return stream_id.hex


class PostgresRawStore(RawStore):
    def __init__(self, url: str, schema: str):
        self.url = url
        self.events = f'"{schema}".tongban_events'
        self.ledger = f'"{schema}".tongban_ledger'

    def run(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            cursor = conn.execute(self._q(query).replace("?", "%s").encode(), params)
            return cursor.fetchall() if cursor.description else []

    def sid(self, stream_id: uuid.UUID) -> Any:
        return stream_id


# -- helpers ---------------------------------------------------------------------------------


def found(report: AuditReport) -> set[tuple[str, int, str]]:
    return {(f.case_id, f.seq, f.reason) for f in report.findings}


def extend(
    world: World, officer: Officer, case_id: uuid.UUID, head: Head, steps: int
) -> list[Appended]:
    """Append ``steps`` more steps to a case, each with a distinct body."""
    done = []
    for seq in range(head.seq + 1, head.seq + steps + 1):
        raw = world.event(
            officer, case_id, seq, head.event_hash, "noted", body={"note": f"step-{seq}"}
        )
        appended = world.app.append_event(raw)
        head = appended.head
        done.append(appended)
    return done


def flip(data: bytes, position: int) -> bytes:
    changed = bytearray(data)
    changed[position] ^= 0x01
    return bytes(changed)


def unsealed(content: dict[str, Any], signature: bytes = bytes(64)) -> bytes:
    """A signed-object shape around ``content`` without a real signature."""
    return canonical.encode([canonical.encode(content), signature])


def event_content(
    world: World, officer: Officer, case_id: uuid.UUID, **changes: Any
) -> dict[str, Any]:
    content = {
        "v": FORMAT_VERSION,
        "suite": "ed25519-sha256",
        "ctx": EVENT_CONTEXT,
        "kid": officer.signer.key_id,
        "ledger": world.app.ledger_name,
        "case": str(case_id),
        "seq": 1,
        "type": "received",
        "time": world.clock.now,
        "actor": {"body": officer.body_id, "officer": officer.officer_id},
        "prev": ZERO_HASH,
        "body": {},
    }
    content.update(changes)
    return content


# Each builder gets (world, case_id, head of a one-step case) and returns the bytes to post
# and the refusal expected as (reason, field). It may change the world first (a revocation).
Refusal = Callable[[World, uuid.UUID, Head, Appended], tuple[bytes, str, str | None]]


def _wrong_ledger(
    w: World, c: uuid.UUID, h: Head, first: Appended
) -> tuple[bytes, str, str | None]:
    rs = w.officers["rs-001"]
    raw = build_event(
        rs.signer,
        ledger="tongban/320000",
        case_id=c,
        seq=2,
        event_type="noted",
        time=w.clock.now,
        body_id=rs.body_id,
        officer_id=rs.officer_id,
        prev=h.event_hash,
        body={},
    )
    return raw, "wrong_ledger", "ledger"


def _clock_moved(w: World, c: uuid.UUID, h: Head, first: Appended) -> tuple[bytes, str, str | None]:
    raw = w.event(w.officers["rs-001"], c, 2, h.event_hash, "noted")
    w.clock.advance(w.app.claim_tolerance / 1e6 + 60)
    return raw, "time_out_of_tolerance", "time"


def _claims_future(
    w: World, c: uuid.UUID, h: Head, first: Appended
) -> tuple[bytes, str, str | None]:
    future = w.clock.now + w.app.claim_tolerance + 60_000_000
    return (
        w.event(w.officers["rs-001"], c, 2, h.event_hash, time=future),
        "time_out_of_tolerance",
        "time",
    )


def _before_previous_receipt(
    w: World, c: uuid.UUID, h: Head, first: Appended
) -> tuple[bytes, str, str | None]:
    earlier = parse_receipt(first.receipt).time - 1
    assert abs(w.clock.now - earlier) < w.app.claim_tolerance  # only the order is wrong
    return (
        w.event(w.officers["rs-001"], c, 2, h.event_hash, time=earlier),
        "time_out_of_tolerance",
        "time",
    )


def _seq_gap(w: World, c: uuid.UUID, h: Head, first: Appended) -> tuple[bytes, str, str | None]:
    return w.event(w.officers["rs-001"], c, 3, h.event_hash), "seq_gap", "seq"


def _broken_prev(w: World, c: uuid.UUID, h: Head, first: Appended) -> tuple[bytes, str, str | None]:
    prev = hashlib.sha256(b"not the head").digest()
    return w.event(w.officers["rs-001"], c, 2, prev), "broken_link", "prev"


def _unknown_key(w: World, c: uuid.UUID, h: Head, first: Appended) -> tuple[bytes, str, str | None]:
    raw = w.event(w.officers["rs-001"], c, 2, h.event_hash, signer=seeded("stranger"))
    return raw, "unknown_key", "kid"


def _other_bodys_key(
    w: World, c: uuid.UUID, h: Head, first: Appended
) -> tuple[bytes, str, str | None]:
    raw = w.event(w.officers["rs-001"], c, 2, h.event_hash, signer=w.officers["zw-001"].signer)
    return raw, "uncertified_officer", "kid"


def _revoked_key(w: World, c: uuid.UUID, h: Head, first: Appended) -> tuple[bytes, str, str | None]:
    rs = w.officers["rs-001"]
    w.clerk.revoke(w.body_keys[RS_BODY], rs.signer.key_id, compromised_since=w.clock.now)
    return w.event(rs, c, 2, h.event_hash), "key_revoked", "kid"


def _bad_signature(
    w: World, c: uuid.UUID, h: Head, first: Appended
) -> tuple[bytes, str, str | None]:
    raw = w.event(w.officers["rs-001"], c, 2, h.event_hash)
    return flip(raw, len(raw) - 1), "bad_signature", "signature"


def _garbage(w: World, c: uuid.UUID, h: Head, first: Appended) -> tuple[bytes, str, str | None]:
    return b"\xc1 not msgpack", "malformed", None


def _missing_actor(
    w: World, c: uuid.UUID, h: Head, first: Appended
) -> tuple[bytes, str, str | None]:
    content = event_content(w, w.officers["rs-001"], c, seq=2, prev=h.event_hash)
    del content["actor"]
    return unsealed(content), "malformed", "actor"


def _non_canonical(
    w: World, c: uuid.UUID, h: Head, first: Appended
) -> tuple[bytes, str, str | None]:
    content_bytes, signature = canonical.decode(w.event(w.officers["rs-001"], c, 2, h.event_hash))
    # The same value, but the signature as bin32 instead of the shortest bin8.
    raw = b"\x92" + canonical.encode(content_bytes) + b"\xc6" + len(signature).to_bytes(4, "big")
    raw += signature
    assert msgpack.unpackb(raw) == [content_bytes, signature]
    return raw, "malformed", None


def _unsupported_suite(
    w: World, c: uuid.UUID, h: Head, first: Appended
) -> tuple[bytes, str, str | None]:
    content = event_content(w, w.officers["rs-001"], c, seq=2, prev=h.event_hash, suite="rsa-sha1")
    return unsealed(content), "unsupported_suite", "suite"


REFUSALS: dict[str, Refusal] = {
    "wrong_ledger": _wrong_ledger,
    "clock_moved_past_tolerance": _clock_moved,
    "claims_future_time": _claims_future,
    "claims_time_before_previous_receipt": _before_previous_receipt,
    "seq_gap": _seq_gap,
    "broken_prev": _broken_prev,
    "unknown_key": _unknown_key,
    "other_bodys_valid_key": _other_bodys_key,
    "revoked_key": _revoked_key,
    "bad_signature": _bad_signature,
    "garbage_bytes": _garbage,
    "missing_actor": _missing_actor,
    "non_canonical": _non_canonical,
    "unsupported_suite": _unsupported_suite,
}


# -- the contract ----------------------------------------------------------------------------


class LedgerContract:
    """Every backend's expectations. Subclasses provide ``world``, ``raw`` and ``vault``."""

    @pytest.fixture
    def world(self) -> Iterator[World]:
        raise NotImplementedError

    @pytest.fixture
    def raw(self) -> RawStore:
        raise NotImplementedError

    @pytest.fixture
    def vault(self) -> PersonalDataVault:
        raise NotImplementedError

    def assert_refused(
        self,
        world: World,
        raw: RawStore,
        action: Callable[[], object],
        reason: str,
        field: str | EllipsisType | None = ...,
    ) -> LedgerError:
        before, max_before = raw.snapshot(), world.app.store.max_index()
        with pytest.raises(LedgerError) as refused:
            action()
        assert refused.value.reason == reason, refused.value.detail
        if field is not ...:
            assert refused.value.field == field, refused.value.detail
        assert world.app.store.max_index() == max_before
        assert raw.snapshot() == before
        return refused.value

    # -- appends ---------------------------------------------------------------------------

    def test_receipts_verify_under_the_node_key_and_the_index_is_dense(self, world: World) -> None:
        rs, zw = world.officers["rs-001"], world.officers["zw-001"]
        case_a, done_a = world.append_case(rs, 3)
        _, done_b = world.append_case(zw, 2)
        node = world.app.node_signer
        assert node is not None
        for appended in done_a + done_b:
            receipt = parse_receipt(appended.receipt)
            receipt.signed.verify(node.public_key)
            assert receipt.key_id == node.key_id
            assert (receipt.index, receipt.seq) == (appended.index, appended.seq)
            assert receipt.stream_id == appended.stream_id
            assert receipt.ledger == world.app.ledger_name
        with pytest.raises(LedgerError):  # and not under any other key
            parse_receipt(done_a[0].receipt).signed.verify(rs.signer.public_key)

        entries = world.app.entries_after(0, 1000)
        assert [e.index for e in entries] == list(range(1, REGISTRY_RECORDS + 5 + 1))
        assert world.app.store.max_index() == len(entries)
        registry = registry_stream_id(world.region)
        assert [e.stream_id for e in entries[:REGISTRY_RECORDS]] == [registry] * REGISTRY_RECORDS
        for entry in entries:
            receipt = parse_receipt(entry.receipt)
            receipt.signed.verify(node.public_key)
            assert receipt.index == entry.index
            assert (receipt.stream_id, receipt.seq) == (entry.stream_id, entry.seq)
            assert receipt.event_hash == hashlib.sha256(entry.envelope).digest()
        assert world.app.entries_after(REGISTRY_RECORDS + 3, 1)[0].index == REGISTRY_RECORDS + 4

        stored = world.app.stream_entries(case_a)
        assert [e.seq for e in stored] == [1, 2, 3]
        assert [e.receipt for e in stored] == [a.receipt for a in done_a]
        assert [parse_event(e.envelope).hash for e in stored] == [a.head.event_hash for a in done_a]

    def test_reposting_the_same_bytes_returns_the_original_receipt(
        self, world: World, raw: RawStore
    ) -> None:
        rs = world.officers["rs-001"]
        case_id = uuid.uuid4()
        first_raw = world.event(rs, case_id, 1, ZERO_HASH)
        first = world.app.append_event(first_raw)
        second = extend(world, rs, case_id, first.head, 1)[0]
        assert first.created and second.created
        before = raw.snapshot()
        world.clock.advance(30)  # a new receipt would carry another time
        for original, raw_bytes in ((first, first_raw), (second, None)):
            if raw_bytes is None:
                raw_bytes = world.app.stream_entries(case_id)[1].envelope
            again = world.app.append_event(raw_bytes)
            assert again.created is False
            assert again.receipt == original.receipt
            assert (again.index, again.seq) == (original.index, original.seq)
            assert again.head == second.head
        assert raw.snapshot() == before

    def test_a_different_envelope_at_a_taken_seq_conflicts_with_the_head(
        self, world: World, raw: RawStore
    ) -> None:
        rs = world.officers["rs-001"]
        case_id, done = world.append_case(rs, 3)
        head = Head(3, done[-1].head.event_hash)
        for seq, prev in ((3, done[1].head.event_hash), (1, ZERO_HASH)):
            other = world.event(rs, case_id, seq, prev, "noted", body={"note": "another"})
            before = raw.snapshot()
            with pytest.raises(ConflictError) as conflict:
                world.app.append_event(other)
            assert conflict.value.head == head
            assert conflict.value.reason == "conflict"
            assert raw.snapshot() == before

    @pytest.mark.parametrize("case", sorted(REFUSALS))
    def test_refusals_name_reason_and_field_and_store_nothing(
        self, world: World, raw: RawStore, case: str
    ) -> None:
        case_id, [first] = world.append_case(world.officers["rs-001"], 1)
        posted, reason, field = REFUSALS[case](world, case_id, first.head, first)
        self.assert_refused(world, raw, lambda: world.app.append_event(posted), reason, field)
        assert world.app.head(case_id) == first.head

    # -- key lifecycle ---------------------------------------------------------------------

    def test_body_key_rotation(self, world: World, raw: RawStore) -> None:
        rs = world.officers["rs-001"]
        case_id, done = world.append_case(rs, 2)
        old_body, new_body = world.body_keys[RS_BODY], seeded("body/510104-RS/2")
        world.clerk.rotate_body_key(world.root, RS_BODY, new_body.public_key)
        newcomer = seeded("officer/510104-RS/rs-002")
        self.assert_refused(
            world,
            raw,
            lambda: world.clerk.certify_officer(old_body, RS_BODY, "rs-002", newcomer.public_key),
            "key_not_valid_at_time",
        )
        world.clerk.certify_officer(new_body, RS_BODY, "rs-002", newcomer.public_key)
        rs2 = Officer(RS_BODY, "rs-002", newcomer)
        extend(world, rs2, case_id, done[-1].head, 1)
        report = verify_ledger(world.app)
        assert report.findings == []
        assert report.exit_code == 0
        assert (report.events, report.cases) == (3, 1)

    def test_officer_key_rotation(self, world: World, raw: RawStore) -> None:
        rs = world.officers["rs-001"]
        case_id, done = world.append_case(rs, 2)
        new_key = seeded("officer/510104-RS/rs-001/2")
        world.clerk.certify_officer(world.body_keys[RS_BODY], RS_BODY, "rs-001", new_key.public_key)
        third = world.app.append_event(
            world.event(rs, case_id, 3, done[-1].head.event_hash, "noted", signer=new_key)
        )
        self.assert_refused(
            world,
            raw,
            lambda: world.app.append_event(world.event(rs, case_id, 4, third.head.event_hash)),
            "key_not_valid_at_time",
            "kid",
        )
        report = verify_ledger(world.app)
        assert report.findings == []
        assert (report.exit_code, report.events) == (0, 3)

    def test_revocation_after_the_fact_is_a_policy_finding_an_admin_can_ratify(
        self, world: World
    ) -> None:
        rs, zw = world.officers["rs-001"], world.officers["zw-001"]
        case_id, done = world.append_case(rs, 2)
        world.append_case(zw, 2)  # another officer's case, untouched
        world.clock.advance(10)
        compromised_since = world.clock.now
        world.clock.advance(10)
        extend(world, rs, case_id, done[-1].head, 2)  # seqs 3 and 4, after the compromise
        world.clock.advance(10)
        world.clerk.revoke(world.root, rs.signer.key_id, compromised_since=compromised_since)

        report = verify_ledger(world.app)
        expected = {(str(case_id), 3, "key_revoked"), (str(case_id), 4, "key_revoked")}
        assert found(report) == expected
        assert {f.kind for f in report.findings} == {POLICY}
        assert all(f.resolution is None for f in report.findings)
        assert report.exit_code == 2
        assert not report.ok

        for finding in report.findings:
            world.clerk.resolve_finding(
                world.root,
                case_id=finding.case_id,
                seq=finding.seq,
                reason=finding.reason,
                resolution="ratified",
                note="checked with the applicant",
            )
        resolved = verify_ledger(world.app)
        assert found(resolved) == expected
        assert {f.resolution for f in resolved.findings} == {"ratified"}
        assert resolved.exit_code == 0
        assert resolved.ok
        assert resolved.as_dict()["findings"][0]["resolution"] == "ratified"

    def test_a_revoked_key_cannot_back_date_an_event(self, world: World, raw: RawStore) -> None:
        rs = world.officers["rs-001"]
        case_id, [first] = world.append_case(rs, 1)
        accepted_at = parse_receipt(first.receipt).time
        world.clock.advance(30)
        compromised_since = world.clock.now
        world.clerk.revoke(
            world.body_keys[RS_BODY], rs.signer.key_id, compromised_since=compromised_since
        )
        world.clock.advance(60)
        claimed = accepted_at + 1_000_000  # before the compromise, within tolerance
        assert claimed < compromised_since
        backdated = world.event(rs, case_id, 2, first.head.event_hash, "noted", time=claimed)
        self.assert_refused(
            world, raw, lambda: world.app.append_event(backdated), "key_revoked", "kid"
        )

    def test_root_rotation(self, world: World, raw: RawStore) -> None:
        old_root, new_root = world.root, seeded("root/510000/2")
        world.clerk.rotate_root(old_root, new_root)
        world.clerk.register_body(new_root, "510105-RS", "青羊区人社局", seeded("b5").public_key)
        assert "510105-RS" in world.app.registry.bodies
        self.assert_refused(
            world,
            raw,
            lambda: world.clerk.register_body(old_root, "510106-RS", "x", seeded("b6").public_key),
            "key_not_valid_at_time",
        )
        world.append_case(world.officers["zw-001"], 2)
        report = verify_ledger(world.app)
        assert report.findings == []
        assert report.exit_code == 0

    def test_root_rotation_needs_a_proof_signed_by_the_new_root(
        self, world: World, raw: RawStore
    ) -> None:
        new_root, impostor = seeded("root/510000/2"), seeded("impostor")
        valid_from = world.clock.now
        body = {
            "public_key": new_root.public_key,
            "key_suite": "ed25519-sha256",
            "valid_from": valid_from,
            "proof": impostor.sign(
                rotation_proof_input(
                    world.region, world.root.key_id, new_root.public_key, valid_from
                )
            ),
        }
        self.assert_refused(
            world,
            raw,
            lambda: world.clerk.append(world.root, "root_rotated", body),
            "bad_signature",
        )
        # The old root is still the root.
        world.clerk.register_body(world.root, "510105-RS", "x", seeded("b5").public_key)

    def test_a_body_key_cannot_make_root_records(self, world: World, raw: RawStore) -> None:
        body_key = world.body_keys[RS_BODY]
        self.assert_refused(
            world,
            raw,
            lambda: world.clerk.register_body(body_key, "510199-X", "x", seeded("b9").public_key),
            "not_entitled",
            "kid",
        )
        self.assert_refused(
            world,
            raw,
            lambda: world.clerk.certify_node(body_key, seeded("node-2").public_key, "node-2"),
            "not_entitled",
            "kid",
        )

    def test_records_of_an_untrusted_region_are_refused(self, world: World, raw: RawStore) -> None:
        foreign_root = seeded("root/320000")
        record = build_key_record(
            foreign_root,
            region="320000",
            seq=1,
            prev=ZERO_HASH,
            record_type="root_established",
            time=world.clock.now,
            body={
                "public_key": foreign_root.public_key,
                "key_suite": "ed25519-sha256",
                "valid_from": world.clock.now,
            },
        )
        self.assert_refused(
            world, raw, lambda: world.app.append_key_record(record), "untrusted_region", "region"
        )

    # -- erasure ---------------------------------------------------------------------------

    def test_erasing_an_applicant_keeps_the_ledger_verifiable(
        self, world: World, raw: RawStore, vault: PersonalDataVault
    ) -> None:
        now = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
        stored = vault.store(ZHANG, now=now)
        rs = world.officers["rs-001"]
        case_id = uuid.uuid4()
        body = {"applicant": stored.ref, "commitments": dict(stored.commitments)}
        first = world.app.append_event(
            world.event(rs, case_id, 1, ZERO_HASH, "received", body=body)
        )
        extend(world, rs, case_id, first.head, 2)
        assert vault.read(stored.ref).name == ZHANG.name
        secret = vault.commitment_secret(stored.ref)
        signed_body = parse_event(world.app.stream_entries(case_id)[0].envelope).body
        verify_commitment(
            secret, "id_number", ZHANG.id_number, signed_body["commitments"]["id_number"]
        )

        vault.erase(stored.ref, now=now, reason="applicant request (PIPL art. 47)")
        with pytest.raises(ApplicantErased):
            vault.read(stored.ref)
        secrets = [ZHANG.name.encode(), ZHANG.id_number.encode(), ZHANG.phone.encode()]
        for entry in world.app.stream_entries(case_id):
            for secret_bytes in secrets:
                assert secret_bytes not in entry.envelope
        everything = raw.everything()
        assert stored.ref.encode() in everything  # the scan does see envelope contents
        for secret_bytes in secrets:
            assert secret_bytes not in everything
        report = verify_ledger(world.app)
        assert report.findings == []
        assert report.exit_code == 0

    # -- audit at scale --------------------------------------------------------------------

    def test_a_thousand_events_verify_clean(self, world: World) -> None:
        cases = list(iter_cases(world, 100, 10))
        assert len(set(cases)) == 100
        report = verify_ledger(world.app)
        assert report.findings == []
        assert report.exit_code == 0
        assert (report.events, report.cases) == (1000, 100)

    # -- tampering in the database ---------------------------------------------------------

    @pytest.fixture
    def cases(self, world: World) -> list[uuid.UUID]:
        """Three cases of four steps each; the untouched ledger verifies clean."""
        officers = [world.officers["rs-001"], world.officers["zw-001"], world.officers["rs-001"]]
        made = []
        for officer in officers:
            case_id = uuid.uuid4()
            extend(world, officer, case_id, Head(0, ZERO_HASH), 4)
            made.append(case_id)
        report = verify_ledger(world.app)
        assert report.findings == []
        assert (report.exit_code, report.events, report.cases) == (0, 12, 3)
        return made

    def assert_integrity(self, report: AuditReport, *expected: tuple[uuid.UUID, int, str]) -> None:
        for case_id, seq, reason in expected:
            assert (str(case_id), seq, reason) in found(report), report.findings
        assert report.exit_code == 1
        assert not report.ok

    def test_a_flipped_byte_in_a_stored_envelope(
        self, world: World, raw: RawStore, cases: list[uuid.UUID]
    ) -> None:
        case_id = cases[1]
        state = msgpack.unpackb(raw.state(case_id, 2), raw=False)
        assert set(state) == {"envelope", "received_at"}
        envelope = state["envelope"]
        state["envelope"] = flip(envelope, envelope.index(b"step-2"))  # inside the signed body
        raw.set_state(case_id, 2, msgpack.packb(state, use_bin_type=True))
        report = verify_ledger(world.app)
        self.assert_integrity(report, (case_id, 2, "bad_hash"))
        assert (str(case_id), 2, "bad_signature") in found(report)
        assert {f.case_id for f in report.findings} == {str(case_id)}

    def test_a_deleted_event(self, world: World, raw: RawStore, cases: list[uuid.UUID]) -> None:
        raw.delete(cases[0], 2)
        report = verify_ledger(world.app)
        self.assert_integrity(report, (cases[0], 2, "seq_gap"))
        assert [f for f in report.findings if f.reason == "index_gap"]

    def test_an_event_row_deleted_but_its_index_row_kept(
        self, world: World, raw: RawStore, cases: list[uuid.UUID]
    ) -> None:
        raw.run(
            "DELETE FROM {events} WHERE originator_id = ? AND originator_version = ?",
            (raw.sid(cases[0]), 3),
        )
        self.assert_integrity(verify_ledger(world.app), (cases[0], 3, "seq_gap"))

    def test_two_swapped_events(self, world: World, raw: RawStore, cases: list[uuid.UUID]) -> None:
        case_id = cases[2]
        second, third = raw.state(case_id, 2), raw.state(case_id, 3)
        raw.set_state(case_id, 2, third)
        raw.set_state(case_id, 3, second)
        report = verify_ledger(world.app)
        self.assert_integrity(report, (case_id, 2, "broken_link"), (case_id, 3, "broken_link"))

    def test_an_event_re_signed_with_another_bodys_officer_key(
        self, world: World, raw: RawStore, cases: list[uuid.UUID]
    ) -> None:
        case_id, seq = cases[0], 4  # the newest step, so no later prev names it
        state = msgpack.unpackb(raw.state(case_id, seq), raw=False)
        original = parse_event(state["envelope"])
        assert original.body_id == RS_BODY
        forged = build_event(
            world.officers["zw-001"].signer,
            ledger=original.ledger,
            case_id=original.case_id,
            seq=original.seq,
            event_type=original.type,
            time=original.time,
            body_id=original.body_id,
            officer_id=original.officer_id,
            prev=original.prev,
            body=original.body,
        )
        state["envelope"] = forged
        raw.set_state(case_id, seq, msgpack.packb(state, use_bin_type=True))
        # An insider holding the node key even re-issues the receipt: only the chain of
        # certification (key → officer → body) is wrong.
        receipt = parse_receipt(raw.receipt(case_id, seq))
        forged_hash = hashlib.sha256(forged).digest()
        assert world.app.node_signer is not None
        reissued = make_receipt(
            world.app.node_signer,
            ledger=receipt.ledger,
            index=receipt.index,
            event_hash=forged_hash,
            stream_id=receipt.stream_id,
            seq=receipt.seq,
            time=receipt.time,
        )
        raw.set_ledger_row(case_id, seq, event_hash=forged_hash, receipt=reissued)
        report = verify_ledger(world.app)
        assert found(report) == {(str(case_id), seq, "uncertified_officer")}
        assert report.findings[0].kind == INTEGRITY
        assert report.exit_code == 1

    @pytest.mark.parametrize("position", [-1, 12], ids=["signature", "content"])
    def test_an_altered_receipt(
        self, world: World, raw: RawStore, cases: list[uuid.UUID], position: int
    ) -> None:
        case_id = cases[1]
        receipt = raw.receipt(case_id, 3)
        raw.set_receipt(case_id, 3, flip(receipt, position % len(receipt)))
        report = verify_ledger(world.app)
        self.assert_integrity(report, (case_id, 3, "bad_receipt"))

    @pytest.mark.parametrize(
        "topic", ["os:system", "eventsourcing.domain:Aggregate", "some_fake_module:X"]
    )
    def test_a_topic_pointed_at_another_module(
        self, world: World, raw: RawStore, cases: list[uuid.UUID], topic: str
    ) -> None:
        assert "some_fake_module" not in sys.modules
        raw.set_topic(cases[2], 2, topic)
        report = verify_ledger(world.app)
        self.assert_integrity(report, (cases[2], 2, "malformed"))
        assert "some_fake_module" not in sys.modules
        assert verify_case(world.app, cases[2]).exit_code == 1
        assert "some_fake_module" not in sys.modules

    def test_a_malformed_row_is_not_also_reported_missing(
        self, world: World, raw: RawStore, cases: list[uuid.UUID]
    ) -> None:
        raw.set_topic(cases[2], 2, "os:system")
        report = verify_ledger(world.app)
        assert (str(cases[2]), 2, "malformed") in found(report)
        # The event is there (only unreadable): "seq_gap" would send an auditor looking
        # for a deletion that never happened.
        assert found(report) == {(str(cases[2]), 2, "malformed")}, report.findings

    def test_verify_case_reports_only_that_case(
        self, world: World, raw: RawStore, cases: list[uuid.UUID]
    ) -> None:
        receipt = raw.receipt(cases[0], 2)
        raw.set_receipt(cases[0], 2, flip(receipt, len(receipt) - 1))
        raw.delete(cases[1], 3)
        report = verify_case(world.app, cases[0])
        assert found(report) == {(str(cases[0]), 2, "bad_receipt")}
        assert (report.events, report.cases, report.exit_code) == (4, 1, 1)
        clean = verify_case(world.app, cases[2])
        assert clean.findings == []
        assert (clean.events, clean.cases, clean.exit_code) == (4, 1, 0)
        whole = verify_ledger(world.app)
        assert {f.case_id for f in whole.findings} >= {str(cases[0]), str(cases[1])}

"""Licenses in the ledger: issuance and status events, on SQLite and PostgreSQL (contract).

``LicenseLedgerContract`` holds every test; the two subclasses at the end give the ``world``
(under the real ``CaseWorkflow``) and ``raw`` fixtures of their backend.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.application import Appended
from ledger.audit import verify_case, verify_ledger
from ledger.envelope import ZERO_HASH
from ledger.errors import ConflictError, EnvelopeRejected, LedgerError, MalformedEncoding
from ledger.license_events import UnknownLicense, license_stream_id
from ledger.notes import parse_checkpoint
from ledger.receipts import parse_receipt
from ledger.workflow import CaseWorkflow
from licenses.identifiers import make_identifier
from tests.integration.ledger_contract import (
    PostgresRawStore,
    RawStore,
    SQLiteRawStore,
    found,
)
from tests.support.world import World, make_world

TYPE_CODE = "11100000TB0000010H002"  # 就业创业证
ISSUER_CODE = "11330105002500287C"
LICENSE_ID = make_identifier(TYPE_CODE, ISSUER_CODE, "510104202600001").text
OTHER_ID = make_identifier(TYPE_CODE, ISSUER_CODE, "510104202600002").text
DELIVERED_SEQ = 5


def delivered_case(world: World, results: list[str], *, deliver: bool = True) -> uuid.UUID:
    """A five-step online case decided approved and delivered online with ``results``."""
    case_id = uuid.uuid4()
    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("rs-001", "received", world.received_body("510000/1/5", "online")),
        ("rs-001", "form_checked", {"result": "pass", "reasons": [], "identity_verified": True}),
        ("rs-001", "accepted", {"note": ""}),
        ("rs-001", "decided", {"result": "approved", "reasons": [], "basis": "失业保险条例"}),
    ]
    if deliver:
        steps.append(("rs-001", "delivered", {"method": "online", "results": results}))
    world.run(case_id, steps)
    return case_id


def issued_body(case_id: uuid.UUID, identifier: str = LICENSE_ID, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": identifier,
        "type": TYPE_CODE,
        "issuer_body": "510104-RS",
        "case": str(case_id),
        "delivered_seq": DELIVERED_SEQ,
        "holder_commitment": bytes(32),  # world.received_body's id_number commitment
        "status": {"list": "tongban/510000/status/1", "index": 7},
        "valid_from": "2026-01-01",
        "valid_until": "",
        "document_digest": bytes(32),  # a draft's
    }
    body.update(changes)
    return body


def license_event(
    world: World,
    event_type: str,
    body: dict[str, Any],
    *,
    identifier: str = LICENSE_ID,
    seq: int = 1,
    prev: bytes = ZERO_HASH,
    officer: str = "rs-001",
    stream_id: uuid.UUID | None = None,
) -> bytes:
    return world.event(
        world.officers[officer],
        stream_id or license_stream_id(identifier),
        seq,
        prev,
        event_type,
        body,
    )


def issue(world: World, case_id: uuid.UUID, **changes: Any) -> Appended:
    return world.app.append_license_event(
        license_event(world, "license_issued", issued_body(case_id, **changes))
    )


def change(world: World, event_type: str, after: Appended, reason: str = "核查") -> Appended:
    raw = license_event(
        world, event_type, {"reason": reason}, seq=after.seq + 1, prev=after.head.event_hash
    )
    return world.app.append_license_event(raw)


def refusal(call: Any) -> tuple[str, str | None]:
    with pytest.raises(LedgerError) as caught:
        call()
    return caught.value.reason, caught.value.field


class LicenseLedgerContract:
    # -- issuance --------------------------------------------------------------------------

    def test_issue_after_a_delivered_case(self, world: World) -> None:
        case_id = delivered_case(world, [LICENSE_ID])
        before = world.app.store.max_index()
        raw = license_event(world, "license_issued", issued_body(case_id))
        issued = world.app.append_license_event(raw)
        assert issued.created and issued.seq == 1 and issued.index == before + 1
        assert issued.stream_id == license_stream_id(LICENSE_ID)
        receipt = parse_receipt(issued.receipt)
        assert (receipt.index, receipt.stream_id, receipt.seq) == (
            issued.index,
            issued.stream_id,
            1,
        )
        assert world.app.license_state(LICENSE_ID) == ("issued", issued.index, issued.index)
        # The same bytes again are a replay: the same receipt, nothing stored.
        again = world.app.append_license_event(raw)
        assert not again.created and again.receipt == issued.receipt
        assert world.app.store.max_index() == issued.index

    def test_append_event_routes_license_events(self, world: World) -> None:
        case_id = delivered_case(world, [LICENSE_ID])
        raw = license_event(world, "license_issued", issued_body(case_id))
        assert world.app.append_event(raw).created
        assert world.app.license_state(LICENSE_ID).state == "issued"
        with pytest.raises(MalformedEncoding):
            world.app.append_license_event(
                world.event(world.officers["rs-001"], uuid.uuid4(), 1, ZERO_HASH, "noted")
            )

    def test_refused_when_not_the_home_body(self, world: World) -> None:
        case_id = delivered_case(world, [LICENSE_ID])
        raw = license_event(
            world,
            "license_issued",
            issued_body(case_id, issuer_body="510000-ZWFW"),
            officer="zw-001",
        )
        assert refusal(lambda: world.app.append_license_event(raw)) == (
            "not_entitled",
            "actor.body",
        )
        # Naming the home body as issuer while another body signs is refused too.
        raw = license_event(world, "license_issued", issued_body(case_id), officer="zw-001")
        assert refusal(lambda: world.app.append_license_event(raw)) == (
            "not_entitled",
            "body.issuer_body",
        )

    def test_refused_when_the_case_is_not_delivered(self, world: World) -> None:
        case_id = delivered_case(world, [LICENSE_ID], deliver=False)
        assert refusal(lambda: issue(world, case_id)) == ("case_not_delivered", "body.case")
        assert refusal(lambda: issue(world, uuid.uuid4())) == ("case_not_delivered", "body.case")

    def test_refused_when_the_identifier_is_not_in_results(self, world: World) -> None:
        case_id = delivered_case(world, [OTHER_ID])
        assert refusal(lambda: issue(world, case_id)) == ("not_in_results", "body.id")
        assert refusal(lambda: issue(world, case_id, delivered_seq=4)) == (
            "not_in_results",
            "body.delivered_seq",
        )

    def test_refused_bodies_and_streams(self, world: World) -> None:
        case_id = delivered_case(world, [LICENSE_ID])
        assert refusal(lambda: issue(world, case_id, holder_commitment=b"\1" * 32)) == (
            "not_entitled",
            "body.holder_commitment",
        )
        assert refusal(lambda: issue(world, case_id, type="11100000TB0000010H001")) == (
            "malformed",
            "body.type",
        )
        assert refusal(lambda: issue(world, case_id, name="张三")) == ("malformed", "body.name")
        long_list = {"list": "a" * 65, "index": 0}  # a status list id is at most 64 characters
        assert refusal(lambda: issue(world, case_id, status=long_list)) == (
            "malformed",
            "body.status.list",
        )
        raw = license_event(world, "license_issued", issued_body(case_id), stream_id=uuid.uuid4())
        assert refusal(lambda: world.app.append_license_event(raw)) == ("wrong_stream", "case")
        # A case's stream is not a license's, nor the other way round.
        raw = license_event(world, "license_issued", issued_body(case_id), stream_id=case_id)
        assert refusal(lambda: world.app.append_license_event(raw)) == ("wrong_stream", "case")
        assert world.app.store.max_index() == 6 + DELIVERED_SEQ  # nothing stored

    def test_one_issuance_per_identifier(self, world: World) -> None:
        case_id = delivered_case(world, [LICENSE_ID])
        issued = issue(world, case_id)
        with pytest.raises(ConflictError):
            issue(world, case_id, document_digest=b"\2" * 32)
        again = license_event(
            world, "license_issued", issued_body(case_id), seq=2, prev=issued.head.event_hash
        )
        assert refusal(lambda: world.app.append_license_event(again)) == (
            "already_issued",
            "type",
        )

    # -- status ----------------------------------------------------------------------------

    def test_status_transitions_with_receipts_and_dense_indexes(self, world: World) -> None:
        case_id = delivered_case(world, [LICENSE_ID])
        issued = issue(world, case_id)
        done = [issued]
        for event_type, state in (
            ("license_suspended", "suspended"),
            ("license_reinstated", "reinstated"),
            ("license_suspended", "suspended"),
            ("license_revoked", "revoked"),
        ):
            done.append(change(world, event_type, done[-1]))
            assert world.app.license_state(LICENSE_ID) == (state, issued.index, done[-1].index)
        assert [a.index for a in done] == list(range(issued.index, issued.index + 5))
        assert [a.seq for a in done] == [1, 2, 3, 4, 5]
        for appended in done:
            receipt = parse_receipt(appended.receipt)
            assert (receipt.index, receipt.seq) == (appended.index, appended.seq)
        # Revoked is final: neither reinstated nor suspended again.
        for event_type in ("license_reinstated", "license_suspended", "license_revoked"):
            with pytest.raises(EnvelopeRejected) as caught:
                change(world, event_type, done[-1])
            assert (caught.value.reason, caught.value.field) == ("illegal_step", "type")

    def test_status_refusals(self, world: World) -> None:
        case_id = delivered_case(world, [LICENSE_ID])
        issued = issue(world, case_id)
        assert refusal(lambda: change(world, "license_reinstated", issued)) == (
            "illegal_step",
            "type",
        )
        assert refusal(lambda: change(world, "license_suspended", issued, reason="")) == (
            "malformed",
            "body.reason",
        )
        raw = license_event(
            world,
            "license_revoked",
            {"reason": "越权"},
            seq=2,
            prev=issued.head.event_hash,
            officer="zw-001",
        )
        assert refusal(lambda: world.app.append_license_event(raw)) == (
            "not_entitled",
            "actor.body",
        )
        raw = license_event(world, "license_suspended", {"reason": "x"}, identifier=OTHER_ID)
        assert refusal(lambda: world.app.append_license_event(raw)) == ("illegal_step", "type")
        with pytest.raises(UnknownLicense):
            world.app.license_state(OTHER_ID)

    # -- audit and transparency ------------------------------------------------------------

    def test_audit_walks_license_streams(self, world: World) -> None:
        case_id = delivered_case(world, [LICENSE_ID])
        last = change(world, "license_suspended", issue(world, case_id))
        report = verify_ledger(world.app)
        assert report.ok, report.findings
        assert (report.cases, report.licenses) == (1, 1)
        assert report.events == DELIVERED_SEQ + 2
        assert report.as_dict()["licenses"] == 1
        one = verify_case(world.app, last.stream_id)
        assert one.ok and one.events == 2

    def test_audit_reports_a_relabelled_license_row(self, world: World, raw: RawStore) -> None:
        case_id = delivered_case(world, [LICENSE_ID])
        issued = issue(world, case_id)
        raw.set_topic(issued.stream_id, 1, "tongban.case.opened")
        report = verify_ledger(world.app)
        assert (str(issued.stream_id), 1, "malformed") in found(report)

    def test_checkpoint_covers_license_events(self, world: World) -> None:
        case_id = delivered_case(world, [LICENSE_ID])
        last = change(world, "license_revoked", issue(world, case_id), reason="以欺骗手段取得")
        note = world.app.issue_checkpoint()
        size = parse_checkpoint(note.text).size
        assert size == last.index == world.app.store.max_index()
        proof = world.app.inclusion_proof(last.index, size)
        assert isinstance(proof, list)
        assert verify_ledger(world.app).ok

    def test_refusal_is_an_envelope_rejection(self, world: World) -> None:
        case_id = delivered_case(world, [OTHER_ID])
        with pytest.raises(EnvelopeRejected):
            issue(world, case_id)


class TestSQLiteLicenseLedger(LicenseLedgerContract):
    @pytest.fixture
    def world(self, tmp_path: Path) -> Iterator[World]:
        world = make_world(tmp_path, workflow=CaseWorkflow())
        yield world
        world.app.close()

    @pytest.fixture
    def raw(self, world: World, tmp_path: Path) -> RawStore:
        return SQLiteRawStore(tmp_path / "ledger.sqlite3")


@pytest.mark.postgres
class TestPostgresLicenseLedger(LicenseLedgerContract):
    @pytest.fixture
    def world(self, tmp_path: Path, postgres_url: str, postgres_schema: str) -> Iterator[World]:
        world = make_world(
            tmp_path, database_url=postgres_url, schema=postgres_schema, workflow=CaseWorkflow()
        )
        yield world
        world.app.close()

    @pytest.fixture
    def raw(self, world: World, postgres_url: str, postgres_schema: str) -> RawStore:
        return PostgresRawStore(postgres_url, postgres_schema)

"""The case access rules (``ledger.access``) and the listing port (``ledger.case_listing``)
over in-memory fakes: who reads a case, who reads personal data and when, the access log,
who posts, who lists what; each refusal's reason and field, and its HTTP answer."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import pytest

from api.errors import status_of
from ledger.access import (
    ERASED,
    UNKNOWN,
    CaseAccess,
    Forbidden,
    PurposeRefused,
    Reader,
    RecordMismatch,
    check_poster,
)
from ledger.case_listing import CaseQuery, ReplayedCaseListing, parties
from ledger.domain import Case
from ledger.envelope import ZERO_HASH, build_event, parse_event
from ledger.errors import LedgerError, UnknownCase
from ledger.opening import ApplicantRecord
from tests.support.cases import COMBOS, LEDGER, OFFICERS
from tests.support.world import seeded

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
SIGNER = seeded("officer/access")
PROXY = next(c for c in COMBOS if c.name == "proxy-single")  # window 320105-ZWFW, home 510104-RS
WINDOW, HOME, STRANGER = OFFICERS["js-001"], OFFICERS["rs-001"], OFFICERS["jsrs-001"]
COMMITMENTS = {"name": bytes(32), "id_number": bytes(32)}
REF = "ap_" + "a" * 26
DATA = {"name": "张三", "id_number": "11010519491231002X"}


@dataclass(frozen=True)
class Who:
    kind: str
    subject: str


def _received(case_id: uuid.UUID, *, body_id: str = WINDOW, ref: str = REF) -> bytes:
    body = PROXY.received_body(applicant={"ref": ref, "commitments": COMMITMENTS})
    return build_event(
        SIGNER,
        ledger=LEDGER,
        case_id=case_id,
        seq=1,
        event_type="received",
        time=1,
        body_id=body_id,
        officer_id="js-001",
        prev=ZERO_HASH,
        body=body,
    )


class FakeStore:
    def __init__(self) -> None:
        self.index = 0

    def max_index(self) -> int:
        return self.index


class FakeLedger:
    """``CaseReader`` and ``CaseSource``: cases rebuilt from their signed opening steps."""

    def __init__(self) -> None:
        self.raw: dict[uuid.UUID, bytes] = {}
        self.store = FakeStore()

    def open(self, *, ref: str = REF, item: str | None = None) -> uuid.UUID:
        case_id = uuid.uuid4()
        raw = _received(case_id, ref=ref)
        if item is not None:
            envelope = parse_event(raw)
            raw = build_event(
                SIGNER,
                ledger=LEDGER,
                case_id=case_id,
                seq=1,
                event_type="received",
                time=1,
                body_id=WINDOW,
                officer_id="js-001",
                prev=ZERO_HASH,
                body={**envelope.body, "item": item},
            )
        self.raw[case_id] = raw
        self.store.index += 1
        return case_id

    def case_ids(self) -> list[uuid.UUID]:
        return list(self.raw)

    def get_case(self, case_id: uuid.UUID) -> Case:
        if case_id not in self.raw:
            raise UnknownCase(f"no case {case_id}", field="case")
        return Case.start(case_id, self.raw[case_id], 1)

    def envelope_at(self, stream_id: uuid.UUID, seq: int) -> bytes | None:
        return self.raw.get(stream_id) if seq == 1 else None


@dataclass
class FakeApplicants:
    records: dict[str, ApplicantRecord] = field(default_factory=dict)
    data: dict[str, Mapping[str, str] | Literal["erased", "unknown"]] = field(default_factory=dict)

    def applicant_record(self, ref: str) -> ApplicantRecord | None:
        return self.records.get(ref)

    def applicant_data(self, ref: str) -> Mapping[str, str] | Literal["erased", "unknown"]:
        return self.data.get(ref, UNKNOWN)


@dataclass
class FakeLog:
    entries: list[tuple[str, str, str, str, str, datetime]] = field(default_factory=list)

    def record_access(
        self, case_id: str, principal: Reader, *, purpose: str, fields: str, now: datetime
    ) -> None:
        self.entries.append((case_id, principal.kind, principal.subject, purpose, fields, now))


@dataclass
class Node:
    ledger: FakeLedger
    applicants: FakeApplicants
    log: FakeLog
    access: CaseAccess
    case_id: uuid.UUID


@pytest.fixture
def node() -> Node:
    ledger, applicants, log = FakeLedger(), FakeApplicants(), FakeLog()
    case_id = ledger.open()
    applicants.records[REF] = ApplicantRecord(WINDOW, str(case_id), COMMITMENTS)
    applicants.data[REF] = DATA
    access = CaseAccess(ledger, ReplayedCaseListing(ledger), applicants, log, now=lambda: NOW)
    return Node(ledger, applicants, log, access, case_id)


def _refused(error: pytest.ExceptionInfo[LedgerError], reason: str, field: str | None) -> int:
    assert (error.value.reason, error.value.field) == (reason, field)
    return status_of(error.value)


# -- who reads a case ---------------------------------------------------------------------------


def test_the_parties_are_the_intake_and_home_bodies_of_a_case(node: Node) -> None:
    assert parties(node.ledger.get_case(node.case_id)) == {WINDOW, HOME}


@pytest.mark.parametrize(
    "reader", [Who("body", WINDOW), Who("body", HOME), Who("auditor", "a"), Who("admin", "admin")]
)
def test_a_party_an_auditor_and_the_administrator_read_a_case(node: Node, reader: Who) -> None:
    assert node.access.case(reader, node.case_id).id == node.case_id


@pytest.mark.parametrize("reader", [Who("body", STRANGER), Who("peer", "320000")])
def test_a_non_party_may_not_read_a_case(node: Node, reader: Who) -> None:
    with pytest.raises(Forbidden) as refused:
        node.access.case(reader, node.case_id)
    assert _refused(refused, "forbidden", None) == 403


def test_an_unknown_case_is_unknown_before_it_is_forbidden(node: Node) -> None:
    with pytest.raises(UnknownCase) as refused:
        node.access.case(Who("body", STRANGER), uuid.uuid4())
    assert _refused(refused, "unknown_case", "case") == 404


# -- personal data --------------------------------------------------------------------------


def test_a_party_reads_personal_data_and_the_read_is_logged_with_its_purpose(node: Node) -> None:
    case = node.ledger.get_case(node.case_id)
    shown = node.access.read_applicant(Who("body", HOME), case, "核对申请人身份")
    assert shown == {"ref": REF, **DATA}
    assert node.log.entries == [
        (str(node.case_id), "body", HOME, "核对申请人身份", "applicant", NOW)
    ]


@pytest.mark.parametrize(
    "reader", [Who("body", STRANGER), Who("auditor", "a"), Who("admin", "admin")]
)
def test_personal_data_is_shown_only_to_a_body_on_the_case(node: Node, reader: Who) -> None:
    case = node.ledger.get_case(node.case_id)
    with pytest.raises(Forbidden) as refused:
        node.access.read_applicant(reader, case, "核对")
    assert _refused(refused, "forbidden", None) == 403
    assert node.log.entries == []


@pytest.mark.parametrize("purpose", ["", "   ", "核对 11010519491231002X", "call 13812345678"])
def test_a_read_states_a_purpose_without_personal_data(node: Node, purpose: str) -> None:
    case = node.ledger.get_case(node.case_id)
    with pytest.raises(PurposeRefused) as refused:
        node.access.read_applicant(Who("body", HOME), case, purpose)
    assert _refused(refused, "malformed", "purpose") == 422
    assert node.log.entries == []


@pytest.mark.parametrize(
    "record",
    [
        None,  # never stored here
        ApplicantRecord(WINDOW, str(uuid.uuid4()), COMMITMENTS),  # bound to another case
        ApplicantRecord(WINDOW, "", COMMITMENTS),  # bound to no case
        ApplicantRecord(WINDOW, "same", {"name": b"\x01" * 32, "id_number": bytes(32)}),
        ApplicantRecord(WINDOW, "same", None),  # the vault cannot recompute them
    ],
)
def test_a_record_that_does_not_match_the_case_is_never_shown(
    node: Node, record: ApplicantRecord | None
) -> None:
    if record is None:
        del node.applicants.records[REF]
    else:
        case_id = str(node.case_id) if record.case_id == "same" else record.case_id
        node.applicants.records[REF] = ApplicantRecord(record.body, case_id, record.commitments)
    case = node.ledger.get_case(node.case_id)
    with pytest.raises(RecordMismatch) as refused:
        node.access.read_applicant(Who("body", HOME), case, "核对")
    assert _refused(refused, "commitment_mismatch", None) == 409
    assert node.log.entries == []


def test_an_erased_applicant_is_shown_as_erased_and_the_read_is_logged(node: Node) -> None:
    node.applicants.records[REF] = ApplicantRecord(WINDOW, str(node.case_id), None, erased=True)
    node.applicants.data[REF] = ERASED
    case = node.ledger.get_case(node.case_id)
    shown = node.access.read_applicant(Who("body", HOME), case, "核对")
    assert shown == {"ref": REF, "erased": "true"}
    assert len(node.log.entries) == 1


def test_a_vault_row_gone_after_the_check_is_shown_as_unknown(node: Node) -> None:
    node.applicants.data[REF] = UNKNOWN
    case = node.ledger.get_case(node.case_id)
    shown = node.access.read_applicant(Who("body", HOME), case, "核对")
    assert shown == {"ref": REF, "unknown": "true"}
    assert len(node.log.entries) == 1


# -- who posts ------------------------------------------------------------------------------


def test_a_body_posts_only_envelopes_signed_for_it(node: Node) -> None:
    envelope = parse_event(node.ledger.raw[node.case_id])  # signed for WINDOW
    check_poster(Who("body", WINDOW), envelope)
    with pytest.raises(Forbidden) as refused:
        check_poster(Who("body", HOME), envelope)
    assert _refused(refused, "forbidden", "actor.body") == 403


# -- listings -------------------------------------------------------------------------------


def test_a_body_lists_only_the_cases_it_is_on(node: Node) -> None:
    listed = node.access.list_cases(Who("body", HOME), CaseQuery())
    assert [c.case_id for c in listed.cases] == [node.case_id]
    assert node.access.list_cases(Who("body", STRANGER), CaseQuery()).cases == ()
    with pytest.raises(Forbidden) as refused:
        node.access.list_cases(Who("body", STRANGER), CaseQuery(body=HOME))
    assert _refused(refused, "forbidden", "body") == 403


def test_an_auditor_lists_every_case_filtered_and_paged_in_ledger_order(node: Node) -> None:
    more = [node.ledger.open(ref="ap_" + letter * 26) for letter in "bcde"]
    other = node.ledger.open(item="510000/1/5")
    everyone = [node.case_id, *more, other]
    auditor = Who("auditor", "a")
    listed = node.access.list_cases(auditor, CaseQuery())
    assert [c.case_id for c in listed.cases] == everyone
    assert (listed.total, listed.as_of) == (6, 6)
    page = node.access.list_cases(auditor, CaseQuery(item=PROXY.item, offset=2, limit=2))
    assert [c.case_id for c in page.cases] == everyone[2:4]
    assert page.total == 5  # matching cases over every page
    after = node.access.list_cases(auditor, CaseQuery(after=everyone[3], limit=10))
    assert [c.case_id for c in after.cases] == everyone[4:]
    summary = listed.cases[-1]
    assert (summary.item, summary.state, summary.channel) == ("510000/1/5", "received", "proxy")
    assert (summary.home_body, summary.intake_body, summary.steps) == (HOME, WINDOW, 1)
    with pytest.raises(UnknownCase) as refused:
        node.access.list_cases(auditor, CaseQuery(after=uuid.uuid4()))
    assert refused.value.field == "after"


def test_a_state_filter_admits_only_that_state(node: Node) -> None:
    auditor = Who("auditor", "a")
    assert node.access.list_cases(auditor, CaseQuery(state="received")).total == 1
    assert node.access.list_cases(auditor, CaseQuery(state="delivered")).total == 0

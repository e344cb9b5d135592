"""The life of an electronic license in the issuing region's ledger: issued, suspended,
reinstated, revoked (``docs/license.md``, "Issuance and status in the ledger").

Pure rules, like ``ledger.workflow``: no storage, no clock. A license is a stream of its own
(stream id :func:`license_stream_id` of its identifier); its objects are ordinary signed event
envelopes (``tongban/event/v1``) whose ``case`` is that stream id and whose ``type`` is one of
:data:`LICENSE_EVENT_TYPES`. The first is ``license_issued``, which must point at the case it
results from: the issuing body is the case's home body, the case was decided ``approved`` and
its ``delivered`` step lists the identifier in ``results``.

Refusals (all ``EnvelopeRejected``, so the API maps them like case refusals):

    EnvelopeRejected
    ├── StepNotAllowed (illegal_step)      a status change the states below do not allow
    ├── LicenseNotEntitled (not_entitled)  not the case's home body, or not the issuer
    ├── CaseNotDelivered (case_not_delivered)
    ├── NotInResults (not_in_results)
    ├── AlreadyIssued (already_issued)
    └── WrongStream (wrong_stream)         stream id is not the identifier's
    UnknownLicense (unknown_license)       no license with that identifier (a LedgerError)

States: ``issued`` → ``suspended`` → ``reinstated`` (→ ``suspended`` …); ``revoked`` from any
state and final.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ledger.envelope import ID_PATTERN, Envelope, parse_case_id
from ledger.errors import EnvelopeRejected, LedgerError, MalformedEncoding, StepNotAllowed
from ledger.keys import TONGBAN_NAMESPACE
from ledger.workflow import CaseState, advance

ISSUED = "license_issued"
SUSPENDED = "license_suspended"
REVOKED = "license_revoked"
REINSTATED = "license_reinstated"
LICENSE_EVENT_TYPES = (ISSUED, SUSPENDED, REVOKED, REINSTATED)

# (state before, event type) -> state after; ``revoked`` is final.
STATUS_TRANSITIONS: Mapping[tuple[str, str], str] = {
    ("issued", SUSPENDED): "suspended",
    ("reinstated", SUSPENDED): "suspended",
    ("suspended", REINSTATED): "reinstated",
    ("issued", REVOKED): "revoked",
    ("suspended", REVOKED): "revoked",
    ("reinstated", REVOKED): "revoked",
}

ISSUED_FIELDS = (
    "id",
    "type",
    "issuer_body",
    "case",
    "delivered_seq",
    "holder_commitment",
    "status",
    "valid_from",
    "valid_until",
    "document_digest",
)
STATUS_LIST_ENTRIES = 1 << 17  # docs/license.md §3: 2¹⁷ entries per list

# GB/T 36904 shape only (the check character is ``licenses.identifiers``' business: the ledger
# imports nothing of ``licenses``). Groups: type code, issuer code.
_IDENTIFIER = re.compile(
    r"1\.2\.156\.3005\.2\.([0-9A-Z]{21})\.([0-9A-Z]{18})\.[0-9A-Z]{1,32}\.[0-9]{3}\.[0-9A-Z]"
)
# At most 64 characters, as a status list's own id (docs/license-offline.md §1.3): a longer id
# could name no list, and the license document built from this event would be refused.
_LIST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class LicenseNotEntitled(EnvelopeRejected):
    reason = "not_entitled"


class CaseNotDelivered(EnvelopeRejected):
    reason = "case_not_delivered"


class NotInResults(EnvelopeRejected):
    reason = "not_in_results"


class AlreadyIssued(EnvelopeRejected):
    reason = "already_issued"


class WrongStream(EnvelopeRejected):
    reason = "wrong_stream"


class UnknownLicense(LedgerError):
    reason = "unknown_license"


def license_stream_id(identifier: str) -> uuid.UUID:
    """The stream id of a license: uuid5 of its identifier text (same on every node)."""
    return uuid.uuid5(TONGBAN_NAMESPACE, identifier)


@dataclass(frozen=True)
class LicenseState:
    """A license as its stream says; ``state`` is ``""`` before issuance."""

    state: str = ""
    identifier: str = ""
    license_type: str = ""
    issuer_body: str = ""
    case_id: uuid.UUID | None = None
    holder_commitment: bytes = b""
    status_list: str = ""
    status_index: int = 0
    document_digest: bytes = b""


@dataclass(frozen=True)
class CaseFacts:
    """What issuance needs to know of a case, read from its envelopes in seq order."""

    flow: CaseState = field(default_factory=CaseState)
    id_number_commitment: bytes = b""
    approved: bool = False  # the newest ``decided`` step approved
    delivered: Mapping[int, tuple[str, ...]] = field(default_factory=dict)  # seq -> results
    reopened_at: int = 0  # seq of the newest ``reopened`` step


def case_facts(envelopes: Sequence[Envelope]) -> CaseFacts:
    facts = CaseFacts()
    delivered: dict[int, tuple[str, ...]] = {}
    for envelope in envelopes:
        before = facts.flow
        flow = advance(before, envelope)
        if flow == before:  # a step the table refused (only a permissive policy stores one)
            continue
        body = envelope.body
        if envelope.type == "received":
            commitments = body.get("applicant", {}).get("commitments", {})
            facts = replace(facts, id_number_commitment=commitments.get("id_number", b""))
        elif envelope.type == "decided":
            facts = replace(facts, approved=body.get("result") == "approved")
        elif envelope.type == "delivered":
            delivered[envelope.seq] = tuple(body.get("results", ()))
        elif envelope.type == "reopened":
            facts = replace(facts, reopened_at=envelope.seq)
        facts = replace(facts, flow=flow)
    return replace(facts, delivered=delivered)


# -- bodies --------------------------------------------------------------------------------


def _bad(name: str, rule: str) -> MalformedEncoding:
    return MalformedEncoding(f"body.{name} {rule}", field=f"body.{name}")


def _exact_fields(body: Mapping[str, Any], names: Sequence[str]) -> None:
    for name in sorted(body):
        if name not in names:
            raise _bad(name, f"is not a field of this event (fields: {', '.join(names)})")
    for name in names:
        if name not in body:
            raise _bad(name, "is missing")


def _date(body: Mapping[str, Any], name: str, *, empty_ok: bool = False) -> str:
    value = body[name]
    if not isinstance(value, str):
        raise _bad(name, "must be text")
    if empty_ok and value == "":
        return value
    try:
        if not _DATE.fullmatch(value):
            raise ValueError(value)
        datetime.date.fromisoformat(value)
    except ValueError:
        raise _bad(name, "must be a calendar date YYYY-MM-DD") from None
    return value


def check_issued_body(body: Mapping[str, Any]) -> None:
    """The shape of a ``license_issued`` body (exactly :data:`ISSUED_FIELDS`)."""
    _exact_fields(body, ISSUED_FIELDS)
    identifier = body["id"]
    match = _IDENTIFIER.fullmatch(identifier) if isinstance(identifier, str) else None
    if match is None:
        raise _bad("id", "must be a GB/T 36904 identifier in canonical text")
    if body["type"] != match.group(1):
        raise _bad("type", "must equal the identifier's type part")
    issuer = body["issuer_body"]
    if not isinstance(issuer, str) or not ID_PATTERN.fullmatch(issuer):
        raise _bad("issuer_body", "must be a body id")
    if not isinstance(body["case"], str):
        raise _bad("case", "must be text")
    parse_case_id(body["case"], "body.case")
    seq = body["delivered_seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise _bad("delivered_seq", "must be an integer ≥ 1")
    for name in ("holder_commitment", "document_digest"):
        if not isinstance(body[name], bytes) or len(body[name]) != 32:
            raise _bad(name, "must be 32 bytes")
    status = body["status"]
    if not isinstance(status, dict) or set(status) != {"list", "index"}:
        raise _bad("status", "is {list, index}")
    if not isinstance(status["list"], str) or not _LIST_ID.fullmatch(status["list"]):
        raise _bad("status.list", "must be a status list id")
    index = status["index"]
    if (
        not isinstance(index, int)
        or isinstance(index, bool)
        or not 0 <= index < (STATUS_LIST_ENTRIES)
    ):
        raise _bad("status.index", f"must be an integer in 0..{STATUS_LIST_ENTRIES - 1}")
    valid_from = _date(body, "valid_from")
    valid_until = _date(body, "valid_until", empty_ok=True)
    if valid_until and valid_until < valid_from:
        raise _bad("valid_until", "must not be before valid_from")


def check_status_body(body: Mapping[str, Any]) -> None:
    """The shape of a status change body: exactly ``{reason}``, 1 to 500 characters."""
    _exact_fields(body, ("reason",))
    reason = body["reason"]
    if not isinstance(reason, str) or not 1 <= len(reason) <= 500:
        raise _bad("reason", "must be text of 1 to 500 characters")


# -- rules ---------------------------------------------------------------------------------


def advance_license(state: LicenseState, envelope: Envelope) -> LicenseState:
    """The state after an event already accepted (no checks: replaying stored events)."""
    if envelope.type == ISSUED and not state.state:
        body = envelope.body
        try:
            case_id: uuid.UUID | None = uuid.UUID(str(body.get("case")))
        except ValueError:
            case_id = None
        status = body.get("status") if isinstance(body.get("status"), dict) else {}
        assert isinstance(status, dict)
        return LicenseState(
            state="issued",
            identifier=str(body.get("id", "")),
            license_type=str(body.get("type", "")),
            issuer_body=str(body.get("issuer_body", "")),
            case_id=case_id,
            holder_commitment=body.get("holder_commitment", b""),
            status_list=str(status.get("list", "")),
            status_index=int(status.get("index", 0)),
            document_digest=body.get("document_digest", b""),
        )
    after = STATUS_TRANSITIONS.get((state.state, envelope.type))
    return replace(state, state=after) if after is not None else state


def check_issuance(envelope: Envelope, case: Sequence[Envelope]) -> None:
    """Refuse a well-shaped ``license_issued`` that the case does not back.

    ``case`` is the case's envelopes in seq order, as stored when the issuance arrives.
    """
    body = envelope.body
    if envelope.case_id != license_stream_id(body["id"]):
        raise WrongStream(
            "a license's stream id is uuid5(Tongban namespace, identifier)", field="case"
        )
    if body["issuer_body"] != envelope.body_id:
        raise LicenseNotEntitled(
            f"issuer_body {body['issuer_body']} did not sign; {envelope.body_id} did",
            field="body.issuer_body",
        )
    facts = case_facts(case)
    if facts.flow.state == "start":
        raise CaseNotDelivered(f"no case {body['case']}", field="body.case")
    if envelope.body_id != facts.flow.home_body:
        raise LicenseNotEntitled(
            f"a license is issued by the case's home body {facts.flow.home_body}, not "
            f"{envelope.body_id}",
            field="actor.body",
        )
    if facts.flow.state != "delivered" or not facts.approved:
        raise CaseNotDelivered(
            f"the case is in state {facts.flow.state!r}"
            + ("" if facts.approved else ", not decided approved")
            + "; a license is issued after an approved decision was delivered",
            field="body.case",
        )
    results = facts.delivered.get(body["delivered_seq"])
    if results is None or body["delivered_seq"] < facts.reopened_at:
        raise NotInResults(
            f"seq {body['delivered_seq']} is not a current delivered step of the case",
            field="body.delivered_seq",
        )
    if body["id"] not in results:
        raise NotInResults(
            f"the delivered step at seq {body['delivered_seq']} does not list {body['id']}",
            field="body.id",
        )
    if body["holder_commitment"] != facts.id_number_commitment:
        raise LicenseNotEntitled(
            "holder_commitment is not the case applicant's id_number commitment",
            field="body.holder_commitment",
        )


def step_license(
    state: LicenseState, envelope: Envelope, case: Sequence[Envelope] | None = None
) -> LicenseState:
    """The license's state after ``envelope``, or the refusal naming the field.

    ``case``: the envelopes of the case an issuance names (ignored for status changes).
    """
    if envelope.type not in LICENSE_EVENT_TYPES:
        raise MalformedEncoding(
            f"{envelope.type!r} is not a license event ({', '.join(LICENSE_EVENT_TYPES)})",
            field="type",
        )
    if envelope.type == ISSUED:
        if state.state:
            raise AlreadyIssued(f"{state.identifier} is already issued", field="type")
        check_issued_body(envelope.body)
        check_issuance(envelope, case or ())
        return advance_license(state, envelope)
    if not state.state:
        raise StepNotAllowed("a license stream starts with license_issued", field="type")
    check_status_body(envelope.body)
    if envelope.body_id != state.issuer_body:
        raise LicenseNotEntitled(
            f"the status of a license is changed by its issuer {state.issuer_body}, not "
            f"{envelope.body_id}",
            field="actor.body",
        )
    if (state.state, envelope.type) not in STATUS_TRANSITIONS:
        allowed = [t for (s, t) in STATUS_TRANSITIONS if s == state.state]
        raise StepNotAllowed(
            f"{envelope.type} is not allowed on a {state.state} license; allowed next: "
            f"{', '.join(allowed) or 'none (revoked is final)'}",
            field="type",
        )
    return advance_license(state, envelope)

"""License events drafted for an officer's page, and issuance under the node's seal.

``docs/pages.md``, "License issuance"; ``docs/license.md`` §12.1.

As for a case step (``POST /cases/{id}/draft``), the node builds the canonical content bytes of
the officer's ``license_issued`` or status event and signs none of it: the page decodes them
with its own decoder, shows them, signs them with the officer's key and posts them. What the
node does sign is the license itself, with the body's seal (``adapters/license_seals.py``):
the draft document the event names, and, once the event is appended through
``LicenseService.issue`` (the checks of ``POST /licenses``), the issued document and its
compact form. Every route needs an officer's session of a body of this region.
"""

from __future__ import annotations

import base64
import re
import uuid
from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from adapters.bootstrap import NodeServices
from api.deps import Caller, JsonBody, Services, b64_field
from api.errors import ApiProblem
from api.page_licenses import (
    ISSUE_PURPOSE,
    beijing_today,
    body_seal,
    case_licenses,
    issued_state,
    officer_session,
    service_of,
)
from api.schemas import problem_responses
from ledger import canonical
from ledger.envelope import EVENT_CONTEXT, ZERO_HASH, parse_event
from ledger.errors import LedgerError, MalformedEncoding
from ledger.license_events import (
    ISSUED,
    STATUS_TRANSITIONS,
    check_issued_body,
    check_status_body,
    license_stream_id,
)
from ledger.personal import find_personal_data
from licenses.document import InvalidLicense, parse_license
from licenses.drafts import compact_of, draft_issuance, issued_from_draft, typed_face_fields
from licenses.errors import LicenseConflict, LicenseForbidden, LicenseRefused
from licenses.identifiers import parse_identifier
from licenses.issuance import STATUS_ACTIONS
from licenses.types import get_type

router = APIRouter(tags=["licenses"], responses=problem_responses(401, 403, 404, 409, 415, 422))

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class LicenseDraftCreate(BaseModel):
    case: str = Field(description="the case the license results from (UUID)", max_length=36)
    identifier: str = Field(
        description="the license identifier the case's delivered step lists", max_length=128
    )
    face: dict[str, str] = Field(
        default_factory=dict,
        description="the face fields the officer types (the holder's, the day's and the "
        "issuer's are filled in by the node)",
    )
    number: str | None = Field(
        default=None, max_length=256, description="证照编号; default: the serial"
    )
    valid_from: str | None = Field(default=None, description="YYYY-MM-DD; default: today")
    valid_until: str | None = Field(
        default=None, description='YYYY-MM-DD, "" for no end; default: the type\'s term'
    )


class LicenseDraftPublic(BaseModel):
    content: str = Field(
        description="the canonical content bytes of the unsigned license_issued event, "
        "base64: decode, show and sign them yourself (docs/envelope.md §2.3)"
    )
    document: str = Field(description="the draft license document it names, sealed, base64")
    identifier: str
    ledger: str
    delivered_seq: int


class LicenseSealedCreate(BaseModel):
    event: str = Field(description="the officer-signed license_issued envelope, base64")
    document: str = Field(description="the draft POST /licenses/draft gave, base64")


class LicenseSealedPublic(BaseModel):
    identifier: str
    index: int = Field(description="the ledger index of the license_issued event")
    receipt: str = Field(description="the node's signed receipt of the event, base64")
    digest: str = Field(description="hex license digest of the issued document")
    compact: str = Field(description="the TB1: text of the license's QR code")


class LicenseStatusDraftCreate(BaseModel):
    identifier: str = Field(max_length=128)
    action: Literal["suspend", "reinstate", "revoke"]
    reason: str = Field(min_length=1, max_length=500)


class LicenseStatusDraftPublic(BaseModel):
    content: str = Field(description="the canonical content bytes of the unsigned event, base64")
    seq: int
    prev: str = Field(description="hex: the hash of the license stream's head")
    ledger: str


def _day(value: str, field: str) -> date:
    try:
        if not _DATE.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ApiProblem(
            422, f"{field} must be a calendar date YYYY-MM-DD", reason="malformed", field=field
        ) from None


def _typed_face(identifier: str, face: dict[str, str]) -> dict[str, str]:
    """The officer's face fields: only those the type has them type, every required one."""
    typed = {
        spec.key: spec
        for spec in typed_face_fields(get_type(parse_identifier(identifier).type_code))
    }
    for key in sorted(face):
        if key not in typed:
            raise ApiProblem(
                422,
                f"face field {key!r} is not one the officer types (these are: "
                f"{', '.join(typed) or 'none'})",
                reason="malformed",
                field=f"face.{key}",
            )
    values = {key: value.strip() for key, value in face.items() if value.strip()}
    for key, spec in typed.items():
        if spec.required and key not in values:
            raise ApiProblem(
                422,
                f"face field {key} ({spec.label}) is required",
                reason="bad_face",
                field=f"face.{key}",
            )
    return values


def _content(
    node: NodeServices,
    session: Any,
    stream: uuid.UUID,
    seq: int,
    prev: bytes,
    kind: str,
    body: dict[str, Any],
) -> bytes:
    key = node.ledger.registry.key(session.kid)
    return canonical.encode(
        {
            "v": 1,
            "suite": key.suite,
            "ctx": EVENT_CONTEXT,
            "kid": session.kid,
            "ledger": node.ledger.ledger_name,
            "case": str(stream),
            "seq": seq,
            "type": kind,
            "time": node.ledger.clock(),
            "actor": {"body": session.body_id, "officer": session.officer_id},
            "prev": prev,
            "body": body,
        }
    )


@router.post(
    "/licenses/draft",
    response_model=LicenseDraftPublic,
    summary="the content bytes of an officer's license_issued event and the sealed draft "
    "(for the officers' pages)",
)
def draft_license(
    draft: LicenseDraftCreate, request: Request, _: JsonBody, node: Services, caller: Caller
) -> LicenseDraftPublic:
    session = officer_session(request, node, caller)
    service = service_of(node)
    body = caller.subject
    try:
        case_id = uuid.UUID(draft.case)
    except ValueError:
        raise ApiProblem(422, "case is not a UUID", reason="malformed", field="case") from None
    service.ctx.check_identifier(draft.identifier)
    facts = case_licenses(node, case_id)
    if facts.home_body != body:
        raise LicenseForbidden(
            "not_entitled",
            f"a license is issued by the case's home body {facts.home_body}",
            field="case",
        )
    if not facts.issuable:
        raise ApiProblem(
            422,
            f"the case is {facts.state}"
            + ("" if facts.approved else ", not decided approved")
            + "; a license is issued once an approved decision was delivered",
            reason="case_not_delivered",
            field="case",
        )
    if draft.identifier not in facts.identifiers:
        raise ApiProblem(
            422,
            f"the case's delivered step (seq {facts.delivered_seq}) does not list "
            f"{draft.identifier}",
            reason="not_in_results",
            field="identifier",
        )
    if issued_state(node, draft.identifier):
        raise LicenseConflict("already_issued", f"{draft.identifier} is already issued")
    seal = body_seal(node, body).require()
    face = _typed_face(draft.identifier, draft.face)
    valid_from = _day(draft.valid_from, "valid_from") if draft.valid_from else None
    valid_until: date | str | None = "default"
    if draft.valid_until is not None:
        valid_until = _day(draft.valid_until, "valid_until") if draft.valid_until else None
    # Only now, the input being sound: the status entry is held, the applicant read (logged,
    # naming the officer and why).
    prepared = service.prepare(case_id, draft.identifier, body)
    applicant = node.cases.read_applicant(caller, node.cases.case(caller, case_id), ISSUE_PURPOSE)
    if "name" not in applicant:
        raise LicenseRefused(
            "holder_unavailable", "the case's applicant data was erased", field="case"
        )
    found = node.ledger.registry.bodies.get(body)
    try:
        drafted = draft_issuance(
            prepared,
            holder_name=applicant["name"],
            holder_code=applicant["id_number"],
            body_id=body,
            body_name=found.name if found else body,
            issued_on=beijing_today(node),
            face=face,
            number=(draft.number or "").strip() or None,
            valid_from=valid_from,
            valid_until=valid_until,
        )
        document = drafted.document(seal, 0)
    except InvalidLicense as error:
        raise ApiProblem(422, error.detail, reason=error.reason, field=error.field) from None
    event_body = drafted.event_body(
        delivered_seq=prepared["delivered_seq"],
        holder_commitment=prepared["holder_commitment"],
        document_digest=parse_license(document, allow_draft=True).digest,
    )
    check_issued_body(event_body)
    stream = license_stream_id(draft.identifier)
    content = _content(node, session, stream, 1, ZERO_HASH, ISSUED, event_body)
    return LicenseDraftPublic(
        content=base64.b64encode(content).decode(),
        document=base64.b64encode(document).decode(),
        identifier=draft.identifier,
        ledger=node.ledger.ledger_name,
        delivered_seq=prepared["delivered_seq"],
    )


@router.post(
    "/licenses/sealed",
    response_model=LicenseSealedPublic,
    status_code=201,
    summary="issue under the node's seal: the officer's signed license_issued event and the "
    "draft, checked as POST /licenses, then the issued document sealed and kept",
)
def issue_sealed(
    request_body: LicenseSealedCreate,
    request: Request,
    _: JsonBody,
    node: Services,
    caller: Caller,
    response: Response,
) -> LicenseSealedPublic:
    session = officer_session(request, node, caller)
    service = service_of(node)
    body = caller.subject
    event_raw = b64_field(request_body.event, "event")
    draft_raw = b64_field(request_body.document, "document")
    seal = body_seal(node, body).require()
    # Nothing is stored before these hold: the event is this session's officer's, and the
    # draft is one this node sealed (it seals the issued document with the same key).
    try:
        signer_kid: str | None = parse_event(event_raw).key_id
    except LedgerError:
        signer_kid = None  # the issuance below names what is wrong with it
    if signer_kid is not None and signer_kid != session.kid:
        raise ApiProblem(
            403,
            "the event must be signed with the key this session logged in with",
            reason="forbidden",
            field="event.kid",
        )
    try:
        draft = parse_license(draft_raw, allow_draft=True)
    except InvalidLicense as error:
        field = f"document.{error.field}" if error.field else "document"
        raise LicenseRefused(error.reason, error.detail, field=field) from None
    if draft.key_id != seal.key_id:
        raise LicenseRefused(
            "document_mismatch",
            f"the draft is not sealed with this node's seal of {body} ({seal.key_id})",
            field="document.kid",
        )
    appended = service.issue(event_raw, draft_raw, body)
    response.status_code = 201 if appended.created else 200  # a retry, as POST /licenses
    issued = service.complete(draft.id.text, issued_from_draft(draft, seal, appended.index), body)
    return LicenseSealedPublic(
        identifier=draft.id.text,
        index=appended.index,
        receipt=base64.b64encode(appended.receipt).decode(),
        digest=issued.digest.hex(),
        compact=compact_of(seal, issued),
    )


@router.post(
    "/licenses/status-draft",
    response_model=LicenseStatusDraftPublic,
    summary="the content bytes of an officer's suspension, reinstatement or revocation "
    "(for the officers' pages)",
)
def draft_status(
    draft: LicenseStatusDraftCreate,
    request: Request,
    _: JsonBody,
    node: Services,
    caller: Caller,
) -> LicenseStatusDraftPublic:
    session = officer_session(request, node, caller)
    service = service_of(node)
    event, _moment = service.ctx.issued_event(draft.identifier)
    if event.body_id != caller.subject:
        raise LicenseForbidden(
            "forbidden", f"{draft.identifier} is {event.body_id}'s to change", field="identifier"
        )
    kind = STATUS_ACTIONS[draft.action]
    state = node.ledger.license_state(draft.identifier).state
    if (state, kind) not in STATUS_TRANSITIONS:
        raise ApiProblem(
            422,
            f"a license in state {state} cannot be {draft.action}d",
            reason="illegal_step",
            field="action",
        )
    body = {"reason": draft.reason}
    try:
        check_status_body(body)
    except MalformedEncoding as error:
        raise ApiProblem(422, error.detail, reason="malformed", field="reason") from None
    # The reason is signed into the ledger, which never holds personal data in clear.
    if (found := find_personal_data(draft.reason)) is not None:
        raise ApiProblem(
            422, f"the reason must not carry {found} in clear", reason="malformed", field="reason"
        )
    head = service.ctx.stream(draft.identifier).head
    stream = license_stream_id(draft.identifier)
    content = _content(node, session, stream, head.seq + 1, head.event_hash, kind, body)
    return LicenseStatusDraftPublic(
        content=base64.b64encode(content).decode(),
        seq=head.seq + 1,
        prev=head.event_hash.hex(),
        ledger=node.ledger.ledger_name,
    )

"""``/cases`` and ``/applicants``: departments append signed steps; parties read their cases."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from adapters.access import Principal
from adapters.bootstrap import NodeServices
from adapters.vault import ApplicantErased, UnknownApplicant
from api.deps import (
    ENVELOPE_BODY,
    BearerCredentials,
    Caller,
    Envelope,
    JsonBody,
    Services,
    bearer_principal,
    envelope_bytes,
    require,
)
from api.errors import ApiProblem
from api.schemas import (
    REPOSTED,
    AccessPublic,
    AppendedPublic,
    ApplicantCreate,
    ApplicantPublic,
    CasePage,
    CasePublic,
    CaseSummary,
    HeadPublic,
    StepPublic,
    problem_responses,
)
from ledger.domain import Case
from ledger.envelope import Envelope as ParsedEnvelope
from ledger.envelope import parse_event
from ledger.license_events import LICENSE_EVENT_TYPES
from ledger.opening import ApplicantRecord
from ledger.personal import (
    PersonalDataError,
    find_personal_data,
    validate_personal_data,
)
from ledger.reports import case_timeline

router = APIRouter(tags=["cases"], responses=problem_responses(401, 403, 404, 409, 413, 415, 422))


def _check_poster(caller: Principal, envelope: ParsedEnvelope) -> None:
    """A body's token (callers ``require`` it first) posts only envelopes signed by that
    body's officers."""
    signer_body = envelope.body_id
    if signer_body != caller.subject:
        raise ApiProblem(
            403,
            f"this token belongs to body {caller.subject}; the envelope is signed for "
            f"{signer_body}",
            reason="forbidden",
            field="actor.body",
        )


def _appended(node: NodeServices, envelope: ParsedEnvelope, response: Response) -> AppendedPublic:
    # A `received` step opens a case, through whichever route it came: the opening's rules
    # (ledger.opening) apply to both, so neither is a way around the other.
    if envelope.type == "received":
        appended = node.opening.open(envelope)
    else:
        appended = node.ledger.append_envelope(envelope)
    response.status_code = 201 if appended.created else 200
    return AppendedPublic.of(appended)


@router.post(
    "/cases",
    response_model=AppendedPublic,
    status_code=201,
    summary="open a case with its signed `received` step",
    responses=REPOSTED,
    openapi_extra=ENVELOPE_BODY,
)
def open_case(node: Services, caller: Caller, raw: Envelope, response: Response) -> AppendedPublic:
    require(caller, "body")  # a token that may not post is refused before its bytes are read
    envelope = parse_event(raw)
    _check_poster(caller, envelope)
    if envelope.seq != 1 or envelope.type != "received":
        raise ApiProblem(
            422,
            "a case opens with a `received` step at seq 1; later steps go to "
            f"/cases/{envelope.case_id}/events",
            reason="illegal_step",
            field="type",
        )
    return _appended(node, envelope, response)


def _commitments_match(record: ApplicantRecord, signed: object) -> bool:
    return record.commitments is not None and signed == dict(record.commitments)


@router.post(
    "/cases/{case_id}/events",
    response_model=AppendedPublic,
    status_code=201,
    summary="append a signed step to a case",
    responses=REPOSTED,
    openapi_extra=ENVELOPE_BODY,
)
async def append_step(
    case_id: uuid.UUID,
    request: Request,
    node: Services,
    response: Response,
    _credentials: BearerCredentials,
) -> AppendedPublic:
    # The busiest route: its blocking part (token look-up, checks, the durable write, which
    # waits for a group commit with other requests' appends) runs in one trip to the thread
    # pool, and the event loop keeps serving meanwhile. The body is read here, but a bad one
    # is refused only after the token is checked, as for every other route.
    try:
        body: bytes | ApiProblem = await envelope_bytes(request)
    except ApiProblem as problem:
        body = problem
    return await run_in_threadpool(_append_step, case_id, request, node, body, response)


def _append_step(
    case_id: uuid.UUID,
    request: Request,
    node: NodeServices,
    body: bytes | ApiProblem,
    response: Response,
) -> AppendedPublic:
    caller = bearer_principal(request, node)
    require(caller, "body")
    if isinstance(body, ApiProblem):
        raise body
    envelope = parse_event(body)
    _check_poster(caller, envelope)
    if envelope.type in LICENSE_EVENT_TYPES:
        # Issuance and status changes go through the license service, which checks the
        # document and holds the status entry (docs/license.md §12).
        raise ApiProblem(
            422,
            f"post {envelope.type} to /licenses (issuance) or /licenses/{{id}}/<action>",
            reason="illegal_step",
            field="type",
        )
    if envelope.case_id != case_id:
        raise ApiProblem(
            422,
            f"the envelope is for case {envelope.case_id}, not {case_id}",
            reason="malformed",
            field="case",
        )
    return _appended(node, envelope, response)


@router.post(
    "/applicants",
    response_model=ApplicantPublic,
    status_code=201,
    summary="store an applicant's personal data; get the ref and commitments to sign",
)
def create_applicant(
    _: JsonBody, applicant: ApplicantCreate, node: Services, caller: Caller
) -> ApplicantPublic:
    require(caller, "body")
    try:
        data = validate_personal_data(applicant.model_dump())
    except PersonalDataError as error:
        field = getattr(error, "field", None)
        raise ApiProblem(422, str(error), reason="malformed", field=field) from error
    stored = node.applicants.store(data, body=caller.subject, now=datetime.now(UTC))
    return ApplicantPublic(
        ref=stored.ref,
        commitments={k: base64.b64encode(v).decode() for k, v in stored.commitments.items()},
    )


def parties(case: Case) -> set[str]:
    """The bodies on a case: intake, home (now and before), origins, and every step's body."""
    flow = case.flow
    return {
        flow.intake_body,
        flow.home_body,
        *flow.origin_bodies,
        *(body for _, _, body, _ in case.steps),
    } - {""}


def check_reader(caller: Principal, case: Case) -> None:
    if caller.kind in ("auditor", "admin"):
        return
    if caller.kind == "body" and caller.subject in parties(case):
        return
    raise ApiProblem(
        403,
        "only the bodies on this case, auditors and the administrator read it",
        reason="forbidden",
    )


def read_applicant(
    node: NodeServices, caller: Principal, case: Case, purpose: str
) -> dict[str, str]:
    """The applicant's data in clear for a body on the case; the read is recorded."""
    if caller.kind != "body" or caller.subject not in parties(case):
        raise ApiProblem(
            403, "personal data is shown in clear only to bodies on the case", reason="forbidden"
        )
    if not purpose.strip():
        raise ApiProblem(
            422, "say why you read personal data (purpose)", reason="malformed", field="purpose"
        )
    found = find_personal_data(purpose)
    if found is not None:  # the access log shows the purpose to auditors, not on the case
        raise ApiProblem(
            422, f"the purpose must not carry {found} in clear", reason="malformed", field="purpose"
        )
    signed = _signed_applicant(node, case.id)
    assert signed is not None  # a stored case opened with a checked `received` body
    ref: str = signed["ref"]
    record = node.applicants.applicant_record(ref)
    if (
        record is None
        or record.case_id != str(case.id)
        or (not record.erased and not _commitments_match(record, signed["commitments"]))
    ):
        # Never show a person whose stored data does not match what this case signed.
        raise ApiProblem(
            409,
            "this case's applicant record does not match its signed commitments",
            reason="commitment_mismatch",
        )
    node.access.record_access(
        str(case.id), caller, purpose=purpose, fields="applicant", now=datetime.now(UTC)
    )
    try:
        return {"ref": ref, **node.vault.read(ref).as_dict()}
    except ApplicantErased:
        return {"ref": ref, "erased": "true"}
    except UnknownApplicant:
        return {"ref": ref, "unknown": "true"}


def _signed_applicant(node: NodeServices, case_id: uuid.UUID) -> dict[str, Any] | None:
    """The ``applicant`` of a case's signed ``received`` step (one row read), or None."""
    raw = node.ledger.envelope_at(case_id, 1)
    applicant = parse_event(raw).body.get("applicant") if raw is not None else None
    return applicant if isinstance(applicant, dict) else None


@router.get("/cases", response_model=CasePage, summary="list cases")
def list_cases(
    node: Services,
    caller: Caller,
    body: Annotated[str | None, Query(description="a body on the case")] = None,
    state: Annotated[str | None, Query(description="workflow state")] = None,
    item: Annotated[str | None, Query(description="item key, e.g. 510000/1/8")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CasePage:
    require(caller, "body", "auditor", "admin")
    # Bodies see only their own cases.
    if caller.kind == "body":
        if body is not None and body != caller.subject:
            raise ApiProblem(
                403, "a body lists only its own cases", reason="forbidden", field="body"
            )
        body = caller.subject
    matching = []
    for case_id in node.ledger.case_ids():
        case = node.ledger.get_case(case_id)
        if (
            (body is None or body in parties(case))
            and (state is None or case.flow.state == state)
            and (item is None or case.flow.item == item)
        ):
            matching.append(case)
    start = (page - 1) * page_size
    return CasePage(
        page=page,
        page_size=page_size,
        total=len(matching),
        cases=[
            CaseSummary(
                case_id=str(c.id),
                state=c.flow.state,
                item=c.flow.item,
                channel=c.flow.channel,
                home_body=c.flow.home_body,
                intake_body=c.flow.intake_body,
                steps=c.version,
            )
            for c in matching[start : start + page_size]
        ],
    )


@router.get(
    "/cases/{case_id}/access",
    response_model=list[AccessPublic],
    summary="who read this case's personal data, when and why",
)
def case_access(case_id: uuid.UUID, node: Services, caller: Caller) -> list[AccessPublic]:
    case = node.ledger.get_case(case_id)
    check_reader(caller, case)
    return [AccessPublic(**vars(record)) for record in node.access.accesses(str(case_id))]


@router.get(
    "/cases/{case_id}",
    response_model=CasePublic,
    summary="a case: state, timeline with bodies, officers, times, signature status",
)
def read_case(
    case_id: uuid.UUID,
    node: Services,
    caller: Caller,
    personal: Annotated[bool, Query(description="include the applicant's data in clear")] = False,
    purpose: Annotated[str, Query(max_length=200, description="why (recorded)")] = "",
) -> CasePublic:
    case = node.ledger.get_case(case_id)
    check_reader(caller, case)
    story = case_timeline(node.ledger, case_id)
    flow = case.flow
    return CasePublic(
        case_id=str(case_id),
        state=flow.state,
        item=flow.item,
        item_name=story.item_name,
        channel=flow.channel,
        coordination=flow.coordination,
        home_body=flow.home_body,
        intake_body=flow.intake_body,
        origin_bodies=list(flow.origin_bodies),
        head=HeadPublic(seq=case.head.seq, hash=case.head.event_hash.hex()),
        allowed_next=flow.allowed_steps(),
        timeline=[
            StepPublic(
                seq=step.seq,
                step=step.step,
                body_id=step.body.body_id,
                body_name=step.body.name,
                officer_id=step.officer_id,
                claimed_at=step.claimed_at,
                received_at=step.received_at,
                since_previous_seconds=step.since_previous,
                signature=step.status,
            )
            for step in story.steps
        ],
        applicant=read_applicant(node, caller, case, purpose) if personal else None,
    )

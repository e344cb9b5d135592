"""``/cases`` and ``/applicants``: departments append signed steps; parties read their cases."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from adapters.bootstrap import NodeServices
from adapters.relay import unknown_ledger
from adapters.relay_peers import load_peers
from api.deps import (
    ENVELOPE_BODY,
    BearerCredentials,
    Caller,
    Envelope,
    JsonBody,
    MinIndex,
    Services,
    bearer_principal,
    envelope_bytes,
    refuse_supervisor,
    require,
)
from api.errors import ApiProblem
from api.routes.relay import relayed_append, relayed_case
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
from ledger.access import Reader, check_poster
from ledger.case_listing import CaseQuery
from ledger.envelope import Envelope as ParsedEnvelope
from ledger.envelope import parse_event
from ledger.errors import EnvelopeRejected
from ledger.license_events import LICENSE_EVENT_TYPES
from ledger.personal import PersonalDataError, validate_personal_data
from ledger.reports import case_timeline
from ledger.workflow import CaseState

router = APIRouter(tags=["cases"], responses=problem_responses(401, 403, 404, 409, 413, 415, 422))


def _appended(
    node: NodeServices, envelope: ParsedEnvelope, response: Response
) -> AppendedPublic | JSONResponse:
    if envelope.ledger != node.ledger.ledger_name:
        if node.relay_peer(envelope.ledger):
            # A step of a case homed in a region this node relays to (api.routes.relay).
            return relayed_append(node, envelope, response)
        # Any other ledger: say what this node's ledger is and which it relays to.
        peers = load_peers(node.settings.data_dir) if node.relays is not None else {}
        raise EnvelopeRejected(
            unknown_ledger(envelope.ledger, node.ledger.ledger_name, peers),
            reason="wrong_ledger",
            field="ledger",
        )
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
def open_case(
    node: Services, caller: Caller, raw: Envelope, response: Response
) -> AppendedPublic | JSONResponse:
    require(caller, "body")  # a token that may not post is refused before its bytes are read
    envelope = parse_event(raw)
    check_poster(caller, envelope)
    if envelope.seq != 1 or envelope.type != "received":
        node.opening.open(envelope)  # refuses it: only a `received` at seq 1 (`illegal_step`)
    return _appended(node, envelope, response)


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
) -> AppendedPublic | JSONResponse:
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
) -> AppendedPublic | JSONResponse:
    caller = bearer_principal(request, node)
    require(caller, "body")
    if isinstance(body, ApiProblem):
        raise body
    envelope = parse_event(body)
    check_poster(caller, envelope)
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


@router.get(
    "/cases",
    response_model=CasePage,
    summary="list cases",
    responses={
        503: {
            "description": "the listing did not reach `min_index` in time (reason "
            "`not_caught_up`, field `min_index`; an index beyond the ledger's head is 422 "
            "`beyond_head`)"
        }
    },
)
def list_cases(
    node: Services,
    caller: Caller,
    body: Annotated[str | None, Query(description="a body on the case")] = None,
    state: Annotated[str | None, Query(description="workflow state")] = None,
    item: Annotated[str | None, Query(description="item key, e.g. 510000/1/8")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    after: Annotated[
        uuid.UUID | None, Query(description="continue after this case (a page's `next_after`)")
    ] = None,
    min_index: Annotated[
        int,
        Query(
            ge=0,
            le=2**62,
            description="answer once the listing reflects this ledger index (an append's "
            "`index`); 503 `not_caught_up` if it does not within a few seconds, 422 "
            "`beyond_head` if no object has that index yet",
        ),
    ] = 0,
    seen_index: MinIndex = 0,
) -> CasePage:
    require(caller, "body", "auditor", "admin")
    query = CaseQuery(
        body=body,
        state=state,
        item=item,
        after=after,
        offset=(page - 1) * page_size,
        limit=page_size,
        # the query's index or the caller's last receipt's (the header), whichever is newer
        min_index=max(min_index, seen_index),
    )
    listed = node.cases.list_cases(caller, query)  # a body lists only its own cases
    last = listed.cases[-1].case_id if len(listed.cases) == page_size else None
    return CasePage(
        page=page,
        page_size=page_size,
        total=listed.total,
        as_of=listed.as_of,
        next_after=None if last is None else str(last),
        cases=[
            CaseSummary(
                case_id=str(c.case_id),
                state=c.state,
                item=c.item,
                channel=c.channel,
                home_body=c.home_body,
                intake_body=c.intake_body,
                steps=c.steps,
            )
            for c in listed.cases
        ],
    )


@router.get(
    "/cases/{case_id}/access",
    response_model=list[AccessPublic],
    summary="who read this case's personal data, when and why",
)
def case_access(case_id: uuid.UUID, node: Services, caller: Caller) -> list[AccessPublic]:
    refuse_supervisor(caller)  # who read a person's data is about that person
    node.cases.case(caller, case_id)
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
    min_index: MinIndex = 0,
) -> CasePublic:
    refuse_supervisor(caller)  # before any lookup: no oracle of which cases exist
    if node.relays is not None and not node.ledger.has_case(case_id):
        home = node.relays.home_of(str(case_id))
        if home is not None:  # a case homed elsewhere that this node relayed steps of
            return relayed_case(node, caller, case_id, personal=personal, purpose=purpose)
    return case_public(
        node, caller, case_id, personal=personal, purpose=purpose, min_index=min_index
    )


def case_public(
    node: NodeServices,
    caller: Reader,
    case_id: uuid.UUID,
    *,
    personal: bool,
    purpose: str,
    min_index: int = 0,
) -> CasePublic:
    """A case of this ledger as ``caller`` may read it (a personal read is logged)."""
    return case_with_state(
        node, caller, case_id, personal=personal, purpose=purpose, min_index=min_index
    )[0]


def case_with_state(
    node: NodeServices,
    caller: Reader,
    case_id: uuid.UUID,
    *,
    personal: bool,
    purpose: str,
    min_index: int = 0,
) -> tuple[CasePublic, CaseState]:
    """:func:`case_public` and the workflow state it was read from (what the case page's
    forms are drawn from), from one read of the case."""
    ledger = node.reader("pages", min_index=min_index)  # the caller's own steps show
    cases = node.cases_over(ledger)
    case = cases.case(caller, case_id)
    story = case_timeline(ledger, case_id)
    flow = case.flow
    public = CasePublic(
        case_id=str(case_id),
        ledger=node.ledger.ledger_name,
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
        applicant=cases.read_applicant(caller, case, purpose) if personal else None,
    )
    return public, flow

"""``/relay``: this node as a window for other regions' ledgers (``adapters.relay``).

A clerk posts a step of a case homed elsewhere to ``/cases`` or ``/cases/{id}/events`` as
usual; ``api.routes.cases`` hands it here. The answer says where the step stands: ``201``
(or ``200`` for a repost) with the **home node's** receipt once it accepted it, ``202`` with
this node's relay receipt while it waits (``queued``: the home node cannot be reached;
``held``: it refused this node's authentication, reason ``peer_unauthenticated``), ``409``
with the home head when the home node holds another step at that seq, ``422`` with the home
node's reason when it refused it (or an operator dropped it). A settled ``received`` step's
applicant is erased here, and the answer says so. ``GET /relay`` lists the relayed steps (a
body: its own; ``case``: one case's, whose newest waiting or accepted step is the head a
clerk signs on while the home node cannot be read), ``POST /relay/deliver`` sends the
queued and held ones now (the server's delivery loop sends the queued ones).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from adapters.access import Principal
from adapters.bootstrap import NodeServices
from adapters.relay import PeerUnauthenticated, PeerUnreachable, refusal_parts
from adapters.relay_store import STATES, RelayedStep
from api.deps import Caller, Services, require
from api.errors import ApiProblem
from api.schemas import AppendedPublic, CasePublic, HeadPublic, RelayPage, RelayPublic
from api.schemas import problem_responses as problems
from ledger.envelope import Envelope
from ledger.errors import Head

router = APIRouter(prefix="/relay", tags=["relay"], responses=problems(401, 403, 422))

__all__ = ["relayed_append", "relayed_case", "router"]


def relay_public(node: NodeServices, step: RelayedStep) -> RelayPublic:
    return RelayPublic.model_validate(node.relay.outcome(step))


def _applicant_said(public: RelayPublic) -> str:
    if public.applicant_here == "erased":
        return (
            "; the applicant's record this step carried is erased at this node (to open the "
            "case again, store the applicant again: POST /applicants)"
        )
    if public.applicant_here == "kept":
        return "; the applicant's record stays at this node, encrypted, while the step waits"
    return ""


def relayed_append(
    node: NodeServices, envelope: Envelope, response: Response
) -> AppendedPublic | JSONResponse:
    """Relay a step for another ledger; answer as the module docstring says."""
    known = node.relays is not None and node.relays.get(envelope.hash) is not None
    step = node.relay.relay(envelope)
    public = relay_public(node, step)
    if step.state == "accepted":
        assert step.home_receipt is not None and step.home_index is not None
        response.status_code = 200 if known else 201
        return AppendedPublic(
            case_id=step.case_id,
            seq=step.seq,
            index=step.home_index,
            created=not known,
            head=HeadPublic(seq=step.seq, hash=step.event_hash.hex()),
            receipt=public.home_receipt or "",
            relay=public,
        )
    if step.state == "queued":
        # Why it waits: the last delivery's error (unreachable, or a home receipt that does
        # not verify under the key peers.json names), else not yet tried.
        why = step.detail or f"the home node {step.home_ledger} cannot be reached"
        detail = (
            f"not accepted yet: {why}; the step is queued with this node's relay receipt and "
            f"will be delivered, never signed again{_applicant_said(public)}"
        )
        document = {"state": "queued", "detail": detail, "relay": public.model_dump()}
        return JSONResponse(document, status_code=202)
    if step.state == "held":
        detail = (
            f"not accepted: {step.detail}; the step is kept with this node's relay receipt, "
            "never signed again, and delivered once an operator fixed that"
            + _applicant_said(public)
        )
        document = {
            "state": "held",
            "reason": "peer_unauthenticated",
            "detail": detail,
            "relay": public.model_dump(),
        }
        return JSONResponse(document, status_code=202)
    if step.state == "conflict":
        assert step.home_head_seq is not None and step.home_head_hash is not None
        head = Head(step.home_head_seq, step.home_head_hash)
        raise ApiProblem(
            409,
            f"the home node holds another step at seq {step.seq}; its head is seq {head.seq}"
            + _applicant_said(public),
            reason="conflict",
            field="seq",
            extra={
                "head": {"seq": head.seq, "hash": head.event_hash.hex()},
                "relay": public.model_dump(),
            },
        )
    if step.state == "dropped":
        raise ApiProblem(
            422,
            f"{step.detail}; it is not delivered{_applicant_said(public)}",
            reason="relay_dropped",
            extra={"relay": public.model_dump()},
        )
    reason, field, detail = refusal_parts(step.detail)
    raise ApiProblem(
        422,
        f"the home node refused the step: {detail or reason}{_applicant_said(public)}",
        reason=reason,
        field=field,
        extra={"relay": public.model_dump()},
    )


def relayed_case(
    node: NodeServices, caller: Principal, case_id: uuid.UUID, *, personal: bool, purpose: str
) -> CasePublic:
    """A case homed elsewhere, read at its home node for the caller's body."""
    require(caller, "body")
    try:
        answer = node.relay.read_case(
            case_id, body=caller.subject, personal=personal, purpose=purpose
        )
    except PeerUnreachable as error:
        raise ApiProblem(
            503, f"the case's home node cannot be reached: {error}", reason="peer_unreachable"
        ) from error
    except PeerUnauthenticated as error:
        # A configuration to fix (502: the gateway's own fault), not "try again later".
        raise ApiProblem(502, str(error), reason="peer_unauthenticated") from error
    if answer.status != 200:
        doc = answer.document
        raise ApiProblem(
            answer.status if 400 <= answer.status < 500 else 502,
            f"the home node answered: {doc.get('detail', '')}",
            reason=str(doc.get("reason", "refused")),
            field=doc.get("field"),
        )
    return CasePublic.model_validate(answer.document)


@router.get("", response_model=RelayPage, summary="steps this node relayed, and where they stand")
def relayed_steps(
    node: Services,
    caller: Caller,
    state: Annotated[str | None, Query(description=f"one of {', '.join(STATES)}")] = None,
    case: Annotated[uuid.UUID | None, Query(description="only this case's steps")] = None,
) -> RelayPage:
    require(caller, "body", "auditor", "admin")
    if state is not None and state not in STATES:
        raise ApiProblem(
            422, f"state is one of {', '.join(STATES)}", reason="malformed", field="state"
        )
    body = caller.subject if caller.kind == "body" else None
    assert node.relays is not None
    steps = node.relays.steps(state=state, body=body, case_id=None if case is None else str(case))
    return RelayPage(steps=[relay_public(node, s) for s in steps])


@router.post(
    "/deliver", response_model=RelayPage, summary="deliver the queued and held steps now (admin)"
)
def deliver(node: Services, caller: Caller) -> RelayPage:
    require(caller, "admin")
    return RelayPage(steps=[relay_public(node, s) for s in node.relay.deliver(held=True)])

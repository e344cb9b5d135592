"""``/peer``: this node as the home of cases other regions' nodes relay steps of.

No bearer token: every call carries a ``Tongban-Peer`` header, a peer request
(``tongban/peer-request/v1``) signed by the calling node's key over this very call; the key
configured for its ledger in ``peers.json`` authenticates it, the way a log's key on a
checkpoint authenticates it to a witness. ``POST /peer/steps`` takes a relayed step with its
relay receipt (and, with a ``received`` step, the applicant's record, kept in this node's
vault from then on); ``GET /peer/cases/{id}`` reads a case for a body of the calling node's
region, logging a personal read as any other.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from adapters.access import Principal
from adapters.bootstrap import NodeServices
from adapters.relay import PEER_HEADER
from adapters.relay_peers import load_peers
from api.deps import Services
from api.errors import ApiProblem
from api.routes.cases import case_public
from api.schemas import REPOSTED, AppendedPublic, CasePublic, problem_responses
from ledger.envelope import ledger_region, parse_event
from ledger.errors import LedgerError
from ledger.personal import PersonalDataError, validate_personal_data
from ledger.relay import (
    check_peer_request,
    check_relay_receipt,
    parse_peer_request,
    parse_relay_receipt,
)

router = APIRouter(prefix="/peer", tags=["peer"], responses=problem_responses(401, 403, 404, 422))

_PEER_HEADER_DOC: dict[str, Any] = {
    "parameters": [
        {
            "name": PEER_HEADER,
            "in": "header",
            "required": True,
            "description": "base64 of a tongban/peer-request/v1 signed by the calling node",
            "schema": {"type": "string"},
        }
    ]
}


def _unauthenticated(detail: str, field: str = "tongban-peer") -> ApiProblem:
    return ApiProblem(401, detail, reason="peer_unauthenticated", field=field)


def authenticate_peer(request: Request, node: NodeServices, body: bytes) -> str:
    """The ledger name of the node that signed this call, or 401."""
    header = request.headers.get(PEER_HEADER, "")
    if not header:
        raise _unauthenticated(f"a {PEER_HEADER} header is required (docs/relay.md)")
    try:
        signed = parse_peer_request(base64.b64decode(header, validate=True))
    except (binascii.Error, ValueError, LedgerError) as error:
        raise _unauthenticated(f"the {PEER_HEADER} header does not decode: {error}") from error
    peer = load_peers(node.settings.data_dir).get(signed.sender)
    if peer is None:
        raise _unauthenticated(f"no peer {signed.sender!r} is configured here (peers.json)")
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        check_peer_request(
            signed,
            peer_key=peer.public_key,
            receiver=node.ledger.ledger_name,
            method=request.method,
            path=path,
            body=body,
            now=node.ledger.clock(),
            tolerance=node.ledger.claim_tolerance,
        )
    except LedgerError as error:
        raise _unauthenticated(error.detail, error.field or "tongban-peer") from error
    return signed.sender


def _b64(value: object, field: str) -> bytes:
    if not isinstance(value, str):
        raise ApiProblem(422, f"{field} is base64 text", reason="malformed", field=field)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ApiProblem(422, f"{field} is not base64", reason="malformed", field=field) from error


@router.post(
    "/steps",
    response_model=AppendedPublic,
    status_code=201,
    responses=REPOSTED,
    summary="a step relayed by another region's node, with its relay receipt (peer)",
    openapi_extra=_PEER_HEADER_DOC,
)
async def relayed_step(request: Request, node: Services, response: Response) -> AppendedPublic:
    raw = await request.body()
    return await run_in_threadpool(_relayed_step, request, node, raw, response)


def _relayed_step(
    request: Request, node: NodeServices, raw: bytes, response: Response
) -> AppendedPublic:
    sender = authenticate_peer(request, node, raw)
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise ApiProblem(422, "the body is not JSON", reason="malformed", field="body") from error
    if not isinstance(document, dict):
        raise ApiProblem(422, "the body is a JSON object", reason="malformed", field="body")
    envelope = parse_event(_b64(document.get("envelope"), "envelope"))
    relay_receipt = parse_relay_receipt(_b64(document.get("relay_receipt"), "relay_receipt"))
    peer = load_peers(node.settings.data_dir)[sender]
    if relay_receipt.relay != sender:
        raise ApiProblem(
            422,
            "the relay receipt names another node than the caller",
            reason="relay_mismatch",
            field="relay_receipt.relay",
        )
    check_relay_receipt(
        relay_receipt,
        peer_key=peer.public_key,
        home_ledger=node.ledger.ledger_name,
        event_hash=envelope.hash,
        stream_id=envelope.case_id,
        seq=envelope.seq,
    )
    # A peer relays only its own region's officers' steps.
    _require_peer_body(node, envelope.body_id, sender, "actor.body")
    if envelope.type == "received":
        adopted = _adopt_applicant(node, document.get("applicant"), envelope.body_id)
        try:
            appended = node.opening.open(envelope, relayed_at=relay_receipt.time)
        except LedgerError:
            # Refused, or a conflict: no case holds the record this call took in, and the
            # window erases its own copy; keeping one here would keep it for no purpose. (Not
            # on a failure of the database: the window delivers again, with the record.)
            if adopted is not None:
                _forget_adopted(node, adopted, envelope.case_id)
            raise
    else:
        appended = node.ledger.append_envelope(envelope, relayed_at=relay_receipt.time)
    response.status_code = 201 if appended.created else 200
    return AppendedPublic.of(appended)


def _body_region(node: NodeServices, body_id: str) -> str | None:
    body = node.ledger.registry.bodies.get(body_id)
    return None if body is None else body.region


def _require_peer_body(node: NodeServices, body_id: str, sender: str, field: str) -> None:
    """403 unless ``body_id`` is a body of the calling node's region in this registry.

    The registry is read afresh before refusing: the window's bodies and officers may have
    been imported (``tongban license fetch``) by another process while this node serves."""
    region = _body_region(node, body_id)
    if region != ledger_region(sender):
        node.ledger.refresh_registry()  # a record stored since this process last looked?
        region = _body_region(node, body_id)
    if region is None:
        raise ApiProblem(
            403,
            f"body {body_id} is not in this node's registry: import {sender}'s bodies and "
            "officers here (`tongban license fetch --server <its URL>`, docs/relay.md)",
            reason="unknown_body",
            field=field,
        )
    if region != ledger_region(sender):
        raise ApiProblem(
            403,
            f"body {body_id} is of region {region}, not of {sender}'s region",
            reason="forbidden",
            field=field,
        )


def _forget_adopted(node: NodeServices, ref: str, case_id: uuid.UUID) -> None:
    """Erase an applicant adopted for a ``received`` step the ledger then refused."""
    binding = node.applicants.access.applicant_binding(ref)
    if binding is not None and binding[1] is not None:
        return  # a case claimed it meanwhile (a concurrent delivery that opened it)
    node.applicants.vault.erase(
        ref,
        now=datetime.now(UTC),
        reason=f"the relayed received step of case {case_id} was refused",
    )


def _adopt_applicant(node: NodeServices, applicant: object, body_id: str) -> str | None:
    """Keep the applicant the window node hands over (none: a redelivery, already kept);
    its ref when this call stored it, None when it was already held or none came."""
    if applicant is None:
        return None
    if not isinstance(applicant, dict) or not isinstance(applicant.get("ref"), str):
        raise ApiProblem(
            422, "applicant is {ref, secret, data}", reason="malformed", field="applicant"
        )
    secret = _b64(applicant.get("secret"), "applicant.secret")
    data = applicant.get("data")
    try:
        if not isinstance(data, dict):
            raise PersonalDataError("applicant.data is an object")
        personal = validate_personal_data(data)
    except PersonalDataError as error:
        raise ApiProblem(422, str(error), reason="malformed", field="applicant.data") from error
    ref: str = applicant["ref"]
    held = node.applicants.applicant_record(ref) is not None
    try:
        node.applicants.adopt(ref, personal, secret, body=body_id, now=datetime.now(UTC))
    except ValueError as error:
        raise ApiProblem(422, str(error), reason="malformed", field="applicant") from error
    return None if held else ref


@router.get(
    "/cases/{case_id}",
    response_model=CasePublic,
    summary="a case, read for a body of the calling node's region (peer)",
    openapi_extra=_PEER_HEADER_DOC,
)
async def peer_case(
    case_id: uuid.UUID,
    request: Request,
    node: Services,
    body: Annotated[str, Query(max_length=64, description="the reading body")],
    personal: Annotated[bool, Query(description="include the applicant's data")] = False,
    purpose: Annotated[str, Query(max_length=200, description="why (recorded)")] = "",
) -> CasePublic:
    return await run_in_threadpool(_peer_case, case_id, request, node, body, personal, purpose)


def _peer_case(
    case_id: uuid.UUID,
    request: Request,
    node: NodeServices,
    body: str,
    personal: bool,
    purpose: str,
) -> CasePublic:
    sender = authenticate_peer(request, node, b"")
    _require_peer_body(node, body, sender, "body")
    reader = Principal("body", body, f"peer:{sender}")
    return case_public(node, reader, case_id, personal=personal, purpose=purpose)

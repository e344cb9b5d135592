"""``/licenses``, ``/trust-list``, ``/status-lists``: electronic licenses across regions.

Who may call what is the table of ``docs/license.md`` §12.5; the routes only authenticate,
decode and call :class:`licenses.service.LicenseService`.
"""

from __future__ import annotations

import base64
import uuid
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response
from fastapi.concurrency import run_in_threadpool

from adapters.access import Principal
from adapters.bootstrap import NodeServices
from api.deps import (
    MSGPACK,
    Caller,
    Envelope,
    JsonBody,
    Services,
    b64_field,
    refuse_supervisor,
    require,
)
from api.errors import ApiProblem
from api.schemas import (
    AppendedPublic,
    GrantCreate,
    GrantPublic,
    HeadPublic,
    LicenseDocumentPublic,
    LicenseDocumentPut,
    LicenseIssue,
    LicensePrepare,
    LicensePreparePublic,
    LicensePublic,
    LicenseUsePublic,
    LicenseVerify,
    StatusEntryPublic,
    TrustListPublic,
    VerdictPublic,
    problem_responses,
)
from licenses.grant import parse_grant
from licenses.service import LicenseService
from licenses.use import LicenseView, Reader
from licenses.verify import Verdict

router = APIRouter(
    tags=["licenses"], responses=problem_responses(401, 403, 404, 409, 413, 415, 422)
)


def _service(node: NodeServices) -> LicenseService:
    if node.licenses is None:
        raise ApiProblem(404, "this node serves no licenses", reason="not_found")
    return node.licenses


def _home_body(node: NodeServices, caller: Principal) -> str:
    """The caller's body id, if it is a body of this node's region (else 403)."""
    require(caller, "body")
    node.ledger.refresh_registry()
    found = node.ledger.registry.bodies.get(caller.subject)
    if found is None or found.region != node.settings.region:
        raise ApiProblem(
            403, "only bodies of this region issue and manage its licenses", reason="forbidden"
        )
    return caller.subject


def _reader(node: NodeServices, caller: Principal) -> Reader:
    if caller.kind == "body":
        found = node.ledger.registry.bodies.get(caller.subject)
        return Reader("body", caller.subject, found.region if found else "")
    if caller.kind == "peer":
        return Reader("peer", caller.subject, caller.subject)
    return Reader(caller.kind, caller.subject, "")


def _public(view: LicenseView) -> LicensePublic:
    return LicensePublic(
        identifier=view.identifier,
        state=view.state,
        status=view.status,
        type=view.type,
        issuer_body=view.issuer_body,
        status_list=view.status_list,
        status_index=view.status_index,
        issuance_index=view.issuance_index,
        last_index=view.last_index,
        head=HeadPublic(seq=view.head_seq, hash=view.head_hash),
        valid_from=view.valid_from,
        valid_until=view.valid_until,
        scope=list(view.scope),
        metadata=view.metadata,
        face=view.face,
        document=base64.b64encode(view.document).decode() if view.document else None,
        grant_uses_left=view.grant_uses_left,
    )


def _signed(raw: bytes) -> Response:
    return Response(content=raw, media_type=MSGPACK)


# -- public: verification, trust lists, status lists ----------------------------------------


@router.post(
    "/licenses/verify",
    response_model=VerdictPublic,
    summary="verify a presented license (compact text or full document) for use in this region",
)
async def verify(_: JsonBody, request: LicenseVerify, node: Services) -> VerdictPublic:
    if (request.license is None) == (request.document is None):
        raise ApiProblem(
            422,
            "give exactly one of license (the TB1: text) or document (base64)",
            reason="malformed",
            field="license",
        )
    presented: bytes | str = (
        request.license
        if request.license is not None
        else b64_field(request.document or "", "document")
    )
    verdict = await verdict_for(
        node,
        presented,
        holder_code=request.holder_code,
        online=request.online,
        max_status_age=(
            None if request.max_status_age is None else request.max_status_age * 1_000_000
        ),
    )
    return VerdictPublic.model_validate(verdict.to_json())


async def verdict_for(
    node: NodeServices,
    presented: bytes | str,
    *,
    holder_code: str | None = None,
    online: bool = True,
    max_status_age: int | None = None,
) -> Verdict:
    """The node's verdict on a presented license: what ``POST /licenses/verify`` answers and
    the public check page (``/pages/check``) shows. ``max_status_age`` in µs."""
    # The store read and the checks in a worker thread, the answer built here: a sync route
    # costs FastAPI a second hand-off to the thread pool, to validate what it returns.
    return await run_in_threadpool(
        partial(
            _service(node).verify,
            presented,
            holder_code=holder_code,
            online=online,
            max_status_age=max_status_age,
        )
    )


@router.get(
    "/trust-list",
    response_class=Response,
    responses={200: {"content": {MSGPACK: {}}, "description": "the signed trust list"}},
    summary="this region's trust list, signed by its root (or a held peer's: ?region=)",
)
def trust_list(
    node: Services,
    region: Annotated[str | None, Query(pattern=r"^[1-9][0-9]{5}$")] = None,
) -> Response:
    return _signed(_service(node).trust_list(region))


@router.post(
    "/trust-list",
    response_model=TrustListPublic,
    summary="publish this region's trust list (signed by the region root; administrator)",
)
def publish_trust_list(node: Services, caller: Caller, raw: Envelope) -> TrustListPublic:
    require(caller, "admin")
    published = _service(node).publish_trust_list(raw)
    return TrustListPublic(region=published.region, version=published.version)


@router.get(
    "/status-lists/{list_id}",
    response_class=Response,
    responses={200: {"content": {MSGPACK: {}}, "description": "the signed status list"}},
    summary="the newest signed status list (derived from the ledger, fresh)",
)
def status_list(list_id: str, node: Services) -> Response:
    return _signed(_service(node).status_list(list_id))


# -- issuance (bodies of this region) --------------------------------------------------------


@router.post(
    "/licenses/prepare",
    response_model=LicensePreparePublic,
    summary="hold a status list entry for a license and read what its issuance signs",
)
def prepare(
    _: JsonBody, request: LicensePrepare, node: Services, caller: Caller
) -> LicensePreparePublic:
    body = _home_body(node, caller)
    try:
        case_id = uuid.UUID(request.case)
    except ValueError:
        raise ApiProblem(422, "case is not a UUID", reason="malformed", field="case") from None
    answer = _service(node).prepare(case_id, request.identifier, body)
    return LicensePreparePublic(
        case=answer["case"],
        identifier=answer["identifier"],
        ledger=answer["ledger"],
        status=StatusEntryPublic(**answer["status"]),
        holder_commitment=base64.b64encode(answer["holder_commitment"]).decode(),
        delivered_seq=answer["delivered_seq"],
        jurisdiction=answer["jurisdiction"],
    )


@router.post(
    "/licenses",
    response_model=AppendedPublic,
    status_code=201,
    summary="issue: the signed license_issued event and the document draft it names",
)
def issue(
    _: JsonBody, request: LicenseIssue, node: Services, caller: Caller, response: Response
) -> AppendedPublic:
    body = _home_body(node, caller)
    appended = _service(node).issue(
        b64_field(request.event, "event"), b64_field(request.document, "document"), body
    )
    response.status_code = 201 if appended.created else 200
    return AppendedPublic.of(appended)


@router.put(
    "/licenses/{identifier}/document",
    response_model=LicenseDocumentPublic,
    summary="the issued document: the draft with its issuance event's ledger index",
)
def put_document(
    identifier: str, _: JsonBody, request: LicenseDocumentPut, node: Services, caller: Caller
) -> LicenseDocumentPublic:
    body = _home_body(node, caller)
    document = _service(node).complete(identifier, b64_field(request.document, "document"), body)
    return LicenseDocumentPublic(
        identifier=identifier, issuance_index=document.issuance_index, digest=document.digest.hex()
    )


# -- reading, grants, uses ---------------------------------------------------------------------


@router.get(
    "/licenses/{identifier}",
    response_model=LicensePublic,
    summary="a license's status; its metadata with the holder's grant (every read is logged)",
)
def read_license(
    identifier: str,
    node: Services,
    caller: Caller,
    grant: Annotated[
        str | None, Header(alias="Tongban-Grant", description="the holder's grant, base64")
    ] = None,
    purpose: Annotated[str, Query(max_length=200, description="why (logged)")] = "",
) -> LicensePublic:
    refuse_supervisor(caller)  # a license is a person's: its holder and their documents
    grant_raw = b64_field(grant, "Tongban-Grant") if grant is not None else None
    view = _service(node).read(
        identifier, _reader(node, caller), grant_raw=grant_raw, purpose=purpose
    )
    return _public(view)


@router.post(
    "/licenses/{identifier}/grants",
    response_model=GrantPublic,
    status_code=201,
    summary="授权用证: the holder, at the issuing body, lets a region read the license",
)
def create_grant(
    identifier: str, _: JsonBody, request: GrantCreate, node: Services, caller: Caller
) -> GrantPublic:
    body = _home_body(node, caller)
    raw = _service(node).grant(
        identifier,
        body,
        holder_code=request.holder_code,
        audience_region=request.audience_region,
        audience_body=request.audience_body,
        scope=request.scope,
        purpose=request.purpose,
        expires_at=request.expires_at,
        uses=request.uses,
    )
    return GrantPublic(grant_id=parse_grant(raw).grant_id, grant=base64.b64encode(raw).decode())


@router.delete(
    "/licenses/{identifier}/grants/{grant_id}",
    status_code=204,
    summary="withdraw a grant (the holder asks the issuing body)",
)
def withdraw_grant(identifier: str, grant_id: str, node: Services, caller: Caller) -> Response:
    body = _home_body(node, caller)
    _service(node).withdraw_grant(identifier, grant_id, body)
    return Response(status_code=204)


@router.get(
    "/licenses/{identifier}/uses",
    response_model=list[LicenseUsePublic],
    summary="用证记录: who read this license, when, why, under which grant",
)
def uses(identifier: str, node: Services, caller: Caller) -> list[LicenseUsePublic]:
    require(caller, "body", "auditor", "admin")
    if caller.kind == "body":
        _home_body(node, caller)
    return [
        LicenseUsePublic(**vars(use))
        for use in _service(node).uses(identifier, _reader(node, caller))
    ]


# Last: "/licenses/{identifier}/{action}" would otherwise catch ".../grants".
@router.post(
    "/licenses/{identifier}/{action}",
    response_model=AppendedPublic,
    status_code=201,
    summary="suspend, reinstate or revoke (the issuing body's signed event); status is live",
)
def change_status(
    identifier: str,
    action: Literal["suspend", "reinstate", "revoke"],
    node: Services,
    caller: Caller,
    raw: Envelope,
    response: Response,
) -> AppendedPublic:
    body = _home_body(node, caller)
    appended = _service(node).change_status(identifier, action, raw, body)
    response.status_code = 201 if appended.created else 200
    return AppendedPublic.of(appended)

"""Dependencies of the routes: the node's services and the authenticated principal."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from adapters.access import Principal
from adapters.bootstrap import NodeServices
from adapters.sessions import Session, TokenSession
from api.errors import ApiProblem
from ledger.application import now_micros
from ledger.errors import LedgerError

MSGPACK = "application/msgpack"


# Dependencies that do no I/O are ``async``: FastAPI runs a sync one in its thread pool, a
# hand-off (and a wait for a free thread) per dependency per request.
async def services(request: Request) -> NodeServices:
    node: NodeServices = request.app.state.services
    return node


Services = Annotated[NodeServices, Depends(services)]

#: Read-your-writes: the newest ledger index the caller saw in a receipt. A read that may go
#: to a standby (adapters/reads.py) goes to the primary while the standby has not reached it.
MinIndex = Annotated[
    int,
    Header(
        alias="Tongban-Min-Index",
        ge=0,
        le=2**63 - 1,
        description="the newest ledger index this caller saw (its own last receipt): the "
        "answer includes it even when the node reads a standby",
    ),
]


def database_operations(routers: Iterable[APIRouter]) -> set[tuple[str, str]]:
    """``(path, method)`` of every route of ``routers`` that depends on the node's services,
    so may answer 503 ``database_unavailable``: the OpenAPI document declares it on these."""

    def uses_services(dependant: Dependant) -> bool:
        return any(sub.call is services or uses_services(sub) for sub in dependant.dependencies)

    return {
        (route.path, method.lower())
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and uses_services(route.dependant)
        for method in route.methods or ()
    }


# Declares the bearer scheme in the OpenAPI document; `principal` reads the header itself.
_BEARER = HTTPBearer(
    auto_error=False, description="an API token (`tb_...`) from `tongban token create`"
)
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)]


SESSION_COOKIE = "tb_session"
# Every 401 says how to authenticate (RFC 9110 §11.6.1): programs with a bearer token.
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="tongban"'}
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def principal(request: Request, node: Services, _credentials: BearerCredentials) -> Principal:
    """The principal of the bearer token, or of an officer's browser session; else 401 (the
    dependency routes declare)."""
    return bearer_principal(request, node)


def session_principal(request: Request, node: NodeServices) -> Principal:
    """The officer of the session cookie, acting for their body; 401 when the session is
    unknown, ended, idle too long, or its key is no longer valid (a revoked key ends its
    sessions at once); 403 when a state-changing request lacks the session's CSRF token."""
    now = now_micros()
    token = request.cookies.get(SESSION_COOKIE, "")
    store = node.session_store()
    found = store.session(token, now)
    if found is None:
        return _token_session_principal(request, node, store.token_session(token, now), now)
    node.ledger.refresh_registry()
    try:
        node.ledger.registry.officer_key_at(
            found.kid, now, body_id=found.body_id, officer_id=found.officer_id
        )
    except LedgerError as error:
        store.end_sessions_of_key(found.kid, now)
        raise ApiProblem(
            401,
            f"log in again: the session's key is not valid ({error.reason})",
            reason="unauthenticated",
            headers=BEARER_CHALLENGE,
        ) from error
    _require_csrf(request, found)
    request.state.session = found
    return Principal("body", found.body_id, f"session:{found.session_id}", found.officer_id)


def _token_session_principal(
    request: Request, node: NodeServices, found: TokenSession | None, now: int
) -> Principal:
    """The auditor, supervisor or administrator of a token session, while the API token it
    was opened with is not revoked (a revoked token ends its sessions at once)."""
    if found is None:
        raise ApiProblem(
            401,
            "log in again: the session has ended",
            reason="unauthenticated",
            headers=BEARER_CHALLENGE,
        )
    holder = node.access.principal_of_id(found.token_id)
    if holder is None:
        node.session_store().end_sessions_of_token(found.token_id, now)
        raise ApiProblem(
            401,
            "log in again: the token this session was opened with is revoked",
            reason="unauthenticated",
            headers=BEARER_CHALLENGE,
        )
    _require_csrf(request, found)
    request.state.session = found
    return Principal(holder.kind, holder.subject, f"session:{found.session_id}")


def _require_csrf(request: Request, found: Session | TokenSession) -> None:
    if request.method not in _SAFE_METHODS and not found.csrf_matches(
        request.headers.get(CSRF_HEADER, "")
    ):
        raise ApiProblem(
            403, "the request lacks the session's CSRF token", reason="forbidden", field=CSRF_HEADER
        )


def bearer_principal(request: Request, node: NodeServices) -> Principal:
    """The principal of the bearer token (or, without one, of an officer's session cookie),
    or 401; for a route that checks the token itself, off the event loop (it reads the token
    store)."""
    header = request.headers.get("authorization", "")
    if not header and request.cookies.get(SESSION_COOKIE):
        return session_principal(request, node)
    scheme, _, token = header.partition(" ")
    challenge = BEARER_CHALLENGE
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiProblem(
            401,
            "a bearer token is required (Authorization: Bearer tb_...)",
            reason="unauthenticated",
            headers=challenge,
        )
    found = node.access.authenticate(token.strip())
    if found is None:
        raise ApiProblem(
            401, "the token is unknown or revoked", reason="unauthenticated", headers=challenge
        )
    return found


Caller = Annotated[Principal, Depends(principal)]


#: What a supervisor is told wherever it is refused: it reads deadlines, never people.
SUPERVISOR_REFUSED = (
    "a supervisor token reads the supervision routes (/supervision/..., a body's legs and "
    "alerts) and never personal data or a case's content"
)


def refuse_supervisor(caller: Principal) -> None:
    """403 for a supervisor, before anything is looked up (a route that reads personal data
    or a case's content, docs/supervision.md §7.1)."""
    if caller.kind == "supervisor":
        raise ApiProblem(403, SUPERVISOR_REFUSED, reason="forbidden")


def require(caller: Principal, *kinds: str) -> None:
    """403 unless the caller is one of ``kinds``."""
    if "supervisor" not in kinds:
        refuse_supervisor(caller)
    if caller.kind not in kinds:
        raise ApiProblem(
            403,
            f"a {caller.kind} token may not do this (allowed: {', '.join(kinds)})",
            reason="forbidden",
        )


def b64_field(value: str, field: str) -> bytes:
    """``value`` decoded from strict base64; 422 naming ``field`` when it is not."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ApiProblem(
            422, f"{field} is not valid base64", reason="malformed", field=field
        ) from error


async def envelope_bytes(request: Request) -> bytes:
    """The exact signed bytes: an ``application/msgpack`` body, or ``{"envelope": base64}``."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if content_type == MSGPACK:
        if not raw:
            raise ApiProblem(422, "the request body is empty", reason="malformed", field="envelope")
        return raw
    if content_type == "application/json":
        import json

        try:
            document = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            raise ApiProblem(
                422, f"body is not JSON: {error}", reason="malformed", field="envelope"
            ) from error
        except RecursionError as error:  # a few KiB of "[[[[" exhaust the parser's stack
            raise ApiProblem(
                422, "body is not JSON: nested too deeply", reason="malformed", field="envelope"
            ) from error
        value = document.get("envelope") if isinstance(document, dict) else None
        if not isinstance(value, str):
            raise ApiProblem(
                422,
                'JSON body must be {"envelope": "<base64>"}',
                reason="malformed",
                field="envelope",
            )
        return b64_field(value, "envelope")
    raise ApiProblem(
        415,
        f"send {MSGPACK} or application/json, not {content_type or 'nothing'}",
        reason="unsupported_media_type",
        field="content-type",
    )


Envelope = Annotated[bytes, Depends(envelope_bytes)]

# Routes reading an envelope declare its body by hand (`openapi_extra`): a declared body
# parameter would make FastAPI parse it instead of keeping the exact signed bytes.
ENVELOPE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "the exact signed bytes (docs/envelope.md)",
        "content": {
            MSGPACK: {"schema": {"type": "string", "format": "binary"}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["envelope"],
                    "properties": {
                        "envelope": {"type": "string", "description": "the bytes, base64"}
                    },
                }
            },
        },
    }
}


async def json_content(request: Request) -> None:
    """415 unless the body is sent as JSON."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiProblem(
            415,
            f"send application/json, not {content_type or 'nothing'}",
            reason="unsupported_media_type",
            field="content-type",
        )


JsonBody = Annotated[None, Depends(json_content)]

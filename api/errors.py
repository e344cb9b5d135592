"""One place that maps errors to HTTP: RFC 9457 ``application/problem+json``.

Every problem has ``type``, ``title``, ``status`` and ``detail``; ledger refusals add the
ledger's ``reason`` code and the ``field`` concerned; a conflict adds the case's ``head``.
No input may produce a 500: an unexpected error is logged and answered as a generic 500
problem without internals. A database that cannot be reached (stopped, restarting, a pool
with no connection in time, a lock timeout) is 503 ``database_unavailable`` with
``Retry-After``: the request did nothing the client cannot safely repeat (appends are
idempotent), and the node recovers by itself once the database is back.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import psycopg
from eventsourcing.persistence import PersistenceError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.access import AccessStoreError
from adapters.license_store import DocumentConflict, LicenseStoreError
from adapters.outage import RETRY_AFTER_SECONDS, DatabaseUnavailable, is_database_unavailable
from adapters.readmodels import ReadModelStoreError
from adapters.relay_peers import PeerConfigError
from adapters.vault import VaultError
from adapters.witness_store import WitnessStoreError
from api.logs import logged_method, route_template
from ledger.access import Forbidden, RecordMismatch
from ledger.catalog import CatalogError
from ledger.errors import (
    ConflictError,
    EnvelopeRejected,
    LedgerError,
    MalformedEncoding,
    NotCaughtUp,
    RegistryError,
    UnknownCase,
)
from ledger.license_events import UnknownLicense
from ledger.ratings.service import TooManyAttempts
from ledger.witness import (
    BadLogSignature,
    EvidenceError,
    ForkedCheckpoint,
    InconsistentProof,
    MalformedRequest,
    StaleOldSize,
    UnknownLog,
    UnpinnedLog,
    WitnessError,
)
from ledger.workflow.rules import BadRatingCode
from licenses.compact import CompactRejected
from licenses.document import InvalidLicense
from licenses.errors import (
    LicenseConflict,
    LicenseForbidden,
    LicenseNotFound,
    LicenseServiceError,
)
from licenses.grant import GrantRejected
from licenses.status import StatusListRejected
from licenses.trust import TrustListRejected

log = logging.getLogger("tongban.api")
PROBLEM_JSON = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    429: "Too many requests",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    500: "Internal server error",
    503: "Service unavailable",
}

# Problems Starlette raises itself (no route, wrong method), with a reason like every other.
HTTP_REASONS = {404: "not_found", 405: "method_not_allowed"}
# Errors of the stores and drivers: a 503 when the database is unreachable, else a 500.
STORE_ERRORS: tuple[type[Exception], ...] = (
    DatabaseUnavailable,
    PersistenceError,
    AccessStoreError,
    LicenseStoreError,
    ReadModelStoreError,
    VaultError,
    WitnessStoreError,
    psycopg.Error,
    sqlite3.Error,
)


def problem(
    status: int,
    detail: str,
    *,
    reason: str | None = None,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:tongban:problem:{reason or status}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if reason is not None:
        body["reason"] = reason
    if field is not None:
        body["field"] = field
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


class ApiProblem(Exception):
    """Raised by routes and dependencies for a problem that is not a ledger error."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        reason: str | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.reason = reason
        self.field = field
        self.headers = headers
        self.extra = extra or {}  # more members of the problem document (a conflict's head)


# The witness protocol's answers (C2SP tlog-witness): its route speaks text, not problems,
# but the status of each refusal is decided here like every other error's.
WITNESS_STATUSES: dict[type[WitnessError], int] = {
    WitnessError: 400,
    MalformedRequest: 400,
    UnknownLog: 404,
    BadLogSignature: 403,
    UnpinnedLog: 403,
    StaleOldSize: 409,
    ForkedCheckpoint: 409,
    InconsistentProof: 422,
    EvidenceError: 422,
}


def witness_status(error: WitnessError) -> int:
    """The HTTP status of a witness refusal: that of its class, or of its nearest base."""
    for kind in type(error).__mro__:
        if kind in WITNESS_STATUSES:
            return WITNESS_STATUSES[kind]
    return 400  # unreachable: WitnessError itself is in the table


_GRANT_DECODING = frozenset(
    {"malformed", "unsupported_version", "unsupported_suite", "wrong_context", "bad_signature"}
)


def status_of(error: LedgerError) -> int:
    if isinstance(error, WitnessError):
        return witness_status(error)
    if isinstance(error, ConflictError | RecordMismatch):
        return 409
    if isinstance(error, Forbidden | BadRatingCode):
        return 403  # a wrong rating code is a wrong credential
    if isinstance(error, TooManyAttempts):
        return 429
    if isinstance(error, UnknownCase | UnknownLicense):
        return 404
    if isinstance(error, NotCaughtUp):
        return 503
    if isinstance(error, MalformedEncoding | EnvelopeRejected | RegistryError):
        return 422
    return 422


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiProblem)
    async def _api_problem(_: Request, error: ApiProblem) -> JSONResponse:
        return problem(
            error.status,
            error.detail,
            reason=error.reason,
            field=error.field,
            headers=error.headers,
            **error.extra,
        )

    @app.exception_handler(LedgerError)
    async def _ledger(_: Request, error: LedgerError) -> JSONResponse:
        extra: dict[str, Any] = {}
        if isinstance(error, ConflictError):
            extra["head"] = {"seq": error.head.seq, "hash": error.head.event_hash.hex()}
        # Bytes that do not even decode name the whole envelope.
        field = error.field or ("envelope" if isinstance(error, MalformedEncoding) else None)
        headers = None
        if isinstance(error, TooManyAttempts):
            headers = {"Retry-After": str(error.retry_after)}
        elif isinstance(error, NotCaughtUp):  # a listing behind the asked index: ask again soon
            headers = {"Retry-After": "1"}
        return problem(
            status_of(error),
            error.detail,
            reason=error.reason,
            field=field,
            headers=headers,
            **extra,
        )

    @app.exception_handler(LicenseServiceError)
    async def _license_service(_: Request, error: LicenseServiceError) -> JSONResponse:
        status = 422
        if isinstance(error, LicenseNotFound):
            status = 404
        elif isinstance(error, LicenseForbidden):
            status = 403
        elif isinstance(error, LicenseConflict):
            status = 409
        return problem(status, error.detail, reason=error.reason, field=error.field)

    # Signed license objects a caller sent that do not open or verify: 422 naming the field.
    # A grant that opens fine but does not admit the reader is a 403.
    @app.exception_handler(GrantRejected)
    async def _grant(_: Request, error: GrantRejected) -> JSONResponse:
        status = 422 if error.reason in _GRANT_DECODING else 403
        field = f"grant.{error.field}" if error.field else "grant"
        return problem(status, error.detail, reason=error.reason, field=field)

    @app.exception_handler(TrustListRejected)
    async def _trust_list(_: Request, error: TrustListRejected) -> JSONResponse:
        status = 409 if error.reason in {"stale", "conflict"} else 422
        field = f"trust_list.{error.field}" if error.field else "trust_list"
        return problem(status, error.detail, reason=error.reason, field=field)

    @app.exception_handler(InvalidLicense)
    @app.exception_handler(StatusListRejected)
    @app.exception_handler(CompactRejected)
    async def _license_object(
        _: Request, error: InvalidLicense | StatusListRejected | CompactRejected
    ) -> JSONResponse:
        return problem(422, error.detail, reason=error.reason, field=error.field)

    @app.exception_handler(PeerConfigError)
    async def _peer_config(_: Request, error: PeerConfigError) -> JSONResponse:
        # The operator's file, not the caller's request: said as such, never a traceback.
        return problem(503, f"this node's peers.json is unreadable: {error}", reason="peer_config")

    @app.exception_handler(DocumentConflict)
    async def _document_conflict(_: Request, error: DocumentConflict) -> JSONResponse:
        return problem(409, str(error), reason="conflict", field="document")

    @app.exception_handler(CatalogError)
    async def _catalog(_: Request, error: CatalogError) -> JSONResponse:
        return problem(404, str(error), reason="not_found")

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        # ("query", "channel") → "channel": the field as the caller named it.
        loc = [str(part) for part in first.get("loc", ())]
        if loc and loc[0] in {"body", "query", "path", "header"}:
            loc = loc[1:] or loc  # the whole body (missing, not an object) is "body"
        where = ".".join(loc)
        if first.get("type") == "json_invalid":
            where = "body"
        return problem(
            422,
            f"{where or 'request'}: {first.get('msg', 'invalid')}",
            reason="malformed",
            field=where or None,
            errors=[
                {"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
                for e in error.errors()
            ],
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400 and "parsing the body" in str(error.detail):
            return problem(
                422, "the request body is not valid JSON", reason="malformed", field="body"
            )
        return problem(
            error.status_code,
            str(error.detail),
            reason=HTTP_REASONS.get(error.status_code),
            headers=dict(error.headers or {}),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        if is_database_unavailable(error):
            log.warning(  # the route, not the path: a path may carry what a client typed
                "database unavailable on %s %s: %s",
                logged_method(request.scope),
                route_template(request.scope),
                type(error).__name__,
            )
            return problem(
                503,
                "the node's database cannot be reached right now; retry later (re-posting "
                "the same signed bytes is safe)",
                reason="database_unavailable",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        log.exception(
            "unexpected error on %s %s", logged_method(request.scope), route_template(request.scope)
        )
        return problem(500, "the node could not answer this request")

    # Store and driver errors get the same answer, but through the app's own exception
    # middleware: a handler for bare ``Exception`` runs in Starlette's outermost layer,
    # which re-raises after answering (a traceback per request while the database is down).
    for store_error in STORE_ERRORS:
        app.add_exception_handler(store_error, _unexpected)

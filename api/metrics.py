"""``/metrics`` and what the HTTP layer counts for it (``adapters/metrics.py`` holds the names).

:class:`RequestMetrics` (pure ASGI middleware) observes each request's duration by method,
**route template** and status class, and on the append routes counts acknowledged objects
(201 created, 200 replayed) and refusals by the problem's ``reason`` (read from the problem
body the node itself wrote, at most a few hundred bytes). Nothing a client wrote becomes a
label: no path, no query, no header.

Who may read ``/metrics``: an ``auditor`` or ``admin`` token (give the scraper an auditor
token; Prometheus's ``authorization`` setting sends it). Metrics hold no personal data, but
rates and refusal reasons of a public-service node are not for every caller.
"""

from __future__ import annotations

import json
import time
from typing import Final

from fastapi import APIRouter, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.bootstrap import NodeServices
from adapters.metrics import (
    APPENDS,
    CONTENT_TYPE,
    GROUP_COMMIT_SIZE,
    REFUSALS,
    REQUEST_SECONDS,
    bounded_reason,
    exposition,
    primary_replication,
    register_gauge,
    unregister_gauge,
)
from adapters.outbox import StreamNames, outbox_lag
from api.deps import Caller, require
from api.logs import logged_method, route_template
from api.schemas import problem_responses

#: The routes whose 2xx answers acknowledge a signed object (POST only).
APPEND_ROUTES: Final = frozenset({"/cases", "/cases/{case_id}/events", "/keys/records"})
_PROBLEM_BYTES: Final = 4096  # a problem body the node wrote; anything longer is not read

router = APIRouter(tags=["operations"])


class RequestMetrics:
    """Pure ASGI middleware; see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        problem = bytearray()
        is_problem = False

        async def observe(message: Message) -> None:
            nonlocal status, is_problem
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = dict(message.get("headers") or [])
                is_problem = headers.get(b"content-type", b"").startswith(
                    b"application/problem+json"
                )
            elif message["type"] == "http.response.body" and is_problem:
                problem.extend(message.get("body", b"")[: max(0, _PROBLEM_BYTES - len(problem))])
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            route = route_template(scope) or "unmatched"
            REQUEST_SECONDS.labels(logged_method(scope), route, f"{status // 100}xx").observe(
                time.perf_counter() - started
            )
            if scope.get("method") == "POST" and route in APPEND_ROUTES:
                if status in (200, 201):
                    APPENDS.labels(route, "created" if status == 201 else "replayed").inc()
                elif status >= 400:
                    REFUSALS.labels(route, _reason(bytes(problem), status)).inc()


def _reason(body: bytes, status: int) -> str:
    try:
        document = json.loads(body)
    except ValueError:
        return f"http_{status}"
    reason = document.get("reason") if isinstance(document, dict) else None
    return bounded_reason(reason) if reason is not None else f"http_{status}"


def install_metrics(node: NodeServices) -> None:
    """Wire what only the node's services know: group commit sizes, the ledger's newest
    index, replication lag (on PostgreSQL), the read standby's lag and reads."""
    node.ledger.group_commit.on_batch = GROUP_COMMIT_SIZE.observe
    register_gauge(
        "tongban_ledger_index",
        "The newest ledger index (the ledger's size)",
        node.ledger.store.max_index,
    )
    datastore = getattr(node.ledger.recorder, "datastore", None)
    if datastore is not None:
        register_gauge(
            "tongban_replication_lag_seconds",
            "Replay lag of each standby streaming from this primary (pg_stat_replication)",
            lambda: primary_replication(datastore),
            labels=("standby",),
        )
    if node.settings.outbox:
        install_outbox_lag(node)
    else:
        unregister_gauge(OUTBOX_LAG)
    reads = node.reads
    if reads is not None:

        def standby_lag() -> float | None:
            state = reads.state()
            return None if state is None else state.lag_seconds

        register_gauge(
            "tongban_read_standby_lag_seconds",
            "Replay lag of the read standby (TONGBAN_READ_DATABASE_URL); absent when down",
            standby_lag,
        )


@router.get(
    "/metrics",
    summary="the node's metrics in Prometheus text format (auditor or admin token)",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format 0.0.4"},
        **problem_responses(401, 403),
    },
)
def metrics(caller: Caller) -> Response:
    require(caller, "auditor", "admin")
    return Response(exposition(), media_type=CONTENT_TYPE)


OUTBOX_LAG: Final = "tongban_outbox_lag_events"


def install_outbox_lag(node: NodeServices) -> None:
    """``tongban_outbox_lag_events``: the ledger's newest index minus the index the outbox has
    published up to (docs/reporting.md), read from the outbox's own position at each scrape."""
    store = node.outbox_store()  # closed with the node's other stores
    names = StreamNames(node.settings.region)
    register_gauge(
        OUTBOX_LAG,
        "Ledger indexes not yet published to the provincial platform's stream (the outbox)",
        lambda: outbox_lag(node.ledger, store, names),
    )

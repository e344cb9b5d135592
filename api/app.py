"""The FastAPI app factory: one node's HTTP API (OpenAPI at /docs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from adapters.bootstrap import NodeServices, open_services
from adapters.settings import Settings
from api.alert_daemon import AlertScheduler
from api.deps import database_operations
from api.docs import install_docs
from api.errors import install_error_handlers
from api.limits import BodySizeLimit
from api.logs import AccessLog
from api.metrics import RequestMetrics, install_metrics
from api.metrics import router as metrics_router
from api.read_model_daemon import ReadModelFollower
from api.relay_daemon import MonitorWatch, RelayDeliverer
from api.routes import (
    audit,
    audit_pages,
    audit_record_pages,
    cases,
    catalog,
    catalog_pages,
    health,
    key_pages,
    keys,
    license_drafts,
    license_pages,
    licenses,
    login,
    login_page,
    pages,
    peer,
    progress_page,
    public_pages,
    ratings,
    relay,
    supervision,
    supervision_page,
    witness,
)
from api.schemas import document_problems, document_unavailable
from api.transparency_daemon import WitnessPusher

# Every route module, once: the app serves them and its OpenAPI document declares 503 on
# those that reach the database (a second list here once missed new routes).
ROUTES = (
    health,
    catalog,
    cases,
    ratings,
    supervision,
    audit,
    keys,
    key_pages,
    witness,
    licenses,
    license_drafts,
    login,
    login_page,
    pages,
    license_pages,
    supervision_page,
    audit_pages,
    audit_record_pages,
    public_pages,
    catalog_pages,
    progress_page,
    relay,
    peer,
)


def create_app(
    settings: Settings | None = None, *, services: NodeServices | None = None
) -> FastAPI:
    """Build the HTTP app for one node; ``services`` defaults to the configured adapters."""
    owns_services = services is None  # then the app gives their connections back at shutdown
    if services is None:
        services = open_services(settings or Settings())
    settings = services.settings
    node = services

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Pushing checkpoints to witnesses runs beside the server, never inside a request.
        pusher = WitnessPusher(node, settings.witness_push_seconds)
        if settings.witness_push_seconds > 0:
            pusher.start()
        # Delivering queued relayed steps too (docs/relay.md).
        deliverer = RelayDeliverer(node, settings.relay_deliver_seconds)
        if settings.relay_deliver_seconds > 0 and node.relays is not None:
            deliverer.start()
        # And the monitor of the home ledgers, when asked for (TONGBAN_MONITOR_SECONDS).
        watch = MonitorWatch(node, settings.monitor_seconds)
        if settings.monitor_seconds > 0 and node.relays is not None:
            watch.start()
        # So are the read models brought up to the ledger (a listing catches up too).
        follower = ReadModelFollower(node, settings.read_model_seconds)
        if settings.read_model_seconds > 0:
            follower.start()
        # And the supervision scheduler records due-soon and overdue alerts (no event does).
        scheduler = AlertScheduler(node, settings.alert_scan_seconds)
        if settings.alert_scan_seconds > 0:
            scheduler.start()
        try:
            yield
        finally:
            if settings.alert_scan_seconds > 0:
                scheduler.stop()
            deliverer.stop()
            watch.stop()
            if settings.read_model_seconds > 0:
                follower.stop()
            if settings.witness_push_seconds > 0:
                pusher.stop()
            if owns_services:
                node.close()

    app = FastAPI(
        title="Tongban",
        summary="Signed case ledger and electronic-license exchange for 跨省通办",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, with local assets
        redoc_url=None,
    )
    install_docs(app)
    pages.install_static(app)  # the officers' pages' scripts (api/routes/pages.py)
    app.state.settings = settings
    app.state.services = services
    app.state.audit_jobs = {}
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics)  # outside the size limit: a refused body is counted
    app.add_middleware(AccessLog)  # outermost of ours: a refused body is logged too
    install_metrics(services)
    for module in ROUTES:
        app.include_router(module.router)
    app.include_router(metrics_router)
    generated = app.openapi

    def openapi() -> dict[str, Any]:
        document = document_problems(generated())  # idempotent on FastAPI's cached document
        routers = [m.router for m in ROUTES]
        document_unavailable(document, database_operations([*routers, metrics_router]))
        return document

    app.openapi = openapi  # type: ignore[method-assign]
    return app

"""The FastAPI app factory."""

from __future__ import annotations

from fastapi import FastAPI

from adapters.settings import Settings
from api.routes import catalog, health


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the HTTP app for one node."""
    settings = settings or Settings()
    app = FastAPI(
        title="Tongban",
        summary="Signed case ledger and electronic-license exchange for 跨省通办",
        version="0.1.0",
    )
    app.state.settings = settings
    app.include_router(health.router)
    app.include_router(catalog.router)
    return app

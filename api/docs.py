"""The API's documentation pages, ``/docs`` (Swagger UI) and ``/redoc``, served with their
assets from the node itself: a government intranet reaches no CDN, and FastAPI's default
pages load theirs from one (they render blank there).

The assets are the Swagger UI 5 and ReDoc 2 distribution files the ``fastapi-offline`` package
ships (a runtime dependency); only the HTML pages are FastAPI's. Each page is served with a
Content-Security-Policy admitting only the node itself: the bundles still name outside URLs
(ReDoc's footer loads its logo from cdn.redoc.ly), and the browser must not try them.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

ASSETS = "/docs/assets"
SWAGGER_OAUTH2_REDIRECT = "/docs/oauth2-redirect"


def assets_dir() -> Path:
    """The directory of the Swagger UI and ReDoc files, inside the installed package."""
    return Path(str(files("fastapi_offline") / "static"))


_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def only_the_node(page: HTMLResponse) -> HTMLResponse:
    """``page`` with a policy that lets it load and reach only this node: its inline scripts
    admitted by hash, styles inline (both bundles set them), images as data, workers as blobs
    (ReDoc's search)."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(bytes(page.body).decode())
    )
    page.headers["Content-Security-Policy"] = "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {hashes}".strip(),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "worker-src 'self' blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ]
    )
    return page


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs``, ``/redoc`` and their assets (create the app with ``docs_url=None``
    and ``redoc_url=None``, so FastAPI's CDN pages are not served too)."""
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(ASSETS, StaticFiles(directory=assets_dir()), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return only_the_node(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{app.title} — API",
                swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
                swagger_css_url=f"{ASSETS}/swagger-ui.css",
                swagger_favicon_url=f"{ASSETS}/favicon.png",
                oauth2_redirect_url=SWAGGER_OAUTH2_REDIRECT,
                # The default validator badge is an image from swagger.io: not on an intranet.
                swagger_ui_parameters={"validatorUrl": None},
            )
        )

    @app.get(SWAGGER_OAUTH2_REDIRECT, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return only_the_node(get_swagger_ui_oauth2_redirect_html())

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return only_the_node(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{app.title} — API",
                redoc_js_url=f"{ASSETS}/redoc.standalone.js",
                redoc_favicon_url=f"{ASSETS}/favicon.png",
                with_google_fonts=False,
            )
        )

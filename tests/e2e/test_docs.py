"""``/docs`` and ``/redoc`` work on an intranet: every asset comes from the node itself."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from fastapi.testclient import TestClient

from adapters.settings import Settings
from api.app import create_app


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    return TestClient(create_app(Settings(data_dir=tmp_path_factory.mktemp("docs"))))


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_only_the_nodes_own_urls(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    # Every URL the page names (src, href, url: '...') is the node's own; no other host.
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url:\s*["']([^"']+)["']""", html)
    named = [a or b for a, b in urls]
    assert named, html
    assert not re.search(r"https?://", html), re.findall(r"https?://[^\s\"']+", html)
    for url in named:
        assert url.startswith("/"), url
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert answer.content, url


def test_the_asset_routes_serve_swagger_ui_and_redoc(client: TestClient) -> None:
    for name, kind in (
        ("swagger-ui-bundle.js", "javascript"),
        ("swagger-ui.css", "css"),
        ("redoc.standalone.js", "javascript"),
        ("favicon.png", "image/png"),
    ):
        answer = client.get(f"/docs/assets/{name}")
        assert answer.status_code == 200, name
        assert kind in answer.headers["content-type"], name
        assert len(answer.content) > 1000
    assert client.get("/docs/assets/../../pyproject.toml").status_code == 404


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_the_docs_pages_may_reach_only_the_node(client: TestClient, page: str) -> None:
    """The bundles name outside URLs (ReDoc's footer loads its logo from cdn.redoc.ly, seen in
    Chromium's network log): the page's policy keeps the browser from trying any of them,
    while admitting the page's own inline scripts by hash, so the page still runs."""
    response = client.get(page)
    policy = {}
    for directive in response.headers["content-security-policy"].split("; "):
        name, _, sources = directive.partition(" ")
        policy[name] = sources
    assert policy["default-src"] == "'self'"
    for directive, sources in policy.items():
        assert not re.search(r"https?:|\*", sources), (directive, sources)
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy["script-src"]
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]

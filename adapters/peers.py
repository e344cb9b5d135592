"""Reading other regions' nodes: the public license objects they publish, over HTTP."""

from __future__ import annotations

from functools import cache

import httpx


@cache
def _client() -> httpx.Client:
    # One client for the process, made on first use: a new one per request builds an SSL
    # context (reading the CA bundle) and a connection each time, most of an online verify.
    # httpx clients are safe to share between the server's threads; connections are kept.
    return httpx.Client()


def http_fetch(url: str, *, timeout: float = 10.0) -> bytes:
    """The body of ``GET url``; ``OSError`` when the node cannot be reached or refuses."""
    try:
        response = _client().get(url, timeout=timeout)
    except httpx.HTTPError as error:
        raise OSError(f"GET {url}: {error}") from error
    if response.status_code != 200:
        raise OSError(f"GET {url}: HTTP {response.status_code}")
    return response.content

"""Reading other regions' nodes: the public license objects they publish, over HTTP."""

from __future__ import annotations

import httpx


def http_fetch(url: str, *, timeout: float = 10.0) -> bytes:
    """The body of ``GET url``; ``OSError`` when the node cannot be reached or refuses."""
    try:
        response = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as error:
        raise OSError(f"GET {url}: {error}") from error
    if response.status_code != 200:
        raise OSError(f"GET {url}: HTTP {response.status_code}")
    return response.content

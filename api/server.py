"""uvicorn's HTTP/1.1 protocol with the limits a public node needs: slow and surplus clients.

uvicorn closes an idle keep-alive connection (``timeout_keep_alive``) but waits for ever for a
request head or body that arrives a line at a time: a review kept 100 connections open by
sending one header line every 2 s. :class:`GuardedH11Protocol` (``tongban serve`` uses it):

- closes a connection whose request head is not complete ``header_timeout_seconds`` after the
  connection opened or its previous response ended, answering 408 first;
- closes one whose body is not complete ``body_timeout_seconds`` after its head, answering 408
  if no response was started;
- answers 503 and closes a connection beyond ``max_connections`` open ones, at once.

The limits are settings (``TONGBAN_HEADER_TIMEOUT_SECONDS``, ``TONGBAN_BODY_TIMEOUT_SECONDS``,
``TONGBAN_MAX_CONNECTIONS``), read once per server process like the app's. They bound what one
process holds; a deployment still puts a reverse proxy in front (docs/threat-model.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import socket
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle
from uvicorn.server import ServerState

from adapters.settings import Settings


@functools.cache
def _limits() -> tuple[float, float, int]:
    settings = Settings()
    return settings.header_timeout_seconds, settings.body_timeout_seconds, settings.max_connections


def _problem(status: int, title: str, detail: str, reason: str, *extra: bytes) -> bytes:
    # Written straight to the socket: there is no request the app could answer.
    body = json.dumps(
        {
            "type": f"urn:tongban:problem:{reason}",
            "title": title,
            "status": status,
            "detail": detail,
            "reason": reason,
        }
    ).encode()
    head = [
        f"HTTP/1.1 {status} {title}".encode(),
        b"content-type: application/problem+json",
        b"content-length: " + str(len(body)).encode(),
        b"connection: close",
        *extra,
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


#: How long an answered connection is kept half-closed for its client to read the answer.
LINGER_SECONDS = 2.0

REQUEST_TIMEOUT = _problem(
    408, "Request Timeout", "the request was not received in time", "request_timeout"
)
TOO_MANY_CONNECTIONS = _problem(
    503,
    "Service Unavailable",
    "the node has too many open connections; retry later",
    "too_many_connections",
    b"retry-after: 1",
)


class GuardedH11Protocol(H11Protocol):
    """:class:`H11Protocol` with header and body timeouts and a connection limit."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout, self.body_timeout, self.max_connections = _limits()
        self._deadline: asyncio.TimerHandle | None = None
        # What is awaited: "head" (the cycle before it is still self.cycle), "body", or None.
        self._awaiting: str | None = None
        self._cycle_before: RequestResponseCycle | None = None
        self._answered_and_closing = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        send_without_delay(transport)
        if len(self.connections) > self.max_connections:  # this one included
            self._close_with(TOO_MANY_CONNECTIONS)
            return
        self._await_head(after=None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._answered_and_closing:
            return  # read and dropped, so that closing does not reset the connection
        super().data_received(data)
        self._note_progress()

    def on_response_complete(self) -> None:
        finished = self.cycle
        super().on_response_complete()  # may parse a pipelined request into a new cycle
        if not self.transport.is_closing():
            self._await_head(after=finished)
            self._note_progress()

    # -- deadlines --------------------------------------------------------------------------

    def _await_head(self, after: RequestResponseCycle | None) -> None:
        """Arm the header deadline for the request that follows ``after`` (None: the first)."""
        self._cycle_before = after
        self._arm("head", self.header_timeout)

    def _note_progress(self) -> None:
        if self._awaiting == "head" and self.cycle is not self._cycle_before:
            if self.cycle.more_body:
                self._arm("body", self.body_timeout)
            else:
                self._disarm()
        if self._awaiting == "body" and not self.cycle.more_body:
            self._disarm()

    def _arm(self, awaiting: str, seconds: float) -> None:
        self._disarm()
        self._awaiting = awaiting
        self._deadline = self.loop.call_later(seconds, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = None
        self._awaiting = None

    def _timed_out(self) -> None:
        self._deadline = None
        answered = self._awaiting == "body" and self.cycle.response_started
        self._awaiting = None
        if answered:
            self.transport.close()  # a response is under way: no room for a 408
        else:
            self._close_with(REQUEST_TIMEOUT)

    def _close_with(self, answer: bytes) -> None:
        if self.transport.is_closing() or self._answered_and_closing:
            return
        self.transport.write(answer)
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        # A lingering close: closing a socket with unread input sends a reset, which can
        # reach the client before the answer does. So: half-close, drop what still comes,
        # and close when the client does, or after LINGER_SECONDS at the latest.
        self._answered_and_closing = True
        self.transport.write_eof()
        self._disarm()
        self._deadline = self.loop.call_later(LINGER_SECONDS, self.transport.close)


def send_without_delay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off for an accepted connection, as asyncio does for TCP.

    ``tongban serve`` binds its socket itself (port 0, read back) and hands uvicorn the file
    descriptor, which uvicorn opens as an ``AF_UNIX`` socket: asyncio then takes the
    connections for UNIX ones and leaves Nagle on, so each response's last small write waited
    for the client's delayed ACK, about 40 ms a request (every page, ``/health`` alike)."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError):  # a real UNIX socket: no Nagle to turn off
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def protocol_name() -> str:
    """What ``uvicorn.run(http=...)`` takes: an import string, so every worker loads it."""
    return f"{__name__}:{GuardedH11Protocol.__name__}"

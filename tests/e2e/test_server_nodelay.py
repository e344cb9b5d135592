"""``tongban serve``'s connections are sent without Nagle's delay.

``serve`` binds its socket itself (port 0, read back) and hands uvicorn the descriptor, which
uvicorn opens as an ``AF_UNIX`` socket; asyncio then left Nagle's algorithm on for every
accepted TCP connection, and each response's last small write waited for the client's delayed
ACK: about 44 ms a request on a served node, ``/health`` included (the officers' pages ran at
0.04x of a trivial page, P13). Found by profiling P13.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from api.server import GuardedH11Protocol


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    raise AssertionError("no request is sent")


async def _nodelay_of_an_accepted_connection() -> int:
    loop = asyncio.get_running_loop()
    listener = socket.create_server(("127.0.0.1", 0))
    # What uvicorn does with ``fd=`` (uvicorn/server.py): the family is taken as AF_UNIX.
    handed = socket.fromfd(listener.fileno(), socket.AF_UNIX, socket.SOCK_STREAM)
    config = Config(app=_app)
    config.load()
    state = ServerState()
    made: list[GuardedH11Protocol] = []

    def protocol() -> GuardedH11Protocol:
        made.append(GuardedH11Protocol(config, state, {}, loop))
        return made[-1]

    server = await loop.create_server(protocol, sock=handed)
    try:
        _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        for _ in range(200):
            if made and made[0].transport is not None:
                break
            await asyncio.sleep(0.01)
        accepted = made[0].transport.get_extra_info("socket")
        value = int(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()
        return value
    finally:
        server.close()
        listener.close()


def test_a_connection_accepted_from_a_handed_socket_has_nagle_off() -> None:
    assert asyncio.run(_nodelay_of_an_accepted_connection()) == 1


def test_a_unix_socket_is_left_as_it_is() -> None:
    """On a real UNIX socket there is no Nagle: nothing to set, and nothing raised."""
    from api.server import send_without_delay

    class Transport:
        def __init__(self, sock: socket.socket):
            self.sock = sock

        def get_extra_info(self, name: str) -> Any:
            return self.sock if name == "socket" else None

    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        send_without_delay(Transport(left))  # type: ignore[arg-type]

"""A live node: uvicorn in a subprocess on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve_command(data_dir: Path, port: int, workers: int) -> list[str]:
    """``tongban serve`` for ``data_dir`` on a loopback port."""
    return [
        sys.executable,
        "-m",
        "api.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--workers",
        str(workers),
    ]


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Poll ``/health`` until the node answers; fail with its log if it exits or never does."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the node exited: {log.read_text(errors='replace')[-4000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the node did not come up in time")
        time.sleep(0.05)


@contextmanager
def live_node(
    data_dir: Path,
    env: dict[str, str] | None = None,
    *,
    workers: int = 1,
    timeout: float = 30.0,
    port: int | None = None,
) -> Iterator[str]:
    """Serve the node of ``data_dir``; yield its base URL; stop it afterwards."""
    port = port or free_port()
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen(
        serve_command(data_dir, port, workers),
        env={**os.environ, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[2],
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, data_dir / "server.log", timeout)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()

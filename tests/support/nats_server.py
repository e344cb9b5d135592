"""A private ``nats-server -js`` for a test: its own port and store directory.

The server picks a free port itself (``-p -1``) and writes it to a ports file
(``--ports_file_dir``); a restart reuses that port and the same store, as a broker restart
would. Without the binary a test is skipped, and fails in CI (``CI=true``), as the PostgreSQL
fixture does.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

NATS_SERVER = os.environ.get("TONGBAN_TEST_NATS_SERVER", "/usr/sbin/nats-server")


def nats_server_binary() -> str:
    """The nats-server to run, or skip (fail in CI) with the reason."""
    found = NATS_SERVER if os.access(NATS_SERVER, os.X_OK) else shutil.which("nats-server")
    if found is None:
        reason = f"nats-server not found at {NATS_SERVER} nor on PATH (apt-get install nats-server)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{reason} (CI=true: NATS tests must run)", pytrace=False)
        pytest.skip(reason)
    return found


class NatsServer:
    def __init__(self, binary: str, root: Path):
        self.binary = binary
        self.root = root
        self.store = root / "js"
        self.ports = root / "ports"
        self.port = -1
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        shutil.rmtree(self.ports, ignore_errors=True)
        self.ports.mkdir(parents=True)
        command = [
            self.binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store),
            "--ports_file_dir", str(self.ports),
        ]  # fmt: skip
        with (self.root / "server.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited: {(self.root / 'server.log').read_text()}")
            files = list(self.ports.glob("*.ports"))
            if files:
                try:
                    self.port = int(json.loads(files[0].read_text())["nats"][0].rsplit(":", 1)[1])
                except (ValueError, KeyError, IndexError):
                    time.sleep(0.05)
                    continue
                if self._answers():
                    return
            time.sleep(0.05)
        raise RuntimeError("nats-server did not start in 20 s")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                return sock.recv(4).startswith(b"INFO")
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def nats_server(root: Path) -> Iterator[NatsServer]:
    server = NatsServer(nats_server_binary(), root)
    server.start()
    try:
        yield server
    finally:
        server.stop()

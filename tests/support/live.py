"""A live node: ``tongban serve`` in a subprocess, for end-to-end tests.

The server binds port 0 itself and writes the port it got to a file (``--port-file``): no
port is picked here, released, and bound later by the server, so no other process can take it
in between. Before a test talks to the node, ``/health`` must answer 200 naming this data
directory's node (ledger, region, node key id): an answer from another server is refused.
Background witness pushes are off unless a test opts in (``TONGBAN_WITNESS_PUSH_SECONDS``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from adapters.bootstrap import NODE_KEY_FILE
from adapters.keyfiles import read_key
from adapters.settings import Settings

REPO = Path(__file__).resolve().parents[2]
QUIET = {"TONGBAN_WITNESS_PUSH_SECONDS": "0"}  # opt in to background pushes per test
_RUNNING: set[ServerProcess] = set()  # what a test leaves running: tests/conftest.py


def running_servers() -> frozenset[ServerProcess]:
    return frozenset(_RUNNING)


def stop_servers_except(kept: frozenset[ServerProcess]) -> int:
    """Stop every running server not in ``kept``; return how many there were."""
    left = [server for server in _RUNNING if server not in kept]
    for server in left:
        server.stop()
    return len(left)


class NodeNotHealthy(RuntimeError):
    """The node exited, never answered, or another node answered in its place."""


def serve_command(data_dir: Path, port_file: Path, workers: int, port: int = 0) -> list[str]:
    """``tongban serve`` for ``data_dir`` on loopback, ``port`` 0 meaning any free port; the
    port it listens on is written to ``port_file``."""
    return [
        sys.executable,
        "-m",
        "api.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--port-file",
        str(port_file),
        "--data-dir",
        str(data_dir),
        "--workers",
        str(workers),
    ]


@dataclass(frozen=True)
class NodeIdentity:
    """What ``/health`` of the node serving ``data_dir`` must name."""

    data_dir: Path
    ledger: str
    region: str

    @classmethod
    def of(cls, data_dir: Path, env: Mapping[str, str] | None = None) -> NodeIdentity:
        """The identity ``tongban serve`` derives from ``data_dir`` and its environment."""
        merged = {**os.environ, **(env or {})}
        named = {
            field: merged[f"TONGBAN_{field.upper()}"]
            for field in ("region", "ledger_name")
            if merged.get(f"TONGBAN_{field.upper()}")
        }
        settings = Settings(data_dir=data_dir, **named)  # type: ignore[arg-type]
        return cls(data_dir, settings.resolved_ledger_name(), settings.region)

    def check(self, answer: Mapping[str, object]) -> None:
        """Raise :class:`NodeNotHealthy` unless ``answer`` (a /health body) names this node.
        The node key is read when asked: a fresh node creates it as it starts."""
        key_file = self.data_dir / NODE_KEY_FILE
        key_id = read_key(key_file).key_id if key_file.exists() else None
        expected = {"ledger": self.ledger, "region": self.region, "node_key_id": key_id}
        named = {name: answer.get(name) for name in expected}
        if named != expected or key_id is None:
            raise NodeNotHealthy(f"another node answers here: {named}, expected {expected}")


def _exited(process: subprocess.Popen[bytes], log: Path) -> NodeNotHealthy:
    tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
    return NodeNotHealthy(f"the node exited ({process.returncode}): {tail}")


def read_port(port_file: Path, process: subprocess.Popen[bytes], log: Path, timeout: float) -> int:
    """The port the server wrote once it listened (the file is written atomically)."""
    deadline = time.monotonic() + timeout
    while True:
        if port_file.exists():
            return int(port_file.read_text())
        if process.poll() is not None:
            raise _exited(process, log)
        if time.monotonic() > deadline:
            raise NodeNotHealthy(f"the node wrote no port file in {timeout} s")
        time.sleep(0.02)


def wait_healthy(
    url: str,
    process: subprocess.Popen[bytes],
    log: Path,
    timeout: float,
    identity: NodeIdentity,
    *,
    workers: int = 1,
) -> None:
    """Poll ``/health`` until it answers 200 naming ``identity`` and, with several workers,
    until every worker has started; fail with the log if the node exits or never does, and at
    once if another node answers."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise _exited(process, log)
        try:
            answer = httpx.get(f"{url}/health", timeout=1.0)
        except httpx.TransportError:
            answer = None
        if answer is not None and answer.status_code == 200:
            identity.check(answer.json())
            if started_workers(log) >= workers:
                return
        if time.monotonic() > deadline:
            raise NodeNotHealthy(f"the node did not come up in {timeout} s")
        time.sleep(0.05)


def started_workers(log: Path) -> int:
    """How many of the server's processes finished their startup, by uvicorn's log line."""
    if not log.exists():
        return 0
    return log.read_text(errors="replace").count("Application startup complete.")


class ServerProcess:
    """``tongban serve`` of ``data_dir`` in its own session, its output appended to
    ``server.log`` there. The first :meth:`start` binds any free port; later starts (after
    :meth:`stop` or a kill) bind that same port again, so clients keep their URL."""

    def __init__(
        self,
        data_dir: Path,
        env: Mapping[str, str] | None = None,
        *,
        workers: int = 1,
        name: str = "server",
    ) -> None:
        self.data_dir = data_dir
        self.env = {**os.environ, **QUIET, **(env or {})}
        self.workers = workers
        self.identity = NodeIdentity.of(data_dir, env)
        # ``name`` tells apart several server processes of one data directory.
        self.log = data_dir / f"{name}.log"
        self.port_file = data_dir / f"{name}.port"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        assert self.port, "not started"
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> str:
        """Serve; return the base URL once ``/health`` names this node."""
        self.port_file.unlink(missing_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        started_before = started_workers(self.log)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                serve_command(self.data_dir, self.port_file, self.workers, self.port),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                start_new_session=True,
            )
        self.starts += 1
        _RUNNING.add(self)
        try:
            self.port = read_port(self.port_file, self.process, self.log, timeout)
            wait_healthy(
                self.url,
                self.process,
                self.log,
                timeout,
                self.identity,
                workers=started_before + self.workers,
            )
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the whole session (supervisor and workers); SIGKILL if it lingers."""
        _RUNNING.discard(self)
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=timeout)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@contextmanager
def live_node(
    data_dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    workers: int = 1,
    timeout: float = 60.0,
) -> Iterator[str]:
    """Serve the node of ``data_dir``; yield its base URL; always stop it afterwards."""
    server = ServerProcess(data_dir, env, workers=workers)
    server.start(timeout)
    try:
        yield server.url
    finally:
        server.stop()

"""``tongban serve`` as a node runs it: a subprocess on port 0, its stderr (the JSON log) kept.

For tests of what only the real server does: its logs, its file modes while serving, its
handling of slow clients. The port is the one the server writes to its --port-file once it
listens, so nothing races for a port chosen in advance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
_STARTED = "Application startup complete."


def node_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment without the caller's ``TONGBAN_*`` settings, plus ``extra``."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("TONGBAN_")}
    return {**env, **(extra or {})}


def tongban(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a ``tongban`` command as its own process."""
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=node_env(env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


@dataclass
class Served:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def log_lines(self) -> list[dict[str, Any]]:
        """Every line of the server's stderr, each parsed as the JSON object it must be."""
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


@contextmanager
def served(
    data_dir: Path, log: Path, env: dict[str, str] | None = None, *, timeout: float = 60.0
) -> Iterator[Served]:
    """Serve ``data_dir`` on 127.0.0.1 (port 0); stderr goes to ``log``; stopped afterwards."""
    port_file = log.with_name(f"{log.name}.port")
    port_file.unlink(missing_ok=True)
    command = [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", "0"]
    command += ["--port-file", str(port_file)]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "--data-dir", str(data_dir)],
            env=node_env({"TONGBAN_WITNESS_PUSH_SECONDS": "0", **(env or {})}),
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    try:
        deadline = time.monotonic() + timeout
        # The port file is written once the socket listens; the app has started once the log
        # says so (connections queue on the socket until then).
        while not (port_file.exists() and _STARTED in log.read_text(errors="replace")):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the node did not start: {log.read_text()[-4000:]}")
            time.sleep(0.05)
        port = int(port_file.read_text())
        yield Served(f"http://127.0.0.1:{port}", port, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

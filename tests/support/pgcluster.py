"""A private PostgreSQL cluster the tests may stop and start (never the shared server).

``initdb`` into a fresh directory under the system temp dir, run as the ``postgres`` OS user
(``runuser -u postgres --`` when the tests run as root), listening on a free loopback port.
Each directory records the test process that owns it: leftovers of a run that died are stopped
and removed at the next start, while a cluster whose owner still runs is left alone.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

BIN_DIR = Path(os.environ.get("TONGBAN_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
PREFIX = "tongban-pgcluster-"
OWNER_FILE = "owner.pid"
OS_USER = "postgres"


class ClusterUnavailable(RuntimeError):
    """This machine cannot run a private cluster (no binaries, not root, no runuser)."""


def _unused_port() -> int:
    """A loopback port free at this moment. PostgreSQL cannot bind port 0 and report what it
    got, so this port may be taken before the cluster binds it: :func:`private_cluster` then
    starts it again on another (the port is the cluster's from its first start on)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", OS_USER, "--", *args]
    return args  # already an unprivileged user: run the binaries as ourselves


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def check_available() -> None:
    """Raise :class:`ClusterUnavailable` naming what is missing."""
    for tool in ("initdb", "pg_ctl"):
        if not (BIN_DIR / tool).exists():
            raise ClusterUnavailable(f"{BIN_DIR / tool} is missing (TONGBAN_TEST_PG_BIN)")
    if os.geteuid() == 0:
        probe = subprocess.run(
            ["runuser", "-u", OS_USER, "--", "true"], capture_output=True, text=True
        )
        if probe.returncode != 0:
            raise ClusterUnavailable(
                f"runuser -u {OS_USER} failed: {probe.stderr.strip() or probe.returncode}"
            )


def remove_leftovers(tmp_root: Path | None = None) -> list[Path]:
    """Stop and delete clusters whose owning test process is gone; return what was removed."""
    root = tmp_root or Path(tempfile.gettempdir())
    removed = []
    for path in root.glob(PREFIX + "*"):
        owner = _read_pid(path / OWNER_FILE)
        if owner is not None and owner != os.getpid() and _alive(owner):
            continue  # another test run's live cluster
        data = path / "data"
        postmaster = _read_pid(data / "postmaster.pid")
        if postmaster is not None and _alive(postmaster):
            subprocess.run(
                _as_postgres([str(BIN_DIR / "pg_ctl"), "stop", "-D", str(data), "-m", "immediate"]),
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


@dataclass
class PrivateCluster:
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://{OS_USER}@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str, timeout: float = 60) -> None:
        command = _as_postgres([str(BIN_DIR / "pg_ctl"), *args, "-D", str(self.data)])
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl {args[0]} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.root / "server.log"))

    def stop(self, mode: str = "fast") -> None:
        """``fast`` aborts open transactions and shuts down cleanly; ``immediate`` is a crash
        (the next start replays the WAL)."""
        self._pg_ctl("stop", "-w", "-t", "60", "-m", mode)

    def is_running(self) -> bool:
        postmaster = _read_pid(self.data / "postmaster.pid")
        return postmaster is not None and _alive(postmaster)


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A started private cluster (trust auth, loopback only), stopped and deleted afterwards."""
    check_available()
    remove_leftovers()
    root = Path(tempfile.mkdtemp(prefix=PREFIX))
    (root / OWNER_FILE).write_text(str(os.getpid()))
    root.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(root, OS_USER)
    cluster = PrivateCluster(root, _unused_port())
    try:
        init = subprocess.run(
            _as_postgres(
                [
                    str(BIN_DIR / "initdb"),
                    "-D",
                    str(cluster.data),
                    "-U",
                    OS_USER,
                    "--auth=trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ]
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stdout}{init.stderr}")
        with (cluster.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {cluster.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{cluster.root}'\n"
                "max_connections = 50\n"
                "shared_buffers = 16MB\n"
                # The cluster is stopped cleanly or "crashed" by pg_ctl, never the OS: the page
                # cache survives, so skipping fsync loses nothing and spares a shared disk.
                "fsync = off\n"
            )
        for attempt in range(5):
            try:
                cluster.start()
                break
            except RuntimeError:
                log = (cluster.root / "server.log").read_text(errors="replace")
                if "could not bind" not in log or attempt == 4:
                    raise
                cluster.port = _unused_port()  # taken between our probe and its bind
                with (cluster.data / "postgresql.conf").open("a") as conf:
                    conf.write(f"port = {cluster.port}\n")  # the last setting wins
        psycopg.connect(cluster.url, connect_timeout=10).close()
        yield cluster
    finally:
        if cluster.is_running():
            try:
                cluster.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                postmaster = _read_pid(cluster.data / "postmaster.pid")
                if postmaster is not None:
                    os.kill(postmaster, 9)
        shutil.rmtree(root, ignore_errors=True)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture
def pg_cluster() -> Iterator[PrivateCluster]:
    """A private cluster for one test; skips where none can run, fails in CI."""
    try:
        check_available()
    except ClusterUnavailable as missing:
        if _in_ci():
            pytest.fail(f"{missing} (CI=true: this test must run)", pytrace=False)
        pytest.skip(str(missing))
    with private_cluster() as cluster:
        yield cluster

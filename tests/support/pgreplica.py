"""A hot standby of a private cluster (``tests/support/pgcluster.py``): streaming replication.

``pg_basebackup -R`` of the primary into a fresh directory, started on a port of its own, as the
``postgres`` OS user, never touching the shared server. Its replay can be paused and resumed,
so a test can hold the standby behind the primary without waiting on a clock.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from tests.support.pgcluster import (
    BIN_DIR,
    OS_USER,
    OWNER_FILE,
    PREFIX,
    PrivateCluster,
    _as_postgres,
    _read_pid,
    _unused_port,
)


@contextmanager
def streaming_standby(primary: PrivateCluster) -> Iterator[PrivateCluster]:
    """A started hot standby of ``primary``, stopped and deleted afterwards."""
    root = Path(tempfile.mkdtemp(prefix=PREFIX))
    (root / OWNER_FILE).write_text(str(os.getpid()))
    root.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(root, OS_USER)
    standby = PrivateCluster(root, _unused_port())
    try:
        copy = subprocess.run(
            _as_postgres(
                [
                    str(BIN_DIR / "pg_basebackup"),
                    "-D",
                    str(standby.data),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(primary.port),
                    "-U",
                    OS_USER,
                    "-R",  # standby.signal and primary_conninfo: a streaming standby
                    "-X",
                    "stream",
                    "--no-sync",
                ]
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if copy.returncode != 0:
            raise RuntimeError(f"pg_basebackup failed: {copy.stdout}{copy.stderr}")
        with (standby.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {standby.port}\nunix_socket_directories = '{standby.root}'\n"
                "hot_standby = on\n"
            )
        standby.start()
        psycopg.connect(standby.url, connect_timeout=10).close()
        yield standby
    finally:
        if standby.is_running():
            try:
                standby.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                postmaster = _read_pid(standby.data / "postmaster.pid")
                if postmaster is not None:
                    os.kill(postmaster, 9)
        shutil.rmtree(root, ignore_errors=True)


def pause_replay(standby: PrivateCluster) -> None:
    with psycopg.connect(standby.url, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")


def resume_replay(standby: PrivateCluster) -> None:
    with psycopg.connect(standby.url, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_resume()")


def wait_caught_up(primary: PrivateCluster, standby: PrivateCluster, timeout: float = 60) -> None:
    """Return once the standby replayed everything the primary had written when called."""
    with psycopg.connect(primary.url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    target = row[0]
    deadline = time.monotonic() + timeout
    with psycopg.connect(standby.url, autocommit=True) as conn:
        while True:
            done = conn.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)
            ).fetchone()
            if done is not None and done[0]:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the standby did not replay up to {target}")
            time.sleep(0.05)

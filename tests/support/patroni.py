"""A private high-availability PostgreSQL for the failover tests: one etcd member and two
Patroni-managed PostgreSQL 15 instances (a primary and a synchronous standby) on free loopback
ports, in a fresh directory under the system temp dir, everything run as the ``postgres`` OS
user (``runuser`` when the tests run as root: ``initdb`` refuses root). Never the shared server.

Debian's packages: ``patroni`` and ``etcd-server`` (``.ci/run`` installs them when missing).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.pgcluster import (
    BIN_DIR,
    OS_USER,
    _alive,
    _as_postgres,
    _in_ci,
    _read_pid,
    _unused_port,
)

PREFIX = "tongban-patroni-"
TOOLS = ("patroni", "etcd")
# Patroni's timing: the leader key lives TTL seconds without renewal; the loop runs every
# LOOP_WAIT. A lost primary is replaced within about TTL + LOOP_WAIT (docs/ha.md).
TTL, LOOP_WAIT, RETRY_TIMEOUT = 10, 1, 4


class HaUnavailable(RuntimeError):
    """This machine cannot run the HA cluster (a tool missing, no ``postgres`` user)."""


def check_available() -> None:
    for tool in TOOLS:
        if shutil.which(tool) is None:
            raise HaUnavailable(f"{tool} is not installed (apt-get install -y patroni etcd-server)")
    if not (BIN_DIR / "initdb").exists():
        raise HaUnavailable(f"{BIN_DIR / 'initdb'} is missing (TONGBAN_TEST_PG_BIN)")
    if os.geteuid() == 0:
        probe = subprocess.run(["runuser", "-u", OS_USER, "--", "true"], capture_output=True)
        if probe.returncode != 0:
            raise HaUnavailable(f"runuser -u {OS_USER} failed")


@dataclass
class Member:
    name: str
    port: int
    api_port: int
    config: Path
    process: subprocess.Popen[bytes] | None = None

    def state(self) -> dict[str, Any] | None:
        """Patroni's REST view of this member, or None when its agent does not answer."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.api_port}/patroni", timeout=2
            ) as r:
                found: dict[str, Any] = json.loads(r.read())
                return found
        except urllib.error.HTTPError as answered:  # 503: up, but not the primary
            found = json.loads(answered.read())
            return found
        except OSError:
            return None


@dataclass
class HaCluster:
    root: Path
    etcd_port: int
    members: list[Member]
    etcd: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        """What the node is given: every member, the read-write one wanted."""
        hosts = ",".join(f"127.0.0.1:{m.port}" for m in self.members)
        return f"postgresql://{OS_USER}@{hosts}/postgres?target_session_attrs=read-write"

    def member_url(self, member: Member) -> str:
        return f"postgresql://{OS_USER}@127.0.0.1:{member.port}/postgres"

    def _spawn(self, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        self.logs.append(log)
        handle = log.open("ab")
        # A session of its own: kill_server() kills the agent and its PostgreSQL together.
        return subprocess.Popen(
            _as_postgres(args), stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start_member(self, member: Member) -> None:
        member.process = self._spawn(
            ["patroni", str(member.config)], self.root / f"{member.name}.log"
        )

    def primary(self) -> Member | None:
        for member in self.members:
            state = member.state()
            if (
                state
                and state.get("role") in {"master", "primary"}
                and state.get("state") == "running"
            ):
                return member
        return None

    def sync_standby(self) -> Member | None:
        """The member Patroni lists as synchronous, streaming from the primary."""
        primary = self.primary()
        if primary is None:
            return None
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{primary.api_port}/cluster", timeout=2
            ) as r:
                cluster = json.loads(r.read())
        except OSError:
            return None
        for entry in cluster.get("members", []):
            if entry.get("role") == "sync_standby" and entry.get("state") in {
                "running",
                "streaming",
            }:
                return next(m for m in self.members if m.name == entry["name"])
        return None

    def wait_until(self, what: str, check: Any, timeout: float = 120) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            time.sleep(0.2)
        tails = "\n".join(
            f"== {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            for log in self.logs
            if log.exists()
        )
        raise AssertionError(f"gave up waiting: {what}\n{tails}")

    def timeline(self, member: Member) -> int:
        with psycopg.connect(self.member_url(member), connect_timeout=5) as conn:
            row = conn.execute("SELECT timeline_id FROM pg_control_checkpoint()").fetchone()
        assert row is not None
        # The checkpoint's timeline lags a promotion; the WAL file name of the current insert
        # position carries the timeline the server writes on now.
        with psycopg.connect(self.member_url(member), connect_timeout=5) as conn:
            wal = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()
        assert wal is not None
        return int(str(wal[0])[:8], 16)

    def kill_server(self, member: Member) -> None:
        """The machine is gone: SIGKILL to the Patroni agent and its PostgreSQL at once (the
        whole session: postmaster, backends, walsender). Killing only the postmaster would
        have Patroni restart it in place, which is no failover."""
        assert member.process is not None
        pids = _session_pids(member.process.pid)
        # Patroni starts the postmaster in a session of its own: that session too.
        postmaster = _read_pid(member.config.parent / member.name / "postmaster.pid")
        if postmaster is not None:
            pids += _session_pids(_session_of(postmaster))
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        member.process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        for member in self.members:
            if member.process is not None and member.process.poll() is None:
                self.kill_server(member)
        if self.etcd is not None:
            # Its whole session: killing runuser alone would leave etcd running.
            for pid in _session_pids(self.etcd.pid):
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.etcd.wait(timeout=30)


def _session_of(pid: int) -> int:
    found = subprocess.run(["ps", "-o", "sid=", "-p", str(pid)], capture_output=True, text=True)
    return int(found.stdout.strip() or pid)


def _session_pids(session: int) -> list[int]:
    found = subprocess.run(["ps", "-o", "pid=", "-s", str(session)], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def _member_config(root: Path, member: Member, etcd_port: int) -> str:
    data = root / member.name
    config = {
        "scope": "tongban-test",
        "namespace": "/tongban/",
        "name": member.name,
        "restapi": {
            "listen": f"127.0.0.1:{member.api_port}",
            "connect_address": f"127.0.0.1:{member.api_port}",
        },
        "etcd3": {"hosts": f"127.0.0.1:{etcd_port}"},
        "bootstrap": {
            "dcs": {
                "ttl": TTL,
                "loop_wait": LOOP_WAIT,
                "retry_timeout": RETRY_TIMEOUT,
                "maximum_lag_on_failover": 1048576,
                # Patroni promotes only the standby it listed as synchronous: every commit
                # acknowledged by the primary is on it (docs/ha.md).
                "synchronous_mode": True,
                "postgresql": {
                    "use_pg_rewind": True,
                    "parameters": {
                        "wal_level": "replica",
                        "hot_standby": "on",
                        "max_wal_senders": 5,
                        "max_replication_slots": 5,
                        "wal_log_hints": "on",
                    },
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C"}, {"auth": "trust"}],
        },
        "postgresql": {
            "listen": f"127.0.0.1:{member.port}",
            "connect_address": f"127.0.0.1:{member.port}",
            "data_dir": str(data),
            "bin_dir": str(BIN_DIR),
            "pgpass": str(root / f"{member.name}.pgpass"),
            "pg_hba": [
                "local all all trust",
                "host all all 127.0.0.1/32 trust",
                "host replication all 127.0.0.1/32 trust",
            ],
            "authentication": {
                "superuser": {"username": OS_USER},
                "replication": {"username": OS_USER},
            },
            "parameters": {
                "unix_socket_directories": str(root),
                "max_connections": 60,
                "shared_buffers": "16MB",
            },
        },
    }
    return json.dumps(config)  # JSON is YAML


@contextmanager
def ha_cluster() -> Iterator[HaCluster]:
    """etcd and two Patroni members, the first the primary, the second its synchronous
    standby; everything killed and deleted afterwards."""
    check_available()
    root = Path(tempfile.mkdtemp(prefix=PREFIX))
    root.chmod(0o700)
    if os.geteuid() == 0:
        shutil.chown(root, OS_USER)
    members = []
    for name in ("pg1", "pg2"):
        member = Member(name, _unused_port(), _unused_port(), root / f"{name}.yml")
        members.append(member)
    cluster = HaCluster(root, _unused_port(), members)
    try:
        for member in members:
            member.config.write_text(_member_config(root, member, cluster.etcd_port))
            if os.geteuid() == 0:
                shutil.chown(member.config, OS_USER)
        peer = _unused_port()
        cluster.etcd = cluster._spawn(
            [
                "etcd",
                "--name=etcd0",
                f"--data-dir={root / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{cluster.etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{cluster.etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=etcd0=http://127.0.0.1:{peer}",
            ],
            root / "etcd.log",
        )
        cluster.start_member(members[0])
        cluster.wait_until("pg1 is the primary", lambda: cluster.primary() is members[0])
        cluster.start_member(members[1])
        cluster.wait_until("pg2 is the synchronous standby", cluster.sync_standby)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def patroni_cluster() -> Iterator[HaCluster]:
    """A private Patroni cluster for one test; skips where none can run, fails in CI."""
    try:
        check_available()
    except HaUnavailable as missing:
        if _in_ci():
            pytest.fail(f"{missing} (CI=true: this test must run)", pytrace=False)
        pytest.skip(str(missing))
    with ha_cluster() as cluster:
        yield cluster

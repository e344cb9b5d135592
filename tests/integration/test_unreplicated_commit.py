"""No receipt for a commit whose wait for the synchronous standby was cancelled.

PostgreSQL flushes the commit locally, waits for the synchronous standby, and when that wait is
cancelled (the node's own bound on a write, a client's cancel request, ``pg_cancel_backend``;
not ``statement_timeout``, which PostgreSQL turns off before the commit) answers
with success and a WARNING only. A failover could lose such a commit, so the append fails as
"database unavailable" (the API's 503 + Retry-After), and so does a re-post of the same bytes
until the standby confirms it (then it is the stored object's replay, same index and receipt).

The cluster is private (``tests/support/pgcluster.py``), its synchronous standby a name no
standby has: every commit waits until the timeout cancels its wait.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from adapters.outage import is_database_unavailable
from adapters.postgres_ha import CommitNotConfirmed, CommitWarnings
from api.client import Unavailable
from ledger.application import LedgerApplication
from ledger.workflow import SignedCoreOnly
from tests.support.load import next_step, open_case, prepare
from tests.support.pgcluster import PrivateCluster, pg_cluster
from tests.support.serving import served
from tests.support.world import World, make_world

__all__ = ["pg_cluster"]

pytestmark = pytest.mark.postgres


def _settings(world: World, cluster: PrivateCluster, **values: str) -> None:
    """Set and restart (a reload reaches each session only at some later point); the ledger's
    pool replaces the connections the restart broke before the test goes on."""
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        for name, value in values.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
    cluster.stop()
    cluster.start()
    pool = world.app.recorder.datastore.pool  # type: ignore[attr-defined]
    pool.check()
    pool.wait(timeout=30)


@pytest.fixture
def world(tmp_path: Path, pg_cluster: PrivateCluster) -> Iterator[World]:
    world = make_world(tmp_path, database_url=pg_cluster.url, workflow=SignedCoreOnly())
    yield world
    world.app.close()


def _stored_count(world: World, case_id: uuid.UUID) -> int:
    return len(world.app.store.select_stream_rows(case_id))


def _not_confirmed(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, CommitNotConfirmed):
            return True
        seen = seen.__cause__
    return False


def test_a_commit_whose_wait_for_the_standby_outlasts_the_bound_gets_no_receipt(
    world: World, pg_cluster: PrivateCluster
) -> None:
    officer = world.officers["rs-001"]
    case_id, done = world.append_case(officer, 1)
    raw = world.event(officer, case_id, 2, done[-1].head.event_hash, "noted")
    # From now on commits wait for a standby that never comes; the node waits 1 s at most
    # (PostgreSQL's statement_timeout would not end the wait: it is off once commit begins).
    _settings(world, pg_cluster, synchronous_standby_names="ghost")
    world.app.recorder.commit_wait_seconds = 1.0  # type: ignore[attr-defined]

    with pytest.raises(Exception) as refused:
        world.app.append_event(raw)
    assert is_database_unavailable(refused.value)  # the API: 503 + Retry-After
    assert _not_confirmed(refused.value)
    # PostgreSQL did commit it locally: that is what a failover may lose.
    assert _stored_count(world, case_id) == 2

    # Re-posting the same bytes finds it stored, but cannot have it confirmed either.
    with pytest.raises(Exception) as again:
        world.app.append_event(raw)
    assert is_database_unavailable(again.value) and _not_confirmed(again.value)

    # The standby requirement lifted (a standby caught up, or the operator chose): the
    # re-post is the stored object's replay, with the index and receipt it was stored with.
    _settings(world, pg_cluster, synchronous_standby_names="")
    replay = world.app.append_event(raw)
    assert not replay.created
    stored = world.app.store.select_entry(case_id, 2)
    assert stored is not None
    assert (replay.index, replay.receipt) == (stored.index, stored.receipt)


def test_a_cancelled_wait_is_refused_too(world: World, pg_cluster: PrivateCluster) -> None:
    """A cancel request (``pg_cancel_backend``, a client's cancel) during the wait."""
    officer = world.officers["rs-001"]
    case_id, done = world.append_case(officer, 1)
    raw = world.event(officer, case_id, 2, done[-1].head.event_hash, "noted")
    _settings(world, pg_cluster, synchronous_standby_names="ghost")

    def cancel_the_waiting_backend() -> None:
        with psycopg.connect(pg_cluster.url, autocommit=True) as conn:
            for _ in range(200):
                waiting = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
                ).fetchall()
                if waiting:
                    conn.execute("SELECT pg_cancel_backend(%s)", (waiting[0][0],))
                    return
                time.sleep(0.05)

    canceller = threading.Thread(target=cancel_the_waiting_backend)
    canceller.start()
    try:
        with pytest.raises(Exception) as refused:
            world.app.append_event(raw)
    finally:
        canceller.join()
        _settings(world, pg_cluster, synchronous_standby_names="")
    assert is_database_unavailable(refused.value) and _not_confirmed(refused.value)
    assert _stored_count(world, case_id) == 2
    assert not world.app.append_event(raw).created  # confirmed now: the replay


def _commits_wait(cluster: PrivateCluster) -> bool:
    """Whether a commit now waits for the synchronous standby (a probe write, cancelled
    after 0.2 s, comes back with the warning)."""
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        with CommitWarnings().watching(conn, bound=0.2) as warnings:
            conn.execute("INSERT INTO probe VALUES (1)")
        return bool(warnings.seen)


def _events(cluster: PrivateCluster) -> int:
    with psycopg.connect(cluster.url) as conn:
        table = f"{LedgerApplication.name.lower()}_events"
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_over_http_the_unconfirmed_append_is_a_503_with_retry_after(
    tmp_path: Path, pg_cluster: PrivateCluster
) -> None:
    setup = prepare(tmp_path, pg_cluster.url, None)
    env = {**setup.env, "TONGBAN_COMMIT_WAIT_SECONDS": "1"}
    with served(tmp_path, tmp_path / "server.log", env) as node:
        client = setup.client(node.url)
        case = open_case(client)[-1]  # the applicant is stored: what follows is the ledger's
        # Only now (the node writes as it starts): commits wait for a standby that never comes.
        with psycopg.connect(pg_cluster.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE probe (n int)")  # before: this commit would wait
            conn.execute("ALTER SYSTEM SET synchronous_standby_names = 'ghost'")
            conn.execute("SELECT pg_reload_conf()")
        for _ in range(100):  # the reload reaches the server's processes in their time
            if _commits_wait(pg_cluster):
                break
        else:
            raise AssertionError("commits never began to wait for the standby")
        before = _events(pg_cluster)
        with pytest.raises(Unavailable) as refused:
            client.step(case.case_id, *next_step("accepted", "waits for the standby"))
    assert (refused.value.status, refused.value.reason) == (503, "database_unavailable")
    assert refused.value.retry_after is not None and refused.value.retry_after > 0
    # Stored on this server only, and acknowledged to no one.
    assert _events(pg_cluster) == before + 1

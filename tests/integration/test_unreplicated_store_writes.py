"""The stores beside the ledger follow the ledger's rule for a commit the synchronous standby
did not confirm (docs/ha.md, adapters/postgres_ha.py): no hang, no success.

Every store that writes on PostgreSQL (the vault, and every ``SqlStore``: access log, licenses,
sessions, relay queue, outbox position, read models, witness store, platform store) had no bound
on a commit: with the synchronous standby gone it waited for ever, and a wait cancelled by
someone else (``pg_cancel_backend``) came back as success with only a WARNING. Now the write is
cancelled after the store's ``commit_wait_seconds`` and refused as the store's own error from
``CommitNotConfirmed``, which the API answers 503 + Retry-After.

The cluster is private (``tests/support/pgcluster.py``), as in ``test_unreplicated_commit.py``:
its synchronous standby a name no standby has, so every commit waits until it is cancelled.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import Tracking

from adapters.access import open_access_store
from adapters.license_store import open_license_store
from adapters.outage import is_database_unavailable
from adapters.outbox_store import open_outbox_store
from adapters.platform_store import open_platform_store
from adapters.postgres_ha import CommitWarnings, not_confirmed
from adapters.readmodels import open_read_models
from adapters.relay_store import open_relay_store
from adapters.sessions import open_session_store
from adapters.vault import open_vault
from adapters.witness_store import open_witness_store
from api.client import Unavailable
from ledger.personal import PersonalData
from tests.support.load import APPLICANT, ITEM, prepare
from tests.support.pgcluster import PrivateCluster, pg_cluster
from tests.support.serving import served

__all__ = ["pg_cluster"]

pytestmark = pytest.mark.postgres

MASTER_KEY = bytes(range(32))
NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
ZHANG = PersonalData(name="张三丰", id_number="11010519491231002X")


def _commits_wait(cluster: PrivateCluster) -> bool:
    """Whether a commit now waits for the synchronous standby (a probe write, cancelled
    after 0.2 s, comes back with the warning)."""
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        with CommitWarnings().watching(conn, bound=0.2) as warnings:
            conn.execute("INSERT INTO probe VALUES (1)")
        return bool(warnings.seen)


def _wait_for_a_ghost_standby(cluster: PrivateCluster) -> None:
    """From now on every commit waits for a synchronous standby that never comes (a reload:
    the stores' kept connections stay open and see it in their time)."""
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS probe (n int)")
        conn.execute("ALTER SYSTEM SET synchronous_standby_names = 'ghost'")
        conn.execute("SELECT pg_reload_conf()")
    for _ in range(100):
        if _commits_wait(cluster):
            return
    raise AssertionError("commits never began to wait for the standby")


def _lift_the_standby_requirement(cluster: PrivateCluster) -> None:
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET synchronous_standby_names = ''")
        conn.execute("SELECT pg_reload_conf()")
    for _ in range(100):
        if not _commits_wait(cluster):
            return
    raise AssertionError("commits still wait for the standby")


# One write of each store, on a store opened on the cluster: (opener, write).
Opener = Callable[[str, Path], Any]
WRITES: dict[str, tuple[Opener, Callable[[Any], object]]] = {
    "vault": (
        lambda url, d: open_vault(url, d, MASTER_KEY),
        lambda s: s.store(ZHANG, now=NOW),
    ),
    "access log": (
        open_access_store,
        lambda s: s.create_token("body", "510104-RS", now=NOW),
    ),
    "licenses": (
        lambda url, d: open_license_store(url, d, MASTER_KEY),
        lambda s: s.add_status_list("list-1", 1, b"raw"),
    ),
    "sessions": (open_session_store, lambda s: s.issue_challenge("https://node", 1)),
    "relay queue": (open_relay_store, lambda s: s.hold_checkpoint("tongban/510000", 1, "n")),
    "outbox position": (open_outbox_store, lambda s: s.advance("ledger", 0, 1)),
    "read models": (
        open_read_models,
        lambda s: s.insert_tracking(Tracking("ledgerapplication", 1)),
    ),
    "witness store": (
        open_witness_store,
        lambda s: s.keep_evidence("tongban/510000", "fork", {"n": 1}),
    ),
    "platform store": (open_platform_store, lambda s: s.note_dead_letter("ledger", 1, 1, 3)),
}


@pytest.fixture
def stores(tmp_path: Path, pg_cluster: PrivateCluster) -> Iterator[dict[str, Any]]:
    opened = {name: opener(pg_cluster.url, tmp_path) for name, (opener, _) in WRITES.items()}
    for store in opened.values():
        store.commit_wait_seconds = 1.0
    yield opened
    for store in opened.values():
        close = getattr(store, "close", None)
        if close is not None:
            close()


def _outcome(write: Callable[[Any], object], store: Any) -> str:
    try:
        write(store)
    except Exception as error:
        if not_confirmed(error) and is_database_unavailable(error):
            return "refused: not confirmed"
        return f"failed otherwise: {error!r}"
    return "acknowledged"


def test_every_store_refuses_a_write_whose_wait_for_the_standby_outlasts_its_bound(
    stores: dict[str, Any], pg_cluster: PrivateCluster
) -> None:
    _wait_for_a_ghost_standby(pg_cluster)
    outcomes = {name: _outcome(write, stores[name]) for name, (_, write) in WRITES.items()}
    assert outcomes == dict.fromkeys(WRITES, "refused: not confirmed")


def test_a_wait_cancelled_by_someone_else_is_refused_too(
    stores: dict[str, Any], pg_cluster: PrivateCluster
) -> None:
    """``pg_cancel_backend`` during the wait: PostgreSQL answers the COMMIT with success and
    a WARNING, which the stores took as done."""
    for store in stores.values():
        store.commit_wait_seconds = 60.0  # the cancel below comes first
    _wait_for_a_ghost_standby(pg_cluster)

    def cancel_the_waiting_backend(stop: threading.Event) -> None:
        with psycopg.connect(pg_cluster.url, autocommit=True) as conn:
            while not stop.is_set():
                waiting = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep' "
                    "AND query NOT LIKE 'INSERT INTO probe%'"
                ).fetchall()
                for (pid,) in waiting:
                    conn.execute("SELECT pg_cancel_backend(%s)", (pid,))
                time.sleep(0.05)

    stop = threading.Event()
    canceller = threading.Thread(target=cancel_the_waiting_backend, args=(stop,))
    canceller.start()
    try:
        outcomes = {name: _outcome(write, stores[name]) for name, (_, write) in WRITES.items()}
    finally:
        stop.set()
        canceller.join()
    assert outcomes == dict.fromkeys(WRITES, "refused: not confirmed")


def test_a_repost_of_an_unconfirmed_license_document_is_not_taken_as_done(
    stores: dict[str, Any], pg_cluster: PrivateCluster
) -> None:
    """``complete`` re-posted after a 503: the same document is found stored (this server
    only), which is no confirmation; once the standby requirement is lifted it is done."""
    licenses = stores["licenses"]
    licenses.put_document("lic-1", "draft", b"draft")  # its document key too
    _wait_for_a_ghost_standby(pg_cluster)
    assert _outcome(lambda s: s.put_document("lic-1", "issued", b"doc"), licenses) == (
        "refused: not confirmed"
    )
    assert licenses.document("lic-1", "issued") == b"doc"  # committed here all the same
    repost = _outcome(lambda s: s.put_document("lic-1", "issued", b"doc"), licenses)
    assert repost == "refused: not confirmed"
    _lift_the_standby_requirement(pg_cluster)
    assert _outcome(lambda s: s.put_document("lic-1", "issued", b"doc"), licenses) == (
        "acknowledged"
    )


def test_over_http_an_unconfirmed_applicant_is_a_503_with_retry_after(
    tmp_path: Path, pg_cluster: PrivateCluster
) -> None:
    """The post to /applicants (the vault's write) that outlasted the client's timeout."""
    setup = prepare(tmp_path, pg_cluster.url, None)
    env = {**setup.env, "TONGBAN_COMMIT_WAIT_SECONDS": "1"}
    with served(tmp_path, tmp_path / "server.log", env) as node:
        client = setup.client(node.url)
        _wait_for_a_ghost_standby(pg_cluster)
        with pytest.raises(Unavailable) as refused:
            client.receive(
                ITEM,
                "online",
                APPLICANT,
                home_body="510104-RS",
                jurisdiction="510104",
                materials=[("申请表", bytes(32))],
            )
    assert (refused.value.status, refused.value.reason) == (503, "database_unavailable")
    assert refused.value.retry_after is not None and refused.value.retry_after > 0

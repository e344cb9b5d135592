"""Losing the primary's server while clients append: Patroni fails over to the synchronous
standby, and the node carries on without a restart, losing nothing it acknowledged.

A private cluster (``tests/support/patroni.py``: etcd and two Patroni members, run as the
``postgres`` OS user on free ports); a served node reaching it through one multi-host URL
(``target_session_attrs=read-write``). Clients append over HTTP; the primary's agent and its
PostgreSQL are killed together (``kill -9`` of both, as a machine lost). Then: the standby was
promoted (a new timeline); every post was answered (a receipt, or 503 + Retry-After: never a
hang or a 500) and the same node processes append again; once the old server is back as the
standby and the clients settled, every acknowledged envelope is on the primary at its index
with its receipt, nothing half-written, the index dense, both audits clean, and the node's
signed checkpoint (its data directory) is a checkpoint of the new primary's tree.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest

from adapters.bootstrap import open_ledger
from adapters.checkpoint_state import FileCheckpointState
from ledger.workflow import CaseWorkflow
from tests.reliability.test_crash import acked_count, finish, start_appenders, wait_for
from tests.support.load import NodeProcess, check_ledger, prepare, print_tally
from tests.support.patroni import HaCluster, patroni_cluster

__all__ = ["patroni_cluster"]

pytestmark = pytest.mark.postgres
CLIENTS = 6


def run_failovers(tmp_path: Path, cluster: HaCluster, failovers: int) -> None:
    setup = prepare(tmp_path, cluster.url, None)
    # Checkpoints issued as the clients append: the kept one must match the new primary.
    env = {**setup.env, "TONGBAN_CHECKPOINT_EVENTS": "20"}
    node = NodeProcess(tmp_path, env, workers=1)
    node.start()
    pids = node.pids()
    phase = ["up"]
    appenders, threads, stopper = start_appenders(
        setup, node.url, phase=lambda: phase[0], clients=CLIENTS
    )
    recoveries: list[float] = []
    try:
        for n in range(failovers):
            before = acked_count(appenders)
            wait_for(
                lambda b=before: acked_count(appenders) >= b + 2 * CLIENTS,
                "appends flowing",
                appenders,
            )
            old, new = cluster.primary(), cluster.sync_standby()
            assert old is not None and new is not None and old is not new
            old_timeline = cluster.timeline(old)
            phase[0] = f"down{n}"
            lost_at = time.monotonic()
            cluster.kill_server(old)
            counts = [len(a.acked()) for a in appenders]
            # Every client gets receipts again, from the same node processes.
            wait_for(
                lambda c=counts: all(
                    len(a.acked()) >= k + 1 for a, k in zip(appenders, c, strict=True)
                ),
                "every client appends again after the failover",
                appenders,
                timeout=180,
            )
            recoveries.append(time.monotonic() - lost_at)
            assert cluster.primary() is new, f"not promoted: {new.state()}"
            assert cluster.timeline(new) > old_timeline, "no new timeline: not a promotion"
            phase[0] = f"back{n}"
            # The lost server comes back as the standby (pg_rewind) for the next round.
            cluster.start_member(old)
            cluster.wait_until(
                f"{old.name} back as the synchronous standby",
                lambda o=old: cluster.sync_standby() is o,
                timeout=180,
            )
        assert node.pids() == pids, "the node was restarted"
    finally:
        try:
            finish(appenders, threads, stopper)
        finally:
            node.stop()
    total = print_tally([a.log for a in appenders], f"{failovers} failover(s)")
    posted = [p for a in appenders for p in a.log.posted]
    outcomes = {p.outcome for p in posted}
    assert outcomes <= {"acked", "unavailable"}, f"a hang (in_doubt) or a 5xx: {outcomes}"
    kinds = {(p.status, p.reason) for p in posted if p.outcome == "unavailable"}
    assert kinds <= {(503, "database_unavailable")}, kinds
    facts = check_ledger(setup, posted)  # every acknowledged envelope, on the new primary
    signed = FileCheckpointState(setup.data_dir).last()
    assert signed is not None, "no checkpoint was issued"
    _origin, size, root = signed.split("\n")[:3]
    app = open_ledger(setup.settings(), workflow=CaseWorkflow(), read_only=True)
    try:
        assert int(size) <= app.store.max_index()
        assert app.tree_root(int(size)) == base64.b64decode(root), "checkpoint off the tree"
    finally:
        app.close()
    acked = sum(1 for p in posted if p.outcome == "acked")
    print(
        f"  failovers {failovers}, acknowledged {acked}, lost 0, "
        f"{total['503 database_unavailable']} answers 503 meanwhile; time to recover "
        f"(kill to every client appending again) "
        + ", ".join(f"{r:.1f} s" for r in recoveries)
        + f"; {facts}"
    )


def test_losing_the_primary_loses_nothing_acknowledged(
    tmp_path: Path, patroni_cluster: HaCluster
) -> None:
    run_failovers(tmp_path, patroni_cluster, 1)


@pytest.mark.slow
def test_losing_the_primary_many_times(tmp_path: Path, patroni_cluster: HaCluster) -> None:
    run_failovers(tmp_path, patroni_cluster, 4)

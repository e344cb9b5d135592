"""Crashes while clients append, on PostgreSQL with two server workers.

``kill -9`` of the whole server (supervisor and workers) at random moments while clients
append, then a restart: every envelope acknowledged before the kill is stored at its index with
its receipt, nothing half-written (an event without its index row or receipt, a gap) is, and
after the clients re-post whatever got no answer, the audit is clean.

Stopping PostgreSQL (a private cluster; the shared server is never touched) while clients
append: each post is answered with a 503 problem naming the cause, never a hang or a 500; once
the database is back the same server processes serve again, and the ledger checks out.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.load import (
    Appender,
    NodeProcess,
    Posted,
    Setup,
    Stopper,
    check_ledger,
    prepare,
    print_tally,
)
from tests.support.pgcluster import PrivateCluster, pg_cluster  # noqa: F401  (a fixture)

pytestmark = pytest.mark.postgres
CLIENTS = 6  # appending through the kills
OUTAGE_CLIENTS = 16  # enough to queue appends behind the ledger's lock while the database is down


def wait_for(
    # ``...``: the callers bind loop values as lambda defaults, ``lambda b=before: ...``.
    condition: Callable[..., bool],
    what: str,
    appenders: list[Appender],
    timeout: float = 120.0,
) -> None:
    """Poll ``condition``; fail naming ``what`` if it never holds (a guard, not a measure), or
    as soon as a client thread failed."""
    deadline = time.monotonic() + timeout
    while not condition():
        failed = [e for a in appenders for e in a.log.errors]
        if failed:
            raise AssertionError(f"a client failed while waiting for {what}: {failed[:3]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.02)


def start_appenders(
    setup: Setup, url: str, phase: Callable[[], str] = lambda: "", clients: int = CLIENTS
) -> tuple[list[Appender], list[threading.Thread], Stopper]:
    stopper = Stopper()
    # The clients' timeout is the bound on "no hang": longer than the node's wait for a pooled
    # connection (5 s), far shorter than what a retrying recorder (50 s) or appends queued
    # behind the ledger's lock, each waiting for the pool in turn, used to take.
    appenders = [
        Appender(setup, url, f"c{n}", stopper, phase=phase, timeout=20.0) for n in range(clients)
    ]
    threads = [threading.Thread(target=a.run) for a in appenders]
    for thread in threads:
        thread.start()
    return appenders, threads, stopper


def finish(appenders: list[Appender], threads: list[threading.Thread], stopper: Stopper) -> None:
    stopper.stop()
    for thread in threads:
        thread.join()
    errors = [e for a in appenders for e in a.log.errors]
    assert not errors, errors[:5]


def acked_count(appenders: list[Appender]) -> int:
    return sum(len(a.acked()) for a in appenders)


# -- kill -9 ------------------------------------------------------------------------------------


def run_kills(
    tmp_path: Path, postgres_url: str, schema: str, *, kills: int, workers: int, seed: int
) -> None:
    rng = random.Random(seed)
    setup = prepare(tmp_path, postgres_url, schema)
    node = NodeProcess(tmp_path, setup.env, workers=workers)
    node.start()
    appenders, threads, stopper = start_appenders(setup, node.url)
    survived = 0
    try:
        for _ in range(kills):
            before = acked_count(appenders)
            # Kill while appends flow: after a few new receipts, at a random instant.
            wait_for(
                lambda b=before: acked_count(appenders) >= b + CLIENTS, "new receipts", appenders
            )
            time.sleep(rng.uniform(0, 0.3))
            node.kill9()
            snapshot: list[Posted] = [p for a in appenders for p in a.acked()]
            # What every client holds a receipt for is in the database now, while the node
            # is down; nothing half-written; the index is dense.
            check_ledger(setup, snapshot, settled=False, audit=False)
            survived += 1
            node.start()
        restarted = acked_count(appenders)
        wait_for(
            lambda: acked_count(appenders) >= restarted + CLIENTS,
            "receipts after restart",
            appenders,
        )
    finally:
        try:
            finish(appenders, threads, stopper)
        finally:
            node.stop()
    total = print_tally(
        [a.log for a in appenders], f"{survived} kills survived ({workers} workers, seed {seed})"
    )
    posted = [p for a in appenders for p in a.log.posted]
    assert survived == kills
    assert total["in_doubt"] > 0, "no post went unanswered: no kill landed while clients appended"
    facts = check_ledger(setup, posted)
    print(f"  {facts}; {node.starts} server starts")


def test_kill_9_while_clients_append_loses_nothing_acknowledged(
    tmp_path: Path, postgres_url: str, postgres_schema: str
) -> None:
    # One worker: a restart takes a second or two instead of five (the slow variant runs two).
    run_kills(tmp_path, postgres_url, postgres_schema, kills=10, workers=1, seed=9)


@pytest.mark.slow
def test_kill_9_many_times(tmp_path: Path, postgres_url: str, postgres_schema: str) -> None:
    run_kills(tmp_path, postgres_url, postgres_schema, kills=40, workers=2, seed=int(time.time()))


# -- PostgreSQL stopped -------------------------------------------------------------------------


def outage_answers(node: NodeProcess, setup: Setup, case_id: uuid.UUID) -> list[httpx.Response]:
    """A read and a write straight over HTTP, to see the status, problem and headers."""
    auth = {"Authorization": f"Bearer {setup.token}"}
    with httpx.Client(base_url=node.url, headers=auth, timeout=60) as http:
        return [
            http.get(f"/cases/{case_id}"),
            http.post(
                f"/cases/{case_id}/events",
                content=b"\x80",
                headers={"Content-Type": "application/msgpack"},
            ),
        ]


def run_outages(tmp_path: Path, cluster: PrivateCluster, modes: list[str]) -> None:
    setup = prepare(tmp_path, cluster.url, None)
    node = NodeProcess(tmp_path, setup.env, workers=2)
    node.start()
    pids = node.pids()
    phase = ["up"]
    appenders, threads, stopper = start_appenders(
        setup, node.url, phase=lambda: phase[0], clients=OUTAGE_CLIENTS
    )
    answers: list[httpx.Response] = []
    try:
        for n, mode in enumerate(modes):
            before = acked_count(appenders)
            wait_for(
                lambda b=before: acked_count(appenders) >= b + CLIENTS, "appends flowing", appenders
            )
            phase[0] = f"down{n}"
            cluster.stop(mode)
            # Every client gets its answers while the database is gone (none hangs).
            wait_for(
                lambda n=n: all(
                    any(p.phase == f"down{n}" for p in a.log.posted) for a in appenders
                ),
                "every client answered while PostgreSQL is down",
                appenders,
            )
            case_id = next(a.case_id for a in appenders if a.case_id is not None)
            answers.extend(outage_answers(node, setup, case_id))
            phase[0] = f"back{n}"
            cluster.start()
            # The same processes recover on their own: every client appends again.
            counts = [len(a.acked()) for a in appenders]
            wait_for(
                lambda c=counts: all(
                    len(a.acked()) >= k + 2 for a, k in zip(appenders, c, strict=True)
                ),
                "every client appends again after PostgreSQL is back",
                appenders,
            )
        assert node.pids() == pids, "the node was restarted"
    finally:
        try:
            finish(appenders, threads, stopper)
        finally:
            node.stop()
    total = print_tally([a.log for a in appenders], f"PostgreSQL stopped {modes}")
    posted = [p for a in appenders for p in a.log.posted]
    down = [p for p in posted if p.phase.startswith("down")]
    assert down, "no client posted while the database was down"
    # While the database is gone: a 503 problem naming the cause, or (for a post that was
    # already under way when it went) a receipt; never a hang or a 500.
    outcomes = {p.outcome for p in posted}
    assert outcomes <= {"acked", "unavailable"}, (
        f"a hang (in_doubt) or a 5xx other than 503: {outcomes}"
    )
    kinds = {(p.outcome, p.status, p.reason) for p in down}
    assert kinds <= {
        ("unavailable", 503, "database_unavailable"),
        ("acked", 201, ""),
        ("acked", 200, ""),
    }, kinds
    assert any(p.outcome == "unavailable" for p in down)
    for response in answers:
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["reason"] == "database_unavailable"
        assert int(response.headers["retry-after"]) > 0
    facts = check_ledger(setup, posted)
    slowest = max(p.elapsed for p in posted)
    print(
        f"  {total['503 database_unavailable']} answers 503 while down, the slowest answer "
        f"{slowest:.1f} s; {facts}"
    )


def test_postgres_stopped_while_clients_append(
    tmp_path: Path,
    pg_cluster: PrivateCluster,  # noqa: F811
) -> None:
    run_outages(tmp_path, pg_cluster, ["fast", "immediate"])


@pytest.mark.slow
def test_postgres_stopped_many_times(
    tmp_path: Path,
    pg_cluster: PrivateCluster,  # noqa: F811
) -> None:
    run_outages(tmp_path, pg_cluster, ["fast", "immediate"] * 5)

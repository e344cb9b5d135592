"""Sixteen clients append signed steps to shared cases through two server workers on PostgreSQL.

Each round every client prepares its envelope, all meet at a barrier, then all post at once,
with deliberate collisions: several clients sign the same seq of the same case on the same
head (one wins, the others get 409), some sign on a stale ``prev`` or skip a seq (refused),
some re-post bytes already acknowledged (the same receipt again, stored once). Afterwards the
database must hold exactly the acknowledged envelopes, once each, at the acknowledged index and
with the acknowledged receipt; nothing refused; a dense index; a clean audit.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from ledger.envelope import ZERO_HASH
from tests.support.load import (
    ClientLog,
    NodeProcess,
    Posted,
    acked,
    check_ledger,
    next_step,
    open_case,
    post,
    prepare,
    print_tally,
)

pytestmark = pytest.mark.postgres
CLIENTS = 16
CASES = 6


def run_rounds(tmp_path: Path, postgres_url: str, schema: str, rounds: int) -> None:
    setup = prepare(tmp_path, postgres_url, schema)
    node = NodeProcess(tmp_path, setup.env, workers=2)
    node.start()
    try:
        opening = ClientLog("open")
        with setup.client(node.url) as opener:
            case_ids: list[uuid.UUID] = []
            for _ in range(CASES):
                steps = open_case(opener)
                case_ids.append(steps[0].case_id)
                opening.posted.extend(acked(s) for s in steps)
        logs = [ClientLog(f"c{n:02d}") for n in range(CLIENTS)]
        barrier = threading.Barrier(CLIENTS, timeout=120)

        def client_thread(n: int) -> None:
            log = logs[n]
            mine: list[Posted] = []
            try:
                with setup.client(node.url) as client:
                    for r in range(rounds):
                        case_id = case_ids[(n + r) % CASES]
                        case = client.case(case_id)
                        seq, prev = case["head"]["seq"], bytes.fromhex(case["head"]["hash"])
                        step, body = next_step(case["state"], f"c{n}r{r}")
                        mode = (n + r) % 4
                        if mode == 3 and mine:
                            # A re-post of bytes already acknowledged (a client after a timeout).
                            again = mine[(n * r) % len(mine)]
                            barrier.wait()
                            post(client, log, again.case_id, again.seq, again.raw)
                            continue
                        if mode == 2:
                            # A stale link: the right seq on a wrong prev, or a skipped seq.
                            if r % 2:
                                raw = client.sign(case_id, seq + 1, ZERO_HASH, step, body)
                            else:
                                raw = client.sign(case_id, seq + 2, prev, step, body)
                                seq += 1
                        else:
                            raw = client.sign(case_id, seq + 1, prev, step, body)
                        barrier.wait()
                        done = post(client, log, case_id, seq + 1, raw)
                        if done.outcome == "acked":
                            mine.append(done)
            except Exception as error:  # recorded, and the test fails on it below
                log.errors.append(f"{type(error).__name__}: {error}")
                barrier.abort()

        threads = [threading.Thread(target=client_thread, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        node.stop()

    errors = [e for log in logs for e in log.errors]
    assert not errors, errors[:5]
    total = print_tally(logs, f"{CLIENTS} clients, {rounds} rounds, 2 workers, PostgreSQL")
    posted = [p for log in [opening, *logs] for p in log.posted]
    outcomes = {p.outcome for p in posted}
    assert outcomes <= {"acked", "refused"}, f"answers other than a receipt or a 4xx: {outcomes}"
    # The collisions happened (else this test proves nothing about them).
    assert total["409 conflict"] > 0
    assert total["422 broken_link"] + total["422 seq_gap"] > 0
    assert total["replayed"] > 0
    refused = {p.status for p in posted if p.outcome == "refused"}
    assert refused <= {409, 422}, f"unexpected refusals: {refused}"
    facts = check_ledger(setup, posted)
    print(f"  {facts}")


def test_sixteen_clients_on_two_workers_keep_every_acknowledged_step_once(
    tmp_path: Path, postgres_url: str, postgres_schema: str
) -> None:
    run_rounds(tmp_path, postgres_url, postgres_schema, rounds=8)


@pytest.mark.slow
def test_sixteen_clients_long_run(tmp_path: Path, postgres_url: str, postgres_schema: str) -> None:
    run_rounds(tmp_path, postgres_url, postgres_schema, rounds=60)

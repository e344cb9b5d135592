"""Several server processes on PostgreSQL append to the same cases and stay consistent.

Eight clients race on four cases through two uvicorn workers: each conflict surfaces as a 409,
nothing acknowledged is lost or stored twice, the ledger index stays dense, the audit is clean.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.access import open_access_store
from adapters.bootstrap import open_ledger
from adapters.settings import Settings
from api.client import Conflict, TongbanClient
from ledger.audit import verify_ledger
from ledger.workflow import CaseWorkflow
from tests.support.live import live_node
from tests.support.world import make_world

pytestmark = pytest.mark.postgres
CLIENTS = 8
CASES = 4
ROUNDS = 6


@pytest.fixture
def schema(postgres_schema: str) -> str:
    """A fresh schema (``tests/conftest.py``), dropped after the test."""
    return postgres_schema


def test_two_workers_keep_every_acknowledged_step_once(
    tmp_path: Path, postgres_url: str, schema: str
) -> None:
    world = make_world(tmp_path, database_url=postgres_url, schema=schema, workflow=CaseWorkflow())
    world.app.close()
    token, _ = open_access_store(postgres_url, tmp_path, schema=schema).create_token(
        "body", "510104-RS", now=datetime.now(UTC)
    )
    officer = world.officers["rs-001"]
    env = {"TONGBAN_DATABASE_URL": postgres_url, "TONGBAN_DATABASE_SCHEMA": schema}
    acknowledged: list[tuple[uuid.UUID, int, int]] = []
    conflicts = 0
    lock = threading.Lock()

    # live_node returns once /health names this node and both workers have started.
    with live_node(tmp_path, env, workers=2) as url:

        def client() -> TongbanClient:
            return TongbanClient(
                url, token, officer.signer, body_id=officer.body_id, officer_id=officer.officer_id
            )

        case_ids = []
        with client() as opener:
            for _ in range(CASES):
                result = opener.receive(
                    "510000/1/5",
                    "online",
                    {"name": "李四", "id_number": "11010519491231002X"},
                    home_body="510104-RS",
                    jurisdiction="510104",
                    materials=[("申请表", bytes(32))],
                )
                case_ids.append(result.case_id)
                acknowledged.append((result.case_id, result.seq, result.index))
                for step, body in (
                    ("form_checked", {"result": "pass", "reasons": [], "identity_verified": True}),
                    ("accepted", {"note": ""}),
                ):
                    done = opener.step(result.case_id, step, body)
                    acknowledged.append((done.case_id, done.seq, done.index))

        # Every client connects and reads before any appends: the races start together.
        start = threading.Barrier(CLIENTS, timeout=120)
        failed: list[str] = []

        def race(n: int) -> None:
            try:
                race_once(n)
            except Exception as error:  # reported below; a thread's error is otherwise lost
                start.abort()
                failed.append(f"client {n}: {type(error).__name__}: {error}")

        def race_once(n: int) -> None:
            nonlocal conflicts
            with client() as mine:
                mine.case(case_ids[n % CASES])
                start.wait()
                for r in range(ROUNDS):
                    case_id = case_ids[(n + r) % CASES]
                    # suspended/resumed alternate, so every race is a real collision on a seq
                    state = mine.case(case_id)["state"]
                    step = "suspended" if state == "accepted" else "resumed"
                    body = (
                        {"reason": "testing", "detail": f"c{n}r{r}"}
                        if step == "suspended"
                        else {"note": f"c{n}r{r}"}
                    )
                    try:
                        result = mine.step(case_id, step, body)
                    except Conflict:
                        with lock:
                            conflicts += 1
                        continue
                    except Exception:
                        # A step refused because the state moved between read and sign is
                        # the officer's to retry; it must not have been stored.
                        continue
                    with lock:
                        acknowledged.append((result.case_id, result.seq, result.index))

        threads = [threading.Thread(target=race, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert not any(thread.is_alive() for thread in threads), "a client never finished"
        assert not failed, failed

    app = open_ledger(
        Settings(data_dir=tmp_path, database_url=postgres_url, database_schema=schema),
        workflow=CaseWorkflow(),
    )
    stored = {(e.stream_id, e.seq): e.index for e in app.entries_after(0, 100_000)}
    indexes = sorted(stored.values())
    assert indexes == list(range(1, len(indexes) + 1)), "the ledger index has a gap"
    for case_id, seq, index in acknowledged:
        assert stored[(case_id, seq)] == index, "an acknowledged step is missing or moved"
    assert len({(c, s) for c, s, _ in acknowledged}) == len(acknowledged), "acknowledged twice"
    stored_case_steps = {key for key in stored if key[0] in case_ids}
    assert stored_case_steps == {(c, s) for c, s, _ in acknowledged}, (
        "a refused step was stored, or an acknowledged one is missing"
    )
    assert conflicts > 0, "the test did not provoke any collision"
    report = verify_ledger(app)
    assert report.exit_code == 0, report.findings[:5]
    print(
        f"\n{len(acknowledged)} steps acknowledged, {conflicts} conflicts (409), "
        f"{len(indexes)} ledger indexes dense, {report.events} events audited clean"
    )
    app.close()

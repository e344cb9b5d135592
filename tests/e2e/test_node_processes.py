"""Two node processes on two ports (one with two workers) against one PostgreSQL ledger.

Both serve the same data directory (docs/operations.md, "Several node processes"): clients
append through one and read through the other; every acknowledged step is stored once at the
index its receipt names, the index is dense, the audit is clean, checkpoints signed through
either process form one sequence kept in the one ``last-checkpoint.note``. A process on a
*second* data directory against the same ledger is refused before it signs (``split_state``).
"""

from __future__ import annotations

import shutil
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from adapters.access import open_access_store
from adapters.bootstrap import open_ledger
from adapters.checkpoint_state import LAST_CHECKPOINT_FILE
from adapters.settings import Settings
from api.client import TongbanClient
from ledger.application import LedgerApplication
from ledger.audit import verify_ledger
from ledger.notes import parse_checkpoint, parse_note
from ledger.transparency import TreeError
from ledger.workflow import CaseWorkflow, SignedCoreOnly
from tests.support.live import ServerProcess
from tests.support.world import World, make_world

pytestmark = pytest.mark.postgres
CLIENTS = 4
CASES_PER_CLIENT = 3


@pytest.fixture
def schema(postgres_schema: str) -> str:
    """A fresh schema (``tests/conftest.py``), dropped after the test."""
    return postgres_schema


def _checkpoint_size(note: str) -> int:
    return parse_checkpoint(parse_note(note).text).size


def test_two_node_processes_share_one_ledger_and_one_checkpoint_state(
    tmp_path: Path, postgres_url: str, schema: str
) -> None:
    world = make_world(tmp_path, database_url=postgres_url, schema=schema, workflow=CaseWorkflow())
    world.app.close()
    access = open_access_store(postgres_url, tmp_path, schema=schema)
    now = datetime.now(UTC)
    token, _ = access.create_token("body", "510104-RS", now=now)
    admin, _ = access.create_token("admin", "ops", now=now)
    access.close()
    officer = world.officers["rs-001"]
    env = {
        "TONGBAN_DATABASE_URL": postgres_url,
        "TONGBAN_DATABASE_SCHEMA": schema,
        "TONGBAN_CHECKPOINT_EVENTS": "5",  # both processes sign checkpoints as they go
    }
    first = ServerProcess(tmp_path, env, workers=2, name="first")
    second = ServerProcess(tmp_path, env, workers=1, name="second")
    acknowledged: list[tuple[uuid.UUID, int, int]] = []
    failed: list[str] = []
    lock = threading.Lock()
    try:
        urls = [first.start(timeout=120), second.start(timeout=120)]  # a loaded machine

        def client(n: int) -> None:
            try:
                writer, reader = urls[n % 2], urls[(n + 1) % 2]
                with (
                    TongbanClient(
                        writer,
                        token,
                        officer.signer,
                        body_id=officer.body_id,
                        officer_id=officer.officer_id,
                    ) as mine,
                    httpx.Client(base_url=reader, timeout=30) as other,
                ):
                    for _ in range(CASES_PER_CLIENT):
                        opened = mine.receive(
                            "510000/1/5",
                            "online",
                            {"name": "李四", "id_number": "11010519491231002X"},
                            home_body="510104-RS",
                            jurisdiction="510104",
                            materials=[("申请表", bytes(32))],
                        )
                        done = [opened]
                        done.append(
                            mine.step(
                                opened.case_id,
                                "form_checked",
                                {"result": "pass", "reasons": [], "identity_verified": True},
                            )
                        )
                        # The other process reads what this one acknowledged, at once
                        # (read-your-writes across processes: one database, no cache).
                        seen = other.get(
                            f"/cases/{opened.case_id}",
                            headers={"Authorization": f"Bearer {token}"},
                        )
                        assert seen.status_code == 200, seen.text
                        assert seen.json()["timeline"][-1]["step"] == "form_checked:pass"
                        with lock:
                            acknowledged.extend((d.case_id, d.seq, d.index) for d in done)
            except Exception as error:  # reported below; a thread's error is otherwise lost
                failed.append(f"client {n}: {type(error).__name__}: {error}")

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert not any(thread.is_alive() for thread in threads), "a client never finished"
        assert not failed, failed

        # A checkpoint through each process: one sequence, each extending the one before.
        sizes = []
        for url in (urls[0], urls[1], urls[0]):
            answer = httpx.post(
                f"{url}/audit/checkpoint",
                headers={"Authorization": f"Bearer {admin}"},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            sizes.append(_checkpoint_size(answer.text))
        assert sizes == sorted(sizes)
    finally:
        first.stop()
        second.stop()

    app = open_ledger(
        Settings(data_dir=tmp_path, database_url=postgres_url, database_schema=schema),
        workflow=CaseWorkflow(),
    )
    try:
        stored = {(e.stream_id, e.seq): e.index for e in app.entries_after(0, 100_000)}
        indexes = sorted(stored.values())
        assert indexes == list(range(1, len(indexes) + 1)), "the ledger index has a gap"
        assert len(acknowledged) == CLIENTS * CASES_PER_CLIENT * 2
        for case_id, seq, index in acknowledged:
            assert stored[(case_id, seq)] == index, "an acknowledged step is missing or moved"
        latest = app.latest_checkpoint()
        assert latest is not None
        kept = (tmp_path / LAST_CHECKPOINT_FILE).read_text()
        assert kept == latest.render(), "the one kept state is the newest stored checkpoint"
        report = verify_ledger(app)
        assert report.exit_code == 0, report.findings[:5]
    finally:
        app.close()


def test_a_process_on_a_second_data_directory_signs_nothing(
    tmp_path: Path, postgres_url: str, schema: str
) -> None:
    home = tmp_path / "home"
    world = make_world(home, database_url=postgres_url, schema=schema, workflow=SignedCoreOnly())
    officer = world.officers["rs-001"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    # Another directory for the same ledger: the trust roots copied, a node key of its own
    # (what `tongban serve` on a fresh directory makes).
    shutil.copy2(home / "trust.json", elsewhere / "trust.json")
    other = _opened(elsewhere, postgres_url, schema, world)
    try:
        world.append_case(officer, 3)
        world.app.issue_checkpoint()
        world.append_case(officer, 3)
        with pytest.raises(TreeError) as refused:
            other.issue_checkpoint()  # the stored checkpoint is another key's: split_state
        assert refused.value.reason == "split_state"
        assert not (elsewhere / LAST_CHECKPOINT_FILE).exists(), "it kept nothing"
        assert world.app.issue_checkpoint() is not None  # the node's own directory signs on
    finally:
        other.close()
        world.app.close()


def test_a_kept_note_put_back_from_an_older_copy_takes_the_nodes_newer_checkpoint(
    tmp_path: Path, postgres_url: str, schema: str
) -> None:
    world = make_world(
        tmp_path, database_url=postgres_url, schema=schema, workflow=SignedCoreOnly()
    )
    officer = world.officers["rs-001"]
    try:
        world.append_case(officer, 3)
        world.app.issue_checkpoint()
        older = (tmp_path / LAST_CHECKPOINT_FILE).read_text()  # a backup of the directory
        world.append_case(officer, 3)
        newer = world.app.issue_checkpoint()
        (tmp_path / LAST_CHECKPOINT_FILE).write_text(older)  # the directory restored
        world.append_case(officer, 3)
        signed = world.app.issue_checkpoint()  # the node's own newer checkpoint is adopted
        assert _checkpoint_size(signed.render()) > _checkpoint_size(newer.render())
        assert (tmp_path / LAST_CHECKPOINT_FILE).read_text() == signed.render()
    finally:
        world.app.close()


def _opened(data_dir: Path, postgres_url: str, schema: str, world: World) -> LedgerApplication:
    return open_ledger(
        Settings(data_dir=data_dir, database_url=postgres_url, database_schema=schema),
        workflow=SignedCoreOnly(),
        clock=world.clock,
    )

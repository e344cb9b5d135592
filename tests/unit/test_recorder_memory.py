"""The recorder contract on the in-memory store (``adapters.memory``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.memory import MemoryLedgerRecorder
from ledger.audit import verify_ledger
from ledger.notes import parse_checkpoint
from ledger.workflow import SignedCoreOnly
from tests.integration.recorder_contract import RecorderContract
from tests.support.world import make_memory_world


class TestMemoryRecorder(RecorderContract):
    @pytest.fixture
    def recorder(self) -> MemoryLedgerRecorder:
        return MemoryLedgerRecorder()


def test_a_ledger_in_memory_appends_audits_and_checkpoints_without_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # anything written relative to the working directory lands here
    world = make_memory_world(workflow=SignedCoreOnly())
    world.append_case(world.officers["rs-001"], 3)
    note = world.app.issue_checkpoint()
    report = verify_ledger(world.app)
    assert report.ok, report.findings
    assert isinstance(world.app.recorder, MemoryLedgerRecorder)
    assert parse_checkpoint(note.text).size == world.app.store.max_index() == 6 + 3
    assert list(tmp_path.iterdir()) == []

"""The recorder contract on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from adapters.bootstrap import persistence_env
from adapters.sqlite import SQLiteLedgerRecorder
from tests.integration.recorder_contract import RecorderContract


class TestSQLiteRecorder(RecorderContract):
    @pytest.fixture
    def recorder(self, tmp_path: Path) -> Iterator[SQLiteLedgerRecorder]:
        env = persistence_env(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
        factory = InfrastructureFactory.construct(Environment("tongban", env))
        recorder = factory.application_recorder()
        assert isinstance(recorder, SQLiteLedgerRecorder)
        yield recorder
        factory.close()

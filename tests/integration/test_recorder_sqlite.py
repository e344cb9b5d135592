"""The recorder contract on SQLite."""

from __future__ import annotations

import uuid
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

    def test_one_streams_rows_are_read_through_the_keys(
        self, recorder: SQLiteLedgerRecorder
    ) -> None:
        """``select_stream_rows`` (an audit of one case, a case page's timeline, the registry)
        reads both tables through their (originator_id, originator_version) keys: filtered on
        COALESCE over the join, it scanned both whole tables (seconds a case page on
        1,000,000 events, P13)."""
        stream = uuid.uuid4().hex
        with recorder.datastore.transaction(commit=False) as c:
            c.execute(
                "EXPLAIN QUERY PLAN " + recorder._rows_query(one_stream=True), (stream, stream)
            )
            plan = [str(row[-1]) for row in c.fetchall()]
        # Each table searched through an index by the stream (the scan before: "SCAN e").
        for table in (recorder.events_table_name, recorder.ledger_table_name):
            assert any(
                step.startswith(f"SEARCH {table} USING INDEX") and "originator_id=?" in step
                for step in plan
            ), plan
        assert "SCAN e" not in plan, plan

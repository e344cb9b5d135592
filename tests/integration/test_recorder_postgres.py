"""The recorder contract on PostgreSQL (a fresh schema per test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from adapters.bootstrap import persistence_env
from adapters.postgres import PostgresLedgerRecorder
from tests.integration.recorder_contract import RecorderContract

pytestmark = pytest.mark.postgres


class TestPostgresRecorder(RecorderContract):
    @pytest.fixture
    def recorder(self, postgres_url: str, postgres_schema: str) -> Iterator[PostgresLedgerRecorder]:
        env = persistence_env(postgres_url, schema=postgres_schema)
        factory = InfrastructureFactory.construct(Environment("tongban", env))
        recorder = factory.application_recorder()
        assert isinstance(recorder, PostgresLedgerRecorder)
        yield recorder
        factory.close()  # release the pool before the schema is dropped

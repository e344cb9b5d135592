"""The ledger contract on PostgreSQL (a fresh schema per test)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.vault import PersonalDataVault, PostgresVault
from ledger.workflow import SignedCoreOnly
from tests.integration.ledger_contract import LedgerContract, PostgresRawStore, RawStore
from tests.support.world import World, make_world

pytestmark = pytest.mark.postgres

MASTER_KEY = bytes(range(32))


class TestPostgresLedger(LedgerContract):
    @pytest.fixture
    def world(self, tmp_path: Path, postgres_url: str, postgres_schema: str) -> Iterator[World]:
        world = make_world(
            tmp_path, database_url=postgres_url, schema=postgres_schema, workflow=SignedCoreOnly()
        )
        yield world
        world.app.close()  # release the pool before the schema is dropped

    @pytest.fixture
    def raw(self, world: World, postgres_url: str, postgres_schema: str) -> RawStore:
        return PostgresRawStore(postgres_url, postgres_schema)

    @pytest.fixture
    def vault(self, postgres_url: str, postgres_schema: str) -> PersonalDataVault:
        return PostgresVault(postgres_url, postgres_schema, master_key=MASTER_KEY)

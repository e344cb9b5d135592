"""The ledger contract on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.vault import PersonalDataVault, SQLiteVault
from ledger.workflow import SignedCoreOnly
from tests.integration.ledger_contract import LedgerContract, RawStore, SQLiteRawStore
from tests.support.world import World, make_world

MASTER_KEY = bytes(range(32))


class TestSQLiteLedger(LedgerContract):
    @pytest.fixture
    def world(self, tmp_path: Path) -> Iterator[World]:
        world = make_world(tmp_path, workflow=SignedCoreOnly())
        yield world
        world.app.close()

    @pytest.fixture
    def raw(self, world: World, tmp_path: Path) -> RawStore:
        return SQLiteRawStore(tmp_path / "ledger.sqlite3")

    @pytest.fixture
    def vault(self, tmp_path: Path) -> PersonalDataVault:
        return SQLiteVault(tmp_path / "vault.sqlite3", master_key=MASTER_KEY)

"""``adapters.bootstrap.open_ledger`` on SQLite: what a read-only open does to a new ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.bootstrap import open_ledger, open_services
from adapters.settings import Settings


def test_a_read_only_open_of_a_new_sqlite_ledger_makes_it_as_before(tmp_path: Path) -> None:
    """``tongban demo`` probes its new directory read-only. The 0600 file created before
    SQLite opens it was then taken for an existing ledger and opened read-only, and SQLite
    could not set it up ("attempt to write a readonly database"): no demo could be built."""
    settings = Settings(data_dir=tmp_path / "node", region="510000")
    app = open_ledger(settings, read_only=True)
    try:
        assert app.store.max_index() == 0
    finally:
        app.close()
    app = open_ledger(settings, read_only=True)  # now it exists: opened read-only
    try:
        assert app.store.max_index() == 0
    finally:
        app.close()


@pytest.mark.postgres
def test_closing_a_node_gives_back_its_witness_store_connections(
    tmp_path: Path, postgres_url: str, postgres_schema: str
) -> None:
    settings = Settings(
        data_dir=tmp_path / "node",
        region="510000",
        database_url=postgres_url,
        database_schema=postgres_schema,
    )
    services = open_services(settings)
    try:
        store = services.witness_store()
        assert services.witness_store() is store  # opened once per node
        assert store.evidence_list() == []
        kept = store.kept_connections()
        assert kept, "a PostgreSQL store keeps its connection for the next call"
    finally:
        services.close()
        services.ledger.close()
    assert all(connection.closed for connection in kept)

"""``adapters.bootstrap.open_ledger`` on SQLite: what a read-only open does to a new ledger."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from adapters.bootstrap import open_ledger, open_services
from adapters.sessions import SessionStore, SessionStoreError
from adapters.settings import Settings
from adapters.sqlstore import sqlite_connector


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


def test_a_sqlite_store_keeps_a_clean_connection_and_drops_a_failed_one(tmp_path: Path) -> None:
    """An SQLite store keeps its connection for the next call, as a PostgreSQL one does (a
    new connection reads the schema again: most of a small page's time); a call that failed
    gives its connection up, and closing the store closes the kept ones."""
    store = SessionStore(sqlite_connector(tmp_path / "sessions.sqlite3"), "?")
    assert store.session("tbs_" + "00" * 32, 0) is None
    [kept] = store.kept_connections()
    assert store.session("tbs_" + "00" * 32, 0) is None
    assert store.kept_connections() == [kept]  # the same one, used again
    with pytest.raises(SessionStoreError), store._tx() as cur:
        cur.execute("SELECT * FROM no_such_table")
    assert store.kept_connections() == []
    assert store.session("tbs_" + "00" * 32, 0) is None
    [again] = store.kept_connections()
    store.close()
    assert store.kept_connections() == []
    with pytest.raises(sqlite3.ProgrammingError):
        again.execute("SELECT 1")  # closed

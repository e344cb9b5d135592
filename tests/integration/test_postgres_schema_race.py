"""Node processes starting together on one fresh PostgreSQL schema (``serve --workers N``, two
nodes) each create the tables they need: concurrent ``CREATE TABLE IF NOT EXISTS`` can collide
in PostgreSQL's catalog (``pg_type_typname_nsp_index``), so every store's schema creation takes
one advisory lock first."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import pytest
from eventsourcing.postgres import PostgresDatastore

from adapters.access import AccessStore
from adapters.license_store import SqlLicenseStore
from adapters.postgres import PostgresLedgerRecorder
from adapters.sqlstore import postgres_connector

pytestmark = pytest.mark.postgres

STARTERS = 6


def _start_together(create: Callable[[], Any]) -> list[BaseException]:
    barrier = threading.Barrier(STARTERS)
    failures: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            create()
        except BaseException as failure:  # collected: the assertion names them
            failures.append(failure)

    threads = [threading.Thread(target=start) for _ in range(STARTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return failures


@pytest.mark.parametrize("store", [AccessStore, SqlLicenseStore])
@pytest.mark.parametrize("attempt", range(3))
def test_stores_created_at_once_on_a_fresh_schema_all_start(
    postgres_url: str, postgres_schema: str, store: type[Any], attempt: int
) -> None:
    connect = postgres_connector(postgres_url, postgres_schema)
    args = (connect, "%s", bytes(32)) if store is SqlLicenseStore else (connect, "%s")
    assert _start_together(lambda: store(*args)) == []


@pytest.mark.parametrize("attempt", range(3))
def test_ledger_recorders_created_at_once_on_a_fresh_schema_all_start(
    postgres_url: str, postgres_schema: str, attempt: int
) -> None:
    url = urlparse(postgres_url)

    def create() -> None:
        datastore = PostgresDatastore(
            dbname=url.path.lstrip("/"),
            host=url.hostname or "127.0.0.1",
            port=str(url.port or 5432),
            user=url.username or "postgres",
            password=url.password or "",
            schema=postgres_schema,
        )
        try:
            PostgresLedgerRecorder(datastore, events_table_name="race_events").create_table()
        finally:
            datastore.close()

    assert _start_together(create) == []

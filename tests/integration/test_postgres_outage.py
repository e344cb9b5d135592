"""The PostgreSQL recorder tries a lost database once and lets the API answer 503.

eventsourcing's recorder retried ten times, each try waiting up to the pool timeout: with the
database stopped, an append hung for most of a minute holding the ledger's lock (found by
``tests/reliability/test_crash.py``: clients timed out instead of getting a 503).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import OperationalError, ProgrammingError

from adapters.outage import is_database_unavailable
from ledger.workflow import SignedCoreOnly
from tests.support.world import World, make_world

pytestmark = pytest.mark.postgres


@pytest.fixture
def world(tmp_path: Path, postgres_url: str, postgres_schema: str) -> Iterator[World]:
    world = make_world(
        tmp_path, database_url=postgres_url, schema=postgres_schema, workflow=SignedCoreOnly()
    )
    yield world
    world.app.close()


def database_down(world: World, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every connection the ledger asks for fails, as with the server stopped; count them."""
    calls: list[int] = []

    def get_connection() -> AbstractContextManager[Any]:
        calls.append(1)
        try:
            raise psycopg.OperationalError("connection refused")
        except psycopg.OperationalError as driver:
            raise OperationalError("couldn't get a connection after 5.00 sec") from driver

    monkeypatch.setattr(world.app.recorder.datastore, "get_connection", get_connection)  # type: ignore[attr-defined]
    return calls


def test_reading_events_tries_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    case_id, _ = world.append_case(world.officers["rs-001"], 1)
    calls = database_down(world, monkeypatch)
    with pytest.raises(OperationalError):
        world.app.recorder.select_events(case_id)
    assert len(calls) == 1


def test_eventsourcings_insert_is_refused_without_touching_the_database(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It would store events without their ledger index and receipt: appends use append_objects.
    calls = database_down(world, monkeypatch)
    with pytest.raises(ProgrammingError, match="append_objects"):
        world.app.recorder.insert_events([])
    assert calls == []


def test_an_append_with_the_database_down_fails_at_once_as_unavailable(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    officer = world.officers["rs-001"]
    case_id, done = world.append_case(officer, 1)
    raw = world.event(officer, case_id, 2, done[-1].head.event_hash, "noted")
    calls = database_down(world, monkeypatch)
    with pytest.raises(OperationalError) as raised:
        world.app.append_event(raw)
    assert len(calls) == 1
    assert is_database_unavailable(raised.value)

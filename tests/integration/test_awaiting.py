"""The worklist's 待本部门办理 from the read models (``adapters/readmodel_awaiting.py``) on SQLite
and PostgreSQL: for every body, the cases a replay of the ledger finds waiting for it, in
ledger order, page by page; on SQLite, read along the body's index without sorting its cases."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from adapters.bootstrap import follower_of
from adapters.readmodels import SqlReadModelStore, memory_read_models, open_read_models
from ledger.case_listing import CaseQuery, CaseSummary, ReplayedCaseListing
from ledger.workflow import CaseState, CaseWorkflow
from ledger.workflow.awaiting import WAITING_ON_NOBODY
from tests.support.cases import COMBOS, OFFICERS, LedgerCase, drive, graph, populate, shortest_paths
from tests.support.world import World, make_world


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    url, schema = "", None
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        schema = request.getfixturevalue("postgres_schema")
    made = make_world(
        tmp_path, database_url=url, schema=schema, workflow=CaseWorkflow(), with_jiangsu=True
    )
    populate(made)
    yield made
    made.app.close()


def _store(world: World) -> SqlReadModelStore:
    settings = world.settings
    assert settings is not None
    return open_read_models(
        settings.resolved_database_url(),
        settings.data_dir,
        schema=settings.database_schema or None,
    )


def _a_case_in_every_state(world: World) -> None:
    """For each channel and coordination the packaged catalog opens, a case in every state
    its graph reaches (shortest paths, the actors of each row)."""
    for combo in COMBOS:
        if combo.catalog_changes:  # needs an amended catalog: the others cover its states
            continue
        for path in shortest_paths(graph(combo.channel, combo.coordination)).values():
            if path:
                drive(LedgerCase(world, combo), path)


def _waits(summary: CaseSummary, body: str) -> bool:
    """The actor rule on the summary, as the case page applies it (the oracle)."""
    flow = CaseState(
        state=summary.state,
        channel=summary.channel,
        coordination="single",
        intake_body=summary.intake_body,
        home_body=summary.home_body,
    )
    return any(
        body in flow.actor_bodies(flow.transition(step).actor)
        for step in flow.allowed_steps()
        if step.split(":", 1)[0] not in WAITING_ON_NOBODY
    )


def test_every_body_gets_the_cases_waiting_for_it_in_ledger_order(world: World) -> None:
    _a_case_in_every_state(world)
    store = _store(world)
    follower_of(world.app, store).catch_up()
    replayed = ReplayedCaseListing(world.app)
    waiting_somewhere = 0
    for body in sorted(set(OFFICERS.values())):
        cases = replayed.list_cases(CaseQuery(body=body)).cases
        expected = [c.case_id for c in cases if _waits(c, body)]
        found = store.awaiting_summaries(body, limit=1000)
        assert [c.case_id for c in found] == expected, body
        by_id = {c.case_id: c for c in cases}
        for summary in found:  # the listing's columns, as the replay has them
            listed = by_id[summary.case_id]
            assert (summary.state, summary.item, summary.steps) == (
                listed.state,
                listed.item,
                listed.steps,
            )
        pages: list[uuid.UUID] = []
        for offset in range(0, len(expected) + 3, 3):
            pages += [c.case_id for c in store.awaiting_summaries(body, offset=offset, limit=3)]
        assert pages == expected, body
        waiting_somewhere += len(expected)
    # not vacuous: the window, the home body and the handlers each wait on some case
    assert store.awaiting_summaries("510104-RS") and store.awaiting_summaries("320105-ZWFW")
    assert waiting_somewhere > 20
    assert store.awaiting_summaries("no-such-body") == []
    store.close()


def test_the_waiting_cases_are_read_along_the_bodys_index_not_sorted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The query walks (party, opened_index) and stops after the page: SQLite sorting every case
    of a busy body (100,000 on the benchmark ledger) per page is what P13 cannot afford."""
    store = memory_read_models(tmp_path / "readmodels.sqlite3")
    statements: list[str] = []
    connect = store._connect

    @contextmanager
    def traced() -> Iterator[sqlite3.Connection]:
        with connect() as conn:
            conn.set_trace_callback(statements.append)
            yield conn

    monkeypatch.setattr(store, "_connect", traced)
    store.awaiting_summaries("510104-RS", offset=50, limit=51)
    (query,) = (s for s in statements if "FROM readmodel_case_parties p" in s)
    monkeypatch.undo()
    with store._tx() as cur:
        cur.execute("EXPLAIN QUERY PLAN " + query)
        plan = [str(row[-1]) for row in cur.fetchall()]
    store.close()
    assert any("readmodel_parties_order" in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan

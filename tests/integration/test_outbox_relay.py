"""The relay in process, on SQLite and on PostgreSQL ledgers, into a private JetStream."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.outbox import OutboxRelay, StreamNames, ensure_streams, outbox_lag
from adapters.outbox_store import OutboxPositionStore, open_outbox_store
from ledger.receipts import parse_receipt
from ledger.reporting import parse_report
from ledger.workflow import CaseWorkflow
from tests.support.nats_server import NatsServer, nats_server
from tests.support.world import World, iter_online_cases, make_world

NAMES = StreamNames("510000")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    with nats_server(tmp_path_factory.mktemp("nats")) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def node(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[World, OutboxPositionStore]]:
    url, schema = "", None
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        schema = request.getfixturevalue("postgres_schema")
    world = make_world(tmp_path, database_url=url, schema=schema, workflow=CaseWorkflow())
    store = open_outbox_store(url, tmp_path, schema=schema)
    yield world, store
    store.close()
    world.app.close()


async def _publish(world: World, store: OutboxPositionStore, url: str, stream: str) -> int:
    import nats

    names = StreamNames("510000", stream=stream, prefix=f"t.{stream}")
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await ensure_streams(js, names)
        relay = OutboxRelay(world.app, store, js, names, batch=7)
        await relay.run(until_caught_up=True)
        return relay.published
    finally:
        await nc.close()


async def _hashes(url: str, stream: str) -> dict[int, bytes]:
    import nats

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        found = {}
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            message = parse_report((await js.get_msg(stream, seq)).data or b"")
            found[message.index] = parse_receipt(message.receipt).event_hash
        assert len(found) == info.state.messages
        return found
    finally:
        await nc.close()


def test_the_relay_publishes_the_ledger_once_and_stores_its_position(
    node: tuple[World, OutboxPositionStore], broker: NatsServer, request: pytest.FixtureRequest
) -> None:
    world, store = node
    stream = f"R_{request.node.callspec.id.upper()}"
    names = StreamNames("510000", stream=stream)
    list(iter_online_cases(world, 3))
    head = world.app.store.max_index()
    assert outbox_lag(world.app, store, names) == head
    assert asyncio.run(_publish(world, store, broker.url, stream)) == head
    assert store.published_up_to(stream) == head
    assert outbox_lag(world.app, store, names) == 0
    list(iter_online_cases(world, 1))
    # Set back, as after a crash between the acknowledgements and the position's move.
    store.rewind(stream, head - 5)
    assert asyncio.run(_publish(world, store, broker.url, stream)) == 10  # only the new case
    ledger = {
        e.index: parse_receipt(e.receipt).event_hash for e in world.app.entries_after(0, 10**6)
    }
    assert asyncio.run(_hashes(broker.url, stream)) == ledger


class _Unanswered:
    """A broker connection that takes every message and never acknowledges one."""

    def new_inbox(self) -> str:
        return "_INBOX.t"

    async def subscribe(self, subject: str, cb: object) -> _Unanswered:
        return self

    async def unsubscribe(self) -> None:
        return None

    async def publish(self, *args: object, **kwargs: object) -> None:
        return None


class _SilentBroker:
    _nc = _Unanswered()


def test_a_retried_broker_error_is_logged_with_its_kind_when_it_has_no_text(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = make_world(tmp_path, workflow=CaseWorkflow())
    store = open_outbox_store("", tmp_path)
    try:
        list(iter_online_cases(world, 1))

        async def run() -> None:
            async def stop_after(seconds: float) -> None:
                relay.stop.set()

            relay = OutboxRelay(
                world.app, store, _SilentBroker(), NAMES, ack_timeout=0.01, sleep=stop_after
            )
            await relay.run()

        with caplog.at_level("WARNING", logger="adapters.outbox"):
            asyncio.run(run())
        (line,) = [r.getMessage() for r in caplog.records if "retrying" in r.message]
        # The acknowledgements' wait timed out (TimeoutError has no text): it read "retrying in
        # 0.1s: " before, a retry with no reason.
        assert line.endswith("retrying in 0.1s: TimeoutError")
    finally:
        store.close()
        world.app.close()

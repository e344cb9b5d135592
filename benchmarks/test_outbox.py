"""P10: the outbox's throughput (ledger index to JetStream) as a ratio of P3's append rate.

The relay of ``tongban outbox run`` (``adapters.outbox.OutboxRelay``: read a batch after the
position, build each index's report message, publish it pipelined, wait for every
acknowledgement, move the position) over a PostgreSQL ledger of ``TONGBAN_BENCH_P10_EVENTS``
events (default 2,000, ten-step cases by the bulk loader) into a private ``nats-server -js``
(file storage, one message per subject, discard new per subject). Each round publishes the
whole ledger into a stream of its own, so every message is stored, none refused as a
duplicate. The baseline is P3, the signed append over HTTP with 8 clients, measured in the
same run (``benchmarks/test_http_append.py``): the ratio says how many times faster than
the node can accept events the outbox carries them away (goal ≥ 2x).

Run: ``make bench`` or ``pytest benchmarks/test_http_append.py benchmarks/test_outbox.py``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from itertools import count
from typing import Any

import pytest

from adapters.outbox import OutboxRelay, StreamNames, ensure_streams
from api.cli_outbox import MemoryPosition
from benchmarks.loader import load, new_world
from tests.support.nats_server import NatsServer, nats_server
from tests.support.world import World

P3 = "P3 signed append over HTTP, 8 clients"


def p9_events() -> int:
    return int(os.environ.get("TONGBAN_BENCH_P10_EVENTS", "2000"))


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    with nats_server(tmp_path_factory.mktemp("p9-nats")) as server:
        yield server


@pytest.fixture(scope="module")
def loaded(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str, new_schema: Any
) -> Iterator[World]:
    world = new_world(tmp_path_factory.mktemp("p9-node"), postgres_url, new_schema("p9"))
    load(world, p9_events())
    yield world
    world.app.close()


def test_p10_outbox_publish(benchmark: Any, record: Any, loaded: World, broker: NatsServer) -> None:
    import nats

    events = loaded.app.store.max_index()
    record(
        "P10 outbox: ledger to JetStream",
        baseline=P3,
        ops=events,
        note="relay: read, build report, publish pipelined, all acks, position; file store",
    )
    loop = asyncio.new_event_loop()
    nc = loop.run_until_complete(nats.connect(broker.url, pending_size=64 * 1024 * 1024))
    js = nc.jetstream()
    rounds = count()

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        n = next(rounds)
        names = StreamNames("510000", stream=f"P10_{n}", prefix=f"p10.{n}")
        loop.run_until_complete(ensure_streams(js, names))
        relay = OutboxRelay(loaded.app, MemoryPosition(0), js, names, batch=500)  # type: ignore[arg-type]
        return (relay,), {}

    def publish_all(relay: OutboxRelay) -> None:
        loop.run_until_complete(relay.run(until_caught_up=True))
        assert relay.published == events

    benchmark.pedantic(publish_all, setup=setup, rounds=5, warmup_rounds=1)
    loop.run_until_complete(nc.close())
    loop.close()

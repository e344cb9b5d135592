"""P3: signed append over HTTP vs a trivial FastAPI endpoint, same load generator.

A live uvicorn (``python -m api.cli serve``, one worker) on PostgreSQL; 8 client threads, each
its own ``httpx.Client`` (keep-alive) and its own case, post ``application/msgpack`` envelopes
to ``/cases/{id}/events``: bearer-token auth, the body check, signature check, the real
``CaseWorkflow`` (``suspended`` / ``resumed`` steps of accepted cases, opened in-process
first) and a durable commit with receipt. The baseline is ``benchmarks/trivial_app.py``
(``POST /echo``, same body size, uvicorn, one worker) under the same 8 threads. The load
generator shares this 2-core machine with the server.

Run: ``TONGBAN_TEST_POSTGRES_URL=postgresql://user@host:5432/db make bench`` (default
``postgresql://postgres@127.0.0.1:5432/test``); skipped with a reason if unreachable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.access import open_access_store
from benchmarks.loader import CaseWriter, new_world
from benchmarks.trivial_app import serve_trivial
from ledger.application import now_micros
from tests.support.live import live_node

CLIENTS = 8
EACH = 5  # requests per client per round
ROUNDS = 10
BASELINE = "P3 baseline: trivial FastAPI, 8 clients"


@pytest.fixture(scope="module")
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(CLIENTS) as executor:
        yield executor


def _round(
    pool: ThreadPoolExecutor, clients: list[httpx.Client], posts: list[list[tuple[str, bytes]]]
) -> None:
    def run(client: httpx.Client, mine: list[tuple[str, bytes]]) -> Callable[[], None]:
        def go() -> None:
            for path, body in mine:
                answer = client.post(path, content=body)
                if answer.status_code != 201:
                    raise AssertionError(f"{path}: {answer.status_code} {answer.text[:300]}")

        return go

    for future in [pool.submit(run(c, p)) for c, p in zip(clients, posts, strict=True)]:
        future.result()


def _clients(url: str, headers: dict[str, str]) -> list[httpx.Client]:
    return [httpx.Client(base_url=url, headers=headers, timeout=30) for _ in range(CLIENTS)]


def test_p3_trivial_fastapi(
    benchmark: Any, record: Any, pool: ThreadPoolExecutor, tmp_path: Path
) -> None:
    record(BASELINE, ops=CLIENTS * EACH, note="POST /echo, uvicorn, 1 worker")
    with serve_trivial(tmp_path / "trivial.log") as url:
        clients = _clients(url, {"Content-Type": "application/msgpack"})
        body = bytes(600)
        posts = [[("/echo", body)] * EACH for _ in clients]
        benchmark.pedantic(_round, args=(pool, clients, posts), rounds=ROUNDS, warmup_rounds=1)
        for client in clients:
            client.close()


def test_p3_signed_append_over_http(
    benchmark: Any,
    record: Any,
    postgres_url: str,
    new_schema: Any,
    tmp_path: Path,
    pool: ThreadPoolExecutor,
) -> None:
    figure = "P3 signed append over HTTP, 8 clients"
    record(
        figure,
        baseline=BASELINE,
        ops=CLIENTS * EACH,
        note="live uvicorn, 1 worker, PG; auth+signature+workflow+durable write",
    )
    schema = new_schema("p3")
    world = new_world(tmp_path, postgres_url, schema)
    writers = [CaseWriter(world, case_steps=10**9) for _ in range(CLIENTS)]
    for writer in writers:  # received, form_checked, accepted: then suspend/resume over HTTP
        for _ in range(3):
            world.app.append_event(writer.next_event(world.clock.now))
    world.app.close()
    token, _ = open_access_store(postgres_url, tmp_path, schema=schema).create_token(
        "body", "510104-RS", now=datetime.now(UTC)
    )
    env = {
        "TONGBAN_DATABASE_URL": postgres_url,
        "TONGBAN_DATABASE_SCHEMA": schema,
        "TONGBAN_WITNESS_PUSH_SECONDS": "0",
    }
    with live_node(tmp_path, env) as url:
        headers = {"Content-Type": "application/msgpack", "Authorization": f"Bearer {token}"}
        clients = _clients(url, headers)

        def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
            posts = [
                [(f"/cases/{w.case_id}/events", raw) for raw in w.batch(EACH, now_micros)]
                for w in writers
            ]
            return (pool, clients, posts), {}

        benchmark.pedantic(_round, setup=setup, rounds=ROUNDS, warmup_rounds=1)
        for client in clients:
            client.close()

"""A database that cannot be reached is a 503 with ``Retry-After``, never a 500 or a long wait,
and the client says so (``Unavailable``) after retrying the same request.

Found by ``tests/reliability/test_crash.py``: with PostgreSQL stopped, every request answered a
bare 500 (the access store's error fell through to the catch-all), and with 16 clients the
appends queued behind the ledger's lock each waited the pool timeout in turn (clients timed out).
"""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import httpx
import psycopg
import pytest
from eventsourcing.persistence import OperationalError, ProgrammingError
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg_pool import PoolTimeout

from adapters.access import AccessStoreError
from adapters.outage import RETRY_AFTER_SECONDS, FailFastWhileDown, is_database_unavailable
from adapters.vault import VaultOperationalError
from api.client import Refused, TongbanClient, Unavailable
from api.errors import install_error_handlers
from tests.support.world import seeded


def refused_connection() -> psycopg.OperationalError:
    """A real driver error: nothing listens on the port (bound here, never listened on, so
    no other process can take it meanwhile)."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        try:
            psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/x", connect_timeout=5)
        except psycopg.OperationalError as error:
            return error
    raise AssertionError("something listens on a port bound here")


def wrapped(outer: Exception, cause: BaseException) -> Exception:
    try:
        raise outer from cause
    except Exception as error:
        return error


def test_driver_connection_errors_are_unavailability_through_any_wrapper() -> None:
    down = refused_connection()
    assert is_database_unavailable(down)
    assert is_database_unavailable(wrapped(AccessStoreError("AccessStore failed"), down))
    assert is_database_unavailable(wrapped(OperationalError("pool timeout"), down))
    assert is_database_unavailable(wrapped(VaultOperationalError("vault"), down))
    assert is_database_unavailable(sqlite3.OperationalError("database is locked"))


def test_bugs_are_not_unavailability() -> None:
    assert not is_database_unavailable(ValueError("bad"))
    assert not is_database_unavailable(
        wrapped(AccessStoreError("AccessStore failed"), psycopg.ProgrammingError("syntax"))
    )
    assert not is_database_unavailable(ProgrammingError("no such table"))
    assert not is_database_unavailable(sqlite3.OperationalError("no such table: x"))


@pytest.fixture
def http() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    down = refused_connection()

    @app.get("/access")
    def access() -> None:
        raise AccessStoreError("AccessStore failed") from down

    @app.get("/ledger")
    def ledger() -> None:
        raise OperationalError("couldn't get a connection after 5.00 sec") from down

    @app.get("/vault")
    def vault() -> None:
        raise VaultOperationalError("PostgreSQL vault: connection refused") from down

    @app.get("/bug")
    def bug() -> None:
        raise AccessStoreError("AccessStore failed") from psycopg.ProgrammingError("syntax")

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("path", ["/access", "/ledger", "/vault"])
def test_an_unreachable_database_is_a_503_problem_with_retry_after(
    http: TestClient, path: str
) -> None:
    response = http.get(path)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    problem = response.json()
    assert problem["reason"] == "database_unavailable"
    assert "database" in problem["detail"]
    assert "5432" not in problem["detail"] and "127.0.0.1" not in problem["detail"]


def test_a_store_bug_stays_a_500_without_internals(http: TestClient) -> None:
    response = http.get("/bug")
    assert response.status_code == 500
    assert "syntax" not in response.text


# -- the client ---------------------------------------------------------------------------------

PROBLEM_503 = {"status": 503, "reason": "database_unavailable", "detail": "retry later"}
RECEIPT_ANSWER = {"status": "ok", "ledger": "tongban/510000", "region": "510000"}


def client_with(
    answers: list[httpx.Response], sleeps: list[float], retries: int = 2
) -> tuple[TongbanClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers[min(len(seen), len(answers)) - 1]

    client = TongbanClient(
        "http://node",
        "tb_x",
        seeded("officer"),
        body_id="510104-RS",
        officer_id="rs-001",
        retries=retries,
        transport=httpx.MockTransport(handler),
        sleep=sleeps.append,
    )
    return client, seen


def answer(status: int, body: Mapping[str, object], **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/problem+json", **headers},
    )


def test_the_client_retries_a_503_after_retry_after_then_succeeds() -> None:
    sleeps: list[float] = []
    client, seen = client_with(
        [answer(503, PROBLEM_503, **{"Retry-After": "1"}), answer(200, RECEIPT_ANSWER)], sleeps
    )
    assert client.node()["ledger"] == "tongban/510000"
    assert len(seen) == 2
    assert sleeps == [1.0]


def test_the_client_raises_unavailable_naming_the_cause_after_its_retries() -> None:
    sleeps: list[float] = []
    client, seen = client_with([answer(503, PROBLEM_503, **{"Retry-After": "30"})], sleeps)
    with pytest.raises(Unavailable) as raised:
        client.node()
    assert raised.value.status == 503
    assert raised.value.reason == "database_unavailable"
    assert raised.value.retry_after == 30.0
    assert not isinstance(raised.value, Refused)  # not a refusal: the same bytes may be re-sent
    assert len(seen) == 3
    assert sleeps == [client.max_wait, client.max_wait]  # Retry-After capped


def test_a_500_is_unavailable_at_once_and_a_4xx_stays_refused() -> None:
    sleeps: list[float] = []
    client, seen = client_with([answer(500, {"status": 500, "detail": "x"})], sleeps)
    with pytest.raises(Unavailable) as raised:
        client.node()
    assert raised.value.status == 500 and len(seen) == 1 and not sleeps
    client, _ = client_with([answer(422, {"status": 422, "reason": "malformed"})], sleeps)
    with pytest.raises(Refused):
        client.node()


# -- failing fast while the database is down ---------------------------------------------------


class FakePool:
    """``get_connection`` of a datastore whose pool times out while ``down``."""

    def __init__(self) -> None:
        self.down = True
        self.asked = 0

    @contextmanager
    def get_connection(self) -> Iterator[str]:
        self.asked += 1
        if self.down:
            try:
                raise PoolTimeout("couldn't get a connection after 5.00 sec")
            except PoolTimeout as timeout:
                raise OperationalError(str(timeout)) from timeout
        yield "connection"


def test_after_a_pool_timeout_requests_fail_at_once_until_the_next_probe() -> None:
    pool, now = FakePool(), [100.0]
    guarded = FailFastWhileDown(pool.get_connection, hold=5.0, clock=lambda: now[0])
    with pytest.raises(OperationalError), guarded():
        pass
    assert pool.asked == 1
    now[0] += 4.9
    pool.down = False  # back, but nobody probes before the hold is over
    with pytest.raises(OperationalError) as fast, guarded():
        pass
    assert pool.asked == 1, "waited for the pool again instead of failing at once"
    assert is_database_unavailable(fast.value)
    now[0] += 0.2
    with guarded() as connection:
        assert connection == "connection"
    assert pool.asked == 2


def test_errors_that_are_not_a_pool_timeout_do_not_hold_requests() -> None:
    pool, now = FakePool(), [0.0]

    @contextmanager
    def broken() -> Iterator[str]:
        pool.asked += 1
        raise OperationalError("server closed the connection unexpectedly")
        yield "never"

    guarded = FailFastWhileDown(broken, hold=5.0, clock=lambda: now[0])
    for _ in range(2):
        with pytest.raises(OperationalError), guarded():
            pass
    assert pool.asked == 2

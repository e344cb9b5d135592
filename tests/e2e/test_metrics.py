"""``/metrics``: Prometheus text that counts appends, refusals by reason, request latency by
route template and group commit sizes, holds no path or personal data, and with several
workers sums all of them whichever worker answers the scrape."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.routing import iter_route_contexts
from prometheus_client.parser import text_string_to_metric_families

from adapters.access import open_access_store
from api.client import TongbanClient
from ledger.workflow import CaseWorkflow
from tests.support.api_node import ApiNode, api_node
from tests.support.live import ServerProcess
from tests.support.world import make_world

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _samples(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _scrape(node: ApiNode) -> tuple[Samples, str]:
    answer = node.get("/metrics", "auditor")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return _samples(answer.text), answer.text


@pytest.fixture
def node(tmp_path: Path) -> Iterator[ApiNode]:
    with api_node(tmp_path) as served:
        yield served


def test_metrics_count_appends_refusals_latency_and_batches(node: ApiNode) -> None:
    route = "/cases/{case_id}/events"
    before, _ = _scrape(node)
    case_id = node.proxy_case()  # one case opened, two steps appended
    refused = node.step(case_id, "510000-ZWFW", "arrived", {"note": ""})  # not its to sign
    assert refused.status_code == 422, refused.text
    after, text = _scrape(node)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("tongban_appends_total", route="/cases", outcome="created") == 1
    assert delta("tongban_appends_total", route=route, outcome="created") == 2
    assert delta("tongban_refusals_total", route=route, reason="not_entitled") == 1
    assert (
        delta(
            "tongban_http_request_duration_seconds_count", method="POST", route=route, status="2xx"
        )
        == 2
    )
    assert delta("tongban_group_commit_size_count") >= 3  # every append went through a batch
    assert _value(after, "tongban_ledger_index") == node.services.ledger.store.max_index()
    # Route templates only: no case id, no applicant's data anywhere in the exposition.
    assert str(case_id) not in text
    assert "11010519491231002X" not in text and "13912345678" not in text
    # Every route the app serves, those left out of the OpenAPI document too (/docs, /redoc:
    # counted when another test of this process requested them).
    # FastAPI keeps included routers whole in ``app.routes``; ``iter_route_contexts`` flattens
    # them (the pages' routes, outside the OpenAPI document, were missed here).
    served = {str(r.path) for r in iter_route_contexts(node.app.routes) if r.path is not None}
    templates = {str(path) for path in node.app.openapi()["paths"]} | served | {"unmatched"}
    routes = {dict(labels)["route"] for (_, labels) in after if "route" in dict(labels)}
    assert routes <= templates, "a label is a path, not a route template"


def test_metrics_need_an_auditor_or_admin_token(node: ApiNode) -> None:
    assert node.get("/metrics").status_code == 401
    assert node.get("/metrics", "home").status_code == 403
    assert node.get("/metrics", "admin").status_code == 200


@pytest.mark.postgres
def test_workers_metrics_sum_over_workers(tmp_path: Path, postgres_url: str) -> None:
    schema = f"metrics_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        world = make_world(
            tmp_path, database_url=postgres_url, schema=schema, workflow=CaseWorkflow()
        )
        world.app.close()
        access = open_access_store(postgres_url, tmp_path, schema=schema)
        token, _ = access.create_token("body", "510104-RS", now=datetime.now(UTC))
        auditor, _ = access.create_token("auditor", "ops", now=datetime.now(UTC))
        access.close()
        officer = world.officers["rs-001"]
        env = {"TONGBAN_DATABASE_URL": postgres_url, "TONGBAN_DATABASE_SCHEMA": schema}
        server = ServerProcess(tmp_path, env, workers=2)
        try:
            url = server.start()
            opened = 0
            for _ in range(6):  # new connections: the kernel spreads them over the workers
                with TongbanClient(
                    url,
                    token,
                    officer.signer,
                    body_id=officer.body_id,
                    officer_id=officer.officer_id,
                ) as client:
                    client.receive(
                        "510000/1/5",
                        "online",
                        {"name": "李四", "id_number": "11010519491231002X"},
                        home_body="510104-RS",
                        jurisdiction="510104",
                        materials=[("申请表", bytes(32))],
                    )
                    opened += 1
            totals = set()
            for _ in range(8):  # each scrape on a new connection, whichever worker takes it
                answer = httpx.get(
                    f"{url}/metrics", headers={"Authorization": f"Bearer {auditor}"}, timeout=30
                )
                assert answer.status_code == 200, answer.text
                samples = _samples(answer.text)
                totals.add(
                    _value(samples, "tongban_appends_total", route="/cases", outcome="created")
                )
            assert totals == {float(opened)}, "every scrape sums every worker's appends"
        finally:
            server.stop()
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_a_node_running_its_outbox_shows_the_outbox_lag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``TONGBAN_OUTBOX`` (``serve --outbox``): the ledger's head minus the index the outbox
    published up to, read from the outbox's stored position at each scrape."""
    from adapters.outbox_store import open_outbox_store

    monkeypatch.setenv("TONGBAN_OUTBOX", "true")
    with api_node(tmp_path) as served:
        head = served.services.ledger.store.max_index()
        samples, _ = _scrape(served)
        assert _value(samples, "tongban_outbox_lag_events") == head > 0
        store = open_outbox_store("", tmp_path)
        assert store.advance("TONGBAN_510000", 0, head - 2)
        samples, _ = _scrape(served)
        assert _value(samples, "tongban_outbox_lag_events") == 2
        store.close()


def test_a_node_without_an_outbox_shows_no_outbox_lag(node: ApiNode) -> None:
    samples, _ = _scrape(node)
    assert not any(name == "tongban_outbox_lag_events" for name, _ in samples)

"""A node's HTTP API in process (FastAPI's TestClient), with a token for every principal kind.

Sichuan's node (510000) trusting Jiangsu (320000), under the real workflow, with four bodies:
two of this region (``510104-RS``, a county handler; ``510000-ZWFW``, the provincial window)
and two of Jiangsu (``320105-ZWFW``, a window; ``320105-RS``, a handler). Requests run in this
process, so a test can compare the stored ledger before and after each one.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI
from fastapi.testclient import TestClient

from adapters.bootstrap import NodeServices, open_services
from adapters.settings import Settings
from api.app import create_app
from ledger.application import now_micros
from ledger.envelope import ZERO_HASH, build_event
from ledger.keys import build_key_record
from ledger.read_models import CaseLegs
from ledger.workflow import CaseWorkflow
from tests.support.world import World, make_world, seeded

MSGPACK = "application/msgpack"
APPLICANT = {
    "name": "欧阳明远",
    "id_number": "11010519491231002X",
    "phone": "13912345678",
    "address": "成都市锦江区红星路三段99号",
}
# Each principal kind of the HTTP API (adapters/access.py), as the tests name them.
PRINCIPALS = (
    "none",  # no Authorization header
    "bad",  # a well-formed token the node never issued
    "revoked",  # a revoked token of 510104-RS
    "home",  # body of this region, on the case (its home body)
    "outsider",  # body of this region, not on the case
    "away",  # body of another region, not on the case
    "window",  # body of another region, on the case (its intake window)
    "auditor",
    "peer",  # region 320000
    "admin",
    "supervisor",  # scoped to 510100 (成都): covers 510104-RS, not 510000-ZWFW
)
SUPERVISOR_SCOPE = "510100"
BODY_OF = {
    "home": "510104-RS",
    "outsider": "510000-ZWFW",
    "away": "320105-RS",
    "window": "320105-ZWFW",
}
OFFICER_OF = {
    "510104-RS": "rs-001",
    "510000-ZWFW": "zw-001",
    "320105-RS": "jsrs-001",
    "320105-ZWFW": "js-001",
}


@dataclass
class ApiNode:
    world: World
    services: NodeServices
    app: FastAPI
    client: TestClient
    data_dir: Path
    tokens: dict[str, str] = field(default_factory=dict)

    # -- requests ----------------------------------------------------------------------------

    def headers(self, principal: str, content_type: str | None = None) -> dict[str, str]:
        headers = {"Content-Type": content_type} if content_type else {}
        if principal != "none":
            headers["Authorization"] = f"Bearer {self.tokens[principal]}"
        return headers

    def get(self, path: str, principal: str = "none", **params: Any) -> httpx.Response:
        answer: httpx.Response = self.client.get(
            path, headers=self.headers(principal), params=params
        )
        return answer

    def post(
        self,
        path: str,
        principal: str,
        content: bytes = b"",
        content_type: str | None = MSGPACK,
    ) -> httpx.Response:
        answer: httpx.Response = self.client.post(
            path, headers=self.headers(principal, content_type), content=content
        )
        return answer

    # -- signing as the bodies' officers -----------------------------------------------------

    def envelope(
        self,
        body_id: str,
        case_id: uuid.UUID,
        seq: int,
        prev: bytes,
        step: str,
        body: dict[str, Any],
        *,
        time: int | None = None,
    ) -> bytes:
        officer = self.world.officers[OFFICER_OF[body_id]]
        return build_event(
            officer.signer,
            ledger=self.world.app.ledger_name,
            case_id=case_id,
            seq=seq,
            event_type=step,
            time=now_micros() if time is None else time,
            body_id=body_id,
            officer_id=officer.officer_id,
            prev=prev,
            body=body,
        )

    def stored_applicant(
        self, principal: str = "window", applicant: dict[str, str] | None = None
    ) -> dict[str, Any]:
        answer = self.client.post(
            "/applicants",
            json=applicant or APPLICANT,
            headers=self.headers(principal),
        )
        assert answer.status_code == 201, answer.text
        stored = answer.json()
        return {
            "ref": stored["ref"],
            "commitments": {k: base64.b64decode(v) for k, v in stored["commitments"].items()},
        }

    def received(
        self,
        body_id: str = "320105-ZWFW",
        *,
        item: str = "510000/2/23",
        channel: str = "proxy",
        applicant: dict[str, str] | None = None,
        case_id: uuid.UUID | None = None,
        **changes: Any,
    ) -> tuple[uuid.UUID, bytes]:
        """A signed ``received`` step, its applicant stored by ``body_id`` (not yet posted)."""
        principal = next(p for p, b in BODY_OF.items() if b == body_id)
        body = self.world.received_body(item, channel, **changes)
        body["applicant"] = self.stored_applicant(principal, applicant)
        body["materials"] = [{"name": "申请表", "sha256": hashlib.sha256(b"form").digest()}]
        case_id = case_id or uuid.uuid4()
        return case_id, self.envelope(body_id, case_id, 1, ZERO_HASH, "received", body)

    def step(
        self, case_id: uuid.UUID, body_id: str, step: str, body: dict[str, Any]
    ) -> httpx.Response:
        """Sign ``step`` on the case's head as ``body_id``'s officer and post it."""
        head = self.services.ledger.head(case_id)
        raw = self.envelope(body_id, case_id, head.seq + 1, head.event_hash, step, body)
        principal = next(p for p, b in BODY_OF.items() if b == body_id)
        return self.post(f"/cases/{case_id}/events", principal, raw)

    def proxy_case(self, applicant: dict[str, str] | None = None) -> uuid.UUID:
        """Jiangsu's window receives a Sichuan item for 510104-RS, checks it and mails it:
        ``window`` and ``home`` are on the case, ``outsider`` and ``away`` are not."""
        case_id, raw = self.received(applicant=applicant)
        opened = self.post("/cases", "window", raw)
        assert opened.status_code == 201, opened.text
        for step, body in (
            ("form_checked", {"result": "pass", "reasons": [], "identity_verified": True}),
            (
                "mailed",
                {"leg": "window_to_home", "courier": "EMS", "tracking_number": "EMS0001"},
            ),
        ):
            answer = self.step(case_id, "320105-ZWFW", step, body)
            assert answer.status_code == 201, answer.text
        return case_id

    def key_record(self, region: str, officer_id: str) -> bytes:
        """A signed ``officer_certified`` record for a new officer of ``region``'s handler,
        on the region registry's head (not yet posted)."""
        ledger = self.services.ledger
        ledger.refresh_registry()
        seq, prev = ledger.registry.head(region)
        body_id = "510104-RS" if region == self.world.region else "320105-RS"
        return build_key_record(
            self.world.body_keys[body_id],
            region=region,
            seq=seq + 1,
            prev=prev,
            record_type="officer_certified",
            time=now_micros(),
            body={
                "public_key": seeded(f"officer/{body_id}/{officer_id}").public_key,
                "key_suite": "ed25519-sha256",
                "valid_from": now_micros(),
                "body_id": body_id,
                "officer_id": officer_id,
            },
        )

    # -- the stored state --------------------------------------------------------------------

    def stored(self) -> dict[str, Any]:
        """Every stored row of the ledger, the vault and the access store, as digests per
        table, with the ledger's newest index: equal before and after a refused request.
        The read models (``readmodel_*``) are left out: derived from the ledger, they follow
        it in the background whatever a request does (``docs/read-models.md``)."""
        settings = self.services.settings
        tables: dict[str, Any] = {}
        if settings.database_url.startswith("postgresql"):
            schema = settings.database_schema
            with psycopg.connect(settings.database_url) as conn:
                names = [
                    row[0]
                    for row in conn.execute(
                        "SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = %s ORDER BY table_name",
                        (schema,),
                    )
                ]
                for name in names:
                    if name.startswith("readmodel_"):
                        continue
                    rows = conn.execute(f'SELECT * FROM "{schema}"."{name}"').fetchall()
                    tables[name] = _digest(sorted(repr(r) for r in rows))
        else:
            for path in sorted(self.data_dir.glob("*.sqlite3")):
                with sqlite3.connect(path) as conn:
                    names = [
                        row[0]
                        for row in conn.execute(
                            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                        )
                    ]
                    for name in names:
                        if name.startswith("readmodel_"):
                            continue
                        rows = conn.execute(f'SELECT * FROM "{name}"').fetchall()
                        tables[f"{path.name}:{name}"] = _digest(sorted(repr(r) for r in rows))
        entries = self.services.ledger.entries_after(0, 100_000)
        tables["ledger index"] = entries[-1].index if entries else 0
        return tables


def _digest(rows: list[str]) -> tuple[int, str]:
    return len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()


def configured_api_node(
    backend: str, request: Any, tmp_path: Path, monkeypatch: Any
) -> Iterator[ApiNode]:
    """For a fixture parametrized over ``sqlite``/``postgres``: the node, on PostgreSQL in a
    fresh schema (``postgres_schema``), with ``TONGBAN_*`` set so the CLI opens the same
    stores."""
    url, schema = "", None
    if backend == "postgres":
        url = request.getfixturevalue("postgres_url")
        schema = request.getfixturevalue("postgres_schema")
    monkeypatch.setenv("TONGBAN_DATABASE_URL", url)
    monkeypatch.setenv("TONGBAN_DATABASE_SCHEMA", schema or "")
    with api_node(tmp_path, database_url=url, schema=schema) as node:
        yield node


@contextmanager
def api_node(
    data_dir: Path,
    *,
    database_url: str = "",
    schema: str | None = None,
    read_database_url: str = "",
    legs: CaseLegs | None = None,
) -> Iterator[ApiNode]:
    """The node of :mod:`tests.support.world` (with Jiangsu) served in process, with a token
    for every principal kind of :data:`PRINCIPALS`."""
    world = make_world(
        data_dir,
        database_url=database_url,
        schema=schema,
        workflow=CaseWorkflow(),
        with_jiangsu=True,
    )
    world.app.close()
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        database_schema=schema or "",
        read_database_url=read_database_url,
        witness_push_seconds=0,
        alert_scan_seconds=0,  # tests scan when they mean to (adapters.supervision.scan_alerts)
    )
    services = open_services(settings)
    if legs is not None:  # before the app's follower starts: the deadlines projection's legs
        services.legs = legs
    world.app = services.ledger  # sign against the serving ledger's registry and catalogs
    now = datetime.now(UTC)
    tokens = {
        principal: services.access.create_token("body", body_id, now=now)[0]
        for principal, body_id in BODY_OF.items()
    }
    for principal, kind, subject in (
        ("auditor", "auditor", "auditor-1"),
        ("peer", "peer", "320000"),
        ("admin", "admin", "admin"),
        ("supervisor", "supervisor", SUPERVISOR_SCOPE),
        ("revoked", "body", "510104-RS"),
    ):
        tokens[principal] = services.access.create_token(kind, subject, now=now)[0]
    services.access.revoke(tokens["revoked"], now=now)
    tokens["bad"] = "tb_" + secrets.token_hex(26)
    app = create_app(services=services)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield ApiNode(world, services, app, client, data_dir, tokens)
    finally:
        services.ledger.close()

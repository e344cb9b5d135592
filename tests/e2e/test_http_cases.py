"""End to end over HTTP against a live uvicorn: a proxy case across regions, and every error path.

Jiangsu's window (320105-ZWFW) receives, checks and mails; Sichuan's county body (510104-RS)
confirms arrival, accepts, decides and delivers; an auditor verifies. Runs on SQLite and
PostgreSQL (the same tests, two fixtures).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest

from adapters.access import open_access_store
from api.client import Conflict, Refused, TongbanClient
from ledger.application import now_micros
from ledger.envelope import ZERO_HASH, build_event, parse_event
from ledger.workflow import CaseWorkflow
from tests.support.live import live_node
from tests.support.world import World, make_world, seeded

APPLICANT = {"name": "张三", "id_number": "11010519491231002X", "phone": "13800138000"}
MAIL = {"courier": "EMS", "tracking_number": "EMS123456789CN"}


@dataclass
class Node:
    url: str
    world: World
    tokens: dict[str, str]

    def client(self, officer_id: str, token: str | None = None) -> TongbanClient:
        officer = self.world.officers[officer_id]
        return TongbanClient(
            self.url,
            token or self.tokens[officer.body_id],
            officer.signer,
            body_id=officer.body_id,
            officer_id=officer_id,
        )

    def get(self, path: str, token: str | None, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"{self.url}{path}", headers=headers, params=params, timeout=30)

    def post(
        self,
        path: str,
        token: str | None,
        content: bytes,
        content_type: str = "application/msgpack",
    ) -> httpx.Response:
        headers = {"Content-Type": content_type}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.post(f"{self.url}{path}", headers=headers, content=content, timeout=30)

    def stored_applicant(self) -> dict[str, Any]:
        """A fresh applicant the Jiangsu window stored here (a received step must use one it
        stored, and each ref opens one case only)."""
        answer = httpx.post(
            f"{self.url}/applicants",
            json=APPLICANT,
            timeout=30,
            headers={"Authorization": f"Bearer {self.tokens['320105-ZWFW']}"},
        ).json()
        return {
            "ref": answer["ref"],
            "commitments": {k: base64.b64decode(v) for k, v in answer["commitments"].items()},
        }

    def received_body(self, item: str = "510000/2/23", **changes: Any) -> dict[str, Any]:
        body = self.world.received_body(item, "proxy", **changes)
        body["applicant"] = self.stored_applicant()
        return body

    def ledger_size(self) -> int:
        entries = self.get("/audit/events", self.tokens["auditor"], limit=1000).json()
        return len(entries["entries"])


def _start(tmp: Path, database_url: str = "", schema: str | None = None) -> Iterator[Node]:
    world = make_world(
        tmp, database_url=database_url, schema=schema, workflow=CaseWorkflow(), with_jiangsu=True
    )
    world.app.close()
    store = open_access_store(database_url or "", tmp, schema=schema)
    now = datetime.now(UTC)
    tokens = {
        subject: store.create_token(kind, subject, now=now)[0]
        for kind, subject in (
            ("body", "320105-ZWFW"),
            ("body", "510104-RS"),
            ("body", "320105-RS"),
            ("body", "510000-ZWFW"),
            ("auditor", "auditor"),
            ("admin", "admin"),
            ("peer", "320000"),
        )
    }
    revoked, _ = store.create_token("body", "510104-RS", now=now)
    store.revoke(revoked, now=now)
    tokens["revoked"] = revoked
    env = {"TONGBAN_DATABASE_URL": database_url, "TONGBAN_DATABASE_SCHEMA": schema or ""}
    with live_node(tmp, env) as url:
        yield Node(url, world, tokens)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    tmp = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":
        yield from _start(tmp)
        return
    import psycopg

    url = request.getfixturevalue("postgres_url")
    schema = f"e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield from _start(tmp, url, schema)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _proxy_case(node: Node) -> uuid.UUID:
    window = node.client("js-001")
    opened = window.receive(
        "510000/2/23",
        "proxy",
        APPLICANT,
        home_body="510104-RS",
        jurisdiction="510104",
        materials=[("申请表", hashlib.sha256(b"form").digest())],
    )
    case_id = opened.case_id
    window.step(
        case_id, "form_checked", {"result": "pass", "reasons": [], "identity_verified": True}
    )
    window.step(case_id, "mailed", {"leg": "window_to_home", **MAIL})
    return case_id


def test_a_proxy_case_across_regions_completes_and_verifies(node: Node) -> None:
    case_id = _proxy_case(node)
    home = node.client("rs-001")
    home.step(case_id, "arrived", {"note": "材料齐全"})
    home.step(case_id, "accepted", {"note": ""})
    home.step(
        case_id, "decided", {"result": "approved", "reasons": [], "basis": "社会保障卡管理办法"}
    )
    home.step(case_id, "mailed", {"leg": "home_to_applicant", **MAIL})
    delivered = home.step(case_id, "delivered", {"method": "post", "results": []})
    assert delivered.seq == 8 and delivered.created

    case = node.get(f"/cases/{case_id}", node.tokens["auditor"]).json()
    assert case["state"] == "delivered"
    assert [s["step"] for s in case["timeline"]] == [
        "received",
        "form_checked:pass",
        "mailed:window_to_home",
        "arrived",
        "accepted",
        "decided:approved",
        "mailed:home_to_applicant",
        "delivered:post",
    ]
    assert {s["body_id"] for s in case["timeline"]} == {"320105-ZWFW", "510104-RS"}
    assert all(s["signature"] == "valid" for s in case["timeline"])
    assert case["applicant"] is None  # never in clear unless asked, by a party

    report = node.get(f"/audit/cases/{case_id}", node.tokens["auditor"]).json()
    assert report["ok"] is True and report["events"] == 8
    job = httpx.post(
        f"{node.url}/audit/verify",
        timeout=60,
        headers={"Authorization": f"Bearer {node.tokens['auditor']}"},
    ).json()
    while job["status"] == "running":
        job = node.get(f"/audit/jobs/{job['job_id']}", node.tokens["auditor"]).json()
    assert job["status"] == "done" and job["report"]["ok"] is True


def test_reposting_the_same_bytes_returns_the_original_receipt(node: Node) -> None:
    window = node.client("js-001")
    opened = window.receive(
        "510000/2/23",
        "proxy",
        APPLICANT,
        home_body="510104-RS",
        jurisdiction="510104",
        materials=[("申请表", bytes(32))],
    )
    again = window.post_envelope(opened.case_id, 1, opened.envelope)
    assert again.created is False
    assert again.receipt.raw == opened.receipt.raw and again.index == opened.index
    response = node.post("/cases", node.tokens["320105-ZWFW"], opened.envelope)
    assert response.status_code == 200


def test_a_different_envelope_at_a_taken_seq_is_409_with_the_head(node: Node) -> None:
    case_id = _proxy_case(node)
    window = node.client("js-001")
    head = window.head(case_id)
    stale = window.sign(case_id, head.seq, ZERO_HASH, "withdrawn", {"reason": "申请人撤回"})
    with pytest.raises(Conflict) as conflict:
        window.post_envelope(case_id, head.seq, stale)
    assert conflict.value.head == head
    assert conflict.value.problem["status"] == 409


def test_personal_data_only_to_parties_and_every_read_is_logged(node: Node) -> None:
    case_id = _proxy_case(node)
    party = node.get(
        f"/cases/{case_id}", node.tokens["510104-RS"], personal="true", purpose="核对申请人身份"
    )
    assert party.status_code == 200
    assert party.json()["applicant"]["name"] == "张三"
    for token in ("auditor", "admin"):
        refused = node.get(f"/cases/{case_id}", node.tokens[token], personal="true", purpose="x")
        assert refused.status_code == 403
    outsider = node.get(f"/cases/{case_id}", node.tokens["510000-ZWFW"])
    assert outsider.status_code == 403
    no_purpose = node.get(f"/cases/{case_id}", node.tokens["510104-RS"], personal="true")
    assert no_purpose.status_code == 422 and no_purpose.json()["field"] == "purpose"
    log = node.get(f"/cases/{case_id}/access", node.tokens["auditor"]).json()
    assert [(a["subject"], a["purpose"]) for a in log] == [("510104-RS", "核对申请人身份")]
    # The raw ledger an auditor reads carries no personal data in clear.
    raw = node.get("/audit/events", node.tokens["auditor"], limit=1000).json()["entries"]
    blob = b"".join(base64.b64decode(e["envelope"]) for e in raw)
    assert "张三".encode() not in blob and b"11010519491231002X" not in blob


# -- error paths: each answers problem+json and leaves the ledger as it was ------------------


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    return body


def _envelope(
    node: Node,
    officer_id: str,
    *,
    case_id: uuid.UUID | None = None,
    seq: int = 1,
    prev: bytes = ZERO_HASH,
    step: str = "received",
    body: dict[str, Any] | None = None,
    time: int | None = None,
    ledger: str = "tongban/510000",
    signer: Any = None,
) -> bytes:
    officer = node.world.officers[officer_id]
    return build_event(
        signer or officer.signer,
        ledger=ledger,
        case_id=case_id or uuid.uuid4(),
        seq=seq,
        event_type=step,
        time=now_micros() if time is None else time,
        body_id=officer.body_id,
        officer_id=officer_id,
        prev=prev,
        body=body if body is not None else node.received_body(),
    )


def test_401_without_a_bad_or_a_revoked_token(node: Node) -> None:
    raw = _envelope(node, "js-001")
    before = node.ledger_size()
    for token in (None, "tb_nonsense", node.tokens["revoked"]):
        problem = _problem(node.post("/cases", token, raw), 401)
        assert problem["reason"] == "unauthenticated"
    assert node.ledger_size() == before


def test_403_for_the_wrong_principal(node: Node) -> None:
    raw = _envelope(node, "js-001")
    before = node.ledger_size()
    assert _problem(node.post("/cases", node.tokens["auditor"], raw), 403)["reason"] == "forbidden"
    # A body's token posts only its own officers' envelopes.
    problem = _problem(node.post("/cases", node.tokens["510104-RS"], raw), 403)
    assert problem["field"] == "actor.body"
    assert _problem(node.get("/audit/events", node.tokens["510104-RS"]), 403)
    assert node.ledger_size() == before


def test_404_for_unknown_things(node: Node) -> None:
    token = node.tokens["auditor"]
    assert _problem(node.get(f"/cases/{uuid.uuid4()}", token), 404)["reason"] == "unknown_case"
    assert _problem(node.get("/catalog/510000/9/9", token), 404)
    assert _problem(node.get("/audit/jobs/nope", token), 404)
    assert _problem(node.get("/bodies/nobody", token), 404)


def test_413_for_an_oversized_body(node: Node) -> None:
    before = node.ledger_size()
    big = b"\x00" * (64 * 1024 + 1)
    assert _problem(node.post("/cases", node.tokens["320105-ZWFW"], big), 413)
    assert node.ledger_size() == before


def _refusal(
    node: Node, raw: bytes, path: str = "/cases", token: str = "320105-ZWFW"
) -> dict[str, Any]:
    before = node.ledger_size()
    problem = _problem(node.post(path, node.tokens[token], raw), 422)
    assert node.ledger_size() == before, "a refused request changed the ledger"
    return problem


def test_422_for_each_ledger_reason(node: Node) -> None:
    # Malformed and non-canonical bytes.
    assert _refusal(node, b"\x93\x01\x02")["reason"] == "malformed"
    unsorted = msgpack.packb({"b": 1, "a": 2})
    assert _refusal(node, unsorted)["reason"] == "malformed"
    # Bad signature: flip the last byte of the signature.
    raw = bytearray(_envelope(node, "js-001"))
    raw[-1] ^= 1
    assert _refusal(node, bytes(raw))["reason"] == "bad_signature"
    # An unknown key: a signer nobody certified, claiming to be js-001.
    problem = _refusal(node, _envelope(node, "js-001", signer=seeded("stranger")))
    assert problem["reason"] == "unknown_key" and problem["field"] == "kid"
    # Time outside the tolerance.
    problem = _refusal(node, _envelope(node, "js-001", time=now_micros() - 3600 * 10**6))
    assert problem["reason"] == "time_out_of_tolerance" and problem["field"] == "time"
    # Another ledger's envelope.
    problem = _refusal(node, _envelope(node, "js-001", ledger="tongban/320000"))
    assert problem["reason"] == "wrong_ledger" and problem["field"] == "ledger"
    # A pending item cannot be received.
    body = node.received_body("510000/3/3")
    problem = _refusal(node, _envelope(node, "js-001", body=body))
    assert problem["reason"] == "item_not_open" and problem["field"] == "body.item"
    # Wrong body: the home body may not be a Jiangsu body.
    body = node.received_body(home_body="320105-RS", jurisdiction="510104")
    problem = _refusal(node, _envelope(node, "js-001", body=body))
    assert problem["reason"] == "not_entitled" and problem["field"] == "body.home_body"
    # Personal data in clear instead of commitments.
    body = node.received_body()
    ref = node.stored_applicant()["ref"]
    body["applicant"] = {"ref": ref, "commitments": {"name": "张三", "id_number": "1"}}
    problem = _refusal(node, _envelope(node, "js-001", body=body))
    assert problem["field"] == "body.applicant.commitments"


def test_a_ref_read_from_the_ledger_cannot_open_another_case(node: Node) -> None:
    """A body not on a case copies its applicant ref from /audit/events: refused."""
    case_id = _proxy_case(node)
    first = node.get("/audit/events", node.tokens["auditor"], limit=1000).json()["entries"]
    opened = next(e for e in first if e["stream_id"] == str(case_id) and e["seq"] == 1)
    stolen = parse_event(base64.b64decode(opened["envelope"])).body["applicant"]
    body = node.world.received_body("510000/2/23", "proxy")
    body["applicant"] = stolen
    # The in-province window of Sichuan is not on the case; nor may the same window reuse it.
    for officer, token in (("zw-001", "510000-ZWFW"), ("js-001", "320105-ZWFW")):
        problem = _refusal(node, _envelope(node, officer, body=body), token=token)
        assert (problem["reason"], problem["field"]) == (
            "applicant_not_yours",
            "body.applicant.ref",
        )


def test_422_for_an_illegal_step_names_state_and_allowed_steps(node: Node) -> None:
    case_id = _proxy_case(node)
    head = node.client("js-001").head(case_id)
    raw = _envelope(
        node,
        "rs-001",
        case_id=case_id,
        seq=head.seq + 1,
        prev=head.event_hash,
        step="decided",
        body={"result": "approved", "reasons": [], "basis": "x"},
    )
    problem = _refusal(node, raw, f"/cases/{case_id}/events", "510104-RS")
    assert problem["reason"] == "illegal_step"
    assert "to_home" in problem["detail"] and "arrived" in problem["detail"]


def test_the_client_raises_refused_with_reason_and_field(node: Node) -> None:
    window = node.client("js-001")
    with pytest.raises(Refused) as refused:
        window.receive(
            "510000/3/3",
            "proxy",
            APPLICANT,
            home_body="510104-RS",
            jurisdiction="510104",
            materials=[("申请表", bytes(32))],
        )
    assert refused.value.status == 422 and refused.value.field == "body.item"


def test_json_envelopes_and_bad_media_types(node: Node) -> None:
    raw = _envelope(node, "js-001")
    wrapped = {"envelope": base64.b64encode(raw).decode()}
    response = httpx.post(
        f"{node.url}/cases",
        json=wrapped,
        timeout=30,
        headers={"Authorization": f"Bearer {node.tokens['320105-ZWFW']}"},
    )
    assert response.status_code == 201
    problem = _problem(
        node.post("/cases", node.tokens["320105-ZWFW"], b'{"envelope": "%%"}', "application/json"),
        422,
    )
    assert problem["field"] == "envelope"
    assert _problem(node.post("/cases", node.tokens["320105-ZWFW"], raw, "text/plain"), 415)


def test_keys_and_bodies_are_public_and_signed(node: Node) -> None:
    keys = node.get("/keys", None).json()
    assert {r["type"] for r in keys["records"]} >= {
        "root_established",
        "body_registered",
        "officer_certified",
        "node_key_certified",
    }
    bodies = {b["body_id"]: b for b in node.get("/bodies", None).json()}
    assert bodies["320105-ZWFW"]["org"]["roles"] == ["cross_province_window"]


def test_found_by_review_each_answered_as_a_problem(node: Node) -> None:
    """Inputs a security review used to get a 500, a 400 or no field: each a clear 4xx now."""
    auditor, window = node.tokens["auditor"], node.tokens["320105-ZWFW"]
    problem = _problem(node.get("/audit/events", auditor, after=str(2**63)), 422)
    assert problem["field"] == "after"
    # A chunked body over the limit, with no Content-Length, to a JSON route.
    chunks = (b"x" * 8192 for _ in range(100))
    response = httpx.post(
        f"{node.url}/applicants",
        content=chunks,
        timeout=30,
        headers={"Authorization": f"Bearer {window}", "Content-Type": "application/json"},
    )
    _problem(response, 413)
    problem = _problem(node.post("/applicants", window, b"\xff\xfe", "application/json"), 422)
    assert problem["field"] == "body"
    _problem(node.post("/applicants", window, b"name=x", "text/plain"), 415)
    for raw in (b"\xc1", b"\x92\x01\x02", b"\x91" * 40 + b"\x90"):
        problem = _refusal(node, raw)
        assert problem["reason"] == "malformed" and problem["field"] == "envelope"


def test_personal_data_in_free_text_is_refused(node: Node) -> None:
    body = node.received_body()
    body["materials"] = [{"name": "李四 身份证 11010519491231002X", "sha256": bytes(32)}]
    problem = _refusal(node, _envelope(node, "js-001", body=body))
    assert problem["field"] == "body.materials[0].name"
    case_id = _proxy_case(node)
    head = node.client("js-001").head(case_id)
    raw = _envelope(
        node,
        "js-001",
        case_id=case_id,
        seq=head.seq + 1,
        prev=head.event_hash,
        step="withdrawn",
        body={"reason": "申请人电话13800138000要求撤回"},
    )
    problem = _refusal(node, raw, f"/cases/{case_id}/events")
    assert problem["field"] == "body.reason"


def test_one_whole_ledger_audit_at_a_time(node: Node) -> None:
    headers = {"Authorization": f"Bearer {node.tokens['auditor']}"}
    first = httpx.post(f"{node.url}/audit/verify", headers=headers, timeout=60).json()
    second = httpx.post(f"{node.url}/audit/verify", headers=headers, timeout=60).json()
    if first["status"] == "running":
        assert second["job_id"] == first["job_id"]
    for job in (first, second):
        while job["status"] == "running":
            job = node.get(f"/audit/jobs/{job['job_id']}", node.tokens["auditor"]).json()
        assert job["status"] == "done" and job["report"]["ok"] is True


def test_a_received_step_posted_to_events_meets_the_rules_of_post_cases(node: Node) -> None:
    """Issue 13 item 1: ``POST /cases/{id}/events`` opened a case around the applicant checks
    (another body's ref, all-zero commitments: 201, and the audit stayed clean)."""
    case_id = _proxy_case(node)
    first = node.get("/audit/events", node.tokens["auditor"], limit=1000).json()["entries"]
    opened = next(e for e in first if e["stream_id"] == str(case_id) and e["seq"] == 1)
    stolen = parse_event(base64.b64decode(opened["envelope"])).body["applicant"]
    body = node.world.received_body("510000/2/23", "proxy")
    body["applicant"] = stolen
    raw = _envelope(node, "zw-001", body=body)
    events = f"/cases/{parse_event(raw).case_id}/events"
    problem = _refusal(node, raw, events, "510000-ZWFW")
    assert (problem["reason"], problem["field"]) == ("applicant_not_yours", "body.applicant.ref")

    own = node.stored_applicant()
    zeros = dict.fromkeys(own["commitments"], bytes(32))
    body["applicant"] = {"ref": own["ref"], "commitments": zeros}
    raw = _envelope(node, "js-001", body=body)
    problem = _refusal(node, raw, f"/cases/{parse_event(raw).case_id}/events")
    assert (problem["reason"], problem["field"]) == (
        "commitment_mismatch",
        "body.applicant.commitments",
    )

    # The refused attempt released nothing it did not hold: the ref still opens its case,
    # through either route, and the intake body reads the applicant.
    body["applicant"] = own
    raw = _envelope(node, "js-001", body=body)
    new_case = parse_event(raw).case_id
    token = node.tokens["320105-ZWFW"]
    assert node.post(f"/cases/{new_case}/events", token, raw).status_code == 201
    read = node.get(f"/cases/{new_case}", token, personal="true", purpose="核对申请人身份")
    assert read.status_code == 200 and read.json()["applicant"]["name"] == APPLICANT["name"]


def test_a_received_step_after_seq_1_is_refused_as_an_illegal_step(node: Node) -> None:
    case_id = _proxy_case(node)
    head = node.client("js-001").head(case_id)
    raw = _envelope(node, "js-001", case_id=case_id, seq=head.seq + 1, prev=head.event_hash)
    problem = _refusal(node, raw, f"/cases/{case_id}/events")
    assert (problem["reason"], problem["field"]) == ("illegal_step", "type")


def test_an_origin_body_must_be_entitled_for_the_item_as_a_handler(node: Node) -> None:
    """Issue 13 item 5: the receiving body named any registered body an origin body of a
    joint case (which then reads the applicant in clear)."""
    for origin in ("510000-ZWFW", "320105-ZWFW"):  # windows, not handlers of the item
        body = node.received_body("510000/1/8", origin_bodies=[origin])
        problem = _refusal(node, _envelope(node, "js-001", body=body))
        assert (problem["reason"], problem["field"]) == ("not_entitled", "body.origin_bodies[0]")
        assert origin in problem["detail"] and "handler" in problem["detail"]
    body = node.received_body("510000/1/8", origin_bodies=["320105-RS"])
    assert (
        node.post(
            "/cases", node.tokens["320105-ZWFW"], _envelope(node, "js-001", body=body)
        ).status_code
        == 201
    )

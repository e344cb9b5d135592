"""Hand-written bad input: each answered 4xx with a problem naming what is wrong (``reason``
and ``field``), and the stored rows (ledger, vault, tokens, access log) exactly as before.

The cases a generator does not reach: oversize and deeply nested bodies, invalid UTF-8,
validly signed but non-canonical msgpack, integers past every range, times far in the future
or before the epoch, a ``received`` for a pending item, an ID number with a wrong check digit,
wrong or missing content types; for licenses: malformed compact text, documents, events and
grants that are not base64 or not what they claim, identifiers with a wrong check character,
unknown actions, grants that could never be used.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgpack
import pytest

from api.license_client import IssuedLicense, PreparedIssuance
from ledger import canonical
from ledger.envelope import EVENT_CONTEXT, ZERO_HASH, parse_event
from ledger.suites import get_suite, signing_input
from licenses.document import parse_license
from tests.support import licenses
from tests.support.api_node import APPLICANT, ApiNode, api_node

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiNode]:
    with api_node(tmp_path_factory.mktemp("bad-input")) as node:
        node.proxy_case()
        yield node


def refused(
    node: ApiNode,
    send: Callable[[], httpx.Response],
    status: int,
    reason: str,
    field: str | None,
) -> dict[str, Any]:
    """Send; assert the problem's status, reason and field, and that nothing was stored."""
    before = node.stored()
    response = send()
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert (problem["status"], problem.get("reason"), problem.get("field")) == (
        status,
        reason,
        field,
    ), problem
    assert problem["detail"]
    assert node.stored() == before, "a refused request changed the stored rows"
    return problem


def post(
    node: ApiNode, path: str, content: bytes, content_type: str | None = "application/msgpack"
) -> Callable[[], httpx.Response]:
    return lambda: node.post(path, "window", content, content_type)


def applicant(node: ApiNode, **fields: Any) -> Callable[[], httpx.Response]:
    person = {**APPLICANT, **fields}
    return lambda: node.client.post("/applicants", json=person, headers=node.headers("window"))


def _resigned(node: ApiNode, content_bytes: bytes) -> bytes:
    """``content_bytes`` signed by the window's officer as they are (canonical or not)."""
    officer = node.world.officers["js-001"]
    suite = get_suite(officer.signer.suite)
    signature = officer.signer.sign(signing_input(EVENT_CONTEXT, suite, content_bytes))
    return canonical.encode([content_bytes, signature])


# -- size and nesting --------------------------------------------------------------------------


def test_oversize_bodies_with_and_without_a_length(node: ApiNode) -> None:
    big = b"\x00" * (LIMIT + 1)
    refused(node, post(node, "/cases", big), 413, "too_large", "body")

    def chunks() -> Iterator[bytes]:
        return (b"x" * 8192 for _ in range(LIMIT // 8192 + 1))

    refused(
        node,
        lambda: node.client.post(
            "/applicants",
            content=chunks(),
            headers=node.headers("window", "application/json"),
        ),
        413,
        "too_large",
        "body",
    )


@pytest.mark.parametrize("path", ["/cases", "/keys/records"])
def test_deeply_nested_json_envelopes(node: ApiNode, path: str) -> None:
    """Found by this test: 30,000 brackets (under the size limit) raised RecursionError in
    the JSON parser, answered 500."""
    deep = b'{"envelope": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    problem = refused(
        node, post(node, path, deep, "application/json"), 422, "malformed", "envelope"
    )
    assert "nested" in problem["detail"]


def test_deeply_nested_json_applicant(node: ApiNode) -> None:
    deep = b'{"name": ' + b"[" * 30_000 + b"]" * 30_000 + b', "id_number": "x"}'
    refused(node, post(node, "/applicants", deep, "application/json"), 422, "malformed", "body")


def test_deeply_nested_msgpack(node: ApiNode) -> None:
    problem = refused(
        node, post(node, "/cases", b"\x91" * 50_000 + b"\x90"), 422, "malformed", "envelope"
    )
    assert "nesting deeper than" in problem["detail"]


# -- encodings ---------------------------------------------------------------------------------


def test_invalid_utf8(node: ApiNode) -> None:
    refused(
        node,
        post(node, "/applicants", b'{"name": "\xff\xfe", "id_number": "1"}', "application/json"),
        422,
        "malformed",
        "body",
    )
    refused(
        node,
        post(node, "/cases", b'{"envelope": "\xff"}', "application/json"),
        422,
        "malformed",
        "envelope",
    )
    # A msgpack str whose bytes are not UTF-8, validly signed.
    _, raw = node.received()
    content = bytearray(parse_event(raw).signed.content_bytes)
    at = content.index(b"proxy")
    content[at : at + 2] = b"\xff\xfe"
    refused(
        node, post(node, "/cases", _resigned(node, bytes(content))), 422, "malformed", "envelope"
    )


def test_non_canonical_msgpack_is_refused_even_when_validly_signed(node: ApiNode) -> None:
    _, raw = node.received()
    content_bytes = parse_event(raw).signed.content_bytes
    content = msgpack.unpackb(content_bytes)
    # seq 1 as a uint16 (0xcd 0x00 0x01) instead of a positive fixint, signed as such.
    long_seq = content_bytes.replace(b"\xa3seq\x01", b"\xa3seq\xcd\x00\x01")
    assert long_seq != content_bytes
    # Keys in reverse order; a float; the same content as bin32 in the outer array.
    unsorted = msgpack.packb(dict(reversed(list(content.items()))), use_bin_type=True)
    outer = msgpack.unpackb(raw)
    bin32 = b"\x92\xc6" + len(outer[0]).to_bytes(4, "big") + outer[0] + raw[-66:]
    for non_canonical in (
        _resigned(node, long_seq),
        _resigned(node, unsorted),
        bin32,
        raw + b"\x00",
        msgpack.packb([1.5, b""]),
    ):
        refused(node, post(node, "/cases", non_canonical), 422, "malformed", "envelope")


# -- numbers and times -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/cases", {"page": str(10**30)}, "page"),
        ("/cases", {"page_size": str(-(2**70))}, "page_size"),
        ("/audit/events", {"after": str(2**70)}, "after"),
        ("/audit/proof/inclusion", {"event": str(10**40), "size": "1"}, "event"),
        ("/audit/proof/consistency", {"from": "1", "to": "9" * 5000}, "to"),
    ],
)
def test_huge_integers_in_queries(
    node: ApiNode, path: str, params: dict[str, str], field: str
) -> None:
    refused(node, lambda: node.get(path, "auditor", **params), 422, "malformed", field)


def test_huge_integers_in_bodies(node: ApiNode) -> None:
    huge = b'{"name": ' + b"9" * 5000 + b', "id_number": "1"}'
    refused(node, post(node, "/applicants", huge, "application/json"), 422, "malformed", "body")
    refused(node, applicant(node, name=2**80), 422, "malformed", "name")
    # A signed step at seq 2**64 - 1: the largest integer msgpack has.
    case_id = node.proxy_case()
    head = node.services.ledger.head(case_id)
    raw = node.envelope(
        "320105-ZWFW", case_id, 2**64 - 1, head.event_hash, "withdrawn", {"reason": "撤回"}
    )
    refused(node, post(node, f"/cases/{case_id}/events", raw), 422, "seq_gap", "seq")
    # An integer past 64 bits cannot even be encoded: as msgpack bin it is no envelope.
    refused(
        node, post(node, "/cases", b"\xcf" + b"\xff" * 8 + b"\x00"), 422, "malformed", "envelope"
    )


@pytest.mark.parametrize("time", [2**64 - 1, 2**63, 4_102_444_800_000_000, 0, 1])
def test_times_far_in_the_future_or_the_past(node: ApiNode, time: int) -> None:
    case_id, raw = node.received()
    body = parse_event(raw).body
    raw = node.envelope("320105-ZWFW", case_id, 1, ZERO_HASH, "received", body, time=time)
    refused(node, post(node, "/cases", raw), 422, "time_out_of_tolerance", "time")


def test_a_time_before_the_epoch(node: ApiNode) -> None:
    _, raw = node.received()
    content = msgpack.unpackb(parse_event(raw).signed.content_bytes)
    content["time"] = -1
    refused(
        node,
        post(node, "/cases", _resigned(node, canonical.encode(content))),
        422,
        "malformed",
        "time",
    )


# -- content the ledger refuses ----------------------------------------------------------------


def test_received_for_a_pending_item(node: ApiNode) -> None:
    _, raw = node.received(item="510000/3/3")  # 结婚登记: 待统一部署
    refused(node, post(node, "/cases", raw), 422, "item_not_open", "body.item")


def test_id_number_with_a_wrong_check_digit(node: ApiNode) -> None:
    problem = refused(
        node, applicant(node, id_number="110105194912310021"), 422, "malformed", "id_number"
    )
    assert "check character is 1, expected X" in problem["detail"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "张\u202e三"}, "name"),  # a bidi override: looks like another name
        ({"name": "a\x00b"}, "name"),
        ({"phone": "12345"}, "phone"),
        ({"email": "a@example.cn"}, "email"),  # found by this test: silently dropped, 201
    ],
)
def test_bad_applicant_fields(node: ApiNode, fields: dict[str, Any], field: str) -> None:
    refused(node, applicant(node, **fields), 422, "malformed", field)


@pytest.mark.parametrize("content", [b"[]", b"", b'"x"', b"null"])
def test_an_applicant_body_that_is_no_object(node: ApiNode, content: bytes) -> None:
    """Found by this test: the problem named no field."""
    refused(node, post(node, "/applicants", content, "application/json"), 422, "malformed", "body")


def test_an_envelope_posted_to_another_case(node: ApiNode) -> None:
    _, raw = node.received()
    refused(node, post(node, f"/cases/{uuid.uuid4()}/events", raw), 422, "malformed", "case")


def test_a_later_step_posted_as_a_new_case(node: ApiNode) -> None:
    raw = node.envelope("320105-ZWFW", uuid.uuid4(), 2, bytes(32), "withdrawn", {"reason": "x"})
    refused(node, post(node, "/cases", raw), 422, "illegal_step", "type")


def test_json_envelopes_that_are_no_envelope(node: ApiNode) -> None:
    for content in (b'{"envelope": 5}', b'{"envelope": "%%"}', b"[1]", b'{"envelope": "AAAA"}'):
        refused(
            node, post(node, "/cases", content, "application/json"), 422, "malformed", "envelope"
        )


# -- media types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/cases", "text/plain"),
        ("/cases", None),
        ("/cases", "application/x-www-form-urlencoded"),
        ("/keys/records", "application/octet-stream"),
        ("/applicants", "application/msgpack"),
        ("/applicants", None),
    ],
)
def test_wrong_content_types(node: ApiNode, path: str, content_type: str | None) -> None:
    refused(
        node,
        post(node, path, b'{"name": "x"}', content_type),
        415,
        "unsupported_media_type",
        "content-type",
    )


def test_path_and_query_that_do_not_parse(node: ApiNode) -> None:
    refused(node, lambda: node.get("/cases/not-a-uuid", "home"), 422, "malformed", "case_id")
    refused(node, lambda: node.get("/cases", "home", page="one"), 422, "malformed", "page")
    refused(node, lambda: node.get("/catalog/510000/x/1"), 422, "malformed", "batch")
    refused(node, lambda: node.get("/catalog/999999"), 404, "not_found", "region")


def test_unknown_paths_and_methods(node: ApiNode) -> None:
    """Starlette's own refusals carry a reason too (found by this suite: they had none)."""
    refused(node, lambda: node.get("/nothing-here", "home"), 404, "not_found", None)
    refused(
        node,
        lambda: node.client.delete("/cases", headers=node.headers("home")),
        405,
        "method_not_allowed",
        None,
    )


# -- licenses ------------------------------------------------------------------------------------


@dataclass
class Licensed:
    """A license ``home`` issued, and one whose draft is posted but not yet its document."""

    issued: IssuedLicense
    posted: PreparedIssuance
    index: int


@pytest.fixture(scope="module")
def licensed(node: ApiNode) -> Licensed:
    licenses.enable_licenses(node)
    issued = licenses.issue(node)
    posted = licenses.prepare(node)
    return Licensed(issued, posted, licenses.post_draft(node, posted))


def as_home(node: ApiNode, method: str, path: str, body: Any) -> Callable[[], httpx.Response]:
    return lambda: node.client.request(method, path, json=body, headers=node.headers("home"))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _with_wrong_check_character(identifier: str) -> str:
    return identifier[:-1] + ("0" if identifier[-1] != "0" else "1")


def test_malformed_compact_text_is_a_verdict_not_a_refusal(
    node: ApiNode, licensed: Licensed
) -> None:
    """A verifier asked about garbage answers "not valid: malformed" (docs/license.md §6); the
    request itself is sound, so it is a 200 verdict, and nothing is stored."""
    for text in ("TB1:garbage", "hello", "TB1:" + "A" * 60_000, licensed.issued.compact[:-5]):
        before = node.stored()
        answer = node.client.post("/licenses/verify", json={"license": text})
        assert answer.status_code == 200, answer.text
        verdict = {k: answer.json()[k] for k in ("valid", "primary", "failed")}
        assert verdict == {"valid": False, "primary": "malformed", "failed": ["malformed"]}
        assert node.stored() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"document": "!!not base64"}, "document"),
        ({"license": 5}, "license"),
        ({}, "license"),
        ({"license": "TB1:x", "document": "AA=="}, "license"),
        ({"license": "TB1:x", "holder_code": "1" * 40}, "holder_code"),
        ({"license": "TB1:x", "online": "sometimes"}, "online"),
    ],
)
def test_verify_requests_that_do_not_parse(
    node: ApiNode, licensed: Licensed, body: dict[str, Any], field: str
) -> None:
    send = lambda: node.client.post("/licenses/verify", json=body)  # noqa: E731
    refused(node, send, 422, "malformed", field)


def test_oversize_license_requests(node: ApiNode, licensed: Licensed) -> None:
    big = "A" * (LIMIT + 1)
    for path, body in (
        ("/licenses/verify", {"license": "TB1:" + big}),
        ("/licenses", {"event": big, "document": big}),
        (f"/licenses/{licensed.issued.identifier}/grants", {"purpose": big}),
    ):
        send = as_home(node, "POST", path, body)
        refused(node, send, 413, "too_large", "body")


def test_non_base64_documents_and_events(node: ApiNode, licensed: Licensed) -> None:
    prepared = licensed.posted
    for body, field in (
        ({"event": "@@", "document": _b64(prepared.draft)}, "event"),
        ({"event": _b64(prepared.event), "document": "not base64!"}, "document"),
    ):
        refused(node, as_home(node, "POST", "/licenses", body), 422, "malformed", field)
    path = f"/licenses/{prepared.identifier}/document"
    refused(node, as_home(node, "PUT", path, {"document": "@@"}), 422, "malformed", "document")
    read = lambda: node.client.get(  # noqa: E731
        f"/licenses/{licensed.issued.identifier}",
        headers={**node.headers("peer"), "Tongban-Grant": "@@"},
    )
    refused(node, read, 422, "malformed", "Tongban-Grant")


def test_base64_that_is_no_document_event_or_grant(node: ApiNode, licensed: Licensed) -> None:
    """Found by this test: an undecodable event was refused naming field `envelope`, which
    the request does not have."""
    prepared = licensed.posted
    garbage = _b64(b"\x90")
    body = {"event": garbage, "document": _b64(prepared.draft)}
    refused(node, as_home(node, "POST", "/licenses", body), 422, "malformed", "event")
    body = {"event": _b64(prepared.event), "document": garbage}
    refused(node, as_home(node, "POST", "/licenses", body), 422, "malformed", "document")
    path = f"/licenses/{prepared.identifier}/document"
    refused(node, as_home(node, "PUT", path, {"document": garbage}), 422, "malformed", "document")
    # A refused grant is a lookup the holder sees (docs/license.md §12.6): one use-log row.
    identifier = licensed.issued.identifier
    before = node.stored()
    answer = node.client.get(
        f"/licenses/{identifier}", headers={**node.headers("peer"), "Tongban-Grant": garbage}
    )
    assert answer.status_code == 422, answer.text
    assert (answer.json()["reason"], answer.json()["field"]) == ("malformed", "grant")
    after = node.stored()
    (log,) = [name for name in after if name.endswith("tongban_license_uses")]
    assert after.pop(log)[0] == before.pop(log)[0] + 1 and after == before
    assert node.services.licenses is not None
    assert node.services.licenses.store.uses(identifier)[-1].scope == "refused:malformed"


def test_the_draft_posted_as_the_issued_document(node: ApiNode, licensed: Licensed) -> None:
    prepared = licensed.posted
    path = f"/licenses/{prepared.identifier}/document"
    send = as_home(node, "PUT", path, {"document": _b64(prepared.draft)})
    refused(node, send, 422, "draft", "document.issuance_index")


def test_identifiers_with_a_wrong_check_character(node: ApiNode, licensed: Licensed) -> None:
    """Found by this test: `/uses` and `/grants` answered 404 `unknown_license` for a
    mistyped identifier, where reading it answered 422 naming the field."""
    identifier = licensed.issued.identifier
    wrong = _with_wrong_check_character(identifier)
    problem = refused(
        node, lambda: node.get(f"/licenses/{wrong}", "peer"), 422, "malformed", "identifier"
    )
    assert "check character" in problem["detail"]
    case = str(parse_license(licensed.issued.document).case_id)
    body = {"case": case, "identifier": wrong}
    refused(node, as_home(node, "POST", "/licenses/prepare", body), 422, "malformed", "identifier")
    for path in (f"/licenses/{wrong}/uses", f"/licenses/{wrong}/grants"):
        method = "GET" if path.endswith("uses") else "POST"
        grant = licenses.grant_request()
        send = as_home(node, method, path, grant if method == "POST" else None)
        refused(node, send, 422, "malformed", "identifier")


def test_an_unknown_action_and_a_mismatched_event(node: ApiNode, licensed: Licensed) -> None:
    identifier = licensed.issued.identifier
    revoke = licenses.status_event(node, identifier, "revoke")
    for action in ("destroy", "REVOKE", "revoke/now"):
        status = 404 if "/" in action else 422
        reason, field = ("not_found", None) if status == 404 else ("malformed", "action")
        send = lambda: node.post(f"/licenses/{identifier}/{action}", "home", revoke)  # noqa: B023,E731
        refused(node, send, status, reason, field)
    send = lambda: node.post(f"/licenses/{identifier}/suspend", "home", revoke)  # noqa: E731
    refused(node, send, 422, "malformed", "type")
    other = licensed.posted.identifier
    send = lambda: node.post(f"/licenses/{other}/revoke", "home", revoke)  # noqa: E731
    refused(node, send, 422, "wrong_stream", "case")


@pytest.mark.parametrize(
    ("change", "status", "reason", "field"),
    [
        ({"expires_at": 1_000_000}, 422, "malformed", "expires_at"),
        ({"expires_at": -1}, 422, "malformed", "expires_at"),
        ({"uses": 0}, 422, "malformed", "uses"),
        ({"uses": 1001}, 422, "malformed", "uses"),
        ({"scope": ["everything"]}, 422, "malformed", "grant.scope"),
        ({"scope": []}, 422, "malformed", "scope"),
        ({"audience_region": "32000"}, 422, "malformed", "audience_region"),
        ({"audience_body": "320105-NOBODY"}, 422, "malformed", "audience_body"),
        ({"audience_body": "510104-RS"}, 422, "malformed", "audience_body"),
        ({"purpose": ""}, 422, "malformed", "purpose"),
        ({"holder_code": "11010519491231002"}, 403, "holder_mismatch", "holder_code"),
        ({"holder_code": "110105194912310021"}, 403, "holder_mismatch", "holder_code"),
    ],
)
def test_bad_grants(
    node: ApiNode,
    licensed: Licensed,
    change: dict[str, Any],
    status: int,
    reason: str,
    field: str,
) -> None:
    """Found by this test: a grant for a body that is not of its audience region, or that no
    registry here knows, was signed (a grant nobody could ever use)."""
    body = licenses.grant_request(**{"scope": ["metadata"], **change})
    path = f"/licenses/{licensed.issued.identifier}/grants"
    refused(node, as_home(node, "POST", path, body), status, reason, field)


def test_withdrawing_a_grant_that_is_none(node: ApiNode, licensed: Licensed) -> None:
    path = f"/licenses/{licensed.issued.identifier}/grants/"
    for grant_id in ("zz", "0" * 32):
        send = lambda: node.client.delete(path + grant_id, headers=node.headers("home"))  # noqa: B023,E731
        refused(node, send, 404, "unknown_grant", "grant_id")


def test_trust_lists_and_status_lists_that_are_none(node: ApiNode, licensed: Licensed) -> None:
    refused(
        node, lambda: node.post("/trust-list", "admin", b"\x90"), 422, "malformed", "trust_list"
    )
    refused(node, lambda: node.get("/trust-list", region="32"), 422, "malformed", "region")
    refused(node, lambda: node.get("/trust-list", region="440000"), 404, "no_trust_list", None)
    for list_id in ("510000-0", "510000-999999", "320000-1", "x" * 300):
        send = lambda: node.get(f"/status-lists/{list_id}")  # noqa: B023,E731
        refused(node, send, 404, "unknown_status_list", "list_id")

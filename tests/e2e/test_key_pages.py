"""The administrator's key page over HTTP (``api/routes/key_pages.py``): only an administrator's
token session opens it (303 without a session, 403 for an officer, a supervisor or an auditor);
the draft route gives an officer key record's content bytes, unsigned, refused with the field
when they could not be signed and appended; the bytes the body key signs over them are
appended by ``POST /keys/records`` with the session, and a revocation drafted and signed so
ends the officer's session at once. The browser itself: ``tests/browser/test_enrolment.py``."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ledger import canonical
from ledger.admin import RegistryClerk
from ledger.envelope import KEY_RECORD_CONTEXT
from ledger.keys import parse_key_record
from ledger.login import Challenge, build_login
from ledger.suites import Ed25519Signer, Signer, get_suite, key_id, signing_input
from tests.e2e.test_login_sessions import _log_in
from tests.support.api_node import ApiNode, api_node
from tests.support.world import JIANGSU, seeded

BODY = "510104-RS"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiNode]:
    with api_node(tmp_path_factory.mktemp("key-pages")) as served:
        yield served


def _token_session(node: ApiNode, principal: str) -> tuple[httpx.Client, str]:
    browser = node.client.__class__(node.app)
    answer = browser.post("/login/token", json={"token": node.tokens[principal]})
    assert answer.status_code == 200, answer.text
    return browser, answer.json()["csrf_token"]


@pytest.fixture(scope="module")
def admin(node: ApiNode) -> tuple[httpx.Client, str]:
    return _token_session(node, "admin")


def _draft(session: tuple[httpx.Client, str], **request: Any) -> httpx.Response:
    browser, csrf = session
    return browser.post("/keys/records/draft", json=request, headers={"X-CSRF-Token": csrf})


def _certify_request(node: ApiNode, public_key: bytes, **changes: Any) -> dict[str, Any]:
    body = {
        "body_id": BODY,
        "officer_id": "rs-web",
        "device": "web-1",
        "public_key": {"bin": public_key.hex()},
    }
    return {
        "type": "officer_certified",
        "kid": node.world.body_keys[BODY].key_id,
        "body": body | changes,
    }


def _signed(signer: Signer, drafted: httpx.Response) -> bytes:
    """What the page does: sign ``tongban/key/v1 || 00 || SHA-256(content)`` itself."""
    assert drafted.status_code == 200, drafted.text
    content = base64.b64decode(drafted.json()["content"])
    suite = get_suite(signer.suite)
    signature = signer.sign(signing_input(KEY_RECORD_CONTEXT, suite, content))
    return canonical.encode([content, signature])


def _post_record(session: tuple[httpx.Client, str], raw: bytes) -> httpx.Response:
    browser, csrf = session
    headers = {"Content-Type": "application/msgpack", "X-CSRF-Token": csrf}
    return browser.post("/keys/records", content=raw, headers=headers)


def _officer_session(node: ApiNode, signer: Signer, officer_id: str) -> httpx.Client:
    browser = node.client.__class__(node.app)
    given = browser.post("/login/challenge").json()
    challenge = Challenge(
        given["origin"], bytes.fromhex(given["nonce"]), given["issued_at"], given["expires_at"]
    )
    raw = build_login(challenge, signer, body_id=BODY, officer_id=officer_id)
    answer = browser.post("/login", json={"proof": base64.b64encode(raw).decode()})
    assert answer.status_code == 200, answer.text
    return browser


def test_without_a_session_the_page_sends_to_the_login_page(node: ApiNode) -> None:
    for path, back in (
        ("/pages/keys", "%2Fpages%2Fkeys"),
        (f"/pages/keys?body={BODY}", f"%2Fpages%2Fkeys%3Fbody%3D{BODY}"),
    ):
        answer = node.client.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/pages/login?next={back}"
        # an API token sent as a header is a program's, not a login
        with_token = node.client.get(path, headers=node.headers("admin"), follow_redirects=False)
        assert with_token.status_code == 303


@pytest.mark.parametrize("principal", ["supervisor", "auditor"])
def test_a_supervisor_or_auditor_session_is_refused(node: ApiNode, principal: str) -> None:
    browser, _ = _token_session(node, principal)
    answer = browser.get(f"/pages/keys?body={BODY}")
    assert answer.status_code == 403
    assert "本页供本节点的管理员使用" in answer.text and 'id="certify"' not in answer.text


def test_an_officers_session_is_refused(node: ApiNode) -> None:
    browser, _ = _log_in(node, BODY)
    answer = browser.get(f"/pages/keys?body={BODY}")
    assert answer.status_code == 403
    assert "本页供本节点的管理员使用" in answer.text and 'id="officer-keys"' not in answer.text


def test_the_administrator_sees_the_body_its_valid_keys_and_its_officers_keys(
    node: ApiNode, admin: tuple[httpx.Client, str]
) -> None:
    browser, _ = admin
    chooser = browser.get("/pages/keys")
    assert chooser.status_code == 200 and 'id="choose-body"' in chooser.text
    answer = browser.get(f"/pages/keys?body={BODY}")
    assert answer.status_code == 200, answer.text
    html = answer.text
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert "<script>" not in html and " style=" not in html and "onclick" not in html
    body_kid = node.world.body_keys[BODY].key_id
    assert f'data-body-kids="{body_kid}"' in html and 'data-region="510000"' in html
    officer_kid = node.world.officers["rs-001"].signer.key_id
    row = html.split(f'<tr data-kid="{officer_kid}">', 1)[1].split("</tr>", 1)[0]
    assert "rs-001" in row and "有效" in row and 'class="revoke"' in row
    assert "/pages/keys" in browser.get("/pages/supervision").text  # the admin's navigation


def test_an_unknown_or_malformed_body_id_is_said_on_the_page(
    admin: tuple[httpx.Client, str],
) -> None:
    browser, _ = admin
    unknown = browser.get("/pages/keys?body=999999-XX")
    assert unknown.status_code == 404 and "没有部门 999999-XX" in unknown.text
    bad = browser.get("/pages/keys", params={"body": "-bad id"})
    assert bad.status_code == 422 and "部门编号格式不正确" in bad.text


def test_a_drafted_certification_signed_by_the_body_key_is_appended_and_logs_in(
    node: ApiNode, admin: tuple[httpx.Client, str]
) -> None:
    officer = Ed25519Signer.generate()
    before = node.stored()
    drafted = _draft(admin, **_certify_request(node, officer.public_key))
    assert node.stored() == before  # a draft appends nothing
    shown = drafted.json()
    assert set(shown) == {"content", "region", "seq", "prev"}  # no digest, no signing input
    content = canonical.decode(base64.b64decode(shown["content"]))
    head_seq, head = node.services.ledger.registry.head("510000")
    assert (content["seq"], content["prev"], shown["region"]) == (head_seq + 1, head, "510000")
    assert content["ctx"] == KEY_RECORD_CONTEXT and content["type"] == "officer_certified"
    assert content["kid"] == node.world.body_keys[BODY].key_id
    assert content["body"] == {
        "body_id": BODY,
        "officer_id": "rs-web",
        "device": "web-1",
        "public_key": officer.public_key,
        "key_suite": "ed25519-sha256",
        "valid_from": content["time"],
    }
    raw = _signed(node.world.body_keys[BODY], drafted)
    parse_key_record(raw)
    posted = _post_record(admin, raw)
    assert posted.status_code == 201, posted.text
    session = _officer_session(node, officer, "rs-web")
    assert session.get("/login/session").json()["kid"] == officer.key_id


def test_the_session_needs_its_csrf_token_to_draft(
    node: ApiNode, admin: tuple[httpx.Client, str]
) -> None:
    browser, _ = admin
    request = _certify_request(node, Ed25519Signer.generate().public_key)
    answer = browser.post("/keys/records/draft", json=request)
    assert (answer.status_code, answer.json()["field"]) == (403, "x-csrf-token")


@pytest.mark.parametrize("principal", ["home", "window", "auditor", "supervisor", "peer"])
def test_only_the_administrator_drafts(node: ApiNode, principal: str) -> None:
    request = _certify_request(node, Ed25519Signer.generate().public_key)
    answer = node.client.post("/keys/records/draft", json=request, headers=node.headers(principal))
    assert (answer.status_code, answer.json()["reason"]) == (403, "forbidden")


def test_an_officers_session_may_not_draft(node: ApiNode) -> None:
    browser, csrf = _log_in(node, BODY)
    request = _certify_request(node, Ed25519Signer.generate().public_key)
    answer = _draft((browser, csrf), **request)
    assert (answer.status_code, answer.json()["reason"]) == (403, "forbidden")


def _refusal(answer: httpx.Response) -> tuple[int, str, str]:
    problem = answer.json()
    return answer.status_code, problem["reason"], problem["field"]


def test_each_refused_certification_names_the_field(
    node: ApiNode, admin: tuple[httpx.Client, str]
) -> None:
    fresh = Ed25519Signer.generate().public_key
    other_body = node.world.body_keys["510000-ZWFW"].key_id
    officer_kid = node.world.officers["rs-001"].signer.key_id
    taken = node.world.officers["rs-001"].signer.public_key
    cases: list[tuple[dict[str, Any], tuple[int, str, str]]] = [
        ({"kid": "00" * 16}, (422, "unknown_key", "kid")),
        ({"kid": other_body}, (422, "not_entitled", "kid")),
        ({"kid": officer_kid}, (422, "not_entitled", "kid")),
        ({"body": {"body_id": "999999-XX"}}, (422, "unknown_body", "body.body_id")),
        ({"body": {"body_id": "510104 RS"}}, (422, "malformed", "body.body_id")),
        ({"body": {"officer_id": "张三"}}, (422, "malformed", "body.officer_id")),
        ({"body": {"officer_id": ""}}, (422, "malformed", "body.officer_id")),
        ({"body": {"device": "my laptop"}}, (422, "malformed", "body.device")),
        ({"body": {"public_key": {"bin": "ab" * 31}}}, (422, "malformed", "body.public_key")),
        ({"body": {"public_key": "ab" * 32}}, (422, "malformed", "body.public_key")),
        ({"body": {"public_key": {"bin": taken.hex()}}}, (422, "duplicate_key", "body.public_key")),
        ({"body": {"head": True}}, (422, "malformed", "body.head")),
        ({"type": "body_key_rotated"}, (422, "malformed", "type")),
    ]
    before = node.stored()
    for change, expected in cases:
        request = _certify_request(node, fresh)
        body = request["body"] | change.pop("body", {})
        answer = _draft(admin, **(request | change | {"body": body}))
        assert _refusal(answer) == expected, (change, body, answer.text)
    assert node.stored() == before


def test_a_rotated_body_key_drafts_nothing(node: ApiNode, admin: tuple[httpx.Client, str]) -> None:
    """A body key that is no longer valid (rotated away) is refused by its kid."""
    old = node.world.body_keys["320105-RS"]
    RegistryClerk(node.services.ledger, JIANGSU).rotate_body_key(
        seeded(f"root/{JIANGSU}"), "320105-RS", Ed25519Signer.generate().public_key
    )
    request = _certify_request(node, Ed25519Signer.generate().public_key)
    request["kid"] = old.key_id
    request["body"]["body_id"] = "320105-RS"
    assert _refusal(_draft(admin, **request)) == (422, "key_not_valid_at_time", "kid")


def test_a_revocation_drafted_and_signed_ends_the_officers_session_at_once(
    node: ApiNode, admin: tuple[httpx.Client, str]
) -> None:
    officer = Ed25519Signer.generate()
    certified = _post_record(
        admin,
        _signed(
            node.world.body_keys[BODY],
            _draft(admin, **_certify_request(node, officer.public_key, officer_id="rs-gone")),
        ),
    )
    assert certified.status_code == 201, certified.text
    session = _officer_session(node, officer, "rs-gone")
    assert session.get("/login/session").status_code == 200
    kid = key_id("ed25519-sha256", officer.public_key)
    request = {
        "type": "key_revoked",
        "kid": node.world.body_keys[BODY].key_id,
        "body": {"kid": kid, "reason": "设备遗失"},
    }
    drafted = _draft(admin, **request)
    content = canonical.decode(base64.b64decode(drafted.json()["content"]))
    assert content["type"] == "key_revoked"
    # No time given: compromised since the draft's own time, so from the append on.
    since = content["time"]
    assert content["body"] == {"kid": kid, "compromised_since": since, "reason": "设备遗失"}
    assert session.get("/login/session").status_code == 200  # a draft changes nothing
    posted = _post_record(admin, _signed(node.world.body_keys[BODY], drafted))
    assert posted.status_code == 201, posted.text
    ended = session.get("/login/session")
    assert ended.status_code == 401 and "key_revoked" in ended.json()["detail"]
    page = admin[0].get(f"/pages/keys?body={BODY}").text
    row = page.split(f'<tr data-kid="{kid}">', 1)[1].split("</tr>", 1)[0]
    assert "已吊销" in row and 'class="revoke"' not in row


def test_each_refused_revocation_names_the_field(
    node: ApiNode, admin: tuple[httpx.Client, str]
) -> None:
    body_kid = node.world.body_keys[BODY].key_id
    mine = node.world.officers["rs-001"].signer.key_id
    theirs = node.world.officers["zw-001"].signer.key_id  # 510000-ZWFW's officer
    later = node.services.ledger.clock() + 3_600_000_000
    since = "body.compromised_since"
    cases: list[tuple[dict[str, Any], tuple[int, str, str]]] = [
        ({"kid": "00" * 16}, (422, "unknown_key", "body.kid")),
        ({"kid": body_kid}, (422, "not_entitled", "body.kid")),
        ({"kid": theirs}, (422, "not_entitled", "kid")),
        ({"kid": mine, "compromised_since": later}, (422, "malformed", since)),
        ({"kid": mine, "compromised_since": -1}, (422, "malformed", since)),
        ({"kid": mine, "compromised_since": True}, (422, "malformed", since)),
        ({"kid": mine, "reason": "长" * 501}, (422, "malformed", "body.reason")),
        ({"kid": mine, "note": "x"}, (422, "malformed", "body.note")),
    ]
    before = node.stored()
    for body, expected in cases:
        answer = _draft(admin, type="key_revoked", kid=body_kid, body=body)
        assert _refusal(answer) == expected, (body, answer.text)
    assert node.stored() == before

"""The license pages and their draft routes over HTTP (``api/routes/license_pages.py``,
``api/routes/license_drafts.py``; ``docs/pages.md``, "License issuance"): a home officer's
session drafts the ``license_issued`` event of a delivered case, signs the content bytes with
the officer's key as the page does, and the node issues it under the body's seal; the QR
code and ``TB1:`` text verify; a revocation is drafted and signed the same way. Every
refusal names why, and a refused issuance stores nothing. The browser is
``tests/browser/test_license_pages.py``."""

from __future__ import annotations

import base64
import os
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.license_client import identifier_for
from ledger import canonical
from ledger.admin import RegistryClerk
from ledger.envelope import EVENT_CONTEXT, ZERO_HASH
from ledger.license_events import license_stream_id
from ledger.suites import get_suite, signing_input
from licenses.compact import decode_compact
from licenses.document import parse_license
from licenses.qr import decode_qr_png
from tests.e2e.test_login_sessions import _log_in
from tests.support import licenses
from tests.support.api_node import OFFICER_OF, ApiNode, api_node
from tests.support.world import seeded

HOME = licenses.ISSUER
FACE = {"card_no": "A12345678"}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiNode]:
    with api_node(tmp_path_factory.mktemp("license-pages")) as served:
        licenses.enable_licenses(served)
        licenses.install_seal(served)
        yield served


@pytest.fixture(scope="module")
def home(node: ApiNode) -> tuple[httpx.Client, str]:
    return _log_in(node, HOME)


def _post(session: tuple[httpx.Client, str], path: str, body: dict[str, Any]) -> httpx.Response:
    browser, csrf = session
    answer: httpx.Response = browser.post(path, json=body, headers={"X-CSRF-Token": csrf})
    return answer


def _sign(node: ApiNode, content_bytes: bytes, body_id: str = HOME) -> bytes:
    """What the page does: sign the content bytes it decoded, with the officer's key."""
    content = canonical.decode(content_bytes)
    signer = node.world.officers[OFFICER_OF[body_id]].signer
    suite = get_suite(content["suite"])
    signature = signer.sign(signing_input(EVENT_CONTEXT, suite, content_bytes))
    return canonical.encode([content_bytes, signature])


def _draft(
    node: ApiNode,
    session: tuple[httpx.Client, str],
    case_id: uuid.UUID,
    identifier: str,
    **changes: Any,
) -> httpx.Response:
    body = {"case": str(case_id), "identifier": identifier, "face": FACE, **changes}
    return _post(session, "/licenses/draft", body)


def _only_sessions_differ(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Logging in stores a session (and uses a challenge): nothing else may change."""
    changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    return all("session" in name or "challenge" in name for name in changed)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _issue(node: ApiNode, home: tuple[httpx.Client, str]) -> tuple[str, dict[str, Any]]:
    case_id, identifier = licenses.delivered_case(node)
    drafted = _draft(node, home, case_id, identifier)
    assert drafted.status_code == 200, drafted.text
    event = _sign(node, base64.b64decode(drafted.json()["content"]))
    answer = _post(
        home, "/licenses/sealed", {"event": _b64(event), "document": drafted.json()["document"]}
    )
    assert answer.status_code == 201, answer.text
    return identifier, answer.json()


PAGES = (
    "/pages/cases/{case_id}/licenses/{identifier}",
    "/pages/licenses/{identifier}",
    "/pages/licenses/{identifier}/qr.png",
)


@pytest.mark.parametrize("path", PAGES)
def test_a_license_page_without_a_session_redirects_to_the_login_page(
    node: ApiNode, path: str
) -> None:
    case_id, identifier = licenses.delivered_case(node)
    url = path.format(case_id=case_id, identifier=identifier)
    for headers in ({}, node.headers("home")):  # a token is not a login
        answer = node.client.get(url, headers=headers, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/pages/login?next=%2Fpages%2F")


def test_the_case_page_offers_issuance_to_the_home_body_only(
    node: ApiNode, home: tuple[httpx.Client, str]
) -> None:
    case_id, identifier = licenses.delivered_case(node)
    issue_link = f'href="/pages/cases/{case_id}/licenses/{identifier}"'
    html = home[0].get(f"/pages/cases/{case_id}").text
    assert "签发电子证照" in html and issue_link in html and "社会保障卡" in html
    window, _ = _log_in(node, "320105-ZWFW")  # on the case, not its home body
    assert issue_link not in window.get(f"/pages/cases/{case_id}").text
    undelivered = node.proxy_case()
    assert "签发电子证照" not in home[0].get(f"/pages/cases/{undelivered}").text


def test_the_issue_page_has_the_form_for_the_home_officer_and_refuses_others(
    node: ApiNode, home: tuple[httpx.Client, str]
) -> None:
    case_id, identifier = licenses.delivered_case(node)
    url = f"/pages/cases/{case_id}/licenses/{identifier}"
    page = home[0].get(url)
    assert page.status_code == 200, page.text
    assert 'id="issue"' in page.text and 'data-face="card_no"' in page.text
    assert f'data-identifier="{identifier}"' in page.text and "license.js" in page.text
    before = node.stored()
    for body_id in ("320105-ZWFW", "510000-ZWFW"):  # on the case elsewhere; of this region
        other = _log_in(node, body_id)
        refused = other[0].get(url)
        assert refused.status_code == 403 and 'id="issue"' not in refused.text
        assert "510104-RS" in refused.text
        drafted = _draft(node, other, case_id, identifier)
        assert drafted.status_code == 403, drafted.text
    assert node.stored() == before or _only_sessions_differ(before, node.stored())


def test_a_case_not_delivered_gets_a_page_and_a_refused_draft(
    node: ApiNode, home: tuple[httpx.Client, str]
) -> None:
    case_id = node.proxy_case()
    identifier = identifier_for(case_id, licenses.CARD, licenses.RS_USCC).text
    page = home[0].get(f"/pages/cases/{case_id}/licenses/{identifier}")
    assert page.status_code == 409 and "尚未" in page.text and 'id="issue"' not in page.text
    before = node.stored()
    drafted = _draft(node, home, case_id, identifier)
    assert drafted.status_code == 422
    assert (drafted.json()["reason"], drafted.json()["field"]) == ("case_not_delivered", "case")
    assert node.stored() == before


def test_without_a_seal_the_page_says_so_and_the_draft_is_refused(
    node: ApiNode, home: tuple[httpx.Client, str]
) -> None:
    case_id, identifier = licenses.delivered_case(node)
    seal = licenses.install_seal(node)
    kept = seal.with_suffix(".kept")
    seal.rename(kept)
    try:
        page = home[0].get(f"/pages/cases/{case_id}/licenses/{identifier}")
        assert page.status_code == 200
        assert 'id="no-seal"' in page.text and "电子印章密钥" in page.text
        assert 'id="issue"' not in page.text
        before = node.stored()
        drafted = _draft(node, home, case_id, identifier)
        assert (drafted.status_code, drafted.json()["reason"]) == (404, "no_seal_key")
        assert node.stored() == before
    finally:
        kept.rename(seal)


def test_a_seal_file_others_may_read_is_not_used(
    node: ApiNode, home: tuple[httpx.Client, str]
) -> None:
    case_id, identifier = licenses.delivered_case(node)
    seal = licenses.install_seal(node)
    os.chmod(seal, 0o640)
    try:
        page = home[0].get(f"/pages/cases/{case_id}/licenses/{identifier}")
        assert page.status_code == 200 and "不能使用" in page.text and "chmod 600" in page.text
        drafted = _draft(node, home, case_id, identifier)
        assert (drafted.status_code, drafted.json()["reason"]) == (503, "seal_unusable")
    finally:
        os.chmod(seal, 0o600)


def test_an_officer_issues_a_license_under_the_nodes_seal(
    node: ApiNode, home: tuple[httpx.Client, str]
) -> None:
    case_id, identifier = licenses.delivered_case(node)
    drafted = _draft(node, home, case_id, identifier)
    assert drafted.status_code == 200, drafted.text
    answer = drafted.json()
    content_bytes = base64.b64decode(answer["content"])
    content = canonical.decode(content_bytes)
    officer = node.world.officers[OFFICER_OF[HOME]]
    # The event's content as the page decodes it: this officer, key and license stream, on
    # a draft sealed with the body's license key whose digest the event names.
    assert content["kid"] == officer.signer.key_id
    assert content["actor"] == {"body": HOME, "officer": officer.officer_id}
    assert (content["case"], content["seq"], content["prev"]) == (
        str(license_stream_id(identifier)),
        1,
        ZERO_HASH,
    )
    draft = parse_license(base64.b64decode(answer["document"]), allow_draft=True)
    assert draft.key_id == licenses.LICENSE_KEY.key_id and draft.is_draft
    assert content["body"]["document_digest"] == draft.digest
    assert draft.face["card_no"] == "A12345678"
    assert draft.holder.code == licenses.HOLDER_ID
    # The holder was read from the vault, logged as this officer's read.
    log = node.get(f"/cases/{case_id}/access", "home").json()
    assert any(
        e["subject"] == f"{HOME}/{officer.officer_id}" and e["purpose"] == "签发电子证照"
        for e in log
    ), log

    event = _sign(node, content_bytes)
    sealed = _post(home, "/licenses/sealed", {"event": _b64(event), "document": answer["document"]})
    assert sealed.status_code == 201, sealed.text
    issued = sealed.json()
    stored = node.get(f"/licenses/{identifier}", "home").json()
    assert stored["state"] == "issued" and stored["issuance_index"] == issued["index"]
    document = parse_license(base64.b64decode(stored["document"]))
    assert document.issuance_index == issued["index"] and document.digest.hex() == issued["digest"]
    verdict = node.client.post("/licenses/verify", json={"license": issued["compact"]}).json()
    assert verdict["valid"], verdict

    page = home[0].get(f"/pages/licenses/{identifier}")
    assert page.status_code == 200 and issued["compact"] in page.text
    assert "有效" in page.text and 'data-action="revoke"' in page.text
    png = home[0].get(f"/pages/licenses/{identifier}/qr.png")
    assert png.headers["content-type"] == "image/png"
    assert decode_qr_png(png.content) == issued["compact"]
    decode_compact(issued["compact"]).check_document(document.raw)  # raises if not its digest
    # The case page now links to the license instead of offering issuance.
    case_page = home[0].get(f"/pages/cases/{case_id}").text
    assert f'href="/pages/licenses/{identifier}"' in case_page
    assert (
        home[0]
        .get(f"/pages/cases/{case_id}/licenses/{identifier}", follow_redirects=False)
        .headers["location"]
        == f"/pages/licenses/{identifier}"
    )


def test_a_tampered_event_is_refused_and_nothing_is_stored(
    node: ApiNode, home: tuple[httpx.Client, str]
) -> None:
    case_id, identifier = licenses.delivered_case(node)
    answer = _draft(node, home, case_id, identifier).json()
    event = bytearray(_sign(node, base64.b64decode(answer["content"])))
    event[-1] ^= 0x01  # the signature's last byte
    before = node.stored()
    refused = _post(
        home, "/licenses/sealed", {"event": _b64(bytes(event)), "document": answer["document"]}
    )
    assert refused.status_code == 422 and refused.json()["reason"] == "bad_signature", refused.text
    assert node.stored() == before
    # Another officer of the body (its token could post this to POST /licenses; the seal
    # serves the session's officer only), and a draft the node did not seal.
    colleague = seeded("officer/510104-RS/rs-002")
    RegistryClerk(node.services.ledger, node.world.region).certify_officer(
        node.world.body_keys[HOME], HOME, "rs-002", colleague.public_key, device="desk"
    )
    prepared = licenses.prepare(node)  # a draft sealed with the same key, another case's
    content = canonical.decode(base64.b64decode(answer["content"]))
    content["kid"], content["actor"]["officer"] = colleague.key_id, "rs-002"
    moved = canonical.encode(content)
    suite = get_suite(content["suite"])
    other = canonical.encode([moved, colleague.sign(signing_input(EVENT_CONTEXT, suite, moved))])
    before = node.stored()
    refused = _post(
        home, "/licenses/sealed", {"event": _b64(other), "document": answer["document"]}
    )
    assert (refused.status_code, refused.json()["field"]) == (403, "event.kid")
    foreign = _post(
        home,
        "/licenses/sealed",
        {
            "event": _b64(_sign(node, base64.b64decode(answer["content"]))),
            "document": _b64(prepared.draft),
        },
    )
    assert foreign.status_code == 422 and foreign.json()["reason"] == "document_mismatch"
    assert node.stored() == before


@pytest.mark.parametrize(
    ("changes", "reason", "field"),
    [
        ({"face": {}}, "bad_face", "face.card_no"),
        ({"face": {**FACE, "holder_name": "别人"}}, "malformed", "face.holder_name"),
        ({"valid_from": "2026-02-30"}, "malformed", "valid_from"),
        ({"valid_until": "2020-01-01"}, "bad_validity", "valid_until"),
        ({"case": "not-a-uuid"}, "malformed", "case"),
    ],
)
def test_a_bad_draft_names_the_field(
    node: ApiNode,
    home: tuple[httpx.Client, str],
    changes: dict[str, Any],
    reason: str,
    field: str,
) -> None:
    case_id, identifier = licenses.delivered_case(node)
    drafted = _draft(node, home, case_id, identifier, **changes)
    assert drafted.status_code == 422, drafted.text
    assert (drafted.json()["reason"], drafted.json()["field"]) == (reason, field)


def test_a_token_drafts_nothing(node: ApiNode) -> None:
    case_id, identifier = licenses.delivered_case(node)
    body = {"case": str(case_id), "identifier": identifier, "face": FACE}
    answer = node.client.post("/licenses/draft", json=body, headers=node.headers("home"))
    assert (answer.status_code, answer.json()["reason"]) == (403, "forbidden")


def _status(
    node: ApiNode, session: tuple[httpx.Client, str], identifier: str, action: str, reason: str
) -> httpx.Response:
    drafted = _post(
        session,
        "/licenses/status-draft",
        {"identifier": identifier, "action": action, "reason": reason},
    )
    if drafted.status_code != 200:
        return drafted
    browser, csrf = session
    raw = _sign(node, base64.b64decode(drafted.json()["content"]))
    answer: httpx.Response = browser.post(
        f"/licenses/{identifier}/{action}",
        content=raw,
        headers={"Content-Type": "application/msgpack", "X-CSRF-Token": csrf},
    )
    return answer


def test_an_officer_suspends_reinstates_and_revokes_in_signed_events(
    node: ApiNode, home: tuple[httpx.Client, str]
) -> None:
    identifier, issued = _issue(node, home)
    refused = _status(node, home, identifier, "reinstate", "恢复")
    assert (refused.status_code, refused.json()["reason"]) == (422, "illegal_step")
    phone = _status(node, home, identifier, "suspend", "联系 13812345678")
    assert (phone.status_code, phone.json()["field"]) == (422, "reason")
    for action in ("suspend", "reinstate", "revoke"):
        answer = _status(node, home, identifier, action, "持证人申请")
        assert answer.status_code == 201, answer.text
    assert node.get(f"/licenses/{identifier}", "home").json()["state"] == "revoked"
    verdict = node.client.post("/licenses/verify", json={"license": issued["compact"]}).json()
    assert verdict["failed"] == ["revoked"], verdict
    page = home[0].get(f"/pages/licenses/{identifier}").text
    assert "已注销" in page and "license-status" not in page
    outsider = _log_in(node, "510000-ZWFW")
    other = _post(
        outsider,
        "/licenses/status-draft",
        {"identifier": identifier, "action": "revoke", "reason": "核查"},
    )
    assert other.status_code == 403
    assert outsider[0].get(f"/pages/licenses/{identifier}").status_code == 403
    assert outsider[0].get(f"/pages/licenses/{identifier}/qr.png").status_code == 403


def test_posting_the_same_issuance_again_answers_the_same_license(
    node: ApiNode, home: tuple[httpx.Client, str]
) -> None:
    """A retry (the answer lost on the way) appends nothing new and keeps the same document."""
    case_id, identifier = licenses.delivered_case(node)
    answer = _draft(node, home, case_id, identifier).json()
    posted = {
        "event": _b64(_sign(node, base64.b64decode(answer["content"]))),
        "document": answer["document"],
    }
    first = _post(home, "/licenses/sealed", posted)
    assert first.status_code == 201, first.text
    before = node.stored()
    again = _post(home, "/licenses/sealed", posted)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert node.stored() == before


def test_the_license_pages_carry_the_strict_policy_and_only_the_nodes_urls(
    node: ApiNode, home: tuple[httpx.Client, str]
) -> None:
    identifier, _ = _issue(node, home)
    case_id, other = licenses.delivered_case(node)
    for path in (f"/pages/cases/{case_id}/licenses/{other}", f"/pages/licenses/{identifier}"):
        answer = home[0].get(path)
        assert answer.status_code == 200, answer.text
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "default-src 'none'" in policy
        html = answer.text
        assert "<script>" not in html and " style=" not in html and "onclick" not in html
        assert not re.search(r"https?://", html), path
        for url in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert url.startswith(("/", "#")), url


def test_an_erased_license_page_shows_no_holder(
    node: ApiNode, home: tuple[httpx.Client, str]
) -> None:
    identifier, _ = _issue(node, home)
    assert node.services.licenses is not None
    node.services.licenses.erase_documents(identifier)
    page = home[0].get(f"/pages/licenses/{identifier}")
    assert page.status_code == 404 and "erased" in page.text
    assert licenses.HOLDER_ID not in page.text and "欧阳明远" not in page.text
    assert home[0].get(f"/pages/licenses/{identifier}/qr.png").status_code == 404

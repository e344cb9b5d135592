"""An officer whose key is SM2 works through the pages' routes (docs/pages.md, 国密 officers):
logs in with a proof ``tongban login sign`` made of the page's challenge text, has the node
draft a step, signs the draft with ``tongban case sign-draft`` and posts the signed step with
the session, as the case page does. The step's signature is SM2 and the case audits clean.
The refusals the login page shows come from the node with their reason."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import httpx
import pytest

from api.cli import main
from ledger.envelope import parse_event
from ledger.login import Challenge, build_login
from ledger.sm2 import SM2_SM3
from tests.support.api_node import ApiNode, api_node
from tests.support.sm2_officer import Sm2Officer, certify_sm2_officer


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiNode]:
    with api_node(tmp_path_factory.mktemp("sm2-pages")) as served:
        yield served


@pytest.fixture(scope="module")
def officer(node: ApiNode, tmp_path_factory: pytest.TempPathFactory) -> Sm2Officer:
    return certify_sm2_officer(node, tmp_path_factory.mktemp("sm2-keys"))


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out.strip(), err


def _challenge_text(node: ApiNode) -> str:
    """What the login page shows: the challenge the node gave, as one line (clisign.js)."""
    given = node.client.post("/login/challenge").json()
    challenge = Challenge(
        given["origin"], bytes.fromhex(given["nonce"]), given["issued_at"], given["expires_at"]
    )
    return challenge.as_text()


def _login_proof(capsys: pytest.CaptureFixture[str], officer: Sm2Officer, text: str) -> str:
    code, proof, err = _cli(
        capsys,
        "login",
        "sign",
        "--key",
        str(officer.key_file),
        "--body-id",
        officer.body_id,
        "--officer-id",
        officer.officer_id,
        "--challenge",
        text,
    )
    assert code == 0, err
    return proof


def _logged_in(
    node: ApiNode, officer: Sm2Officer, capsys: pytest.CaptureFixture[str]
) -> tuple[httpx.Client, str]:
    browser = node.client.__class__(node.app)
    proof = _login_proof(capsys, officer, _challenge_text(node))
    answer = browser.post("/login", json={"proof": proof})
    assert answer.status_code == 200, answer.text
    assert answer.json()["kid"] == officer.signer.key_id
    return browser, answer.json()["csrf_token"]


def test_an_sm2_officer_logs_in_drafts_signs_on_the_command_line_and_posts(
    node: ApiNode, officer: Sm2Officer, capsys: pytest.CaptureFixture[str]
) -> None:
    case_id = node.proxy_case()  # mailed to 510104-RS: its officer records the arrival
    browser, csrf = _logged_in(node, officer, capsys)

    page = browser.get(f"/pages/cases/{case_id}")
    assert page.status_code == 200
    # The page signs on the command line for this session's key, and names it.
    assert 'data-suite="sm2-sm3"' in page.text
    assert f'data-kid="{officer.signer.key_id}"' in page.text
    assert 'id="signed-envelope"' in page.text and "确认无误，签名并提交" not in page.text

    json_headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
    drafted = browser.post(
        f"/cases/{case_id}/draft",
        json={"type": "arrived", "body": {"note": "材料已收到，齐全"}},
        headers=json_headers,
    )
    assert drafted.status_code == 200, drafted.text
    content = drafted.json()["content"]

    code, signed, err = _cli(
        capsys, "case", "sign-draft", "--key", str(officer.key_file), "--content", content
    )
    assert code == 0, err
    assert f"step arrived of case {case_id}, seq 4" in err and "材料已收到，齐全" in err
    raw = base64.b64decode(signed)
    envelope = parse_event(raw)
    assert envelope.signed.content_bytes == base64.b64decode(content)  # the draft, byte for byte

    posted = browser.post(
        f"/cases/{case_id}/events",
        content=raw,
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/msgpack"},
    )
    assert posted.status_code == 201, posted.text
    stored = node.services.ledger.envelope_at(case_id, 4)
    assert stored == raw
    assert parse_event(stored).signed.suite.name == SM2_SM3
    assert parse_event(stored).officer_id == officer.officer_id
    audit = node.get(f"/audit/cases/{case_id}", "auditor").json()
    assert audit["ok"] and audit["findings"] == [], audit

    # The timeline shows the step signed by the SM2 officer, its signature valid.
    timeline = browser.get(f"/pages/cases/{case_id}").text
    row = re.search(r"<tr><td>4</td>.*?</tr>", timeline, re.S)
    assert row is not None and officer.officer_id in row[0] and "有效" in row[0]


def test_a_session_of_a_browser_key_keeps_signing_in_the_browser(node: ApiNode) -> None:
    """The Ed25519 officers' case page is unchanged: no command, no paste."""
    from tests.e2e.test_login_sessions import _log_in

    case_id = node.proxy_case()
    browser, _ = _log_in(node)
    page = browser.get(f"/pages/cases/{case_id}").text
    assert "data-suite" not in page and 'id="signed-envelope"' not in page
    assert "确认无误，签名并提交" in page


def test_the_node_refuses_a_pasted_proof_with_its_reason(
    node: ApiNode, officer: Sm2Officer, capsys: pytest.CaptureFixture[str]
) -> None:
    # Expired: a challenge whose five minutes are over (the node checks the time before
    # whether it issued the nonce).
    given = node.client.post("/login/challenge").json()
    old = Challenge(
        given["origin"],
        bytes.fromhex(given["nonce"]),
        given["issued_at"] - 600_000_000,
        given["issued_at"] - 300_000_000,
    )
    expired = node.client.post(
        "/login", json={"proof": _login_proof(capsys, officer, old.as_text())}
    )
    assert expired.status_code == 401 and expired.json()["reason"] == "challenge_expired"

    # For another origin: a page elsewhere relayed a challenge that names it.
    elsewhere = Challenge.from_text(_challenge_text(node))
    moved = Challenge(
        "https://evil.example", elsewhere.nonce, elsewhere.issued_at, elsewhere.expires_at
    )
    wrong = node.client.post(
        "/login", json={"proof": _login_proof(capsys, officer, moved.as_text())}
    )
    assert wrong.status_code == 401 and wrong.json()["reason"] == "wrong_origin"

    # Malformed: a pasted text that is not a proof at all, or a cut-off one.
    good = _login_proof(capsys, officer, _challenge_text(node))
    cut = base64.b64encode(base64.b64decode(good)[:-5]).decode()
    for pasted in ("not a proof", cut):
        answer = node.client.post("/login", json={"proof": pasted})
        assert answer.status_code == 422, answer.text
        assert answer.json()["reason"] == "malformed", answer.json()

    # The same challenge answered twice: once only.
    assert node.client.post("/login", json={"proof": good}).status_code == 200
    again = node.client.post("/login", json={"proof": good})
    assert again.status_code == 401 and again.json()["reason"] == "unknown_challenge"


def test_a_proof_in_another_suite_than_the_officers_key_is_refused(
    node: ApiNode, officer: Sm2Officer
) -> None:
    """A proof that names the SM2 key's id but claims Ed25519 does not verify."""
    from tests.support.world import seeded

    class ClaimsTheSm2Key:
        suite = "ed25519-sha256"
        public_key = b""
        key_id = officer.signer.key_id

        def sign(self, message: bytes) -> bytes:
            return seeded("somebody else").sign(message)

    challenge = Challenge.from_text(_challenge_text(node))
    raw = build_login(
        challenge, ClaimsTheSm2Key(), body_id=officer.body_id, officer_id=officer.officer_id
    )
    answer = node.client.post("/login", json={"proof": base64.b64encode(raw).decode()})
    assert answer.status_code == 401 and answer.json()["reason"] == "bad_signature"

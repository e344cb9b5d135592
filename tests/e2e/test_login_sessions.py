"""Officers log in as themselves (``docs/login.md``): a proof their key signed opens a session
cookie; state-changing requests need its CSRF token; revoking the key, logging out or idling
ends it; personal-data reads name the officer."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters.sessions import SessionStore
from adapters.sqlstore import sqlite_connector
from ledger.admin import RegistryClerk
from ledger.application import now_micros
from ledger.login import Challenge, build_login
from tests.support.api_node import OFFICER_OF, ApiNode, api_node


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiNode]:
    with api_node(tmp_path_factory.mktemp("login")) as served:
        yield served


def _proof(node: ApiNode, body_id: str, challenge: dict[str, object] | None = None) -> str:
    given = challenge or node.client.post("/login/challenge").json()
    officer = node.world.officers[OFFICER_OF[body_id]]
    raw = build_login(
        Challenge(
            str(given["origin"]),
            bytes.fromhex(str(given["nonce"])),
            int(str(given["issued_at"])),
            int(str(given["expires_at"])),
        ),
        officer.signer,
        body_id=body_id,
        officer_id=officer.officer_id,
    )
    return base64.b64encode(raw).decode()


def _log_in(node: ApiNode, body_id: str = "510104-RS") -> tuple[httpx.Client, str]:
    """A browser of its own (cookie jar) logged in as ``body_id``'s officer; its CSRF token."""
    browser = node.client.__class__(node.app)
    answer = browser.post("/login", json={"proof": _proof(node, body_id)})
    assert answer.status_code == 200, answer.text
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    return browser, answer.json()["csrf_token"]


def test_a_challenge_names_the_nodes_origin_and_a_fresh_nonce(node: ApiNode) -> None:
    first, second = (node.client.post("/login/challenge").json() for _ in range(2))
    assert first["origin"] == "http://testserver"
    assert len(bytes.fromhex(first["nonce"])) == 32 and first["nonce"] != second["nonce"]
    assert 0 < first["expires_at"] - first["issued_at"] <= 300_000_000


def test_an_officer_logs_in_reads_and_posts_with_the_session(node: ApiNode) -> None:
    case_id = node.proxy_case()
    browser, csrf = _log_in(node)
    assert browser.get("/login/session").json()["officer_id"] == "rs-001"
    assert browser.get(f"/cases/{case_id}").status_code == 200
    assert browser.get("/cases").status_code == 200

    head = node.services.ledger.head(case_id)
    raw = node.envelope(
        "510104-RS", case_id, head.seq + 1, head.event_hash, "arrived", {"note": "材料齐全"}
    )
    posted = {"content": raw, "headers": {"Content-Type": "application/msgpack"}}
    refused = browser.post(f"/cases/{case_id}/events", **posted)  # type: ignore[arg-type]
    assert refused.status_code == 403 and refused.json()["field"] == "x-csrf-token"
    assert node.services.ledger.head(case_id) == head  # nothing was appended
    wrong = {**posted["headers"], "X-CSRF-Token": "00" * 32}  # type: ignore[dict-item]
    assert browser.post(f"/cases/{case_id}/events", content=raw, headers=wrong).status_code == 403
    right = {**posted["headers"], "X-CSRF-Token": csrf}  # type: ignore[dict-item]
    accepted = browser.post(f"/cases/{case_id}/events", content=raw, headers=right)
    assert accepted.status_code == 201, accepted.text


def test_a_personal_data_read_through_a_session_names_the_officer(node: ApiNode) -> None:
    case_id = node.proxy_case()
    browser, _ = _log_in(node)
    read = browser.get(f"/cases/{case_id}", params={"personal": "true", "purpose": "核对身份"})
    assert read.status_code == 200, read.text
    log = node.get(f"/cases/{case_id}/access", "home").json()
    subjects = [entry["subject"] for entry in log]
    assert "510104-RS/rs-001" in subjects


def test_a_proof_is_accepted_once_and_only_at_its_origin(node: ApiNode) -> None:
    challenge = node.client.post("/login/challenge").json()
    proof = _proof(node, "510104-RS", challenge)
    assert node.client.post("/login", json={"proof": proof}).status_code == 200
    again = node.client.post("/login", json={"proof": proof})
    assert again.status_code == 401 and again.json()["reason"] == "unknown_challenge"

    elsewhere = {**node.client.post("/login/challenge").json(), "origin": "https://evil.example"}
    moved = node.client.post("/login", json={"proof": _proof(node, "510104-RS", elsewhere)})
    assert moved.status_code == 401 and moved.json()["reason"] == "wrong_origin"

    forged = node.client.post("/login/challenge").json()
    forged["nonce"] = "11" * 32  # a nonce this node never issued
    never = node.client.post("/login", json={"proof": _proof(node, "510104-RS", forged)})
    assert never.status_code == 401 and never.json()["reason"] == "unknown_challenge"

    bad = node.client.post("/login", json={"proof": "not base64!"})
    assert bad.status_code == 422 and bad.json()["field"] == "proof"


def test_an_event_envelope_is_not_a_login(node: ApiNode) -> None:
    case_id, raw = node.received()
    answer = node.client.post("/login", json={"proof": base64.b64encode(raw).decode()})
    assert answer.status_code == 401 and answer.json()["reason"] == "wrong_context"
    assert not node.services.ledger.has_case(case_id)  # nor did it open the case


def test_logout_ends_the_session(node: ApiNode) -> None:
    browser, csrf = _log_in(node)
    assert browser.post("/logout").status_code == 403  # a cross-site form cannot log one out
    assert browser.post("/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    token_gone = browser.get("/login/session")
    assert token_gone.status_code == 401


def test_revoking_the_officers_key_ends_their_sessions_at_once(tmp_path: Path) -> None:
    with api_node(tmp_path / "node") as served:
        browser, _ = _log_in(served, "510000-ZWFW")
        assert browser.get("/login/session").status_code == 200
        officer = served.world.officers["zw-001"]
        RegistryClerk(served.services.ledger, served.world.region).revoke(
            served.world.body_keys["510000-ZWFW"],
            officer.signer.key_id,
            compromised_since=now_micros(),
            reason="lost",
        )
        ended = browser.get("/login/session")
        assert ended.status_code == 401 and "key_revoked" in ended.json()["detail"]
        # and it stays ended, even for a request that would not look at the key again
        assert browser.get("/cases").status_code == 401


def _last_seen(store: SessionStore) -> list[int]:
    with store._tx() as cur:
        cur.execute("SELECT last_seen FROM tongban_sessions ORDER BY opened_at, last_seen")
        return [int(row[0]) for row in cur.fetchall()]


def test_a_session_ends_after_its_idle_time_and_its_lifetime(tmp_path: Path) -> None:
    second = 1_000_000
    store = SessionStore(
        sqlite_connector(tmp_path / "sessions.sqlite3"),
        "?",
        idle=60 * second,
        lifetime=600 * second,
    )
    challenge = store.issue_challenge("https://n.example", 0)
    assert store.consume(challenge.nonce, second) and not store.consume(challenge.nonce, second)
    late = store.issue_challenge("https://n.example", 0)
    assert not store.consume(late.nonce, challenge.expires_at)  # expired

    from ledger.login import parse_login
    from ledger.suites import Ed25519Signer

    officer = Ed25519Signer.from_seed(bytes(32))
    proof = parse_login(build_login(challenge, officer, body_id="B-1", officer_id="o-1"))
    token, _, _ = store.open_session(proof, 0)
    # A request within ``touch`` (idle / 30: 2 s here) of the last recorded one only reads.
    assert store.touch == 2 * second
    assert store.session(token, second) is not None
    assert _last_seen(store) == [0]
    assert store.session(token, 59 * second) is not None  # restarts the idle clock
    assert _last_seen(store) == [59 * second]
    assert store.session(token, 118 * second) is not None
    assert store.session(token, 179 * second) is None  # idle for 61 s
    token, _, _ = store.open_session(proof, 0)
    for at in range(50, 600, 50):
        assert store.session(token, at * second) is not None
    assert store.session(token, 600 * second) is None  # past its lifetime
    assert store.session("tbs_" + "00" * 32, 0) is None

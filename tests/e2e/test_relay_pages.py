"""The pages' draft route and case page for a case homed on another node (docs/pages.md, "A
case homed elsewhere"; docs/relay.md): two live nodes on loopback, the Jiangsu clerk logged in
to Jiangsu's node with a session, as the browser is (tests/browser/test_relay_pages.py drives
the pages themselves)."""

from __future__ import annotations

import base64
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

from adapters.relay_peers import PeerNode, load_peers, save_peer
from ledger import canonical
from ledger.envelope import EVENT_CONTEXT, ZERO_HASH, parse_event
from ledger.login import Challenge, build_login
from ledger.suites import get_suite, signing_input
from tests.e2e.test_pages import _as_json
from tests.e2e.test_relay import parse_relay_bytes as relayed_bytes
from tests.support.relay_nodes import (
    CLERK,
    JS_LEDGER,
    SC_LEDGER,
    WINDOW,
    Provinces,
    two_provinces,
)
from tests.support.world import seeded

ROOT = Path(__file__).resolve().parents[2]
CHECKED = {"result": "pass", "reasons": [], "identity_verified": True}


def _session(p: Provinces) -> tuple[httpx.Client, str]:
    """A cookie jar logged in to Jiangsu's node as the clerk; its CSRF token."""
    browser = httpx.Client(base_url=p.jiangsu.url)
    given = browser.post("/login/challenge").json()
    raw = build_login(
        Challenge(
            given["origin"],
            bytes.fromhex(given["nonce"]),
            given["issued_at"],
            given["expires_at"],
        ),
        p.world.officers[CLERK].signer,
        body_id=WINDOW,
        officer_id=CLERK,
    )
    answer = browser.post("/login", json={"proof": base64.b64encode(raw).decode()})
    assert answer.status_code == 200, answer.text
    return browser, answer.json()["csrf_token"]


def _draft(browser: httpx.Client, csrf: str, case_id: object, **draft: Any) -> httpx.Response:
    return browser.post(f"/cases/{case_id}/draft", json=draft, headers={"X-CSRF-Token": csrf})


def _content(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    content: dict[str, Any] = canonical.decode(base64.b64decode(answer.json()["content"]))
    return content


def _sign_and_post(
    p: Provinces, browser: httpx.Client, csrf: str, case_id: object, drafted: httpx.Response
) -> httpx.Response:
    """Sign the drafted content bytes as the page does, post them with the session."""
    content_bytes = base64.b64decode(drafted.json()["content"])
    suite = get_suite(canonical.decode(content_bytes)["suite"])
    signature = p.world.officers[CLERK].signer.sign(
        signing_input(EVENT_CONTEXT, suite, content_bytes)
    )
    return browser.post(
        f"/cases/{case_id}/events",
        content=canonical.encode([content_bytes, signature]),
        headers={"Content-Type": "application/msgpack", "X-CSRF-Token": csrf},
    )


def test_a_relayed_case_is_drafted_on_its_home_head_or_on_the_newest_relayed_step(
    tmp_path: Path,
) -> None:
    with two_provinces(tmp_path) as p, p.clerk(retries=0) as client:
        browser, csrf = _session(p)
        opened = p.receive(client)
        case_id = opened.case_id
        # 收件 of a Sichuan item at Jiangsu's node (a new case, the body of the one the client
        # opened): drafted for Sichuan's ledger, at seq 1.
        received = parse_event(relayed_bytes(p, case_id, 1)).body
        opening = _draft(browser, csrf, uuid.uuid4(), type="received", body=_as_json(received))
        content = _content(opening)
        assert (content["ledger"], content["seq"], content["prev"]) == (SC_LEDGER, 1, ZERO_HASH)
        assert content["body"] == received and opening.json()["ledger"] == SC_LEDGER
        # An item of a region this node neither is nor relays to: refused, naming the ledgers.
        elsewhere = _draft(
            browser,
            csrf,
            uuid.uuid4(),
            type="received",
            body=_as_json({**received, "item": "440000/2/23"}),
        )
        assert elsewhere.status_code == 422, elsewhere.text
        problem = elsewhere.json()
        assert (problem["reason"], problem["field"]) == ("wrong_ledger", "body.item")
        assert "tongban/440000" in problem["detail"] and SC_LEDGER in problem["detail"]

        # The next step: on Sichuan's head, read through Jiangsu's node.
        answer = _draft(browser, csrf, case_id, type="form_checked", body=CHECKED)
        content = _content(answer)
        assert content["ledger"] == SC_LEDGER
        assert (content["seq"], content["prev"]) == (2, opened.head.event_hash)
        assert content["actor"] == {"body": WINDOW, "officer": CLERK}
        assert answer.json()["signed_on"] is None
        # A step the home case does not allow now is refused before anything is signed.
        illegal = _draft(browser, csrf, case_id, type="accepted", body={"note": ""})
        assert illegal.status_code == 422, illegal.text
        assert (illegal.json()["reason"], illegal.json()["field"]) == ("illegal_step", "type")
        page = browser.get(f"/pages/cases/{case_id}")
        assert page.status_code == 200 and f'data-relayed="{SC_LEDGER}"' in page.text
        assert 'data-state="accepted"' in page.text and 'id="home-unreadable"' not in page.text
        worklist = browser.get("/pages/worklist").text
        assert f'href="/pages/cases/{case_id}"' in worklist and "relayed-cases" in worklist

        # Sichuan down: on the newest step Jiangsu relayed, and says so; the state for the
        # allowed steps is Jiangsu's replay of the bytes it relayed.
        checked = client.step(case_id, "form_checked", CHECKED)
        p.sichuan.stop()
        answer = _draft(
            browser,
            csrf,
            case_id,
            type="mailed",
            body={"leg": "window_to_home", "courier": "EMS", "tracking_number": "E1"},
        )
        content = _content(answer)
        assert (content["seq"], content["prev"]) == (3, checked.head.event_hash)
        assert "seq 2 (accepted)" in answer.json()["signed_on"]
        assert "peer_unreachable" in answer.json()["signed_on"]
        illegal = _draft(browser, csrf, case_id, type="form_checked", body=CHECKED)
        assert illegal.status_code == 422 and illegal.json()["reason"] == "illegal_step"
        page = browser.get(f"/pages/cases/{case_id}")
        assert page.status_code == 200 and 'id="home-unreadable"' in page.text
        assert 'data-head-seq="2"' in page.text and 'data-step="mailed:window_to_home"' in page.text

        # The drafted step, signed as the page signs it and posted with the session: queued.
        posted = _sign_and_post(p, browser, csrf, case_id, answer)
        assert posted.status_code == 202 and posted.json()["state"] == "queued", posted.text
        assert posted.json()["relay"]["seq"] == 3

        # Sichuan back, but its peers.json names another key for Jiangsu: the read is refused
        # (peer_unauthenticated), the page says so, the next draft follows the queued step,
        # and the first waiting step is held by the next delivery (the one behind it stays
        # queued), which the case page shows.
        p.sichuan.start()
        right = load_peers(p.sc_dir)[JS_LEDGER]
        save_peer(p.sc_dir, PeerNode(JS_LEDGER, right.url, seeded("root/320000").public_key))
        # the state replayed over the three relayed steps (queued included): mailed to home
        answer = _draft(browser, csrf, case_id, type="form_checked", body=CHECKED)
        assert answer.status_code == 422 and answer.json()["reason"] == "illegal_step"
        assert "mailed" not in answer.json()["detail"].split("allowed:")[1]
        answer = _draft(browser, csrf, case_id, type="withdrawn", body={"reason": "申请人撤回"})
        content = _content(answer)
        assert content["seq"] == 4 and "seq 3 (queued)" in answer.json()["signed_on"]
        assert "peer_unauthenticated" in answer.json()["signed_on"]
        page = browser.get(f"/pages/cases/{case_id}")
        assert "peer_unauthenticated" in page.text and 'data-head-seq="3"' in page.text
        posted = _sign_and_post(p, browser, csrf, case_id, answer)
        assert posted.status_code == 202 and posted.json()["state"] == "queued", posted.text
        assert "waits behind seq 3" in posted.json()["detail"]
        delivered = subprocess.run(
            [sys.executable, "-m", "api.cli", "relay", "deliver", "--data-dir", str(p.js_dir)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        assert delivered.returncode == 0, delivered.stderr
        page = browser.get(f"/pages/cases/{case_id}")
        assert '<tr data-seq="3" data-state="held">' in page.text
        assert "暂停：主办节点拒绝本节点的身份认证" in page.text
        assert '<tr data-seq="4" data-state="queued">' in page.text

        # A case this node never relayed and does not hold: 404 as before.
        unknown = _draft(browser, csrf, uuid.uuid4(), type="form_checked", body=CHECKED)
        assert unknown.status_code == 404, unknown.text
        browser.close()

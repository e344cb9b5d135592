"""An officer whose key is SM2 works through the pages in Chromium (docs/pages.md, 国密
officers): WebCrypto has no SM2, so the page shows the login challenge, and later a step's
draft bytes, with the ``tongban`` command that signs them; the test runs each command as the
officer would in a terminal (the installed ``tongban``, the command as the page shows it, the
key file put in) and pastes the output back. The browser never holds or computes with the key.
Throughout: no request leaves the node, no console error but the refusals the test provokes,
no serious or critical axe-core violation. Screenshots ``pages-sm2-login.png``,
``pages-sm2-sign.png``."""

from __future__ import annotations

import base64
import json
import shlex
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import Browser, Page, Route, expect

from ledger import canonical
from ledger.envelope import parse_event
from ledger.sm2 import SM2_SM3
from tests.browser.test_officer_pages import (
    LiveNode,
    Watched,
    accessibility_violations,
    browser,
    live,
    screenshot,
    watch,
)
from tests.support.sm2_officer import Sm2Officer, certify_sm2_officer

__all__ = ["browser", "live"]  # the module-scoped fixtures, used here under their names

TONGBAN = Path(sys.executable).parent / "tongban"
KEY_PLACEHOLDER = "<SM2 密钥文件>"


def in_terminal(command: str, key_file: Path) -> str:
    """Run ``command`` as the page shows it, with the officer's key file for the placeholder:
    what it prints on standard output (the text to paste back)."""
    argv = shlex.split(command)
    assert argv[0] == "tongban" and KEY_PLACEHOLDER in argv, command
    argv = [str(TONGBAN), *(str(key_file) if a == KEY_PLACEHOLDER else a for a in argv[1:])]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _cli_login(page: Page, officer: Sm2Officer) -> str:
    """Fetch a challenge on the login page, sign it in the terminal, paste the proof."""
    page.fill("#cli-body-id", officer.body_id)
    page.fill("#cli-officer-id", officer.officer_id)
    page.click("#cli-challenge")
    expect(page.locator("#cli-steps")).to_be_visible()
    text = page.locator("#challenge-text").input_value()
    command = page.locator("#login-command").input_value()
    assert command.endswith(f"--challenge '{text}'")
    assert f"--body-id {officer.body_id} --officer-id {officer.officer_id}" in command
    proof = in_terminal(command, officer.key_file)
    page.fill("#pasted-proof", proof)
    return proof


def _posts_of_events(watched: Watched) -> int:
    return sum(1 for url in watched.requests if url.endswith("/events"))


def test_an_sm2_officer_logs_in_and_signs_a_step_through_the_command_line(
    live: LiveNode, browser: Browser, tmp_path: Path
) -> None:
    node = live.node
    officer = certify_sm2_officer(node, tmp_path)
    case_id = node.proxy_case()  # mailed to 510104-RS, whose officer records the arrival
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watched = watch(page)
    page.goto(f"{live.base}/pages/login")
    _cli_login(page, officer)
    assert accessibility_violations(page) == []
    screenshot(live, page, "pages-sm2-login")
    page.click("#cli-submit")
    page.wait_for_url("**/pages/worklist")
    session = page.evaluate("fetch('/login/session').then((r) => r.json())")
    assert session["kid"] == officer.signer.key_id and session["officer_id"] == officer.officer_id
    # No key was stored in this browser: the device's key store is empty.
    stored = page.evaluate(
        """() => new Promise((resolve) => {
            const opening = indexedDB.open("tongban-officer", 1);
            opening.onupgradeneeded = () => opening.result.createObjectStore("keys");
            opening.onsuccess = () => {
                const db = opening.result;
                const request = db.transaction("keys").objectStore("keys").count();
                request.onsuccess = () => { db.close(); resolve(request.result); };
            };
        })"""
    )
    assert stored == 0

    page.goto(f"{live.base}/pages/cases/{case_id}")
    expect(page.locator("main")).to_contain_text("国密 SM2 密钥")
    form = page.locator('form[data-step="arrived"]')
    form.locator('[data-field="note"]').fill("材料已收到，齐全")
    form.locator("button[type=submit]").click()
    expect(page.locator("#confirm")).to_be_visible()
    expect(page.locator("#decoded")).to_contain_text("材料已收到，齐全")
    content_b64 = page.locator("#draft-content").input_value()
    command = page.locator("#sign-command").input_value()
    assert command.endswith(f"--content {content_b64}")
    content = base64.b64decode(content_b64)
    assert canonical.decode(content)["suite"] == SM2_SM3

    # The terminal's output for other bytes (the note changed): refused in the page, unposted.
    changed = canonical.decode(content)
    changed["body"]["note"] = "材料已收到"
    other_b64 = base64.b64encode(canonical.encode(changed)).decode()
    other = in_terminal(command.replace(content_b64, other_b64), officer.key_file)
    page.fill("#signed-envelope", other)
    page.click("#sign")
    expect(page.locator("#case-status")).to_contain_text("content_mismatch")
    assert _posts_of_events(watched) == 0
    expect(page.locator("#confirm")).to_be_visible()  # the draft stays: paste again

    signed = in_terminal(command, officer.key_file)
    page.fill("#signed-envelope", signed)
    assert accessibility_violations(page) == []
    screenshot(live, page, "pages-sm2-sign")
    page.click("#sign")
    expect(page.locator("#timeline tbody tr")).to_have_count(4)
    assert _posts_of_events(watched) == 1
    stored_step = node.services.ledger.envelope_at(case_id, 4)
    assert stored_step == base64.b64decode(signed)
    envelope = parse_event(stored_step)
    assert envelope.signed.suite.name == SM2_SM3 and envelope.officer_id == officer.officer_id
    assert envelope.signed.content_bytes == content  # the draft the page showed, byte for byte
    audit = node.get(f"/audit/cases/{case_id}", "auditor").json()
    assert audit["ok"] and audit["findings"] == [], audit
    expect(page.locator("#timeline tbody tr").nth(3)).to_contain_text("有效")
    watched.check(live.base)
    context.close()


def test_the_login_page_says_why_a_challenge_or_a_pasted_proof_is_refused(
    live: LiveNode, browser: Browser, tmp_path: Path
) -> None:
    node = live.node
    officer = certify_sm2_officer(node, tmp_path, "rs-sm2-b")
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    watched = watch(page)
    page.goto(f"{live.base}/pages/login")

    # Not a proof at all: refused in the page, nothing posted.
    page.click("#cli-challenge")
    expect(page.locator("#cli-steps")).to_be_visible()
    page.fill("#pasted-proof", "这不是登录证明")
    page.click("#cli-submit")
    expect(page.locator("#cli-status")).to_contain_text("malformed")
    assert f"{live.base}/login" not in watched.requests

    # A challenge that expired before it was answered: the node refuses, the page says why.
    answer = node.client.post("/login/challenge").json()
    stale = {
        **answer,
        "origin": live.base,
        "issued_at": answer["issued_at"] - 600_000_000,
        "expires_at": answer["issued_at"] - 300_000_000,
    }

    def expired(route: Route) -> None:
        route.fulfill(status=200, content_type="application/json", body=json.dumps(stale))

    page.route("**/login/challenge", expired)
    _cli_login(page, officer)
    page.click("#cli-submit")
    expect(page.locator("#cli-status")).to_contain_text("challenge_expired")
    # the browser logs the refused POST /login as a console error: that one, and nothing else
    assert len(watched.errors) == 1 and "401" in watched.errors[0], watched.errors
    watched.errors.clear()

    # A challenge naming another origin is not shown (a relayed challenge would log in there).
    page.unroute("**/login/challenge")

    def elsewhere(route: Route) -> None:
        body = {**node.client.post("/login/challenge").json(), "origin": "https://evil.example"}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route("**/login/challenge", elsewhere)
    page.click("#cli-challenge")
    expect(page.locator("#cli-status")).to_contain_text("wrong_origin")
    expect(page.locator("#cli-steps")).to_be_hidden()
    page.unroute("**/login/challenge")

    # A proof of an earlier challenge pasted for a new one: refused in the page.
    old_proof = _cli_login(page, officer)
    page.click("#cli-challenge")
    expect(page.locator("#pasted-proof")).to_have_value("")
    page.fill("#pasted-proof", old_proof)
    page.click("#cli-submit")
    expect(page.locator("#cli-status")).to_contain_text("unknown_challenge")
    watched.check(live.base)
    context.close()

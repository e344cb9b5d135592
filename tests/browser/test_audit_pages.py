"""The auditors' pages in Debian's Chromium (Playwright, never a downloaded browser): an auditor
logs in with their API token, runs the whole-ledger audit on a node where one step's stored
bytes were changed (its progress shown while the audit is held running, then the findings),
follows the finding's link and sees that step flagged on the case's page; then reads the
checkpoints with a witness's cosignature, a body's report and the personal-data access log.
The pages read without JavaScript too. Throughout: no request leaves the node, no console
error, no serious or critical axe-core violation. Screenshots: ``docs/screenshots/pages-audit*.png``
with ``TONGBAN_SCREENSHOTS_DIR=docs/screenshots``."""

from __future__ import annotations

import re
import threading
import uuid
from typing import Any

import msgpack
import pytest
from playwright.sync_api import Browser, expect

import api.routes.audit as audit_routes
from adapters.transparency_config import load_transparency_config, save_transparency_config
from ledger.audit import verify_ledger
from ledger.notes import cosign, parse_checkpoint, parse_note
from ledger.suites import Ed25519Signer
from tests.browser.test_officer_pages import (  # noqa: F401 (fixtures)
    LiveNode,
    accessibility_violations,
    browser,
    live,
    screenshot,
    watch,
)
from tests.integration.ledger_contract import SQLiteRawStore, flip
from tests.support.api_node import ApiNode

TAMPERED_SEQ = 3  # the case's `mailed` step
WITNESS = "tongban/320000/witness"


class HeldAudit:
    """``verify_ledger`` that starts only once the test has seen the audit running."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def __call__(self, ledger: Any, **options: Any) -> Any:
        assert self.release.wait(timeout=120), "the test never released the audit"
        return verify_ledger(ledger, **options)


def _witnessed_checkpoint(node: ApiNode) -> int:
    """A checkpoint the one configured witness (Jiangsu's) cosigned; its tree size."""
    issued = node.post("/audit/checkpoint", "admin", content_type=None)
    assert issued.status_code == 200, issued.text
    text = parse_note(issued.text).text
    witness = Ed25519Signer.generate()
    config = load_transparency_config(node.data_dir, region="510000")
    config.add_witness(WITNESS, "https://js.example/witness", witness.public_key)
    save_transparency_config(node.data_dir, config)
    node.services.ledger.add_cosignatures(
        parse_checkpoint(text).size, [cosign(text, WITNESS, witness, 1_767_225_600)]
    )
    return parse_checkpoint(text).size


def _tamper(node: ApiNode, case_id: uuid.UUID) -> None:
    """One byte of the stored signature of the case's step ``TAMPERED_SEQ`` changed."""
    raw = SQLiteRawStore(node.data_dir / "ledger.sqlite3")
    state = msgpack.unpackb(raw.state(case_id, TAMPERED_SEQ), raw=False)
    state["envelope"] = flip(state["envelope"], len(state["envelope"]) - 1)
    raw.set_state(case_id, TAMPERED_SEQ, msgpack.packb(state, use_bin_type=True))


def test_an_auditor_sees_a_tampered_step_flagged_at_its_case_and_step(
    live: LiveNode,  # noqa: F811
    browser: Browser,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    node = live.node
    cases = [node.proxy_case() for _ in range(3)]
    tampered = cases[1]
    read = node.get(f"/cases/{cases[0]}", "home", personal="true", purpose="核对申请人身份")
    assert read.status_code == 200, read.text
    size = _witnessed_checkpoint(node)
    _tamper(node, tampered)
    held = HeldAudit()
    monkeypatch.setattr(audit_routes, "verify_ledger", held)
    monkeypatch.setattr(audit_routes, "ANSWER_WAIT_SECONDS", 0.0)

    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watched = watch(page)
    page.goto(f"{live.base}/pages/audit")
    expect(page).to_have_url(re.compile(r"/pages/login\?next=%2Fpages%2Faudit$"))
    page.goto(f"{live.base}/pages/login")  # an auditor lands on the audit page by default
    page.fill("#api-token", node.tokens["auditor"])
    page.click("#token-login button[type=submit]")
    expect(page).to_have_url(f"{live.base}/pages/audit")
    expect(page.locator("h1")).to_have_text("审计")
    expect(page.locator(".who")).to_contain_text("审计员 auditor-1")
    assert not accessibility_violations(page)

    # Started with the session's CSRF token; held running, the page shows its progress and
    # reloads itself with the findings once the audit has ended.
    page.click("#start-audit button[type=submit]")
    expect(page).to_have_url(re.compile(r"/pages/audit\?job=[0-9a-f]{32}$"))
    expect(page.locator("#job-heading")).to_have_text("审计进行中")
    expect(page.locator("#job-refresh")).to_be_visible()  # the way without JavaScript
    assert not accessibility_violations(page)
    job_url = page.url
    held.release.set()
    expect(page.locator("#job-heading")).to_have_text("审计结果")
    expect(page.locator("#verdict")).to_contain_text("完整性问题")
    finding = page.locator(f'#integrity a[href="/pages/audit/cases/{tampered}#seq-{TAMPERED_SEQ}"]')
    expect(finding).to_have_count(2)  # bad_hash and bad_signature, each linked to the step
    expect(page.locator("#integrity")).to_contain_text("bad_signature")
    assert not accessibility_violations(page)
    screenshot(live, page, "pages-audit")

    finding.first.click()
    expect(page).to_have_url(f"{live.base}/pages/audit/cases/{tampered}#seq-{TAMPERED_SEQ}")
    row = page.locator(f"tr#seq-{TAMPERED_SEQ}")
    expect(row).to_have_class("flagged")
    expect(row).to_contain_text("签名：未通过")
    expect(row).to_contain_text("哈希：未通过")
    not_run = row.locator("li", has_text="链接与序号：未核验（哈希不符，不再比较链接）")
    expect(not_run).to_be_in_viewport()  # shown, not only in the page's text
    expect(page.locator("tr.flagged")).to_have_count(1)
    expect(page.locator("tr#seq-1")).to_contain_text("全部通过")
    assert not accessibility_violations(page)
    screenshot(live, page, "pages-audit-case")

    page.click('nav a[href="/pages/audit/checkpoints"]')
    newest = page.locator("#checkpoints tbody tr").first
    expect(newest.locator("th")).to_have_text(str(size))
    expect(newest).to_contain_text(f"{WITNESS}：已联署")
    expect(newest).to_contain_text("满足（1 / 需 1）")
    assert not accessibility_violations(page)
    screenshot(live, page, "pages-audit-checkpoints")

    page.click('nav a[href="/pages/audit/bodies"]')
    page.click('a[href="/pages/audit/bodies/320105-ZWFW"]')
    expect(page.locator("#steps")).to_contain_text("收件")
    expect(page.locator("#body-findings")).to_contain_text("bad_signature")
    assert not accessibility_violations(page)
    screenshot(live, page, "pages-audit-body")

    page.click('nav a[href="/pages/audit/access"]')
    expect(page.locator("#access-log")).to_contain_text("核对申请人身份")
    page.fill("#filter-case", str(cases[2]))
    page.click("#access-filter button[type=submit]")
    expect(page.locator("#access-log")).to_contain_text("没有符合条件的记录")
    page.fill("#filter-case", str(cases[0]))
    page.click("#access-filter button[type=submit]")
    expect(page.locator("#access-log")).to_contain_text("510104-RS")
    assert not accessibility_violations(page)
    screenshot(live, page, "pages-audit-access")
    watched.check(live.base)

    # Without JavaScript the same session reads the audit's findings and the case's page.
    plain = browser.new_context(locale="zh-CN", java_script_enabled=False)
    plain.add_cookies(
        [{"name": c["name"], "value": c["value"], "url": live.base} for c in context.cookies()]
    )
    no_js = plain.new_page()
    quiet = watch(no_js)
    no_js.goto(job_url)
    expect(no_js.locator("#integrity")).to_contain_text("bad_hash")
    no_js.goto(f"{live.base}/pages/audit/cases/{tampered}")
    expect(no_js.locator(f"tr#seq-{TAMPERED_SEQ}")).to_have_class("flagged")
    quiet.check(live.base)
    plain.close()
    context.close()

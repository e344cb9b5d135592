"""A Jiangsu window clerk works a Sichuan case on Jiangsu's pages only (docs/relay.md,
docs/pages.md): two live nodes on loopback (``tests.support.relay_nodes``), Debian's Chromium
driven by Playwright (as ``tests/browser/test_officer_pages.py``).

The clerk logs in to Jiangsu's node with the key the browser holds, receives a Sichuan item
(收件), checks it (形式审查) while Sichuan's node is up and mails it (寄送) while it is down: the
first two are answered with Sichuan's receipts, the third is queued with Jiangsu's relay
receipt, drafted on the newest step Jiangsu relayed, and accepted once delivered. Sichuan's
audit verifies the three steps, each signed with the clerk's key in the browser; Jiangsu keeps
no clear copy of the applicant; every request of the browser went to Jiangsu's node; no
console error.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect, sync_playwright

from adapters.applicants import open_node_applicants
from adapters.relay_store import open_relay_store
from adapters.settings import Settings
from adapters.vault import ApplicantErased
from ledger.envelope import parse_event
from ledger.receipts import parse_receipt
from tests.browser.test_officer_pages import (
    CHROMIUM,
    SCREENSHOTS_DIR,
    accessibility_violations,
    watch,
)
from tests.support.relay_nodes import (
    CLERK,
    SC_LEDGER,
    WINDOW,
    Provinces,
    admin_token,
    body_token,
    node_public_key,
    two_provinces,
)

ROOT = Path(__file__).resolve().parents[2]


def _shot(page: Page, tmp_path: Path, name: str) -> None:
    where = Path(SCREENSHOTS_DIR) if SCREENSHOTS_DIR else tmp_path / "screenshots"
    where.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(where / f"{name}.png"), full_page=True)
    assert (where / f"{name}.png").stat().st_size > 10_000


def _log_in(page: Page, p: Provinces) -> None:
    page.goto(f"{p.jiangsu.url}/pages/login")
    page.set_input_files("#key-file", str(p.clerk_key_file()))
    page.fill("#body-id", WINDOW)
    page.fill("#officer-id", CLERK)
    page.click("#import-key button[type=submit]")
    expect(page.locator("#login")).to_be_enabled()
    page.click("#login")
    page.wait_for_url("**/pages/worklist")


def _receive(page: Page, tmp_path: Path) -> uuid.UUID:
    form_file = tmp_path / "申请表.pdf"
    form_file.write_bytes(b"%PDF-1.4 application form")
    page.click("nav >> text=收件")
    page.wait_for_url("**/pages/receive")
    page.select_option("#item", "510000/2/23")
    page.select_option("#channel", "proxy")
    page.fill("#home-body", "510104-RS")
    page.fill("#jurisdiction", "510104")
    page.fill("#applicant-name", "欧阳明远")
    page.fill("#applicant-id", "11010519491231002X")
    page.fill("#material-name-1", "申请表")
    page.set_input_files("#material-file-1", str(form_file))
    page.click("#receive button[type=submit]")
    expect(page.locator("#confirm")).to_be_visible()
    decoded = page.locator("#decoded").inner_text()
    assert SC_LEDGER in decoded and "欧阳明远" not in decoded
    page.click("#sign")
    status = page.locator("#case-status")
    expect(status).to_contain_text("主办节点已受理")
    expect(status).to_contain_text(f"主办台账 {SC_LEDGER}，第 1 步")
    link = page.locator("#open-case")
    expect(link).to_be_visible()
    href = link.get_attribute("href")
    assert href is not None
    link.click()
    page.wait_for_url(f"**{href}")
    return uuid.UUID(href.rsplit("/", 1)[1])


def _fill_and_confirm(page: Page, step: str, fields: dict[str, str | bool]) -> str:
    form = page.locator(f'form[data-step="{step}"]')
    for name, value in fields.items():
        control = form.locator(f'[data-field="{name}"]')
        if isinstance(value, bool):
            control.set_checked(value)
        else:
            control.fill(value)
    form.locator("button[type=submit]").click()
    expect(page.locator("#confirm")).to_be_visible()
    decoded = page.locator("#decoded").inner_text()
    assert SC_LEDGER in decoded and step.split(":")[0] in decoded
    return decoded


def _tongban(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_a_jiangsu_clerk_works_a_sichuan_case_on_jiangsus_pages_only(tmp_path: Path) -> None:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing"
    with two_provinces(tmp_path) as p, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
        page = context.new_page()
        watched = watch(page)
        js = p.jiangsu.url
        _log_in(page, p)

        # 收件 of a Sichuan item: drafted for Sichuan's ledger, relayed, Sichuan's receipt.
        case_id = _receive(page, tmp_path)
        facts = page.locator("#case")
        expect(facts).to_have_attribute("data-relayed", SC_LEDGER)
        expect(facts).to_have_attribute("data-ledger", SC_LEDGER)
        expect(page.locator("#relay tbody tr")).to_have_count(1)
        expect(page.locator('#relay tr[data-seq="1"]')).to_have_attribute("data-state", "accepted")
        expect(page.locator("#timeline tbody tr")).to_have_count(1)
        assert accessibility_violations(page) == []

        # 形式审查 on the home node's head, read through Jiangsu's node.
        _fill_and_confirm(page, "form_checked:pass", {"identity_verified": True})
        page.click("#sign")
        expect(page.locator("#case-status")).to_contain_text(
            f"主办节点已受理（主办台账 {SC_LEDGER}，第 2 步"
        )
        page.click("#case-reload a")
        expect(page.locator("#timeline tbody tr")).to_have_count(2)
        _shot(page, tmp_path, "pages-relayed-case")

        # Sichuan's node is down: the page shows what Jiangsu relayed, the draft follows the
        # newest relayed step, and the signed step is queued with Jiangsu's relay receipt.
        p.sichuan.stop()
        page.reload()
        expect(page.locator("#home-unreadable")).to_be_visible()
        expect(page.locator("#timeline")).to_have_count(0)
        decoded = _fill_and_confirm(
            page, "mailed:window_to_home", {"courier": "EMS", "tracking_number": "EMS0001"}
        )
        assert "3" in decoded
        expect(page.locator("#case-status")).to_contain_text("主办节点暂不可读")
        page.click("#sign")
        expect(page.locator("#case-status")).to_contain_text("本节点排队")
        expect(page.locator("#case-status")).to_contain_text("第 3 步")
        assert accessibility_violations(page) == []
        _shot(page, tmp_path, "pages-relayed-queued")
        page.goto(f"{js}/pages/worklist")
        listed = page.locator("#relayed-cases tbody tr")
        expect(listed).to_have_count(1)
        expect(listed).to_contain_text("排队中")
        expect(page.locator(f'#relayed-cases a[href="/pages/cases/{case_id}"]')).to_have_count(1)
        assert accessibility_violations(page) == []

        # Sichuan back, the queue delivered: the page shows the three steps accepted.
        p.sichuan.start()
        delivered = _tongban("relay", "deliver", "--data-dir", str(p.js_dir))
        assert delivered.returncode == 0, delivered.stderr
        assert [d["seq"] for d in json.loads(delivered.stdout)["delivered"]] == [3]
        page.goto(f"{js}/pages/cases/{case_id}")
        expect(page.locator("#timeline tbody tr")).to_have_count(3)
        for seq in (1, 2, 3):
            expect(page.locator(f'#relay tr[data-seq="{seq}"]')).to_have_attribute(
                "data-state", "accepted"
            )
        watched.check(js)  # every request went to Jiangsu's node; no console error
        context.close()
        browser.close()

        # Sichuan's audit verifies the three steps, the Jiangsu clerk's, signed in the browser
        # with the clerk's key (its key id), each with Sichuan's receipt.
        admin = {"Authorization": f"Bearer {admin_token(p.sc_dir)}"}
        audit = httpx.get(f"{p.sichuan.url}/audit/cases/{case_id}", headers=admin).json()
        assert audit["ok"] and audit["events"] == 3 and audit["findings"] == [], audit
        home = httpx.get(f"{p.sichuan.url}/cases/{case_id}", headers=admin).json()
        assert [(s["body_id"], s["officer_id"], s["signature"]) for s in home["timeline"]] == [
            (WINDOW, CLERK, "valid")
        ] * 3
        assert home["state"] == "to_home"
        settings = Settings(data_dir=p.js_dir)
        store = open_relay_store(settings.resolved_database_url(), p.js_dir)
        try:
            rows = [s for s in store.steps() if s.case_id == str(case_id)]
        finally:
            store.close()
        kid = p.world.officers[CLERK].signer.key_id
        steps = [parse_event(r.envelope) for r in rows]
        assert [(s.seq, s.ledger, s.signed.key_id) for s in steps] == [
            (n, SC_LEDGER, kid) for n in (1, 2, 3)
        ]
        for row in rows:
            assert row.home_receipt is not None
            receipt = parse_receipt(row.home_receipt)
            receipt.signed.verify(node_public_key(p.sc_dir))
            assert receipt.ledger == SC_LEDGER

        # The applicant went to Sichuan's vault; Jiangsu's copy is erased.
        ref = steps[0].body["applicant"]["ref"]
        applicants = open_node_applicants(settings.resolved_database_url(), p.js_dir)
        try:
            try:
                applicants.vault.read(ref)
            except ApplicantErased:
                pass
            else:
                raise AssertionError("Jiangsu's node still holds the applicant in clear")
        finally:
            applicants.access.close()
        home_body = {"Authorization": f"Bearer {body_token(p.sc_dir, '510104-RS')}"}
        shown = httpx.get(
            f"{p.sichuan.url}/cases/{case_id}",
            headers=home_body,
            params={"personal": "true", "purpose": "核验"},
        )
        assert shown.status_code == 200 and shown.json()["applicant"]["name"] == "欧阳明远"

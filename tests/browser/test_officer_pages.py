"""The officers' pages in a real browser: Debian's Chromium (``/usr/bin/chromium``) driven by
Playwright, against a live node on loopback. Playwright never downloads a browser here
(``executable_path``); ``.ci/run`` installs Chromium and a Chinese font when missing.

A Jiangsu window clerk imports the demo key file once (a non-extractable WebCrypto key in
IndexedDB), logs in by signing the node's challenge, and signs 形式审查 on a case in the page;
the ledger's audit verifies the step. Throughout: no request leaves the node, no console error,
no serious or critical axe-core violation (vendored, ``tests/browser/vendor/axe-core``).
Screenshots: ``docs/screenshots/`` with ``TONGBAN_SCREENSHOTS_DIR=docs/screenshots``."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Route,
    expect,
    sync_playwright,
)

from ledger import canonical
from ledger.admin import RegistryClerk
from tests.support.api_node import OFFICER_OF, ApiNode, api_node
from tests.support.tls import TEST_NAME, ServedCertificate, make_certificate

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "browser" / "vendor" / "axe-core" / "axe.min.js"
# Screenshots are made on every run (the pages must render), into a temporary directory;
# `TONGBAN_SCREENSHOTS_DIR=docs/screenshots` writes the checked-in ones (docs/pages.md).
SCREENSHOTS_DIR = os.environ.get("TONGBAN_SCREENSHOTS_DIR", "")
CLERK_BODY = "320105-ZWFW"  # the Jiangsu window of tests/support/world.py
NAME = TEST_NAME  # not localhost: Chromium maps it to 127.0.0.1 (--host-resolver-rules)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class LiveNode:
    node: ApiNode
    base: str  # http://127.0.0.1:<port>: loopback is a secure context without a certificate
    port: int
    https_port: int  # the same app over HTTPS, certificate for tongban.test
    certificate: ServedCertificate
    shots: Path  # where screenshots go


@contextmanager
def _served(app: Any, port: int, tls: ServedCertificate | None = None) -> Iterator[None]:
    # The app's lifespan already runs under the test client; uvicorn only serves it.
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        ssl_certfile=None if tls is None else str(tls.certfile),
        ssl_keyfile=None if tls is None else str(tls.keyfile),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the live node did not start"
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    certificate = make_certificate(tmp_path_factory.mktemp("tls"))
    with api_node(tmp_path_factory.mktemp("browser")) as node:
        port, https_port = _free_port(), _free_port()
        with _served(node.app, port), _served(node.app, https_port, certificate):
            shots = Path(SCREENSHOTS_DIR or tmp_path_factory.mktemp("screenshots"))
            base = f"http://127.0.0.1:{port}"
            yield LiveNode(node, base, port, https_port, certificate, shots)


@pytest.fixture(scope="module")
def browser(live: LiveNode) -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing (.ci/run installs Debian's chromium)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                f"--host-resolver-rules=MAP {NAME} 127.0.0.1",
                # Trust the test certificate, and only it (no error is ignored otherwise).
                f"--ignore-certificate-errors-spki-list={live.certificate.spki_sha256}",
            ],
        )
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Watched:
    """A page and what it did: every request's URL, every console error and page error."""

    page: Page
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def check(self, origin: str) -> None:
        outside = [u for u in self.requests if not u.startswith(origin + "/")]
        assert not outside, f"requests left the node: {outside}"
        assert not self.errors, f"console errors: {self.errors}"


def watch(page: Page) -> Watched:
    watched = Watched(page)

    def on_request(request: Request) -> None:
        watched.requests.append(request.url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.errors.append(message.text)

    page.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    return watched


def accessibility_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it stands. Injected through
    the DevTools protocol (``evaluate``), not a script tag, which the page's policy refuses."""
    page.evaluate(AXE.read_text(encoding="utf-8"))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations
                .filter((v) => v.impact === "serious" || v.impact === "critical")
                .map((v) => ({id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.html)}));
        }"""
    )
    return found


def screenshot(live: LiveNode, page: Page, name: str) -> None:
    live.shots.mkdir(parents=True, exist_ok=True)
    shot = live.shots / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000, f"{shot} is nearly empty"


def _received_case(node: ApiNode) -> uuid.UUID:
    case_id, raw = node.received(CLERK_BODY)
    opened = node.post("/cases", "window", raw)
    assert opened.status_code == 201, opened.text
    return case_id


def _key_file(node: ApiNode, body_id: str, tmp_path: Path) -> tuple[Path, str, str]:
    officer = node.world.officers[OFFICER_OF[body_id]]
    path = tmp_path / f"{officer.officer_id}.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(officer.signer.private_seed().hex() + "\n")
    return path, officer.officer_id, officer.signer.key_id


def test_a_window_clerk_logs_in_and_signs_a_step_in_the_browser(
    live: LiveNode, browser: Browser, tmp_path: Path
) -> None:
    node = live.node
    case_id = _received_case(node)
    key_file, officer_id, kid = _key_file(node, CLERK_BODY, tmp_path)
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watched = watch(page)

    # A page that needs a login sends the browser to the login page, and back afterwards.
    page.goto(f"{live.base}/pages/cases/{case_id}")
    assert "/pages/login?next=" in page.url
    expect(page.locator("#key-status")).to_contain_text("尚无密钥")
    assert accessibility_violations(page) == []
    page.set_input_files("#key-file", str(key_file))
    page.fill("#body-id", CLERK_BODY)
    page.fill("#officer-id", officer_id)
    page.click("#import-key button[type=submit]")
    expect(page.locator("#key-status")).to_contain_text(kid)
    screenshot(live, page, "pages-login")
    # The key is in IndexedDB and cannot be read back out.
    extractable = page.evaluate(
        """() => new Promise((resolve) => {
            const opening = indexedDB.open("tongban-officer", 1);
            opening.onsuccess = () => {
                const get = opening.result.transaction("keys").objectStore("keys")
                    .get("this-device");
                get.onsuccess = () => resolve(get.result.privateKey.extractable);
            };
        })"""
    )
    assert extractable is False

    page.click("#login")
    page.wait_for_url(f"**/pages/cases/{case_id}")
    expect(page.locator("tbody tr")).to_have_count(1)
    assert accessibility_violations(page) == []
    screenshot(live, page, "pages-case")

    form = page.locator('form[data-step="form_checked:pass"]')
    form.locator('[data-field="identity_verified"]').check()
    form.locator("button[type=submit]").click()
    confirm = page.locator("#confirm")
    expect(confirm).to_be_visible()
    decoded = page.locator("#decoded").inner_text()
    assert str(case_id) in decoded and "form_checked" in decoded and officer_id in decoded
    assert accessibility_violations(page) == []
    screenshot(live, page, "pages-confirm")
    page.click("#sign")
    expect(page.locator("tbody tr")).to_have_count(2)

    # The ledger holds the clerk's step, signed with the key the browser holds, and verifies.
    head = node.services.ledger.head(case_id)
    assert head.seq == 2
    audit = node.get(f"/audit/cases/{case_id}", "auditor").json()
    assert audit["ok"] and audit["events"] == 2 and audit["findings"] == [], audit
    story = node.get(f"/cases/{case_id}", "window").json()["timeline"]
    assert (story[1]["step"], story[1]["body_id"], story[1]["officer_id"]) == (
        "form_checked:pass",
        CLERK_BODY,
        officer_id,
    )
    assert story[1]["signature"] == "valid"

    page.goto(f"{live.base}/pages/worklist")
    expect(page.locator(f'a[href="/pages/cases/{case_id}"]')).to_have_count(1)
    assert accessibility_violations(page) == []
    screenshot(live, page, "pages-worklist")

    page.click("#logout")
    page.wait_for_url("**/pages/login")
    page.goto(f"{live.base}/pages/worklist")
    assert "/pages/login?next=" in page.url
    watched.check(live.base)
    context.close()


def test_over_plain_http_under_a_real_name_the_page_says_why_it_cannot_sign(
    live: LiveNode, browser: Browser
) -> None:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    watched = watch(page)
    page.goto(f"http://{NAME}:{live.port}/pages/login")
    assert page.evaluate("isSecureContext") is False
    note = page.locator("#context-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("不是安全上下文")
    expect(page.locator("#import-key button")).to_be_disabled()
    watched.check(f"http://{NAME}:{live.port}")
    context.close()


def test_chromium_and_a_chinese_font_are_installed() -> None:
    # Without a CJK font the screenshots show boxes for every character.
    fc_list = shutil.which("fc-list")
    assert fc_list, "fontconfig is missing"
    import subprocess

    fonts = subprocess.run([fc_list, ":lang=zh"], capture_output=True, text=True, check=True)
    assert fonts.stdout.strip(), "no Chinese font (.ci/run installs fonts-wqy-microhei)"


def test_over_https_under_a_real_name_the_clerk_logs_in_and_signs(
    live: LiveNode, browser: Browser, tmp_path: Path
) -> None:
    node = live.node
    case_id = _received_case(node)
    key_file, officer_id, _ = _key_file(node, CLERK_BODY, tmp_path)
    origin = f"https://{NAME}:{live.https_port}"
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    watched = watch(page)
    page.goto(f"{origin}/pages/cases/{case_id}")
    assert page.evaluate("isSecureContext") is True
    expect(page.locator("#context-note")).to_be_hidden()
    page.set_input_files("#key-file", str(key_file))
    page.fill("#body-id", CLERK_BODY)
    page.fill("#officer-id", officer_id)
    page.click("#import-key button[type=submit]")
    expect(page.locator("#login")).to_be_enabled()
    page.click("#login")
    page.wait_for_url(f"{origin}/pages/cases/{case_id}")
    cookie = next(c for c in context.cookies() if c["name"] == "tb_session")
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    form = page.locator('form[data-step="form_checked:pass"]')
    form.locator('[data-field="identity_verified"]').check()
    form.locator("button[type=submit]").click()
    expect(page.locator("#confirm")).to_be_visible()
    page.click("#sign")
    expect(page.locator("tbody tr")).to_have_count(2)
    assert node.services.ledger.head(case_id).seq == 2
    watched.check(origin)
    context.close()


def test_a_home_officer_enrols_a_key_made_in_the_browser_and_signs_with_it(
    live: LiveNode, browser: Browser
) -> None:
    """The officer's second device: a key generated non-extractable in the page, certified
    by the body (as `tongban keys certify-officer --officer-public-key` does), beside the
    officer's first key, which stays valid (docs/keys.md §5)."""
    node = live.node
    case_id = node.proxy_case()  # mailed to 510104-RS, whose officer records the arrival
    officer = node.world.officers[OFFICER_OF["510104-RS"]]
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watched = watch(page)
    page.goto(f"{live.base}/pages/login")
    page.fill("#new-body-id", "510104-RS")
    page.fill("#new-officer-id", officer.officer_id)
    page.click("#generate-key button[type=submit]")
    expect(page.locator("#enrolment")).to_be_visible()
    public_key = bytes.fromhex(page.locator("#new-public-key").inner_text())
    kid = page.locator("#new-kid").inner_text()
    device = page.locator("#new-device").inner_text()
    command = page.locator("#certify-command").inner_text()
    assert f"--officer-public-key {public_key.hex()}" in command and f"--device {device}" in command
    assert accessibility_violations(page) == []
    screenshot(live, page, "pages-enrol")

    # Not certified yet: the node refuses the login, and says why.
    page.click("#login")
    expect(page.locator("#login-status")).to_contain_text("unknown_key")
    # the browser logs the refused POST /login as a console error: that one, and nothing else
    assert len(watched.errors) == 1 and "401" in watched.errors[0], watched.errors
    watched.errors.clear()

    RegistryClerk(node.services.ledger, node.world.region).certify_officer(
        node.world.body_keys["510104-RS"],
        "510104-RS",
        officer.officer_id,
        public_key,
        device=device,
    )
    page.click("#login")
    page.wait_for_url("**/pages/worklist")
    session = page.evaluate("fetch('/login/session').then((r) => r.json())")
    assert session["kid"] == kid != officer.signer.key_id
    page.goto(f"{live.base}/pages/cases/{case_id}")
    form = page.locator('form[data-step="arrived"]')
    form.locator('[data-field="note"]').fill("材料已收到，齐全")
    form.locator("button[type=submit]").click()
    expect(page.locator("#decoded")).to_contain_text("材料已收到，齐全")
    page.click("#sign")
    expect(page.locator("tbody tr")).to_have_count(4)
    audit = node.get(f"/audit/cases/{case_id}", "auditor").json()
    assert audit["ok"] and audit["findings"] == [], audit
    # The officer's first key is still valid: a step signed with it is accepted too.
    answer = node.step(case_id, "510104-RS", "accepted", {"note": ""})
    assert answer.status_code == 201, answer.text
    watched.check(live.base)
    context.close()


def test_an_sm2_key_file_is_refused_with_the_reason(
    live: LiveNode, browser: Browser, tmp_path: Path
) -> None:
    """WebCrypto has no SM2: the page says so and keeps no key (docs/pages.md, 国密 officers)."""
    key_file = tmp_path / "sm2.key"
    key_file.write_text("sm2-sm3 " + "11" * 32 + "\n")  # the form `tongban` writes SM2 keys in
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    watched = watch(page)
    page.goto(f"{live.base}/pages/login")
    page.set_input_files("#key-file", str(key_file))
    page.fill("#body-id", "510104-RS")
    page.fill("#officer-id", "rs-sm2")
    page.click("#import-key button[type=submit]")
    expect(page.locator("#login-status")).to_contain_text("国密 SM2 密钥无法在浏览器中使用")
    expect(page.locator("#login-status")).to_contain_text("国密密钥（命令行签名）")  # the way
    expect(page.locator("#key-status")).to_contain_text("尚无密钥")
    expect(page.locator("#login")).to_be_disabled()
    watched.check(live.base)
    context.close()


def _logged_in(browser: Browser, live: LiveNode, body_id: str, tmp_path: Path) -> Watched:
    """A browser of its own for ``body_id``'s officer: the demo key imported, logged in."""
    key_file, officer_id, _ = _key_file(live.node, body_id, tmp_path)
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watched = watch(page)
    page.goto(f"{live.base}/pages/login")
    page.set_input_files("#key-file", str(key_file))
    page.fill("#body-id", body_id)
    page.fill("#officer-id", officer_id)
    page.click("#import-key button[type=submit]")
    expect(page.locator("#login")).to_be_enabled()
    page.click("#login")
    page.wait_for_url("**/pages/worklist")
    return watched


def _sign(
    page: Page, step: str, fields: Mapping[str, str | bool], rows: int, *, shown: str = ""
) -> None:
    """Fill the form for ``step``, check the decoded content (it shows ``shown`` too), sign;
    the timeline has ``rows``."""
    form = page.locator(f'form[data-step="{step}"]')
    for name, value in fields.items():
        control = form.locator(f'[data-field="{name}"]')
        if isinstance(value, bool):
            control.set_checked(value)
        else:
            control.fill(value)
    form.locator("button[type=submit]").click()
    expect(page.locator("#confirm")).to_be_visible()
    expect(page.locator("#decoded")).to_contain_text(step.split(":")[0])
    expect(page.locator("#decoded")).to_contain_text(shown)
    page.click("#sign")
    expect(page.locator("tbody tr")).to_have_count(rows)


def _receive_in_the_page(live: LiveNode, page: Page, tmp_path: Path) -> uuid.UUID:
    """收件 of a Sichuan item at the Jiangsu window, in the page: the new case's id."""
    form_file = tmp_path / "申请表.pdf"
    form_file.write_bytes(b"%PDF-1.4 application form")
    page.click("text=收件")
    page.wait_for_url("**/pages/receive")
    page.select_option("#item", "510000/2/23")
    page.select_option("#channel", "proxy")
    page.fill("#home-body", "510104-RS")
    page.fill("#jurisdiction", "510104")
    page.fill("#applicant-name", "张三")
    page.fill("#applicant-id", "11010519491231002X")
    page.fill("#material-name-1", "申请表")
    page.set_input_files("#material-file-1", str(form_file))
    page.click("#receive button[type=submit]")
    expect(page.locator("#confirm")).to_be_visible()
    decoded = page.locator("#decoded").inner_text()
    # what the page decoded: the material's SHA-256 computed in the page, no personal data
    assert hashlib.sha256(form_file.read_bytes()).hexdigest() in decoded
    assert "张三" not in decoded and "11010519491231002X" not in decoded
    assert "ap_" in decoded and "510000/2/23" in decoded
    assert accessibility_violations(page) == []  # pages-receive.png: test_officer_forms.py
    page.click("#sign")
    page.wait_for_url("**/pages/cases/*")
    expect(page.locator("tbody tr")).to_have_count(1)
    return uuid.UUID(page.url.rsplit("/", 1)[1])


def test_a_whole_proxy_case_through_the_pages_by_a_window_clerk_and_a_home_officer(
    live: LiveNode, browser: Browser, tmp_path: Path
) -> None:
    """Jiangsu's window (320105-ZWFW) and Sichuan's 510104-RS, each logged in with their own
    key, take every step after 收件 in the pages, one refused on the way (personal data in a
    free text), and the audit finds the case whole."""
    clerk = _logged_in(browser, live, CLERK_BODY, tmp_path / "clerk")
    home = _logged_in(browser, live, "510104-RS", tmp_path / "home")
    walk_a_proxy_case(live, browser, clerk, home, tmp_path)
    for watched in (clerk, home):
        watched.check(live.base)
        watched.page.context.close()


def walk_a_proxy_case(
    live: LiveNode,
    browser: Browser,
    clerk: Watched,
    home: Watched,
    tmp_path: Path,
    *,
    screenshots: bool = True,
    result_license: Callable[[uuid.UUID], str] | None = None,
) -> uuid.UUID:
    """A whole proxy case through the pages: the Jiangsu window's ``clerk`` and Sichuan's
    510104-RS officer ``home``, each logged in, take every step from 收件 to 送达 (one refused
    on the way), the applicant follows and rates it with the slip's code, and the audit finds
    the case whole. ``screenshots``: make the checked-in ones on the way. ``result_license``:
    the case's license identifier, which the 送达 form must fill in and the step list (None:
    the form fills in nothing); the form is shot as ``pages-case-result-license``."""
    node = live.node
    case_id = _receive_in_the_page(live, clerk.page, tmp_path)
    home.page.goto(f"{live.base}/pages/cases/{case_id}")

    _sign(clerk.page, "form_checked:pass", {"identity_verified": True}, 2)
    mailed = {"courier": "EMS", "tracking_number": "EMS1000001"}
    _sign(clerk.page, "mailed:window_to_home", mailed, 3)
    home.page.reload()
    assert home.page.locator('form[data-step="mailed:window_to_home"]').count() == 0
    _sign(home.page, "arrived", {"note": "材料齐全"}, 4)
    _sign(home.page, "accepted", {"note": ""}, 5)

    # A refused step: a mobile number in a free text is personal data (docs/envelope.md §5.4).
    form = home.page.locator('form[data-step="decided:approved"]')
    form.locator('[data-field="reasons"]').fill("符合条件，联系电话 13812345678")
    form.locator('[data-field="basis"]').fill("《社会保障卡管理办法》")
    form.locator("button[type=submit]").click()
    status = home.page.locator("#case-status")
    expect(status).to_contain_text("malformed")
    expect(status).to_contain_text("body.reasons")
    expect(home.page.locator("#confirm")).to_be_hidden()
    # the browser logs the refused draft as a console error: that one, and nothing else
    assert len(home.errors) == 1 and "422" in home.errors[0], home.errors
    home.errors.clear()
    assert node.services.ledger.head(case_id).seq == 5  # nothing was signed or appended

    decided = {"reasons": "符合条件", "basis": "《社会保障卡管理办法》"}
    _sign(home.page, "decided:approved", decided, 6)
    _sign(home.page, "mailed:home_to_window", {"courier": "EMS", "tracking_number": "EMS2"}, 7)
    clerk.page.reload()
    _sign(clerk.page, "arrived", {"note": "证件已到窗口"}, 8)
    identifier = "" if result_license is None else result_license(case_id)
    results = clerk.page.locator('form[data-step="delivered:at_window"] [data-field="results"]')
    expect(results).to_have_value(identifier)  # filled in by the page, signed as it is
    if identifier:
        assert accessibility_violations(clerk.page) == []
        screenshot(live, clerk.page, "pages-case-result-license")
    _sign(clerk.page, "delivered:at_window", {}, 9, shown=identifier)
    expect(clerk.page.locator("#main")).to_contain_text("已办结")
    if screenshots:
        screenshot(live, clerk.page, "pages-case-delivered")
    clerk.page.click("text=打印收件回执")
    expect(clerk.page.locator("h1")).to_have_text("收件回执")
    expect(clerk.page.locator("#main")).to_contain_text("申请表")
    # The slip's one-time code, drawn in the receive page and shown once on the 收件回执.
    slip = clerk.page.locator("#rating-code")
    expect(slip).to_have_text(re.compile(r"^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$"))
    code = slip.inner_text()
    assert accessibility_violations(clerk.page) == []
    if screenshots:
        screenshot(live, clerk.page, "pages-notice-receipt")
    clerk.page.reload()  # shown once: the tab forgot it
    expect(clerk.page.locator("#rating-code")).to_contain_text("仅在收件的浏览器页面显示一次")

    # The applicant follows the case and rates it with the slip's code, no login.
    applicant = browser.new_context()
    public = applicant.new_page()
    public.goto(f"{live.base}/pages/progress")
    public.get_by_label("案件编号").fill(str(case_id))
    public.get_by_label("查询码").fill(code)
    public.get_by_role("button", name="查询进度").click()
    expect(public.locator("#state")).to_have_text("已办结")
    public.get_by_label("非常满意", exact=True).check()
    public.get_by_role("button", name="提交评价").click()
    expect(public.locator("#rated")).to_have_text("评价已提交，谢谢。")
    applicant.close()

    audit = node.get(f"/audit/cases/{case_id}", "auditor").json()
    assert audit["ok"] and audit["events"] == 10 and audit["findings"] == [], audit
    story = node.get(f"/cases/{case_id}", "window").json()
    assert story["state"] == "delivered"
    signers = [(s["body_id"], s["signature"]) for s in story["timeline"][1:9]]
    assert [b for b, _ in signers] == [CLERK_BODY] * 2 + ["510104-RS"] * 4 + [CLERK_BODY] * 2
    assert story["timeline"][9]["step"] == "rated:very_satisfied"
    assert {sig for _, sig in signers} == {"valid"}
    return case_id


def test_the_page_refuses_to_sign_content_other_than_the_step_typed_in(
    live: LiveNode, browser: Browser, tmp_path: Path
) -> None:
    """A node (or anyone between) that drafts other bytes than the officer's step — another
    body, another case, bytes that are not canonical — gets no signature: the page decodes and
    checks the draft itself. Drafts are rewritten in flight here (Playwright's routing)."""
    node = live.node
    case_id = _received_case(node)
    clerk = _logged_in(browser, live, CLERK_BODY, tmp_path)
    page = clerk.page
    page.goto(f"{live.base}/pages/cases/{case_id}")
    other_case = _received_case(node)

    change: list[Callable[[dict[str, Any]], bytes]] = []
    handled: list[str] = []

    def tamper(route: Route) -> None:
        answer = route.fetch()
        drafted = json.loads(answer.body())
        content = canonical.decode(base64.b64decode(drafted["content"]))
        drafted["content"] = base64.b64encode(change[-1](content)).decode()
        handled.append(route.request.url)
        route.fulfill(status=answer.status, json=drafted)

    page.route("**/draft", tamper)

    def refused(rewrite: Callable[[dict[str, Any]], bytes], why: str) -> None:
        page.evaluate("document.getElementById('case-status').textContent = ''")
        change.append(rewrite)
        form = page.locator('form[data-step="form_checked:pass"]')
        form.locator('[data-field="identity_verified"]').check()
        form.locator("button[type=submit]").click()
        expect(page.locator("#case-status")).to_contain_text(why)
        expect(page.locator("#confirm")).to_be_hidden()
        assert len(handled) == len(change)

    def body(content: dict[str, Any]) -> bytes:
        content["body"]["identity_verified"] = False
        return canonical.encode(content)

    def case(content: dict[str, Any]) -> bytes:
        content["case"] = str(other_case)
        return canonical.encode(content)

    def long_form(content: dict[str, Any]) -> bytes:
        raw = canonical.encode(content)
        return raw.replace(b"\xa3seq\x02", b"\xa3seq\xcc\x02")  # seq 2 as uint 8

    refused(body, "malformed (body)")
    refused(case, "malformed (case)")
    refused(long_form, "not the canonical encoding")
    assert node.services.ledger.head(case_id).seq == 1  # nothing was signed or appended
    clerk.check(live.base)
    page.context.close()


def test_an_ended_session_sends_the_officer_to_the_login_page_and_back(
    live: LiveNode, browser: Browser, tmp_path: Path
) -> None:
    node = live.node
    case_id = _received_case(node)
    clerk = _logged_in(browser, live, CLERK_BODY, tmp_path)
    page = clerk.page
    page.goto(f"{live.base}/pages/cases/{case_id}")
    page.context.clear_cookies()  # as if it had idled out or been ended elsewhere
    form = page.locator('form[data-step="form_checked:pass"]')
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"**/pages/login?next=%2Fpages%2Fcases%2F{case_id}")
    # the browser logs the refused draft (401) as a console error: that one, and nothing else
    assert len(clerk.errors) == 1 and "401" in clerk.errors[0], clerk.errors
    clerk.errors.clear()
    page.click("#login")  # the key is still on this device
    page.wait_for_url(f"**/pages/cases/{case_id}")
    assert node.services.ledger.head(case_id).seq == 1
    clerk.check(live.base)
    page.context.close()


def test_a_supervisor_logs_in_with_a_token_and_reads_the_supervision_page(
    live: LiveNode, browser: Browser
) -> None:
    """The login page's token form: the browser keeps a session, never the token (the field
    is emptied); the supervision page of the supervisor's scope, then logout."""
    node = live.node
    _received_case(node)  # its check leg (one working day) is due soon
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watched = watch(page)
    page.goto(f"{live.base}/pages/supervision")
    expect(page).to_have_url(re.compile(r"/pages/login\?next="))
    page.fill("#api-token", node.tokens["supervisor"])
    page.click("#token-login button[type=submit]")
    expect(page).to_have_url(f"{live.base}/pages/supervision")
    expect(page.locator("h1")).to_have_text("时限监督")
    expect(page.locator(".who")).to_contain_text("监督员 510100")
    stored = page.evaluate("() => JSON.stringify(localStorage) + document.cookie")
    assert node.tokens["supervisor"] not in stored  # HttpOnly cookie, CSRF token only
    assert not accessibility_violations(page)
    page.click("#logout")
    expect(page).to_have_url(re.compile(r"/pages/login"))
    page.goto(f"{live.base}/pages/supervision")
    expect(page).to_have_url(re.compile(r"/pages/login\?next="))
    watched.check(live.base)
    context.close()
    # The administrator sees every body: the window's open check leg counts in its row (its
    # deadline is provisional here, no calendar being published: never "due soon").
    admin = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = admin.new_page()
    watched = watch(page)
    page.goto(f"{live.base}/pages/login")
    page.fill("#api-token", node.tokens["admin"])
    page.click("#token-login button[type=submit]")
    expect(page).to_have_url(f"{live.base}/pages/supervision")
    expect(page.locator("#by-body")).to_contain_text("320105-ZWFW")
    assert not accessibility_violations(page)
    screenshot(live, page, "pages-supervision")
    watched.check(live.base)
    admin.close()

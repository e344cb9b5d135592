"""Keys enrolled, not uploaded, in a real browser (Debian's Chromium, as in
``test_officer_pages.py``): a Jiangsu window clerk and a Sichuan home officer each generate a
non-extractable key on the login page and hand over its enrolment code; each body's
administrator, logged in with the administrator's token in a browser of their own, imports the
body's key file once, pastes the code, checks what the page decoded from the node's draft and
signs the ``officer_certified`` record there (``/pages/keys``). Both officers then log in with
their browser-made keys and walk a whole proxy case through the pages alone, a step refused on
the way; the clerk's 送达 lists the 社会保障卡 the page fills in, and the home officer issues
it on the license page (the node holding the body's seal, ``test_license_pages.py``); the
audit of the whole ledger is clean. The Jiangsu administrator then revokes the clerk's key in
the page, which ends the clerk's session at once. On the way, every refusal is said on the
page. Throughout: no request leaves the node, no console error but the refusals expected, no
serious or critical axe violation."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from api.license_client import identifier_for
from ledger.audit import verify_ledger
from ledger.envelope import parse_event
from ledger.license_events import license_stream_id
from tests.browser import test_officer_pages as officer_pages
from tests.browser.test_license_pages import issue_in_the_page, licensed
from tests.browser.test_officer_pages import (
    CLERK_BODY,
    LiveNode,
    Watched,
    accessibility_violations,
    screenshot,
    walk_a_proxy_case,
    watch,
)
from tests.support import licenses

# The officers' pages' fixtures: a live node of this module's own, Debian's Chromium.
live = officer_pages.live
browser = officer_pages.browser
# ... issuing licenses: Sichuan's trust list published, 510104-RS's seal on the node.
issuing = licensed

HOME_BODY = "510104-RS"
CLERK = "js-web-01"  # officers of their bodies with no key yet
HOME_OFFICER = "rs-web-01"


def _context_page(browser: Browser) -> Watched:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    return watch(context.new_page())


def _body_key_file(live: LiveNode, body_id: str, folder: Path) -> Path:
    """The body's key file, as ``tongban keys generate`` writes one (the seed in hex)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"body-{body_id}.key"
    path.write_text(live.node.world.body_keys[body_id].private_seed().hex() + "\n")
    return path


def _expected_refusal(watched: Watched, status: int) -> None:
    """The browser logs a refused request as a console error: that one, and nothing else."""
    assert len(watched.errors) == 1 and str(status) in watched.errors[0], watched.errors
    watched.errors.clear()


def _generate(browser: Browser, live: LiveNode, body_id: str, officer_id: str) -> Watched:
    """An officer's browser: a key generated on the login page; its enrolment code shown."""
    officer = _context_page(browser)
    page = officer.page
    page.goto(f"{live.base}/pages/login")
    page.fill("#new-body-id", body_id)
    page.fill("#new-officer-id", officer_id)
    page.click("#generate-key button[type=submit]")
    expect(page.locator("#enrolment")).to_be_visible()
    code = page.locator("#enrol-code").input_value()
    kid = page.locator("#new-kid").inner_text()
    public_key = page.locator("#new-public-key").inner_text()
    device = page.locator("#new-device").inner_text()
    assert code == f"TBE1/{body_id}/{officer_id}/{device}/{public_key}/{kid[:8]}"
    return officer


def _admin(browser: Browser, live: LiveNode, body_id: str, key_file: Path) -> Watched:
    """A body administrator's browser: the page asks for a login, the administrator's token
    opens a session and comes back; the body's key file is imported once."""
    admin = _context_page(browser)
    page = admin.page
    page.goto(f"{live.base}/pages/keys?body={body_id}")
    expect(page).to_have_url(re.compile(r"/pages/login\?next="))
    page.fill("#api-token", live.node.tokens["admin"])
    page.click("#token-login button[type=submit]")
    expect(page).to_have_url(f"{live.base}/pages/keys?body={body_id}")
    expect(page.locator("#body-key-status")).to_contain_text("尚未导入")
    page.set_input_files("#body-key-file", str(key_file))
    page.click("#import-body-key button[type=submit]")
    kid = live.node.world.body_keys[body_id].key_id
    expect(page.locator("#body-key-status")).to_contain_text(kid)
    expect(page.locator("#import-body-key")).to_be_hidden()
    return admin


def _decode_code(page: Page, code: str) -> None:
    page.fill("#enrol-code", code)
    page.click("#read-code")


def _certify(live: LiveNode, admin: Watched, officer: Watched, *, shot: str = "") -> None:
    """The officer's code pasted, the decoded record checked, signed and appended."""
    page = admin.page
    code = officer.page.locator("#enrol-code").input_value()
    officer_id = code.split("/")[2]
    public_key = officer.page.locator("#new-public-key").inner_text()
    kid = officer.page.locator("#new-kid").inner_text()
    _decode_code(page, code)
    expect(page.locator("#keys-status")).to_contain_text("已读取认证码")
    assert page.input_value("#officer-id") == officer_id
    assert page.input_value("#public-key") == public_key
    page.click("#certify button[type=submit]")
    expect(page.locator("#confirm")).to_be_visible()
    decoded = page.locator("#decoded").inner_text()
    for shown in (officer_id, public_key, kid, code.split("/")[1], code.split("/")[3]):
        assert shown in decoded, (shown, decoded)
    assert "officer_certified" in decoded
    assert accessibility_violations(page) == []
    if shot:
        screenshot(live, page, shot)
    page.click("#sign")
    row = page.locator(f'#officer-keys tr[data-kid="{kid}"]')
    expect(row).to_contain_text("有效")
    expect(row).to_contain_text(officer_id)


def _card(case_id: uuid.UUID) -> str:
    """The case's 社会保障卡, as 510104-RS issues it (``tongban license id``)."""
    return identifier_for(case_id, licenses.CARD, licenses.RS_USCC).text


def test_two_officers_enrol_browser_keys_walk_a_case_issue_its_license_then_one_is_revoked(
    issuing: LiveNode, browser: Browser, tmp_path: Path
) -> None:
    live = issuing
    node = live.node
    clerk = _generate(browser, live, CLERK_BODY, CLERK)
    home = _generate(browser, live, HOME_BODY, HOME_OFFICER)
    keys = tmp_path / "keys"
    jiangsu = _admin(browser, live, CLERK_BODY, _body_key_file(live, CLERK_BODY, keys))
    sichuan = _admin(browser, live, HOME_BODY, _body_key_file(live, HOME_BODY, keys))

    # Refusals on the administrator's page, before anything is signed.
    page = jiangsu.page
    page.click("#forget-body-key")
    expect(page.locator("#import-body-key")).to_be_visible()
    page.set_input_files("#body-key-file", str(_body_key_file(live, HOME_BODY, keys)))
    page.click("#import-body-key button[type=submit]")
    status = page.locator("#keys-status")
    expect(status).to_contain_text(f"不是部门 {CLERK_BODY} 的有效密钥")
    expect(page.locator("#body-key-status")).to_contain_text("尚未导入")
    sm2 = keys / "sm2.key"
    sm2.write_text("sm2-sm3 " + "11" * 32 + "\n")  # the form `tongban` writes SM2 keys in
    page.set_input_files("#body-key-file", str(sm2))
    page.click("#import-body-key button[type=submit]")
    expect(status).to_contain_text("国密 SM2 密钥无法在浏览器中使用")
    page.set_input_files("#body-key-file", str(_body_key_file(live, CLERK_BODY, keys)))
    page.click("#import-body-key button[type=submit]")
    expect(page.locator("#body-key-status")).to_contain_text(
        node.world.body_keys[CLERK_BODY].key_id
    )

    code = clerk.page.locator("#enrol-code").input_value()
    parts = code.split("/")
    _decode_code(page, code[:-1] + ("0" if code[-1] != "0" else "1"))
    expect(status).to_contain_text("校验码与公钥不符")
    _decode_code(page, "/".join([*parts[:2], "张 三", *parts[3:]]))
    expect(status).to_contain_text("工作人员编号")
    expect(status).to_contain_text("officer_id")
    _decode_code(page, "TBE1/" + parts[1])
    expect(status).to_contain_text("共 6 段")
    home_code = home.page.locator("#enrol-code").input_value()
    _decode_code(page, home_code)
    expect(status).to_contain_text(f"属于部门 {HOME_BODY}")
    page.fill("#officer-id", "张 三")  # typed by hand: the form refuses it before any request
    assert page.locator("#officer-id").evaluate("(e) => e.validity.patternMismatch")
    assert page.input_value("#public-key") == ""  # no code was taken
    assert accessibility_violations(page) == []

    _certify(live, jiangsu, clerk, shot="pages-keys")
    _certify(live, sichuan, home)
    # The same key twice: the node refuses the draft, naming the field.
    _decode_code(page, code)
    page.click("#certify button[type=submit]")
    expect(status).to_contain_text("duplicate_key")
    expect(status).to_contain_text("body.public_key")
    expect(page.locator("#confirm")).to_be_hidden()
    _expected_refusal(jiangsu, 422)

    # Both officers log in with the keys their browsers made, and walk a whole case.
    for officer, body_id, officer_id in (
        (clerk, CLERK_BODY, CLERK),
        (home, HOME_BODY, HOME_OFFICER),
    ):
        officer.page.click("#login")
        officer.page.wait_for_url("**/pages/worklist")
        session = officer.page.evaluate("fetch('/login/session').then((r) => r.json())")
        assert (session["body_id"], session["officer_id"]) == (body_id, officer_id)
    case_id = walk_a_proxy_case(
        live, browser, clerk, home, tmp_path, screenshots=False, result_license=_card
    )
    story = node.get(f"/cases/{case_id}", "window").json()["timeline"]
    assert {s["officer_id"] for s in story[:9]} == {CLERK, HOME_OFFICER}
    # The home officer issues the license the 送达 listed, signing with the browser-made key.
    identifier = _card(case_id)
    issue_in_the_page(live, home.page, case_id, identifier, ("张三", "11010519491231002X"))
    (entry,) = node.services.ledger.stream_entries(license_stream_id(identifier))
    issued = parse_event(entry.envelope)
    home_kid = home.page.evaluate("fetch('/login/session').then((r) => r.json())")["kid"]
    assert (issued.type, issued.officer_id, issued.key_id) == (
        "license_issued",
        HOME_OFFICER,
        home_kid,
    )

    # The Jiangsu administrator revokes the clerk's key in the page: the clerk's session ends
    # at the next request, and the key logs in no more.
    kid = clerk.page.evaluate("fetch('/login/session').then((r) => r.json())")["kid"]
    page.reload()
    page.click(f'#officer-keys tr[data-kid="{kid}"] button.revoke')
    expect(page.locator("#revoke")).to_be_visible()
    page.fill("#revoke-reason", "设备遗失")
    page.click("#revoke button[type=submit]")
    expect(page.locator("#confirm")).to_be_visible()
    decoded = page.locator("#decoded").inner_text()
    assert "key_revoked" in decoded and kid in decoded and "设备遗失" in decoded
    assert accessibility_violations(page) == []
    page.click("#sign")
    expect(page.locator(f'#officer-keys tr[data-kid="{kid}"]')).to_contain_text("已吊销")
    clerk.page.goto(f"{live.base}/pages/worklist")
    expect(clerk.page).to_have_url(re.compile(r"/pages/login\?next="))
    clerk.page.click("#login")
    expect(clerk.page.locator("#login-status")).to_contain_text("key_revoked")
    _expected_refusal(clerk, 401)
    # The home officer's key is untouched.
    home.page.goto(f"{live.base}/pages/worklist")
    expect(home.page).to_have_url(f"{live.base}/pages/worklist")

    audit = node.get(f"/audit/cases/{case_id}", "auditor").json()
    assert audit["ok"] and audit["findings"] == [], audit
    # The whole ledger: every case, the license's stream, the key records, the checkpoints.
    report = verify_ledger(node.services.ledger, applicants=node.services.applicants)
    assert report.ok and report.findings == [] and report.licenses == 1, report.findings
    for watched in (clerk, home, jiangsu, sichuan):
        watched.check(live.base)
        watched.page.context.close()


def test_an_auditors_session_is_refused_the_administrators_page(
    live: LiveNode, browser: Browser
) -> None:
    """403 on the page, said in words; the page offers nothing to sign with."""
    auditor = _context_page(browser)
    page = auditor.page
    page.goto(f"{live.base}/pages/login")
    page.fill("#api-token", live.node.tokens["auditor"])
    page.click("#token-login button[type=submit]")
    expect(page).to_have_url(f"{live.base}/pages/audit")  # where an auditor lands
    answer = page.goto(f"{live.base}/pages/keys?body={HOME_BODY}")
    assert answer is not None and answer.status == 403
    expect(page.locator("#main")).to_contain_text("本页供本节点的管理员使用")
    assert page.locator("#certify").count() == 0
    assert accessibility_violations(page) == []
    _expected_refusal(auditor, 403)
    auditor.check(live.base)
    page.context.close()

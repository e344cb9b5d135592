"""The officers' pages of the second part of issue 17 in Chromium (as
``tests/browser/test_officer_pages.py``, whose live node, browser and helpers it uses): the 收件
page's item chooser worked by keyboard, a joint item received in the page with its origin body
and four materials; a refused case's box; the 延期告知书 with its new deadline. Throughout: no
request leaves the node, no console error, no serious or critical axe-core violation.
Screenshots: ``pages-receive.png``, ``pages-case-refused.png``, ``pages-notice-extended.png``."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from playwright.sync_api import Browser, expect

from ledger.envelope import parse_event
from tests.browser.test_officer_pages import (
    CLERK_BODY,
    LiveNode,
    _logged_in,
    accessibility_violations,
    browser,
    live,
    screenshot,
)
from tests.support.extension import accepted_permit_case, extend

__all__ = ["browser", "live"]  # the module-scoped fixtures, used here under their names

JOINT_ITEM = "510000/1/8"  # 城乡居民基本养老保险关系转移接续: proxy, 多地联办
ORIGIN = "320105-RS"  # a Jiangsu handler of 人力资源社会保障: where the applicant's file is


def test_a_joint_item_is_chosen_by_keyboard_and_received_with_its_origin_body(
    live: LiveNode, browser: Browser, tmp_path: Path
) -> None:
    node = live.node
    clerk = _logged_in(browser, live, CLERK_BODY, tmp_path)
    page = clerk.page
    page.click("nav >> text=收件")
    page.wait_for_url("**/pages/receive")
    chooser = page.locator("#item")
    expect(page.locator("#item-hint")).to_contain_text("本部门可收件的事项共 33 项")
    assert accessibility_violations(page) == []

    # Narrow the list by text and batch, then choose with the arrow keys: no key typed.
    page.fill("#item-filter", "养老 转移")
    page.select_option("#item-batch", "1")
    expect(page.locator("#item-count")).to_have_text("按筛选条件显示 3 项。")
    shown = chooser.locator("option:not([hidden])")
    expect(shown).to_have_count(3)
    chooser.focus()
    page.keyboard.press("ArrowDown")
    expect(chooser).to_have_value(JOINT_ITEM)
    page.keyboard.press("ArrowDown")
    expect(chooser).to_have_value("510000/1/9")
    page.keyboard.press("ArrowUp")
    expect(chooser).to_have_value(JOINT_ITEM)
    chosen = page.locator("#item-chosen")
    expect(chosen).to_contain_text("城乡居民基本养老保险关系转移接续")
    expect(chosen).to_contain_text("多地联办")
    # only the channels this window may receive the item through
    expect(page.locator("#channel option")).to_have_text(["窗口代收（跨省通办）"])
    origins = page.locator("#origins")
    expect(origins).to_be_visible()

    # The home body from the suggestions; the jurisdiction follows a county body's division.
    home = page.locator("#home-body")
    suggestions = page.locator("#home-bodies option")
    assert "510104-RS" in [
        suggestions.nth(n).get_attribute("value") for n in range(suggestions.count())
    ]
    home.fill("510104-RS")
    expect(page.locator("#jurisdiction")).to_have_value("510104")
    # The origin body ticked by keyboard (the home body is not offered as its own origin).
    labels = origins.locator("label").all_inner_texts()
    assert any(ORIGIN in label for label in labels), labels
    assert not any("（510104-RS）" in label for label in labels), labels
    box = origins.get_by_label(f"（{ORIGIN}）", exact=False)
    box.focus()
    page.keyboard.press("Space")
    expect(box).to_be_checked()

    page.fill("#applicant-name", "张三")
    page.fill("#applicant-id", "11010519491231002X")
    files = []
    for n, name in enumerate(("申请表", "身份证复印件", "养老保险缴费凭证", "户口簿复印件"), 1):
        if n > 3:  # more than three: a row added by the button, focus on its name
            page.click("#add-material")
            expect(page.locator(f"#material-name-{n}")).to_be_focused()
        path = tmp_path / f"material-{n}.pdf"
        path.write_bytes(f"%PDF-1.4 {name}".encode())
        files.append(path)
        page.fill(f"#material-name-{n}", name)
        page.set_input_files(f"#material-file-{n}", str(path))
    page.click("#receive button[type=submit]")
    expect(page.locator("#confirm")).to_be_visible()
    decoded = page.locator("#decoded").inner_text()
    assert ORIGIN in decoded and JOINT_ITEM in decoded and "joint" in decoded
    for path in files:  # each file's SHA-256, computed in the page
        assert hashlib.sha256(path.read_bytes()).hexdigest() in decoded
    assert "张三" not in decoded and "11010519491231002X" not in decoded
    assert accessibility_violations(page) == []
    screenshot(live, page, "pages-receive")
    page.click("#sign")
    page.wait_for_url("**/pages/cases/*")
    expect(page.locator("#timeline tbody tr")).to_have_count(1)

    case_id = uuid.UUID(page.url.rsplit("/", 1)[1])
    raw = node.services.ledger.envelope_at(case_id, 1)
    assert raw is not None
    received = parse_event(raw)
    assert received.body["item"] == JOINT_ITEM and received.body["origin_bodies"] == [ORIGIN]
    assert received.body["coordination"] == "joint"
    assert [m["name"] for m in received.body["materials"]] == [
        "申请表",
        "身份证复印件",
        "养老保险缴费凭证",
        "户口簿复印件",
    ]
    audit = node.get(f"/audit/cases/{case_id}", "auditor").json()
    assert audit["ok"] and audit["findings"] == [], audit
    clerk.check(live.base)
    page.context.close()


def test_the_filter_that_matches_nothing_says_so_and_a_joint_item_needs_an_origin(
    live: LiveNode, browser: Browser, tmp_path: Path
) -> None:
    clerk = _logged_in(browser, live, CLERK_BODY, tmp_path)
    page = clerk.page
    page.goto(f"{live.base}/pages/receive")
    page.fill("#item-filter", "不存在的事项")
    expect(page.locator("#item-count")).to_have_text("没有符合筛选条件的事项。")
    page.fill("#item-filter", JOINT_ITEM)
    expect(page.locator("#item option:not([hidden])")).to_have_count(1)
    page.select_option("#item", JOINT_ITEM)
    page.fill("#home-body", "510104-RS")
    page.fill("#applicant-name", "张三")
    page.fill("#applicant-id", "11010519491231002X")
    page.fill("#material-name-1", "申请表")
    material = tmp_path / "form.pdf"
    material.write_bytes(b"%PDF-1.4 form")
    page.set_input_files("#material-file-1", str(material))
    page.click("#receive button[type=submit]")
    expect(page.locator("#case-status")).to_have_text("多地联办事项须至少指定一个协同办理部门。")
    expect(page.locator("#confirm")).to_be_hidden()
    clerk.check(live.base)
    page.context.close()


def test_a_refused_case_shows_the_refusal_at_the_top(
    live: LiveNode, browser: Browser, tmp_path: Path
) -> None:
    node = live.node
    case_id = node.proxy_case()
    assert node.step(case_id, "510104-RS", "arrived", {"note": "材料已收到"}).status_code == 201
    refused = {
        "reasons": ["申请事项不属于本机关职权范围", "申请人已在户籍地办理"],
        "basis": "《中华人民共和国行政许可法》第三十二条第一款",
    }
    assert node.step(case_id, "510104-RS", "refused", refused).status_code == 201
    home = _logged_in(browser, live, "510104-RS", tmp_path)
    page = home.page
    page.goto(f"{live.base}/pages/cases/{case_id}")
    box = page.locator("#refusal")
    expect(box.locator("h2")).to_have_text("本案件不予受理")
    expect(box).to_contain_text("申请人已在户籍地办理")
    expect(box).to_contain_text("第三十二条第一款")
    assert accessibility_violations(page) == []
    screenshot(live, page, "pages-case-refused")
    box.get_by_role("link", name="重新办理").click()
    expect(page.locator('form[data-step="reopened"]')).to_be_in_viewport()
    box.get_by_role("link", name="打印不予受理通知书").click()
    expect(page.locator("h1")).to_have_text("不予受理通知书")
    home.check(live.base)
    page.context.close()


def test_the_worklist_shows_the_cases_waiting_for_the_body(
    live: LiveNode, browser: Browser, tmp_path: Path
) -> None:
    node = live.node
    waiting = node.proxy_case()  # mailed to 510104-RS: its arrival is the home body's
    home = _logged_in(browser, live, "510104-RS", tmp_path)
    page = home.page
    switch = page.get_by_role("navigation", name="案件范围")
    expect(switch.get_by_role("link", name="全部案件")).to_have_attribute("aria-current", "page")
    switch.get_by_role("link", name="待本部门办理").click()
    page.wait_for_url("**/pages/worklist?show=waiting")
    listed = page.locator("#waiting")
    expect(listed.locator(f'a[href="/pages/cases/{waiting}"]')).to_have_count(1)
    # 时限提醒 still first, then the switch, then the list
    headings = page.locator("h2").all_inner_texts()
    assert headings[0].startswith("时限提醒") and headings[1] == "待本部门办理", headings
    assert accessibility_violations(page) == []
    screenshot(live, page, "pages-worklist-waiting")
    home.check(live.base)
    page.context.close()


def test_the_extension_notice_gives_the_new_deadline(
    live: LiveNode, browser: Browser, tmp_path: Path
) -> None:
    """Last in this module: it amends the node's catalog (new cases must pin the new version)."""
    node = live.node
    case_id = accepted_permit_case(node)
    extend(node, case_id)
    legs = node.get("/bodies/510104-RS/legs", "home", limit=1000).json()["legs"]
    (decision,) = [g for g in legs if g["case_id"] == str(case_id) and g["name"] == "decision"]
    home = _logged_in(browser, live, "510104-RS", tmp_path)
    page = home.page
    page.goto(f"{live.base}/pages/cases/{case_id}")
    page.get_by_role("link", name="打印延期告知书").click()
    expect(page.locator("h1")).to_have_text("延期告知书")
    expect(page.locator("#new-deadline")).to_have_text(decision["deadline"])
    expect(page.locator("#main")).to_contain_text("延长 10 个工作日")
    assert accessibility_violations(page) == []
    screenshot(live, page, "pages-notice-extended")
    home.check(live.base)
    page.context.close()

"""The officers' pages of the second part of issue 17 over HTTP: the 收件 page's item list (the
items the body may receive, with their channels), a refused case's box at the top of its page,
the 延期告知书's new deadline, and the worklist's 待本部门办理 list. The browser drives them in
``tests/browser/test_officer_forms.py``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_login_sessions import _log_in
from tests.support.api_node import ApiNode, api_node
from tests.support.extension import accepted_permit_case, extend, step


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiNode]:
    with api_node(tmp_path_factory.mktemp("officer-forms")) as served:
        yield served


def _options(html: str) -> dict[str, dict[str, str]]:
    """The item list's options: value → data attributes."""
    chooser = html.split('<select id="item"')[1].split("</select>")[0]
    found = {}
    for attributes in re.findall(r"<option ([^>]*)>", chooser):
        pairs = dict(re.findall(r'([\w-]+)="([^"]*)"', attributes))
        found[pairs["value"]] = {k: unescape(v) for k, v in pairs.items()}
    return found


def test_the_receive_page_lists_the_items_the_body_may_receive_with_their_channels(
    node: ApiNode,
) -> None:
    window, _ = _log_in(node, "320105-ZWFW")  # Jiangsu's cross-province window
    html = window.get("/pages/receive").text
    items = _options(html)
    # Sichuan's items (this node's ledger) a window receives: proxy ones, open ones only
    assert items["510000/2/23"]["data-channels"] == "proxy"
    assert items["510000/1/8"]["data-coordination"] == "joint"
    assert "人力资源社会保障" in items["510000/1/8"]["data-sectors"].split("|")
    assert "510000/1/5" not in items  # online only: its home body receives it
    assert "510000/2/3" not in items  # waits for a national deployment
    assert not any(key.startswith("320000/") for key in items)  # a ledger this node is not
    assert len(items) == 33
    assert "本部门可收件的事项共 33 项" in html and "另有 107 项" in html
    # the handlers the page suggests as home and origin bodies, of both regions
    known = html.split('<ul id="known-bodies" hidden>')[1].split("</ul>")[0]
    assert 'data-id="510104-RS"' in known and 'data-id="320105-RS"' in known
    assert 'data-id="320105-ZWFW"' not in known  # a window handles nothing
    # materials: as many as the node's request limit lets one step carry (64 KiB: 50)
    assert 'data-limit="50"' in html and "本页一次收件最多 50 份材料" in html
    assert "<label" in html and 'for="item"' in html and 'for="item-filter"' in html

    handler, _ = _log_in(node, "510104-RS")  # a county handler receives online and direct
    mine = _options(handler.get("/pages/receive").text)
    assert mine["510000/1/5"]["data-channels"] == "online"
    assert "510000/2/23" not in mine  # proxy only: a window's
    assert all(
        set(option["data-channels"].split()) <= {"online", "direct"} for option in mine.values()
    )


def _refused_proxy_case(node: ApiNode) -> uuid.UUID:
    case_id = node.proxy_case()
    assert node.step(case_id, "510104-RS", "arrived", {"note": ""}).status_code == 201
    refused = {
        "reasons": ["不属于本机关职权范围", "申请材料系伪造"],
        "basis": "行政许可法第三十二条",
    }
    assert node.step(case_id, "510104-RS", "refused", refused).status_code == 201
    return case_id


def _box(html: str) -> str:
    return html.split('<section id="refusal"')[1].split("</section>")[0]


def test_a_refused_case_shows_its_reasons_basis_and_what_may_follow_at_the_top(
    node: ApiNode,
) -> None:
    case_id = _refused_proxy_case(node)
    home, _ = _log_in(node, "510104-RS")
    html = home.get(f"/pages/cases/{case_id}").text
    assert html.index('id="refusal"') < html.index('id="case"') < html.index('id="timeline"')
    box = _box(html)
    assert "本案件不予受理" in box and "第 5 步" in box
    assert "不属于本机关职权范围" in box and "申请材料系伪造" in box
    assert "依据：行政许可法第三十二条" in box
    assert f'href="/pages/cases/{case_id}/notices/5">打印不予受理通知书' in box
    # the home body reopens it (a form on this page), after review or a court ruling
    assert 'href="#form-reopened"' in box and 'id="form-reopened"' in html
    assert "重新办理" in box and "评价" in box
    window, _ = _log_in(node, "320105-ZWFW")
    theirs = _box(window.get(f"/pages/cases/{case_id}").text)
    assert "重新办理：由 510104-RS 办理" in theirs and 'href="#form-reopened"' not in theirs
    assert 'href="#form-corrected"' in theirs  # the window corrects its own steps

    # reopened: no longer refused, no box
    reopened = {"basis": "administrative_review", "reference": "川复〔2026〕1号"}
    assert node.step(case_id, "510104-RS", "reopened", reopened).status_code == 201
    assert 'id="refusal"' not in home.get(f"/pages/cases/{case_id}").text
    # a case nobody refused has none
    assert 'id="refusal"' not in home.get(f"/pages/cases/{node.proxy_case()}").text


def test_a_form_check_refusal_and_a_decision_against_are_shown_likewise(node: ApiNode) -> None:
    at_window, raw = node.received()
    assert node.post("/cases", "window", raw).status_code == 201
    refused = {"result": "refused", "reasons": ["非本人申请"], "identity_verified": False}
    assert node.step(at_window, "320105-ZWFW", "form_checked", refused).status_code == 201
    window, _ = _log_in(node, "320105-ZWFW")
    box = _box(window.get(f"/pages/cases/{at_window}").text)
    assert "形式审查不予收件" in box and "非本人申请" in box and "依据" not in box
    assert 'href="#form-reopened"' in box  # reviewed where it was made
    assert "/notices/" not in box  # a form check's refusal has no printed notice

    decided = node.proxy_case()
    for step_type, body in (
        ("arrived", {"note": ""}),
        ("accepted", {"note": ""}),
        ("decided", {"result": "rejected", "reasons": ["缴费年限不足"], "basis": "条例"}),
        ("mailed", {"leg": "home_to_window", "courier": "EMS", "tracking_number": "EMS9"}),
    ):
        assert node.step(decided, "510104-RS", step_type, body).status_code == 201
    box = _box(window.get(f"/pages/cases/{decided}").text)
    assert "已作出不予办理决定" in box and "缴费年限不足" in box and "依据：条例" in box
    assert f"/pages/cases/{decided}/notices/6" in box  # 不予办理决定书
    assert 'href="#form-arrived"' in box  # the result comes back to the window
    approved = node.proxy_case()
    for step_type, body in (
        ("arrived", {"note": ""}),
        ("accepted", {"note": ""}),
        ("decided", {"result": "approved", "reasons": [], "basis": "条例"}),
    ):
        assert node.step(approved, "510104-RS", step_type, body).status_code == 201
    assert 'id="refusal"' not in window.get(f"/pages/cases/{approved}").text


def _stored_decision_leg(node: ApiNode, case_id: uuid.UUID) -> dict[str, Any]:
    """The case's open decision leg as the supervision read models store it."""
    legs = node.get("/bodies/510104-RS/legs", "home", limit=1000).json()["legs"]
    (leg,) = [g for g in legs if g["case_id"] == str(case_id) and g["name"] == "decision"]
    assert isinstance(leg, dict)
    return leg


def test_the_extension_notice_gives_the_new_deadline_of_the_stored_legs(tmp_path: Path) -> None:
    with api_node(tmp_path) as node:
        case_id = accepted_permit_case(node)
        before = _stored_decision_leg(node, case_id)
        extend(node, case_id)
        after = _stored_decision_leg(node, case_id)
        assert after["working_days_allowed"] == before["working_days_allowed"] + 10
        assert after["deadline"] > before["deadline"]
        home, _ = _log_in(node, "510104-RS")
        notice = home.get(f"/pages/cases/{case_id}/notices/6")
        assert notice.status_code == 200, notice.text
        html = notice.text
        assert "<h1>延期告知书</h1>" in html and "延长 10 个工作日" in html
        new_deadline = re.search(r'<strong id="new-deadline">([0-9-]+)</strong>', html)
        assert new_deadline is not None and new_deadline[1] == after["deadline"]
        assert f"{after['working_days_allowed']} 个工作日" in html
        assert "法定期限" in html  # 行政许可法 Art. 42: 20 + 10 working days
        assert ("暂定" in html) == after["provisional"]
        # a later pause moves today's deadline, not the one the notice gave
        step(node, case_id, "suspended", {"reason": "expert_review", "detail": ""})
        again = home.get(f"/pages/cases/{case_id}/notices/6").text
        assert f'<strong id="new-deadline">{after["deadline"]}</strong>' in again


def _waiting_ids(browser: httpx.Client, **params: str | int) -> list[str]:
    html = browser.get("/pages/worklist", params={"show": "waiting", **params}).text
    table = html.split('id="waiting"')[1].split("</table>")[0]
    return re.findall(r'href="/pages/cases/([0-9a-f-]+)"', table)


def test_the_waiting_list_holds_the_cases_waiting_for_the_body(node: ApiNode) -> None:
    mailed = node.proxy_case()  # on its way to 510104-RS: its arrival is the home body's
    fresh, raw = node.received()  # at the window: its form check is the window's
    assert node.post("/cases", "window", raw).status_code == 201
    home, _ = _log_in(node, "510104-RS")
    window, _ = _log_in(node, "320105-ZWFW")
    home_ids, window_ids = _waiting_ids(home), _waiting_ids(window)
    assert str(mailed) in home_ids and str(fresh) not in home_ids
    assert str(fresh) in window_ids and str(mailed) not in window_ids
    # every case listed is one the list of every case marks 待本部门办理, in the same order
    every = home.get("/pages/worklist").text
    marked = [
        re.search(r"/pages/cases/([0-9a-f-]+)", row)[1]  # type: ignore[index]
        for row in every.split("<tr>")
        if "待本部门办理</strong>" in row
    ]
    assert marked == home_ids[: len(marked)]
    page = home.get("/pages/worklist", params={"show": "waiting"}).text
    # 时限提醒 first, then the switch between the two lists, then the list
    assert (
        page.index('id="deadlines-heading"') < page.index("案件范围") < page.index('id="waiting"')
    )
    assert 'href="/pages/worklist?show=waiting" aria-current="page"' in page
    assert 'href="/pages/worklist" aria-current="page"' in every
    assert home.get("/pages/worklist", params={"show": "waiting", "page": 2}).status_code == 200
    bad = home.get("/pages/worklist", params={"show": "mine"})
    assert bad.status_code == 422 and "show" in bad.text


def test_the_waiting_list_pages_through_50_at_a_time_with_or_without_read_models(
    tmp_path: Path,
) -> None:
    with api_node(tmp_path) as node:
        made = []
        for _ in range(52):
            case_id, raw = node.received()
            assert node.post("/cases", "window", raw).status_code == 201
            made.append(str(case_id))
        window, _ = _log_in(node, "320105-ZWFW")
        first, second = _waiting_ids(window), _waiting_ids(window, page=2)
        assert first + second == made and len(first) == 50
        page_one = window.get("/pages/worklist", params={"show": "waiting"}).text
        assert 'href="/pages/worklist?show=waiting&amp;page=2">下一页' in page_one
        assert (
            "下一页"
            not in window.get("/pages/worklist", params={"show": "waiting", "page": 2}).text
        )
        services = node.services
        store, follower = services.read_models, services.follower
        services.read_models, services.follower = None, None  # a node without read models
        try:
            assert _waiting_ids(window) + _waiting_ids(window, page=2) == made
        finally:
            services.read_models, services.follower = store, follower

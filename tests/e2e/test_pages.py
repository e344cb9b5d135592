"""The officers' pages over HTTP (``api/routes/pages.py``): a page that needs a login answers
303 to the login page; every page carries the strict policy and names only the node's own
scripts; the draft route gives the content bytes of the officer's step and nothing signed, and
the bytes a key signs over them are accepted on the ordinary append path. The browser itself
is driven in ``tests/browser/``."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from ledger import canonical
from ledger.calendars import china_date
from ledger.envelope import EVENT_CONTEXT, parse_event
from ledger.read_models import Leg
from ledger.suites import get_suite, signing_input
from tests.e2e.test_login_sessions import _log_in
from tests.support.api_node import OFFICER_OF, ApiNode, api_node
from tests.support.planned_legs import PlannedLegs


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiNode]:
    with api_node(tmp_path_factory.mktemp("pages")) as served:
        yield served


PAGES = (
    "/pages/worklist",
    "/pages/cases/{case_id}",
    "/pages/receive",
    "/pages/cases/{case_id}/notices/receipt",
    "/pages/cases/{case_id}/notices/1",
)


@pytest.mark.parametrize("path", PAGES)
def test_a_page_that_needs_a_login_redirects_to_the_login_page(node: ApiNode, path: str) -> None:
    case_id = node.proxy_case()
    answer = node.client.get(path.format(case_id=case_id), follow_redirects=False)
    assert answer.status_code == 303
    target = answer.headers["location"]
    assert target.startswith("/pages/login?next=%2Fpages%2F"), target
    assert node.client.get(target).status_code == 200
    # a bearer token is a program's, not a login: the page still asks for one
    with_token = node.client.get(
        path.format(case_id=case_id), headers=node.headers("home"), follow_redirects=False
    )
    assert with_token.status_code == 303


def _policy(answer: httpx.Response) -> dict[str, str]:
    policy = {}
    for directive in answer.headers["content-security-policy"].split("; "):
        name, _, sources = directive.partition(" ")
        policy[name] = sources
    return policy


def test_every_page_has_the_strict_policy_and_only_the_nodes_scripts(node: ApiNode) -> None:
    case_id = node.proxy_case()
    browser, _ = _log_in(node, "510104-RS")
    for path in ("/pages/login", "/pages/worklist", f"/pages/cases/{case_id}", "/pages/receive"):
        answer = browser.get(path)
        assert answer.status_code == 200, (path, answer.text)
        policy = _policy(answer)
        assert policy["script-src"] == "'self'", path  # no inline script, no eval, no hash
        assert policy["default-src"] == "'none'" and policy["connect-src"] == "'self'"
        html = answer.text
        assert "<script>" not in html and " style=" not in html and "onclick" not in html
        assert not re.search(r"https?://", html), path
        for url in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert url.startswith("/") or url.startswith("#"), url
            if url.startswith("/static/"):
                asset = browser.get(url)
                assert asset.status_code == 200, url
                kinds = {"js": "javascript", "css": "css", "svg": "image/svg+xml"}
                kind = kinds[url.rsplit(".", 1)[1]]
                assert kind in asset.headers["content-type"], url
    assert browser.get("/static/../pyproject.toml").status_code == 404


def test_the_case_page_shows_the_timeline_and_forms_for_the_steps_allowed(node: ApiNode) -> None:
    case_id = node.proxy_case()  # mailed to 510104-RS: it may now record the arrival
    browser, _ = _log_in(node, "510104-RS")
    html = browser.get(f"/pages/cases/{case_id}").text
    assert "收件" in html and "形式审查：通过" in html and "寄送：窗口至受理部门" in html
    assert 'data-step="arrived"' in html
    assert html.count("<label") >= 1 and 'for="arrived-note"' in html
    # the window's steps (寄送异常, 撤回) are its own: listed with their body, not as forms here
    assert 'data-step="mail_problem"' not in html and 'data-step="withdrawn"' not in html
    assert "由其他部门办理" in html and "寄送异常：320105-ZWFW" in html


def _draft(browser: httpx.Client, csrf: str, case_id: object, **draft: object) -> httpx.Response:
    return browser.post(f"/cases/{case_id}/draft", json=draft, headers={"X-CSRF-Token": csrf})


def test_a_drafted_step_signed_by_the_officer_is_appended(node: ApiNode) -> None:
    case_id = node.proxy_case()
    browser, csrf = _log_in(node, "510104-RS")
    head = node.services.ledger.head(case_id)
    answer = _draft(browser, csrf, case_id, type="arrived", body={"note": "材料齐全"})
    assert answer.status_code == 200, answer.text
    drafted = answer.json()
    content_bytes = base64.b64decode(drafted["content"])
    content = canonical.decode(content_bytes)
    officer = node.world.officers[OFFICER_OF["510104-RS"]]
    assert content["kid"] == officer.signer.key_id
    assert content["actor"] == {"body": "510104-RS", "officer": officer.officer_id}
    assert (content["seq"], content["prev"]) == (head.seq + 1, head.event_hash)
    assert content["ctx"] == EVENT_CONTEXT and content["body"] == {"note": "材料齐全"}
    # nothing signed, no signing input; this node's ledger, not on a relayed step
    assert set(drafted) == {"content", "seq", "prev", "ledger", "signed_on"}
    assert (drafted["ledger"], drafted["signed_on"]) == (content["ledger"], None)
    assert node.services.ledger.head(case_id) == head  # a draft appends nothing

    suite = get_suite(content["suite"])
    signature = officer.signer.sign(signing_input(EVENT_CONTEXT, suite, content_bytes))
    raw = canonical.encode([content_bytes, signature])
    parse_event(raw)
    posted = browser.post(
        f"/cases/{case_id}/events",
        content=raw,
        headers={"Content-Type": "application/msgpack", "X-CSRF-Token": csrf},
    )
    assert posted.status_code == 201, posted.text
    assert node.services.ledger.head(case_id).seq == head.seq + 1


def test_a_draft_is_refused_with_the_field_and_why(node: ApiNode) -> None:
    case_id = node.proxy_case()
    browser, csrf = _log_in(node, "510104-RS")
    unknown = _draft(browser, csrf, case_id, type="arrived", body={"note": "", "name": "张三"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "body.name"
    illegal = _draft(browser, csrf, case_id, type="accepted", body={"note": ""})
    assert illegal.status_code == 422, illegal.text
    assert (illegal.json()["reason"], illegal.json()["field"]) == ("illegal_step", "type")
    no_csrf = browser.post(f"/cases/{case_id}/draft", json={"type": "arrived", "body": {}})
    assert no_csrf.status_code == 403
    token = node.post(
        f"/cases/{case_id}/draft",
        "home",
        b'{"type": "arrived", "body": {"note": ""}}',
        "application/json",
    )
    assert token.status_code == 403, token.text  # a program's token names no officer or key
    elsewhere, other_csrf = _log_in(node, "510000-ZWFW")
    assert _draft(elsewhere, other_csrf, case_id, type="arrived", body={}).status_code == 403


def _worklist_row(browser: httpx.Client, case_id: object) -> str:
    html = browser.get("/pages/worklist", params={"page": 1}).text
    rows = [row for row in html.split("<tr>") if f"/pages/cases/{case_id}" in row]
    assert len(rows) == 1, html
    return rows[0]


def test_the_worklist_marks_the_cases_waiting_for_the_officers_body(node: ApiNode) -> None:
    case_id = node.proxy_case()  # mailed to the home body: its arrival is 510104-RS's step
    home, _ = _log_in(node, "510104-RS")
    window, _ = _log_in(node, "320105-ZWFW")
    assert "待本部门办理" in _worklist_row(home, case_id)
    assert "待本部门办理" not in _worklist_row(window, case_id)  # it could only withdraw it
    assert node.step(case_id, "510104-RS", "arrived", {"note": ""}).status_code == 201
    assert node.step(case_id, "510104-RS", "accepted", {"note": ""}).status_code == 201
    assert "待本部门办理" in _worklist_row(home, case_id)  # now its decision
    decided = {"result": "approved", "reasons": [], "basis": "依据"}
    assert node.step(case_id, "510104-RS", "decided", decided).status_code == 201
    mailed = {"leg": "home_to_window", "courier": "EMS", "tracking_number": "EMS3"}
    assert node.step(case_id, "510104-RS", "mailed", mailed).status_code == 201
    assert "待本部门办理" in _worklist_row(window, case_id)  # the file comes back to the window
    assert "待本部门办理" not in _worklist_row(home, case_id)


def _as_json(value: object) -> object:
    """A body for the draft route: bytes as {"bin": hex}."""
    if isinstance(value, bytes):
        return {"bin": value.hex()}
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    return value


def test_a_new_case_is_drafted_at_seq_1_with_its_bytes_from_hex(node: ApiNode) -> None:
    case_id, raw = node.received("320105-ZWFW")  # a valid `received` body, not posted
    body = canonical.decode(canonical.decode(raw)[0])["body"]
    browser, csrf = _log_in(node, "320105-ZWFW")
    answer = _draft(browser, csrf, case_id, type="received", body=_as_json(body))
    assert answer.status_code == 200, answer.text
    content = canonical.decode(base64.b64decode(answer.json()["content"]))
    assert (content["seq"], content["prev"]) == (1, bytes(32))
    assert content["body"] == body  # materials' SHA-256 and commitments as bytes again
    assert not node.services.ledger.has_case(case_id)

    bad = _as_json(body)
    assert isinstance(bad, dict)
    bad["materials"][0]["sha256"] = {"bin": "XYZ"}
    refused = _draft(browser, csrf, case_id, type="received", body=bad)
    assert refused.status_code == 422
    assert refused.json()["field"] == "body.materials[0].sha256"
    # any other step of a case that does not exist is the case's 404, not a draft at seq 1
    missing = _draft(browser, csrf, case_id, type="arrived", body={"note": ""})
    assert missing.status_code == 404, missing.text


def test_the_receipt_notice_is_made_from_the_signed_received_step(node: ApiNode) -> None:
    case_id = node.proxy_case()
    window, _ = _log_in(node, "320105-ZWFW")
    answer = window.get(f"/pages/cases/{case_id}/notices/receipt")
    assert answer.status_code == 200, answer.text
    assert _policy(answer)["script-src"] == "'self'"
    html = answer.text
    received = node.services.ledger.envelope_at(case_id, 1)
    assert received is not None
    step = parse_event(received)
    assert str(case_id) in html and step.hash.hex() in html
    for material in step.body["materials"]:
        assert material["name"] in html and material["sha256"].hex() in html
    assert "收件回执" in html and "北京时间" in html
    assert (
        f'href="/pages/cases/{case_id}/notices/receipt"'
        in window.get(f"/pages/cases/{case_id}").text
    )
    elsewhere, _ = _log_in(node, "510000-ZWFW")  # not on the case
    assert elsewhere.get(f"/pages/cases/{case_id}/notices/receipt").status_code == 403


def _steps(node: ApiNode, case_id: object, steps: list[tuple[str, dict[str, object]]]) -> None:
    for step, body in steps:
        answer = node.step(case_id, "510104-RS", step, body)  # type: ignore[arg-type]
        assert answer.status_code == 201, answer.text


def test_each_notice_is_drawn_from_its_signed_step(node: ApiNode) -> None:
    """补正告知书 lists every missing material at once; 特别程序告知书 and the refusal's 决定书
    say what the signed steps say; a refusal tells the applicant's rights; a step that tells
    the applicant nothing has no notice (延期告知书: tests/unit/test_page_notices.py)."""
    asked = node.proxy_case()
    _steps(
        node,
        asked,
        [
            ("arrived", {"note": ""}),
            ("supplement_requested", {"items": ["户口簿复印件", "离职证明"], "reason": "材料不全"}),
        ],
    )
    home, _ = _log_in(node, "510104-RS")
    supplement = home.get(f"/pages/cases/{asked}/notices/5")
    assert supplement.status_code == 200, supplement.text
    assert "补正告知书" in supplement.text and "一次性告知" in supplement.text
    assert "户口簿复印件" in supplement.text and "离职证明" in supplement.text

    decided = node.proxy_case()
    _steps(
        node,
        decided,
        [
            ("arrived", {"note": ""}),
            ("accepted", {"note": ""}),
            ("suspended", {"reason": "expert_review", "detail": "伤残等级鉴定"}),
            ("resumed", {"note": ""}),
            (
                "decided",
                {"result": "rejected", "reasons": ["缴费年限不足"], "basis": "失业保险条例"},
            ),
        ],
    )
    expected = {
        6: ("特别程序告知书", ["专家评审", "伤残等级鉴定", "不计算在办理期限内"]),
        8: ("不予办理决定书", ["缴费年限不足", "失业保险条例", "行政复议", "行政诉讼"]),
    }
    for seq, (title, words) in expected.items():
        answer = home.get(f"/pages/cases/{decided}/notices/{seq}")
        assert answer.status_code == 200, answer.text
        assert f"<h1>{title}</h1>" in answer.text
        assert all(word in answer.text for word in words), (seq, answer.text)
        raw = node.services.ledger.envelope_at(decided, seq)
        assert raw is not None and parse_event(raw).hash.hex() in answer.text
    none = home.get(f"/pages/cases/{decided}/notices/7")  # 恢复办理: nothing to tell in writing
    assert (none.status_code, none.json()["field"]) == (404, "seq")
    assert home.get(f"/pages/cases/{decided}/notices/99").status_code == 404
    case_page = home.get(f"/pages/cases/{decided}").text
    linked = set(re.findall(rf"/pages/cases/{decided}/notices/(\d+)", case_page))
    assert linked == {"1", "6", "8"}


def test_the_worklist_lists_overdue_then_due_soon_legs_first(tmp_path: Path) -> None:
    """The worklist opens with the legs the officer's body owes that are overdue or due soon
    today, earliest deadline first; legs with time left, closed ones and other bodies' are
    not in it. The node has no calendar for this year: weekends only."""
    legs = PlannedLegs()
    with api_node(tmp_path, legs=legs) as node:
        today = china_date(node.services.clock())
        late, soon, later, theirs = (node.proxy_case() for _ in range(4))

        def leg(name: str, body: str, deadline: date, closed: bool = False) -> Leg:
            return Leg(name, today - timedelta(days=30), deadline, 10, 0, closed, body)

        legs.planned[late] = [
            leg("acceptance", "510104-RS", today - timedelta(days=9), closed=True),
            leg("decision", "510104-RS", today - timedelta(days=3)),
        ]
        legs.planned[soon] = [leg("decision", "510104-RS", today)]  # its last day
        legs.planned[later] = [leg("decision", "510104-RS", today + timedelta(days=40))]
        legs.planned[theirs] = [leg("check", "320105-ZWFW", today - timedelta(days=5))]
        assert node.services.follower is not None
        node.services.follower.rebuild()
        home, _ = _log_in(node, "510104-RS")
        html = home.get("/pages/worklist").text
        section = html.split('id="deadlines"')[1].split("</table>")[0]
        rows = [row for row in section.split("<tr>") if "/pages/cases/" in row]
        assert [re.search(r"/pages/cases/([0-9a-f-]+)", row)[1] for row in rows] == [  # type: ignore[index]
            str(late),
            str(soon),
        ]
        assert "审查决定" in rows[0] and "已超期" in rows[0] and "即将到期" in rows[1]
        assert html.index('id="deadlines"') < html.index('id="cases-heading"')
        window, _ = _log_in(node, "320105-ZWFW")
        theirs_html = window.get("/pages/worklist").text
        assert f"/pages/cases/{theirs}" in theirs_html.split("</table>")[0]
        assert "形式审查" in theirs_html.split("</table>")[0]
        # Page 2 of the list has no such section.
        assert 'id="deadlines"' not in home.get("/pages/worklist", params={"page": 2}).text

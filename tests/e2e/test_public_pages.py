"""The public pages over HTTP (``api/routes/public_pages.py``): the license check runs the
node's verification and shows its verdict, bad input gets a message (never a 500), the
catalog lists, filters and shows guide fields, 未公布 where nobody published one. In Chromium:
``tests/browser/test_public_pages.py``."""

from __future__ import annotations

import re
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import base45
import httpx
import pytest

from api.page_parts import PAGE_POLICY
from api.routes.public_pages import REASON_TEXTS, _verdict_section
from ledger import canonical
from ledger.admin import RegistryClerk
from ledger.envelope import ZERO_HASH
from ledger.errors import LedgerError
from ledger.ratings.code import code_commitment
from ledger.supervision.cases import legs_of_entries
from licenses.compact import MAX_COMPACT_TEXT
from licenses.verify import ListUsed, Verdict
from tests.support import licenses
from tests.support.api_node import APPLICANT, OFFICER_OF, ApiNode, api_node


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiNode]:
    with api_node(tmp_path_factory.mktemp("public")) as made:
        licenses.enable_licenses(made)
        yield made


def _check(node: ApiNode, text: str) -> httpx.Response:
    answer: httpx.Response = node.client.post("/pages/check", data={"license": text})
    return answer


def _failed(answer: httpx.Response) -> list[str]:
    return re.findall(r'data-reason="([a-z_]+)"', answer.text)


def test_the_check_page_is_a_form_that_posts_to_the_node(node: ApiNode) -> None:
    answer = node.client.get("/pages/check")
    assert answer.status_code == 200
    assert answer.headers["content-security-policy"] == PAGE_POLICY
    assert '<form class="stack" method="post" action="/pages/check">' in answer.text
    # The scripts read a QR image and check in the browser (both optional); pasting needs none,
    # the picker and the in-browser check start hidden.
    scripts = re.findall(r'<script type="module" src="([^"]+)"></script>', answer.text)
    assert scripts == [
        "/static/vendor/jsqr/jsQR.js",
        "/static/check.js",
        "/static/offline-check.js",
    ]
    assert '<div id="qr-picker" class="stack" hidden>' in answer.text
    assert '<button type="button" id="local-verify" hidden>' in answer.text
    # the regions whose trust list the node serves, for the in-browser check to fetch
    assert 'data-regions="510000" hidden>' in answer.text
    assert node.client.get("/trust-list", params={"region": "510000"}).status_code == 200
    assert node.client.get("/trust-list", params={"region": "320000"}).status_code == 404
    for script in scripts:
        assert node.client.get(script).status_code == 200


def test_a_license_is_valid_then_revoked_on_the_check_page(node: ApiNode) -> None:
    issued = licenses.issue(node)
    answer = _check(node, issued.compact)
    assert answer.status_code == 200, answer.text
    assert "核验结果：<strong>有效</strong>" in answer.text
    assert _failed(answer) == []
    assert "以下内容经核验属实" in answer.text
    assert issued.identifier in answer.text
    assert "2026-01-01 至 2035-12-31" in answer.text  # the validity printed in the text
    assert "510104-RS" in answer.text  # the issuing body, from the license key's owner
    assert '<dd id="status-source">发证节点在线答复</dd>' in answer.text
    assert "所用信任列表" in answer.text
    # The verdict is the API's: the same code, the same answer.
    api = node.client.post("/licenses/verify", json={"license": issued.compact}).json()
    assert api["valid"] is True

    revoke = licenses.status_event(node, issued.identifier, "revoke")
    revoked = node.post(f"/licenses/{issued.identifier}/revoke", "home", revoke)
    assert revoked.status_code == 201, revoked.text
    answer = _check(node, issued.compact)
    assert "核验结果：<strong>无效</strong>" in answer.text
    assert _failed(answer) == ["revoked"]
    assert REASON_TEXTS["revoked"] in answer.text
    assert "核验未通过，<strong>不可信</strong>" in answer.text


def extended(text: str) -> str:
    """``text`` with its last day of validity moved to 2099-12-31 and the signature kept:
    well-formed, but no longer what the issuer signed."""
    outer = canonical.decode(zlib.decompress(base45.b45decode(text[4:])))
    payload = canonical.decode(outer[0])
    payload["until"] = 20991231
    again = canonical.encode([canonical.encode(payload), outer[1]])
    encoded: bytes = base45.b45encode(zlib.compress(again, 9))
    return "TB1:" + encoded.decode("ascii")


def test_an_altered_license_is_invalid_with_bad_signature(node: ApiNode) -> None:
    issued = licenses.issue(node)
    answer = _check(node, extended(issued.compact))
    assert "核验结果：<strong>无效</strong>" in answer.text
    assert _failed(answer) == ["bad_signature"]
    assert REASON_TEXTS["bad_signature"] in answer.text
    assert "2026-01-01 至 2099-12-31" in answer.text  # what the text claims, marked untrusted
    assert "核验未通过，<strong>不可信</strong>" in answer.text


def test_a_tampered_text_is_invalid_with_its_reason(node: ApiNode) -> None:
    issued = licenses.issue(node)
    body = issued.compact[4:]
    # One Base45 character changed in the middle: the zlib stream no longer checks out.
    middle = len(body) // 2
    swapped = "A" if body[middle] != "A" else "B"
    tampered = "TB1:" + body[:middle] + swapped + body[middle + 1 :]
    answer = _check(node, tampered)
    assert answer.status_code == 200
    assert "核验结果：<strong>无效</strong>" in answer.text
    assert _failed(answer) == ["malformed"]
    assert REASON_TEXTS["malformed"] in answer.text
    assert "证照所载信息" not in answer.text  # nothing decoded, nothing claimed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "请粘贴证照二维码文字"),
        ("   \n", "请粘贴证照二维码文字"),
        ("HC1:NCFOXN%TS3DH", "应以 TB1: 开头"),
        ("tb1:ABC", "应以 TB1: 开头"),
        ("TB1:" + "A" * MAX_COMPACT_TEXT, "内容过长"),
    ],
)
def test_bad_input_gets_a_message_not_an_error(node: ApiNode, text: str, message: str) -> None:
    answer = _check(node, text)
    assert answer.status_code == 200
    assert message in answer.text
    assert 'role="alert"' in answer.text
    assert "核验结果" not in answer.text


def test_a_post_that_is_not_the_form_gets_a_message(node: ApiNode) -> None:
    as_json = node.client.post("/pages/check", json={"license": "TB1:ABC"})
    assert as_json.status_code == 200
    assert "请用本页的表单提交" in as_json.text
    huge = node.client.post(
        "/pages/check",
        content=b"license=" + b"A" * (5 * MAX_COMPACT_TEXT),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 200
    assert "内容过长" in huge.text
    latin = node.client.post(
        "/pages/check",
        content="license=TB1:é".encode("latin-1"),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert latin.status_code == 200
    assert "无法读取" in latin.text


def test_the_catalog_lists_regions_and_the_140_items_of_a_region(node: ApiNode) -> None:
    regions = node.client.get("/pages/catalog")
    assert regions.status_code == 200
    assert 'href="/pages/catalog/510000"' in regions.text
    assert 'href="/pages/catalog/320000"' in regions.text
    sichuan = node.client.get("/pages/catalog/510000")
    assert sichuan.status_code == 200
    assert "共 140 项（全部 140 项）" in sichuan.text
    assert sichuan.text.count('href="/pages/catalog/510000/') == 140


def test_the_catalog_filters_by_batch_sector_and_channel(node: ApiNode) -> None:
    answer = node.client.get(
        "/pages/catalog/510000",
        params={"batch": "2", "channel": "proxy", "sector": "人力资源社会保障"},
    )
    assert answer.status_code == 200
    links = re.findall(r'href="/pages/catalog/510000/(\d)/\d+"', answer.text)
    count = int(re.search(r"共 (\d+) 项（已筛选）", answer.text).group(1))  # type: ignore[union-attr]
    assert 0 < count < 140
    assert links == ["2"] * count
    assert '<option value="2" selected>' in answer.text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"batch": "4"}, "批次（batch）只能是 1、2 或 3"),
        ({"batch": "x"}, "批次（batch）只能是 1、2 或 3"),
        ({"channel": "fax"}, "办理渠道（channel）只能是"),
        ({"sector": "不存在的行业"}, "本目录没有行业（sector）"),
    ],
)
def test_a_bad_filter_is_named(node: ApiNode, params: dict[str, str], message: str) -> None:
    answer = node.client.get("/pages/catalog/510000", params=params)
    assert answer.status_code == 200
    assert message in answer.text


def test_an_item_shows_its_guide_fields_or_not_published(node: ApiNode) -> None:
    answer = node.client.get("/pages/catalog/510000/1/5")
    assert answer.status_code == 200
    guide = answer.text.split('id="guide"', 1)[1].split("</dl>", 1)[0]
    labels = ("申请条件", "申报方式", "受理模式", "审核程序", "办理时限", "发证方式", "收费标准")
    for label in labels:
        assert f'<dt>{label}</dt><dd><span class="unpublished">未公布</span></dd>' in guide


def test_an_unknown_region_or_item_is_a_404_page(node: ApiNode) -> None:
    for path in ("/pages/catalog/999999", "/pages/catalog/510000/9/1", "/pages/catalog/510000/a/b"):
        answer = node.client.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html")
        assert "返回事项目录" in answer.text


def test_a_guide_field_published_by_a_signed_amendment_is_shown(tmp_path: Path) -> None:
    # A node of its own: new cases pin the amended version, the module's node must not move.
    with api_node(tmp_path) as amended:
        ledger = amended.services.ledger
        ledger.refresh_registry()
        base = ledger.registry.catalogs.current("510000", amended.services.clock()).version
        item = "510000/1/7"
        changes = [
            {"item": item, "field": "fee", "value": "不收费"},
            {"item": item, "field": "conditions", "value": "在本省参保并缴费满一年"},
            {"item": item, "field": "filing_methods", "value": "网上申请、窗口申请"},
            {"item": item, "field": "acceptance_mode", "value": "异地代收代办"},
            {"item": item, "field": "review_procedure", "value": "形式审查\n实质审查"},
        ]
        clerk = RegistryClerk(ledger, amended.world.region)
        clerk.append(
            amended.world.root, "catalog_amended", {"base_version": base, "changes": changes}
        )
        guide = amended.client.get(f"/pages/catalog/{item}").text.split('id="guide"', 1)[1]
        published = amended.client.get("/catalog/510000", params={"batch": 1}).json()
        # A number where the spec says text is refused (another verifier would refuse it too).
        ledger.refresh_registry()
        now = ledger.registry.catalogs.current("510000", amended.services.clock()).version
        with pytest.raises(LedgerError) as refused:
            bad = [{"item": item, "field": "conditions", "value": 1}]
            clerk.append(
                amended.world.root, "catalog_amended", {"base_version": now, "changes": bad}
            )
    assert refused.value.reason == "bad_amendment" and "conditions must be text" in str(
        refused.value
    )
    assert "<dt>收费标准</dt><dd>不收费</dd>" in guide
    assert "<dt>申请条件</dt><dd>在本省参保并缴费满一年</dd>" in guide
    assert "<dt>申报方式</dt><dd>网上申请、窗口申请</dd>" in guide
    assert "<dt>受理模式</dt><dd>异地代收代办</dd>" in guide
    assert "<dt>审核程序</dt><dd>形式审查<br>实质审查</dd>" in guide
    assert '<dt>发证方式</dt><dd><span class="unpublished">未公布</span></dd>' in guide
    [listed] = [i for i in published if i["item_key"] == item]
    assert (listed["conditions"], listed["acceptance_mode"]) == (
        "在本省参保并缴费满一年",
        "异地代收代办",
    )


def test_offline_the_issuing_node_reads_the_status_from_the_list_it_published(
    node: ApiNode,
) -> None:
    """Its own license, checked offline on the issuing node: the status list it published
    (it said 未知, "no status list held", for every license of its own). Before any is
    published the status is unknown: tests/integration/test_license_service.py."""
    issued = licenses.issue(node)
    assert node.client.get("/status-lists/510000-1").status_code == 200  # published
    answer = node.client.post("/pages/check", data={"license": issued.compact, "offline": "1"})
    assert _failed(answer) == []
    assert '<dd id="status-source">本节点保存的状态列表</dd>' in answer.text
    assert 'id="offline" name="offline" value="1" checked' in answer.text


def test_the_status_list_used_shows_its_issue_date_and_age(node: ApiNode) -> None:
    """A verdict that rests on a held list (another region's license) shows the list's issue
    time, age and end; an issuer that did not answer is said with its reason."""
    now = node.services.clock()
    hour = 3_600_000_000
    used = ListUsed("320000-1", 7, now - 30 * hour, now + 18 * hour)
    verdict = Verdict.of(
        set(), status_source="status_list", status_list=used, online_detail="unreachable"
    )
    shown = _verdict_section(node.services, verdict, None)
    assert "核验结果：<strong>有效</strong>" in shown
    assert '<dd id="status-source">本节点保存的状态列表</dd>' in shown
    row = shown.split("<caption>所用状态列表</caption>", 1)[1]
    assert "<td>320000-1</td><td>7</td>" in row
    assert "<td>1 天 6 小时</td>" in row  # the age: 30 hours
    assert "发证节点未答复在线状态：unreachable" in shown


def test_a_node_without_a_trust_list_says_so_on_the_page(tmp_path: Path) -> None:
    with api_node(tmp_path) as bare:  # licenses served, no trust list published yet
        assert bare.services.licenses is not None
        answer = bare.client.post("/pages/check", data={"license": "TB1:ABC"})
    assert answer.status_code == 200
    assert "本节点尚未发布本地区的信任列表" in answer.text


SLIP_CODE = "7Q2M-K9XD-4HRT-PW3B"


def case_with_code(node: ApiNode) -> uuid.UUID:
    """An online case received by 510104-RS with a code on its slip, then checked."""
    case_id = uuid.uuid4()
    body = node.world.received_body("510000/1/5", "online")
    body["applicant"] = node.stored_applicant("home")
    body["rating_code"] = code_commitment(case_id, SLIP_CODE)
    raw = node.envelope("510104-RS", case_id, 1, ZERO_HASH, "received", body)
    assert node.post("/cases", "home", raw).status_code == 201
    checked = {"result": "pass", "reasons": [], "identity_verified": True}
    assert node.step(case_id, "510104-RS", "form_checked", checked).status_code == 201
    return case_id


def _progress(node: ApiNode, case: str, code: str) -> httpx.Response:
    answer: httpx.Response = node.client.post("/pages/progress", data={"case": case, "code": code})
    return answer


def test_the_applicant_reads_the_progress_with_the_slips_code(node: ApiNode) -> None:
    case_id = case_with_code(node)
    answer = _progress(node, str(case_id), SLIP_CODE.lower().replace("-", ""))
    assert answer.status_code == 200
    assert '<dd id="state">待受理</dd>' in answer.text
    steps = answer.text.split("<caption>已办理的步骤</caption>", 1)[1]
    assert "<td>1</td><td>收件</td>" in steps and "<td>2</td><td>形式审查</td>" in steps
    assert "<li>受理" in answer.text.split('id="awaited"', 1)[1]
    # No personal data: not the applicant, not the officer, not a step's fields.
    for secret in (*APPLICANT.values(), OFFICER_OF["510104-RS"], "identity_verified"):
        assert secret not in answer.text


def _deadline_rows(html: str) -> list[list[str]]:
    table = html.split('<table id="deadlines">', 1)[1].split("</tbody>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    return [re.findall(r"<td>(.*?)</td>", row) for row in body.split("</tr>") if "<td>" in row]


def test_the_progress_page_gives_each_legs_deadline_and_status(node: ApiNode) -> None:
    """The deadline engine's legs as the applicant reads them: the window's check closed, the
    acceptance open with the engine's date; a suspended decision says its clock stands still;
    a delivered case's legs are done."""
    case_id = case_with_code(node)
    rows = _deadline_rows(_progress(node, str(case_id), SLIP_CODE).text)
    ledger = node.services.ledger
    ledger.refresh_registry()
    legs = legs_of_entries(
        case_id,
        ledger.stream_entries(case_id),
        ledger.registry.catalogs,
        ledger.registry.calendars,
    )
    assert legs is not None
    acceptance = next(leg for leg in legs.legs if leg.name == "acceptance")
    assert [row[0] for row in rows] == ["形式审查", "受理"]
    assert rows[0][5] == "已按期完成"
    assert rows[1][4] == acceptance.deadline.isoformat() and rows[1][3] == "5"
    assert rows[1][5] in {"办理中", "即将到期", "办理中（所跨年份的节假日尚未公布，期限为暂定）"}

    for step, content in (
        ("accepted", {"note": ""}),
        ("suspended", {"reason": "expert_review", "detail": ""}),
    ):
        assert node.step(case_id, "510104-RS", step, content).status_code == 201
    decision = _deadline_rows(_progress(node, str(case_id), SLIP_CODE).text)[-1]
    assert decision[0] == "审查决定" and decision[4] == "恢复办理后顺延"
    assert decision[5].startswith("暂停计时")

    done = _deadline_rows(_progress(node, str(delivered_with_code(node)), SLIP_CODE).text)
    assert [row[0] for row in done] == ["形式审查", "受理", "审查决定", "送达结果"]
    assert {row[5] for row in done[:3]} <= {"已按期完成", "已完成（超期）"}


@pytest.mark.parametrize(
    ("case", "code", "message"),
    [
        ("", SLIP_CODE, "案件编号应为回执上印的 36 位编号"),
        ("not-a-case", SLIP_CODE, "案件编号应为回执上印的 36 位编号"),
        (str(uuid.UUID(int=7)), SLIP_CODE, "没有这个案件编号"),
        ("{case}", "", "请输入回执上的查询码"),
        ("{case}", "ABC", "查询码应为 16 位字母和数字"),
    ],
)
def test_bad_progress_input_gets_a_message(
    node: ApiNode, case: str, code: str, message: str
) -> None:
    case_id = case_with_code(node)
    answer = _progress(node, case.format(case=case_id), code)
    assert answer.status_code == 200
    assert message in answer.text
    assert "办理进度</h2>" not in answer.text


def test_wrong_codes_are_limited_like_the_ratings(node: ApiNode) -> None:
    case_id = case_with_code(node)
    for _ in range(5):
        wrong = _progress(node, str(case_id), "0000-0000-0000-0000")
        assert "查询码与该案件不符" in wrong.text
    locked = _progress(node, str(case_id), SLIP_CODE)  # even the right code, for a while
    assert "错误次数过多" in locked.text
    assert "办理进度</h2>" not in locked.text


def delivered_with_code(node: ApiNode) -> uuid.UUID:
    """:func:`case_with_code`, accepted, approved and delivered online: it may be rated."""
    case_id = case_with_code(node)
    for step, content in (
        ("accepted", {"note": ""}),
        ("decided", {"result": "approved", "reasons": [], "basis": "失业保险条例"}),
        ("delivered", {"method": "online", "results": []}),
    ):
        assert node.step(case_id, "510104-RS", step, content).status_code == 201
    return case_id


def _rate(node: ApiNode, case_id: uuid.UUID, **fields: str) -> httpx.Response:
    form = {"case": str(case_id), "code": SLIP_CODE, **fields}
    answer: httpx.Response = node.client.post("/pages/rate", data=form)
    return answer


def test_the_applicant_rates_a_delivered_case_once(node: ApiNode) -> None:
    case_id = case_with_code(node)
    assert 'action="/pages/rate"' not in _progress(node, str(case_id), SLIP_CODE).text
    case_id = delivered_with_code(node)
    shown = _progress(node, str(case_id), SLIP_CODE).text
    assert 'action="/pages/rate"' in shown
    assert f'<input type="hidden" name="code" value="{SLIP_CODE}">' in shown

    assert "请选择满意程度" in _rate(node, case_id).text
    assert (
        "查询码与该案件不符"
        in _rate(node, case_id, code="0000-0000-0000-0000", level="satisfied").text
    )
    refused = _rate(node, case_id, level="dissatisfied", comment="请打 13912345678 联系我")
    assert "评价未提交" in refused.text and "comment" in refused.text
    rated = _rate(node, case_id, level="satisfied", comment="办事快")
    assert '<p id="rated" role="status">评价已提交，谢谢。</p>' in rated.text
    steps = [step for _, step, _, _ in node.services.ledger.get_case(case_id).steps]
    assert steps[-1] == "rated"

    again = _progress(node, str(case_id), SLIP_CODE).text
    assert "<td>评价</td>" in again
    assert 'action="/pages/rate"' not in again  # one rating per case
    assert "评价未提交" in _rate(node, case_id, level="very_satisfied").text


def _asked(node: ApiNode, case_id: uuid.UUID) -> str:
    html = _progress(node, str(case_id), SLIP_CODE).text
    return html.split('<div id="asked">', 1)[1].split("</div>", 1)[0]


def test_the_progress_page_says_what_the_applicant_must_do(node: ApiNode) -> None:
    """需要您办理的事项, from the signed steps: every material a supplement notice asked for
    (at once, Art. 32) with its reason; nothing while the body works or a special procedure
    runs (named); a refusal's reasons, basis and the right to review."""
    case_id = case_with_code(node)
    assert "目前无需您办理任何事项" in _asked(node, case_id)
    asked = {"items": ["身份证复印件", "户口簿首页"], "reason": "复印件不清晰"}
    assert node.step(case_id, "510104-RS", "supplement_requested", asked).status_code == 201
    said = _asked(node, case_id)
    assert "请补正以下材料" in said and "复印件不清晰" in said
    assert "<li>身份证复印件</li><li>户口簿首页</li>" in said
    added = {"materials": [{"name": "身份证复印件", "sha256": bytes(32)}]}
    assert node.step(case_id, "510104-RS", "supplemented", added).status_code == 201
    assert "目前无需您办理任何事项" in _asked(node, case_id)
    for step, content in (
        ("accepted", {"note": ""}),
        ("suspended", {"reason": "testing", "detail": ""}),
    ):
        assert node.step(case_id, "510104-RS", step, content).status_code == 201
    said = _asked(node, case_id)
    assert "检验、检测、检疫" in said and "不计入办理时限" in said

    refused_case = case_with_code(node)
    refusal = {"reasons": ["不属于本部门管辖"], "basis": "行政许可法第三十二条"}
    assert node.step(refused_case, "510104-RS", "refused", refusal).status_code == 201
    said = _asked(node, refused_case)
    assert "<li>不属于本部门管辖</li>" in said and "行政许可法第三十二条" in said
    assert "行政复议" in said
    done = _asked(node, delivered_with_code(node))
    assert "本事项已办结" in done and "评价" in done

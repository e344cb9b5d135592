"""The auditors' pages over HTTP (``api/routes/audit_pages.py``, ``audit_record_pages.py``): an
auditor's token session runs the whole-ledger audit on a node where one step's stored bytes
were changed, sees the finding under 完整性问题 linked to the case's page at that step, and
sees that step flagged there; the checkpoints with each witness's cosignature, a body's
report and the access log. Without a session every page answers 303 to the login page; an
officer's or a supervisor's session gets a 403 page (the audit routes refuse them); bad input
gets a 4xx page naming the field. The browser itself: ``tests/browser/test_audit_pages.py``."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import msgpack
import pytest

from adapters.access import Principal
from adapters.transparency_config import load_transparency_config, save_transparency_config
from ledger.notes import cosign, parse_checkpoint, parse_note
from ledger.suites import Ed25519Signer
from tests.e2e.test_login_sessions import _log_in as officer_session
from tests.integration.ledger_contract import SQLiteRawStore, flip
from tests.support.api_node import ApiNode, api_node

PAGES = (
    "/pages/audit",
    "/pages/audit/cases/{case_id}",
    "/pages/audit/checkpoints",
    "/pages/audit/bodies",
    "/pages/audit/bodies/510104-RS",
    "/pages/audit/access",
)
TAMPERED_SEQ = 3  # the case's newest step: its `mailed`


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiNode]:
    with api_node(tmp_path_factory.mktemp("audit-pages")) as served:
        yield served


@pytest.fixture(scope="module")
def tampered(node: ApiNode) -> uuid.UUID:
    """A case whose newest step's stored envelope had one byte of its signature changed."""
    case_id = node.proxy_case()
    raw = SQLiteRawStore(node.data_dir / "ledger.sqlite3")
    state = msgpack.unpackb(raw.state(case_id, TAMPERED_SEQ), raw=False)
    state["envelope"] = flip(state["envelope"], len(state["envelope"]) - 1)
    raw.set_state(case_id, TAMPERED_SEQ, msgpack.packb(state, use_bin_type=True))
    return case_id


def session(node: ApiNode, principal: str) -> tuple[httpx.Client, str]:
    """A browser of its own logged in with ``principal``'s token; its CSRF token."""
    browser = node.client.__class__(node.app)
    answer = browser.post("/login/token", json={"token": node.tokens[principal]})
    assert answer.status_code == 200, answer.text
    return browser, answer.json()["csrf_token"]


def finished(browser: httpx.Client, job_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 120
    while True:
        job: dict[str, object] = browser.get(f"/audit/jobs/{job_id}").json()
        if job["status"] != "running":
            return job
        assert time.monotonic() < deadline, "the audit never finished"
        time.sleep(0.05)


def between(html: str, start: str, end: str = "</table>") -> str:
    return html.split(start, 1)[1].split(end, 1)[0]


@pytest.mark.parametrize("path", PAGES)
def test_without_a_session_each_page_sends_to_the_login_page(
    node: ApiNode, tampered: uuid.UUID, path: str
) -> None:
    url = path.format(case_id=tampered)
    answer = node.client.get(url, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/pages/login?next=%2Fpages%2Faudit")
    # a bearer token is a program's, not a login
    with_token = node.client.get(url, headers=node.headers("auditor"), follow_redirects=False)
    assert with_token.status_code == 303


@pytest.mark.parametrize("path", PAGES)
def test_officers_and_supervisors_get_a_403_page(
    node: ApiNode, tampered: uuid.UUID, path: str
) -> None:
    officer, _ = officer_session(node, "510104-RS")  # the home body: on the tampered case
    supervisor, _ = session(node, "supervisor")  # its scope covers 510104-RS
    for browser, back in ((officer, "/pages/worklist"), (supervisor, "/pages/supervision")):
        answer = browser.get(path.format(case_id=tampered))
        assert answer.status_code == 403, (path, answer.text)
        assert answer.headers["content-type"].startswith("text/html")
        assert "本页仅供审计员和管理员查看" in answer.text and f'href="{back}"' in answer.text
        assert str(tampered) not in answer.text


def test_every_page_has_the_strict_policy_and_only_the_nodes_scripts(
    node: ApiNode, tampered: uuid.UUID
) -> None:
    browser, _ = session(node, "auditor")
    for path in PAGES:
        answer = browser.get(path.format(case_id=tampered))
        assert answer.status_code == 200, (path, answer.text)
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "default-src 'none'" in policy
        html = answer.text
        assert "<script>" not in html and " style=" not in html and "onclick" not in html
        assert not re.search(r"https?://", html), path
        assert html.count("<h1>") == 1, path
        for url in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert url.startswith("/") or url.startswith("#"), url


def test_the_auditor_sees_the_tampered_step_flagged_at_its_case_and_step(
    node: ApiNode, tampered: uuid.UUID
) -> None:
    browser, csrf = session(node, "auditor")
    start = browser.get("/pages/audit")
    assert start.status_code == 200
    assert 'id="start-audit"' in start.text and "/static/audit.js" in start.text
    # The page's script starts the audit as the API's own job, with the CSRF token.
    started = browser.post("/audit/verify", headers={"X-CSRF-Token": csrf})
    assert started.status_code == 202, started.text
    job_id = started.json()["job_id"]
    job = finished(browser, job_id)
    report = job["report"]
    assert isinstance(report, dict) and job["status"] == "done"
    assert job["checked"] == report["events"] and job["total"] >= report["events"]

    html = browser.get("/pages/audit", params={"job": job_id}).text
    assert 'data-status="done"' in html and "发现" in html
    integrity = between(html, 'id="integrity"')
    link = f'href="/pages/audit/cases/{tampered}#seq-{TAMPERED_SEQ}"'
    assert link in integrity and "bad_hash" in integrity and "bad_signature" in integrity
    assert f"/pages/audit/cases/{tampered}" not in html.split('id="integrity"', 1)[0]
    assert 'id="policy">无。' in html  # no key was revoked after the fact here
    assert "/pages/audit?job=" + job_id in browser.get("/pages/audit").text  # listed

    case = browser.get(f"/pages/audit/cases/{tampered}")
    assert case.status_code == 200
    flagged = re.findall(r'<tr id="seq-(\d+)" class="flagged">', case.text)
    assert flagged == [str(TAMPERED_SEQ)]
    row = between(case.text, f'<tr id="seq-{TAMPERED_SEQ}"', "</tr>")
    assert "哈希：未通过" in row and "签名：未通过" in row and "bad_hash" in row
    assert "回执与台账序号：通过" in row and "寄送" in row and "js-001" in row
    first = between(case.text, '<tr id="seq-1"', "</tr>")
    assert "全部通过" in first and "申请人记录：通过" in first and "320105-ZWFW" in first
    assert "流程规则与字段（含个人信息筛查）：通过" in first


def test_a_missing_step_is_flagged_and_the_checks_it_stopped_are_said(tmp_path: Path) -> None:
    """Deleted rows: the gap is flagged at the missing seq; the next step is not linked to
    anything nor replayed (docs/audit.md), so its page says so instead of 通过. (A node of
    its own: a missing ledger index stops its checkpoints.)"""
    with api_node(tmp_path) as node:
        case_id = node.proxy_case()
        SQLiteRawStore(node.data_dir / "ledger.sqlite3").delete(case_id, 2)
        browser, _ = session(node, "auditor")
        html = browser.get(f"/pages/audit/cases/{case_id}").text
    assert re.findall(r'<tr id="seq-(\d+)" class="flagged">', html) == ["2"]
    missing = between(html, '<tr id="seq-2"', "</tr>")
    assert "该步骤缺失或无法读取" in missing and "链接与序号：未通过" in missing
    assert "seq_gap" in missing and "签名：未核验（该步骤缺失或不可读）" in missing
    after = between(html, '<tr id="seq-3"', "</tr>")
    assert "未发现问题（部分项目未核验）" in after and "签名：通过" in after
    assert "链接与序号：未核验（前一步骤缺失或不可读）" in after
    assert "流程规则与字段（含个人信息筛查）：未核验（前面的步骤缺失或不可读，未重放）" in after


def test_the_form_posted_without_the_csrf_token_gets_a_403_page(node: ApiNode) -> None:
    browser, csrf = session(node, "auditor")
    refused = browser.post("/pages/audit", follow_redirects=False)
    assert refused.status_code == 403
    assert "防跨站令牌" in refused.text and "JavaScript" in refused.text
    started = browser.post("/pages/audit", headers={"X-CSRF-Token": csrf}, follow_redirects=False)
    assert started.status_code == 303
    assert re.fullmatch(r"/pages/audit\?job=[0-9a-f]{32}", started.headers["location"])
    finished(browser, started.headers["location"].rsplit("=", 1)[1])


@pytest.mark.parametrize(
    ("path", "status", "said"),
    [
        ("/pages/audit/cases/not-a-case", 422, "案件编号（case）应为 UUID"),
        ("/pages/audit/cases?case=12345", 422, "案件编号（case）应为 UUID"),
        (f"/pages/audit/cases/{uuid.UUID(int=7)}", 404, "本台账没有案件"),
        ("/pages/audit?job=zzz", 422, "审计任务编号（job）应为 32 位"),
        (f"/pages/audit?job={'0' * 32}", 404, "本节点进程中没有审计任务"),
        ("/pages/audit/checkpoints?before=-1", 422, "before 应为正整数"),
        ("/pages/audit/bodies/no%20such", 422, "部门编号（body_id）"),
        ("/pages/audit/bodies/510999-XX", 404, "密钥登记中没有部门"),
        ("/pages/audit/access?case=nope", 422, "案件编号（case）应为 UUID"),
        ("/pages/audit/access?reader=a%20b", 422, "读取者（reader）"),
        ("/pages/audit/access?page=0", 422, "页码（page）应为正整数"),
    ],
)
def test_bad_input_gets_a_page_naming_the_field(
    node: ApiNode, path: str, status: int, said: str
) -> None:
    browser, _ = session(node, "auditor")
    answer = browser.get(path, follow_redirects=False)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert said in answer.text and 'role="alert"' in answer.text


def test_the_case_form_opens_the_cases_page(node: ApiNode, tampered: uuid.UUID) -> None:
    browser, _ = session(node, "auditor")
    answer = browser.get("/pages/audit/cases", params={"case": f" {tampered} "})
    assert answer.status_code == 200 and f"/pages/audit/cases/{tampered}" in str(answer.url)


def test_checkpoints_show_each_witness_cosignature(node: ApiNode) -> None:
    issued = node.post("/audit/checkpoint", "admin", content_type=None)
    assert issued.status_code == 200, issued.text
    note = parse_note(issued.text)
    size = parse_checkpoint(note.text).size
    # Two witnesses configured; one of them cosigned this checkpoint.
    config = load_transparency_config(node.data_dir, region="510000")
    cosigner, silent = Ed25519Signer.generate(), Ed25519Signer.generate()
    config.add_witness("tongban/320000/witness", "https://js.example/witness", cosigner.public_key)
    config.add_witness("tongban/440000/witness", "https://gd.example/witness", silent.public_key)
    save_transparency_config(node.data_dir, config)
    signed = cosign(note.text, "tongban/320000/witness", cosigner, 1_767_225_600)
    node.services.ledger.add_cosignatures(size, [signed])

    browser, _ = session(node, "auditor")
    html = browser.get("/pages/audit/checkpoints").text
    table = between(html, 'id="checkpoints"')
    newest = between(table, "<tbody>", "</tr>")
    assert f'<th scope="row">{size}</th>' in newest
    assert parse_note(issued.text).text.splitlines()[2] in newest  # the root hash
    assert "有效（节点密钥" in newest
    assert "tongban/320000/witness：已联署（2026-01-01 08:00:00）" in newest
    assert "tongban/440000/witness：未联署" in newest
    assert "未满足（1 / 需 2）" in newest  # a majority of two is two
    assert "本节点未配置见证外省台账" in html and "未保存任何台账分叉证据" in html


def test_a_bodys_report(node: ApiNode, tampered: uuid.UUID) -> None:
    browser, csrf = session(node, "auditor")
    chooser = browser.get("/pages/audit/bodies").text
    assert 'href="/pages/audit/bodies/510104-RS"' in chooser
    started = browser.post("/audit/verify", headers={"X-CSRF-Token": csrf})
    finished(browser, started.json()["job_id"])
    html = browser.get("/pages/audit/bodies/320105-ZWFW").text
    steps = between(html, 'id="steps"')
    assert "收件" in steps and "寄送" in steps  # the window received and mailed its cases
    found = between(html, 'id="body-findings"', "</ul>")
    assert f"/pages/audit/cases/{tampered}#seq-{TAMPERED_SEQ}" in found and "bad_hash" in found
    # The home body holds the mailed cases now: they wait for its 材料送达.
    home = browser.get("/pages/audit/bodies/510104-RS").text
    assert f"/pages/audit/cases/{tampered}" in between(home, 'id="open-cases"', "</ul>")


def test_the_access_log_lists_who_read_when_and_why(node: ApiNode) -> None:
    case_id, other = node.proxy_case(), node.proxy_case()
    read = node.get(f"/cases/{case_id}", "home", personal="true", purpose="核对申请人身份")
    assert read.status_code == 200, read.text
    officer, _ = officer_session(node, "510104-RS")
    assert (
        officer.get(
            f"/cases/{other}", params={"personal": "true", "purpose": "电话回访"}
        ).status_code
        == 200
    )
    browser, _ = session(node, "auditor")
    html = browser.get("/pages/audit/access", params={"case": str(case_id)}).text
    table = between(html, 'id="access-log"')
    assert "核对申请人身份" in table and "510104-RS" in table and "申请人信息" in table
    assert str(other) not in table and "共 1 条" in table
    assert "欧阳明远" not in html and "11010519491231002X" not in html  # no applicant data
    # A body's reads include its officers'; an officer's only theirs.
    by_body = browser.get("/pages/audit/access", params={"reader": "510104-RS"}).text
    assert str(case_id) in by_body and "510104-RS/rs-001" in by_body
    by_officer = browser.get("/pages/audit/access", params={"reader": "510104-RS/rs-001"})
    assert str(other) in by_officer.text and str(case_id) not in by_officer.text
    # The API route it reads: auditors and the administrator, never a supervisor.
    listed = node.get("/audit/access", "auditor", case=str(other)).json()
    assert listed["total"] == 1 and listed["records"][0]["subject"] == "510104-RS/rs-001"
    assert node.get("/audit/access", "supervisor").status_code == 403
    refused = node.get("/audit/access", "auditor", reader="a b")
    assert (refused.status_code, refused.json()["field"]) == (422, "reader")


def test_the_access_log_pages_through_every_read(node: ApiNode) -> None:
    case_id = node.proxy_case()
    principal = Principal("body", "510000-ZWFW", "token-id")
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for n in range(51):
        node.services.access.record_access(
            str(case_id),
            principal,
            purpose=f"核对 {n:02d}",
            fields="applicant",
            now=start + timedelta(minutes=n),
        )
    browser, _ = session(node, "auditor")
    first = browser.get("/pages/audit/access", params={"case": str(case_id)}).text
    assert "共 51 条，第 1 / 2 页" in first and "核对 50" in first and "核对 00" not in first
    assert f"case={case_id}&amp;page=2" in first and "上一页" not in first
    second = browser.get("/pages/audit/access", params={"case": str(case_id), "page": "2"}).text
    assert "核对 00" in second and "核对 01" not in second and "上一页" in second


def test_an_auditor_lands_on_the_audit_pages_a_supervisor_does_not_see_them(
    node: ApiNode,
) -> None:
    auditor, _ = session(node, "auditor")
    assert 'href="/pages/audit/access"' in auditor.get("/pages/supervision").text
    supervisor, _ = session(node, "supervisor")
    assert 'href="/pages/audit' not in supervisor.get("/pages/supervision").text

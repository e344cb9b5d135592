"""The auditors' record pages (docs/pages.md, "The auditors' pages"): the node's checkpoints
and its witnesses' cosignatures (``/pages/audit/checkpoints``), a body's report
(``/pages/audit/bodies/{body_id}``, chosen at ``/pages/audit/bodies``) and the personal-data
access log (``/pages/audit/access``), for an auditor's or the administrator's token session.

They read what the API gives an auditor: the stored checkpoints (``GET /audit/checkpoint``
serves the newest), the witness evidence (``GET /witness/evidence``), the registry's bodies,
the supervision figures, the per-body activity ``tongban report bodies`` prints
(``ledger.reports``) and the access log (``GET /audit/access``), so they show no personal
data beyond the purposes the log already shows auditors.
"""

from __future__ import annotations

import base64
from html import escape
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from adapters.access import Principal
from adapters.bootstrap import NodeServices
from adapters.transparency_config import TransparencyConfigError, load_transparency_config
from api.deps import Services
from api.errors import ApiProblem
from api.page_audit import (
    ACCESS_PAGE,
    BODIES_PAGE,
    CHECKPOINTS_PAGE,
    FINDING_KINDS,
    KIND_NAMES,
    READER,
    FindingPlaces,
    audit_frame,
    auditor_or_refusal,
    case_link,
    iso_in_china,
    micros_in_china,
    parsed_case_id,
    problem_page,
    reason_text,
)
from api.page_parts import AUDIT_PAGE, step_name
from api.routes.audit import MAX_INDEX, MAX_OFFSET, access_log, recent_jobs
from api.routes.keys import bodies, body
from api.routes.supervision import supervised_figures
from api.routes.witness import evidence_list
from ledger.case_listing import CaseQuery
from ledger.envelope import ID_PATTERN
from ledger.errors import LedgerError
from ledger.keys.key_info import NODE
from ledger.notes import (
    Note,
    Witness,
    majority,
    parse_checkpoint,
    parse_note,
    verified_cosigners,
    verify_note,
)
from ledger.reports import body_activity
from ledger.tree_store import StoredCheckpoint

router = APIRouter(tags=["pages"])
CHECKPOINTS_SHOWN = 10
ACCESS_SHOWN = 50  # records a page
OPEN_CASES_SHOWN = 50
FIELD_NAMES = {"applicant": "申请人信息"}
# Chinese sentences are joined without a line break: a break in the HTML shows as a space.
CHECKPOINTS_TEXT = (
    "每个检查点是台账 Merkle 树的大小和根哈希，由本节点密钥签名；见证方核对它延续了自己上次"
    "联署的树后再联署，使本节点无法向不同的人出示不同的台账（docs/transparency.md）。"
    "审计核对每个保存的检查点的根哈希。"
)


def _positive(text: str | None, limit: int) -> int | None:
    """A positive decimal integer up to ``limit``, else None (said on the page)."""
    if text is None or not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    value = int(text)
    return value if 1 <= value <= limit else None


# -- checkpoints and cosignatures ---------------------------------------------------------------


def _node_signature(node: NodeServices, note: Note, stored: StoredCheckpoint) -> str:
    """Whether a node key of this region valid at the checkpoint's issue time signed it (the
    audit's own check, docs/audit.md ``bad_checkpoint``)."""
    registry = node.ledger.registry
    for key in list(registry.keys.values()):
        if key.role != NODE:
            continue
        try:
            registry.node_key_at(key.kid, stored.issued_at)
            verify_note(note, node.ledger.ledger_name, key.public_key)
        except LedgerError:
            continue
        return f"有效（节点密钥 {escape(key.kid[:16])}…）"
    return '<strong class="flag">无效：不是本区域当时有效的节点密钥所签</strong>'


def _cosignatures(note: Note, witnesses: list[Witness], node_keys: list[bytes]) -> str:
    """Each configured witness: its valid cosignature and when, or none; and the signature
    lines no configured witness made (not verified: their keys are unknown here)."""
    cosigned = dict(verified_cosigners(note, witnesses, log_keys=node_keys))
    items = []
    for witness in witnesses:
        when = cosigned.get(witness.name)
        said = (
            f"已联署（{micros_in_china(when * 1_000_000)}）"
            if when is not None
            else "未联署（或联署无效）"
        )
        items.append(f"<li>{escape(witness.name)}：{said}</li>")
    known = {w.name for w in witnesses} | {parse_checkpoint(note.text).origin}
    for line in note.signatures:
        if line.name not in known:
            items.append(f"<li>{escape(line.name)}：签名行（未配置的见证方，未核验）</li>")
    return f'<ul class="checks">{"".join(items)}</ul>' if items else "无见证方"


def _checkpoint_rows(
    node: NodeServices, stored: list[StoredCheckpoint], witnesses: list[Witness], required: int
) -> str:
    node_keys = [k.public_key for k in node.ledger.registry.keys.values() if k.role == NODE]
    rows = []
    for found in stored:
        try:
            note = parse_note(found.note)
            checkpoint = parse_checkpoint(note.text)
        except LedgerError as error:
            rows.append(
                f'<tr><th scope="row">{found.size}</th><td colspan="5">'
                f'<strong class="flag">无法解析：{escape(error.detail)}</strong></td></tr>'
            )
            continue
        count = len(verified_cosigners(note, witnesses, log_keys=node_keys))
        policy = (
            "不要求见证"
            if required == 0
            else f"{'满足' if count >= required else '未满足'}（{count} / 需 {required}）"
        )
        rows.append(
            f'<tr><th scope="row">{checkpoint.size}</th>'
            f"<td><code>{escape(base64.b64encode(checkpoint.root).decode())}</code></td>"
            f"<td>{micros_in_china(found.issued_at)}</td>"
            f"<td>{_node_signature(node, note, found)}</td>"
            f"<td>{_cosignatures(note, witnesses, node_keys)}</td><td>{policy}</td></tr>"
        )
    return "".join(rows)


def _witnessing(request: Request, node: NodeServices, caller: Principal, logs: list[str]) -> str:
    """This node as a witness of other regions' logs: what it last cosigned, and evidence."""
    store = node.witness_store()
    rows = "".join(
        f"<tr><td>{escape(origin)}</td><td>{cosigned.size if cosigned else '尚未联署'}</td></tr>"
        for origin in logs
        for cosigned in [store.latest(origin)]
    )
    logged = (
        f"""<table id="witnessed"><caption>本节点见证的外省台账</caption>
<thead><tr><th scope="col">台账</th><th scope="col">最近联署的树大小</th></tr></thead>
<tbody>{rows}</tbody></table>"""
        if logs
        else '<p id="witnessed">本节点未配置见证外省台账。</p>'
    )
    kept = evidence_list(request, node, caller).evidence
    evidence = (
        '<ul id="evidence">'
        + "".join(
            f"<li>{escape(e.kept_at)}：{escape(e.origin)} {escape(e.kind)}"
            f"（{escape(e.evidence_id)}，"
            f"<code>GET /witness/evidence/{escape(e.evidence_id)}</code>）</li>"
            for e in kept
        )
        + "</ul>"
        if kept
        else '<p id="evidence">本节点作为见证方未保存任何台账分叉证据。</p>'
    )
    return f"<h2>本节点作为见证方</h2>{logged}<h3>见证方保存的证据</h3>{evidence}"


@router.get(CHECKPOINTS_PAGE, include_in_schema=False, response_model=None)
def checkpoints_page(request: Request, node: Services, before: str | None = None) -> Response:
    caller = auditor_or_refusal(request, node)
    if not isinstance(caller, Principal):
        return caller
    limit = _positive(before, MAX_INDEX) if before is not None else MAX_INDEX
    if limit is None:
        return problem_page(
            caller,
            422,
            "参数有误",
            "before 应为正整数（只列出树大小小于它的检查点），"
            f"收到“{before[:40] if before else ''}”。",
            back=(CHECKPOINTS_PAGE, "返回检查点页面"),
        )
    try:
        config = load_transparency_config(node.settings.data_dir, region=node.settings.region)
    except TransparencyConfigError as error:
        return problem_page(caller, 500, "见证配置无法读取", f"transparency.json：{error}")
    node.ledger.refresh_registry()
    witnesses = config.witness_keys()
    required = (
        majority(len(witnesses)) if config.min_cosignatures is None else config.min_cosignatures
    )
    stored = node.ledger.checkpoints_before(limit, CHECKPOINTS_SHOWN + 1)
    shown, more = stored[:CHECKPOINTS_SHOWN], len(stored) > CHECKPOINTS_SHOWN
    older = (
        f'<p><a href="{CHECKPOINTS_PAGE}?before={shown[-1].size}">更早的检查点</a></p>'
        if more
        else ""
    )
    table = (
        f"""<table id="checkpoints">
<caption>检查点（树大小从大到小）：本节点签发，见证方联署</caption>
<thead><tr><th scope="col">树大小</th><th scope="col">根哈希（base64）</th>
<th scope="col">签发时间（北京时间）</th><th scope="col">本节点签名</th>
<th scope="col">见证方联署</th><th scope="col">见证策略</th></tr></thead>
<tbody>{_checkpoint_rows(node, shown, witnesses, required)}</tbody></table>{older}"""
        if shown
        else '<p id="checkpoints">尚未签发检查点。</p>'
    )
    names = "、".join(escape(w.name) for w in witnesses) or "（未配置）"
    main = f"""<p>{CHECKPOINTS_TEXT}</p>
<dl class="facts"><dt>台账</dt><dd>{escape(node.ledger.ledger_name)}</dd>
<dt>配置的见证方</dt><dd>{names}</dd>
<dt>见证策略</dt><dd>{"不要求见证" if required == 0 else f"至少 {required} 个见证方联署"}</dd></dl>
<h2>本节点的检查点</h2>
{table}
{_witnessing(request, node, caller, [log.origin for log in config.witnessed_logs])}"""
    return audit_frame("检查点与见证", main, caller)


# -- a body's report ----------------------------------------------------------------------------


@router.get(BODIES_PAGE, include_in_schema=False, response_model=None)
def bodies_page(request: Request, node: Services) -> Response:
    caller = auditor_or_refusal(request, node)
    if not isinstance(caller, Principal):
        return caller
    rows = "".join(
        f'<tr><td><a href="{BODIES_PAGE}/{escape(b.body_id)}">{escape(b.body_id)}</a></td>'
        f"<td>{escape(b.name)}</td><td>{escape(b.region)}</td></tr>"
        for b in bodies(node)
    )
    main = f"""<p>选择一个部门，查看其办件情况、时限和最近一次审计在其案件中的发现。</p>
<table id="bodies"><caption>密钥登记中的部门</caption>
<thead><tr><th scope="col">部门编号</th><th scope="col">名称</th>
<th scope="col">区域</th></tr></thead>
<tbody>{rows}</tbody></table>"""
    return audit_frame("部门报告", main, caller)


def _rate(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.1%}"


def _duration(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86_400)
    return f"{days} 天 {rest // 3600} 小时 {rest % 3600 // 60} 分"


@router.get(f"{BODIES_PAGE}/{{body_id}}", include_in_schema=False, response_model=None)
def body_page(request: Request, node: Services, body_id: str) -> Response:
    caller = auditor_or_refusal(request, node)
    if not isinstance(caller, Principal):
        return caller
    back = (BODIES_PAGE, "返回部门列表")
    if not ID_PATTERN.fullmatch(body_id):
        return problem_page(
            caller,
            422,
            "部门编号有误",
            "部门编号（body_id）应为字母或数字开头、最多 64 个字母、数字和 . _ : -，"
            f"收到“{body_id[:80]}”。",
            back=back,
        )
    try:
        found = body(body_id, node)
    except ApiProblem:
        return problem_page(caller, 404, "未找到部门", f"密钥登记中没有部门 {body_id}。", back=back)
    listed = node.cases.list_cases(caller, CaseQuery(body=body_id))
    case_ids = [c.case_id for c in listed.cases]
    activity = body_activity(node.ledger, body_id, case_ids)
    steps = "".join(
        f"<tr><td>{escape(step_name(step))}（<code>{escape(step)}</code>）</td><td>{count}</td></tr>"
        for step, count in activity.steps.items()
    )
    steps_table = (
        f"""<table id="steps"><caption>本部门签署的步骤，按步骤类型</caption>
<thead><tr><th scope="col">步骤</th><th scope="col">次数</th></tr></thead>
<tbody>{steps}</tbody></table>"""
        if steps
        else '<p id="steps">本部门尚未签署任何步骤。</p>'
    )
    open_cases = "".join(
        f'<li><a href="{case_link(c)}">{escape(c)}</a></li>'
        for c in activity.open_cases[:OPEN_CASES_SHOWN]
    )
    figures = [r for r in supervised_figures(node, caller, "body", None).rows if r.key == body_id]
    timing = (
        f"""<dl class="facts" id="timing">
<dt>办理中环节</dt><dd>{figures[0].open_legs}</dd>
<dt>已超期</dt><dd>{figures[0].overdue_now}</dd>
<dt>即将到期</dt><dd>{figures[0].due_soon_now}</dd>
<dt>已办结环节</dt><dd>{figures[0].legs_closed}</dd>
<dt>按期办结率</dt><dd>{_rate(figures[0].on_time_rate)}</dd>
</dl>"""
        if figures
        else '<p id="timing">本部门没有计时的办理环节。</p>'
    )
    summary = (
        "按台账中签名的步骤统计（与 <code>tongban report bodies</code> 相同的定义）："
        f"参与 {len(case_ids)} 个案件，签署 {activity.steps_total} 个步骤，"
        f"经手 {activity.cases_held} 个案件，合计经手时间 {_duration(activity.holding_seconds)}，"
        f"待本部门办理 {len(activity.open_cases)} 个。"
    )
    main = f"""<dl class="facts">
<dt>部门编号</dt><dd>{escape(found.body_id)}</dd>
<dt>名称</dt><dd>{escape(found.name)}</dd>
<dt>区域</dt><dd>{escape(found.region)}</dd>
<dt>现用密钥</dt><dd>{escape(found.current_kid) or "—"}</dd>
</dl>
<h2>办件情况</h2>
<p>{summary}</p>
{steps_table}
<h3>待本部门办理的案件</h3>
{f'<ul id="open-cases">{open_cases}</ul>' if open_cases else '<p id="open-cases">无。</p>'}
<h2>办理时限</h2>
{timing}
<h2>最近一次审计在本部门案件中的发现</h2>
{_body_findings(request, node, caller, {str(c) for c in case_ids})}"""
    return audit_frame(f"部门报告 {body_id}", main, caller)


def _body_findings(request: Request, node: NodeServices, caller: Principal, cases: set[str]) -> str:
    done = [j for j in recent_jobs(request, caller) if j.report is not None]
    if not done:
        return (
            '<p id="body-findings">本进程尚无已完成的审计：'
            f'<a href="{AUDIT_PAGE}">开始审计</a>。</p>'
        )
    job = done[0]
    assert job.report is not None
    places = FindingPlaces(node)
    found = [f for f in job.report.findings if f.case_id in cases]
    if not found:
        return (
            f'<p id="body-findings">审计任务 <a href="{AUDIT_PAGE}?job={job.job_id}">'
            f"{job.job_id}</a> 在本部门参与的案件中未发现问题。</p>"
        )
    items = "".join(
        f"<li>{places.html(f.case_id, f.seq)}：{reason_text(f.reason)}"
        f"（{FINDING_KINDS.get(f.kind, escape(f.kind))}）</li>"
        for f in found
    )
    return (
        f'<p>审计任务 <a href="{AUDIT_PAGE}?job={job.job_id}">{job.job_id}</a>：</p>'
        f'<ul id="body-findings">{items}</ul>'
    )


# -- the personal-data access log ---------------------------------------------------------------


def _reader_kind(kind: str, subject: str) -> str:
    """A body's token names no officer; an officer's session logs ``body/officer``."""
    if kind == "body":
        return "部门工作人员" if "/" in subject else "部门（访问令牌）"
    return escape(KIND_NAMES.get(kind, kind))


def _access_form(case: str, reader: str) -> str:
    return f"""<form method="get" action="{ACCESS_PAGE}" class="filters" id="access-filter">
<div class="filter"><label for="filter-case">案件编号</label>
<input id="filter-case" name="case" type="text" value="{escape(case)}" autocomplete="off"
 size="36"></div>
<div class="filter"><label for="filter-reader">读取者（部门编号，或 部门编号/工作人员编号）</label>
<input id="filter-reader" name="reader" type="text" value="{escape(reader)}"
 autocomplete="off"></div>
<button type="submit">筛选</button>
<a href="{ACCESS_PAGE}">清除筛选</a>
</form>"""


@router.get(ACCESS_PAGE, include_in_schema=False, response_model=None)
def access_page(
    request: Request,
    node: Services,
    case: str = "",
    reader: str = "",
    page: str = "1",
) -> Response:
    caller = auditor_or_refusal(request, node)
    if not isinstance(caller, Principal):
        return caller
    case, reader = case.strip(), reader.strip()
    problems = []
    case_id = parsed_case_id(case) if case else None
    if case and case_id is None:
        problems.append(f"案件编号（case）应为 UUID，收到“{case[:80]}”。")
    if reader and not READER.fullmatch(reader):
        problems.append(
            f"读取者（reader）应为部门编号或“部门编号/工作人员编号”，收到“{reader[:80]}”。"
        )
    number = _positive(page, MAX_OFFSET // ACCESS_SHOWN)
    if number is None:
        problems.append(f"页码（page）应为正整数，收到“{page[:20]}”。")
    intro = (
        "<p>每次以明文读取申请人个人信息都会记录：谁、何时、读取哪个案件、用途。"
        "本页列出全部记录，最新的在前；用途中不含个人信息（读取时已筛查）。</p>"
    )
    if problems or number is None:
        errors = "".join(f'<p class="error" role="alert">{escape(p)}</p>' for p in problems)
        main = intro + _access_form(case, reader) + f'<div id="page-error">{errors}</div>'
        return audit_frame("个人信息访问记录", main, caller, status_code=422)
    found = access_log(
        node,
        caller,
        case=case_id,
        reader=reader or None,
        offset=(number - 1) * ACCESS_SHOWN,
        limit=ACCESS_SHOWN,
    )
    rows = "".join(
        f"<tr><td>{escape(iso_in_china(r.at))}</td>"
        f'<td><a href="{case_link(r.case_id)}">{escape(r.case_id)}</a></td>'
        f"<td>{escape(r.subject)}</td><td>{_reader_kind(r.kind, r.subject)}</td>"
        f"<td>{escape(r.purpose)}</td><td>{escape(FIELD_NAMES.get(r.fields, r.fields))}</td></tr>"
        for r in found.records
    )
    filters = {k: v for k, v in (("case", case), ("reader", reader)) if v}
    pages = max(1, -(-found.total // ACCESS_SHOWN))
    links = [
        f'<a href="{ACCESS_PAGE}?{escape(urlencode({**filters, "page": to}))}">{label}</a>'
        for to, label, shown in (
            (number - 1, "上一页", number > 1),
            (number + 1, "下一页", number < pages),
        )
        if shown
    ]
    table = (
        f"""<table id="access-log">
<caption>共 {found.total} 条，第 {number} / {pages} 页</caption>
<thead><tr><th scope="col">时间（北京时间）</th><th scope="col">案件</th>
<th scope="col">读取者</th><th scope="col">身份</th><th scope="col">用途</th>
<th scope="col">读取内容</th></tr></thead>
<tbody>{rows}</tbody></table>"""
        if found.records
        else f'<p id="access-log">没有符合条件的记录（共 {found.total} 条）。</p>'
    )
    nav = f'<p class="pager">{" ".join(links)}</p>' if links else ""
    main = intro + _access_form(case, reader) + table + nav
    return audit_frame("个人信息访问记录", main, caller)

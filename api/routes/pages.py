"""The officers' pages: login, worklist, case; and the one route they need beyond the API.

Server-rendered HTML (no build step, no template engine: the pages are few and small, and
``html.escape`` on every value is easy to check), with plain JavaScript modules from
``/static/`` for what must happen in the browser: holding the officer's key (WebCrypto,
non-extractable, in IndexedDB), decoding the content bytes of a step, showing what *the page*
decoded, and signing. Every page is served with :data:`PAGE_POLICY`: scripts and every other
resource from the node only, no inline script, no ``eval`` — a non-extractable key does not
stop an injected script from signing with it, so no script may be injected.

``POST /cases/{case_id}/draft`` builds the canonical content bytes of the step an officer filled
in (never a signature, digest or signing input): the page decodes them with its own decoder
(``api/static/canonical.js``), renders what it decoded, builds ``ctx || 00 || SHA-256(content)``
itself and posts the signed bytes to ``POST /cases/{case_id}/events`` like every other client.
"""

from __future__ import annotations

import base64
import re
import uuid
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from adapters.access import Principal
from adapters.bootstrap import NodeServices
from api.deps import Caller, JsonBody, Services, require, session_principal
from api.errors import ApiProblem
from api.routes.cases import case_public
from api.schemas import CasePublic, problem_responses
from ledger import canonical
from ledger.application import now_micros
from ledger.case_listing import CaseQuery, CaseSummary
from ledger.envelope import EVENT_CONTEXT, ZERO_HASH, parse_event
from ledger.errors import MalformedEncoding
from ledger.read_models import CHINA
from ledger.workflow import CaseState
from ledger.workflow.fields import STEP_FIELDS, check_body
from ledger.workflow.fields import Field as StepField

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
LOGIN_PAGE = "/pages/login"
WORKLIST_PAGE = "/pages/worklist"

#: Every page's Content-Security-Policy: only the node, no inline script or style, no eval.
PAGE_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)

router = APIRouter(tags=["pages"], responses=problem_responses(401, 403, 404, 415, 422))


def install_static(app: FastAPI) -> None:
    """Serve ``/static/``: the pages' scripts and style sheet, from the package itself."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


# -- words -------------------------------------------------------------------------------------

STEP_NAMES = {
    "received": "收件",
    "form_checked": "形式审查",
    "form_checked:pass": "形式审查：通过",
    "form_checked:needs_supplement": "形式审查：需补正",
    "form_checked:refused": "形式审查：不予收件",
    "supplement_requested": "补正告知",
    "supplemented": "补正材料",
    "mailed": "寄送",
    "mailed:window_to_home": "寄送：窗口至受理部门",
    "mailed:home_to_window": "寄送：受理部门至窗口",
    "mailed:home_to_applicant": "寄送：受理部门至申请人",
    "mail_problem": "寄送异常",
    "arrived": "材料送达",
    "accepted": "受理",
    "refused": "不予受理",
    "transferred": "移交",
    "co_handled": "协同办理",
    "suspended": "特别程序",
    "resumed": "恢复办理",
    "extended": "延期",
    "decided": "作出决定",
    "decided:approved": "作出决定：准予",
    "decided:rejected": "作出决定：不予",
    "delivered": "送达",
    "delivered:online": "送达：网上",
    "delivered:post": "送达：邮寄",
    "delivered:at_window": "送达：窗口领取",
    "withdrawn": "撤回申请",
    "corrected": "更正",
    "reopened": "重新办理",
    "rated": "评价",
}

STATE_NAMES = {
    "start": "未收件",
    "received": "已收件",
    "intake_supplement": "待补正（收件）",
    "checked": "已审查",
    "to_home": "寄往受理部门",
    "to_home_problem": "寄送异常",
    "at_home": "待受理",
    "home_supplement": "待补正（受理部门）",
    "accepted": "已受理",
    "suspended": "特别程序中",
    "decided": "已决定",
    "to_applicant": "寄往申请人",
    "to_applicant_problem": "寄送异常",
    "to_window": "寄往窗口",
    "to_window_problem": "寄送异常",
    "at_window": "待窗口送达",
    "delivered": "已办结",
    "refused": "不予受理",
    "intake_refused": "不予收件",
    "withdrawn": "已撤回",
}

FIELD_NAMES = {
    "result": "结果",
    "reasons": "理由（每行一条）",
    "identity_verified": "身份已核验",
    "items": "所缺材料（每行一项）",
    "reason": "原因",
    "leg": "寄送方向",
    "courier": "承运单位",
    "tracking_number": "运单号",
    "problem": "问题",
    "detail": "说明",
    "note": "备注",
    "basis": "依据",
    "to_body": "移交至部门",
    "opinion": "意见",
    "working_days": "延长工作日",
    "approval": "批准",
    "reference": "文号",
    "method": "送达方式",
    "results": "结果文书编号（每行一个）",
    "target_seq": "更正的步骤序号",
}

CHOICE_NAMES = {
    "pass": "通过",
    "needs_supplement": "需补正",
    "refused": "不予收件",
    "approved": "准予",
    "rejected": "不予",
    "window_to_home": "窗口至受理部门",
    "home_to_window": "受理部门至窗口",
    "home_to_applicant": "受理部门至申请人",
    "lost": "遗失",
    "returned": "退回",
    "damaged": "损坏",
    "hearing": "听证",
    "testing": "检验检测",
    "expert_review": "专家评审",
    "other": "其他",
    "head_of_body": "本部门负责人",
    "government": "本级人民政府",
    "online": "网上",
    "post": "邮寄",
    "at_window": "窗口领取",
    "administrative_review": "行政复议",
    "court_ruling": "法院裁判",
}

# Kinds a form can collect from an officer's typing; steps with another kind (materials to
# hash, an applicant's commitments, a rating) have pages of their own, not built yet.
FORM_KINDS = frozenset({"text", "text?", "choice", "texts", "references", "flag", "positive"})


def step_name(step: str) -> str:
    return STEP_NAMES.get(step, STEP_NAMES.get(step.split(":", 1)[0], step))


# -- the page frame ----------------------------------------------------------------------------


def page(
    title: str, main: str, *, scripts: tuple[str, ...] = (), officer: str = ""
) -> HTMLResponse:
    """A whole page with the node's policy; ``main`` is already escaped HTML."""
    nav = ""
    if officer:
        nav = (
            '<nav aria-label="主导航"><ul>'
            f'<li><a href="{WORKLIST_PAGE}">待办案件</a></li>'
            '<li><a href="/pages/receive">收件</a></li>'
            f'<li><span class="who">当前用户：{escape(officer)}</span></li>'
            '<li><button type="button" id="logout">退出登录</button></li>'
            "</ul></nav>"
        )
    tags = "".join(f'<script type="module" src="/static/{escape(s)}"></script>' for s in scripts)
    html = f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · 跨省通办</title>
<link rel="stylesheet" href="/static/pages.css">
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
{tags}
</head>
<body>
<a class="skip" href="#main">跳到主要内容</a>
<header><p class="brand">跨省通办 · 办件台账</p>{nav}</header>
<main id="main" tabindex="-1">
<h1>{escape(title)}</h1>
{main}
</main>
</body>
</html>
"""
    response = HTMLResponse(html)
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def officer_or_login(request: Request, node: NodeServices) -> Principal | RedirectResponse:
    """The session's officer, or a 303 to the login page that comes back here afterwards."""
    try:
        return session_principal(request, node)
    except ApiProblem as problem:
        if problem.status != 401:
            raise
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{LOGIN_PAGE}?next={quote(back, safe='')}", status_code=303)


def _who(caller: Principal) -> str:
    return f"{caller.officer_id}（{caller.subject}）"


# -- pages -------------------------------------------------------------------------------------


@router.get("/pages/login", include_in_schema=False)
def login_page() -> HTMLResponse:
    main = """
<p id="context-note" class="note" hidden></p>
<section aria-labelledby="key-heading">
<h2 id="key-heading">本机密钥</h2>
<p id="key-status" role="status">正在读取本机保存的密钥……</p>
<form id="import-key" class="stack">
<p>演示：导入一次演示密钥文件（私钥导入后不可导出，保存在本浏览器中）。</p>
<label for="key-file">密钥文件</label>
<input id="key-file" name="key-file" type="file" required>
<label for="body-id">部门编号</label>
<input id="body-id" name="body-id" type="text" required autocomplete="organization"
 pattern="[A-Za-z0-9][A-Za-z0-9._:\\-]{0,63}">
<label for="officer-id">工作人员编号</label>
<input id="officer-id" name="officer-id" type="text" required autocomplete="username"
 pattern="[A-Za-z0-9][A-Za-z0-9._:\\-]{0,63}">
<button type="submit">导入密钥</button>
</form>
</section>
<section aria-labelledby="enrol-heading">
<h2 id="enrol-heading">在本机生成密钥</h2>
<form id="generate-key" class="stack">
<p>在本浏览器中生成新的签名密钥（不可导出）。生成后，请本部门管理员用下方显示的公钥为您认证，认证后即可登录。</p>
<label for="new-body-id">部门编号</label>
<input id="new-body-id" name="new-body-id" type="text" required
 pattern="[A-Za-z0-9][A-Za-z0-9._:\\-]{0,63}">
<label for="new-officer-id">工作人员编号</label>
<input id="new-officer-id" name="new-officer-id" type="text" required
 pattern="[A-Za-z0-9][A-Za-z0-9._:\\-]{0,63}">
<button type="submit">生成密钥</button>
</form>
<div id="enrolment" hidden>
<p>请将以下内容交给本部门管理员认证（一台设备一个密钥，其他设备的密钥仍然有效）：</p>
<dl class="facts">
<dt>公钥</dt><dd id="new-public-key"></dd>
<dt>密钥编号</dt><dd id="new-kid"></dd>
<dt>设备</dt><dd id="new-device"></dd>
</dl>
<p>管理员的命令：</p>
<pre id="certify-command"></pre>
</div>
</section>
<section aria-labelledby="login-heading">
<h2 id="login-heading">登录</h2>
<p>登录时，本页用本机密钥对节点发来的登录挑战签名（tongban/login/v1）。</p>
<button type="button" id="login" disabled>用本机密钥登录</button>
<p id="login-status" role="alert" aria-live="assertive"></p>
</section>
"""
    return page("工作人员登录", main, scripts=("login.js",))


@router.get("/pages", include_in_schema=False)
def pages_home() -> RedirectResponse:
    return RedirectResponse(WORKLIST_PAGE, status_code=303)


@router.get("/pages/worklist", include_in_schema=False, response_model=None)
def worklist_page(
    request: Request,
    node: Services,
    page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> HTMLResponse | RedirectResponse:
    caller = officer_or_login(request, node)
    if isinstance(caller, RedirectResponse):
        return caller
    size = 50
    listed = node.cases.list_cases(
        caller, CaseQuery(body=caller.subject, offset=(page_number - 1) * size, limit=size)
    )
    rows = "\n".join(
        "<tr>"
        f'<td><a href="/pages/cases/{c.case_id}" aria-label="案件 {c.case_id}">'
        f"{escape(str(c.case_id)[:8])}…</a></td>"
        f"<td>{escape(c.item)}</td>"
        f"<td>{escape(STATE_NAMES.get(c.state, c.state))}</td>"
        f"<td>{'<strong>待本部门办理</strong>' if waiting_for(c, caller.subject) else ''}</td>"
        f"<td>{escape(c.intake_body)}</td>"
        f"<td>{escape(c.home_body)}</td>"
        f"<td>{c.steps}</td>"
        "</tr>"
        for c in listed.cases
    )
    empty = "" if listed.cases else "<p>本部门暂无案件。</p>"
    more = ""
    if page_number > 1:
        more += f'<a href="{WORKLIST_PAGE}?page={page_number - 1}">上一页</a> '
    if page_number * size < listed.total:
        more += f'<a href="{WORKLIST_PAGE}?page={page_number + 1}">下一页</a>'
    main = f"""
<p>本部门（{escape(caller.subject)}）的案件，共 {listed.total} 件，第 {page_number} 页。</p>
{empty}<table>
<caption>案件列表</caption>
<thead><tr><th scope="col">案件</th><th scope="col">事项</th><th scope="col">状态</th>
<th scope="col">待办</th>
<th scope="col">收件部门</th><th scope="col">受理部门</th><th scope="col">步骤数</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<p class="pager">{more}</p>
"""
    return page("待办案件", main, scripts=("session.js",), officer=_who(caller))


def _field_input(step: str, spec: StepField, fixed: str | None) -> str:
    """One labelled control for ``spec`` of the form for ``step``."""
    name = spec.name
    ident = f"{step.replace(':', '-')}-{name}"
    label = escape(FIELD_NAMES.get(name, name))
    need = " required" if spec.required and spec.kind not in ("text?", "flag", "texts") else ""
    if spec.kind == "texts" and spec.non_empty:
        need = " required"
    data = f' data-field="{escape(name)}" data-kind="{escape(spec.kind)}"'
    optional = "" if spec.required else "（可选）"
    if fixed is not None:
        shown = escape(CHOICE_NAMES.get(fixed, fixed))
        return (
            f'<input type="hidden" id="{ident}" value="{escape(fixed)}"{data}>'
            f"<p>{label}：{shown}</p>"
        )
    if spec.kind == "choice":
        options = "".join(
            f'<option value="{escape(c)}">{escape(CHOICE_NAMES.get(c, c))}</option>'
            for c in spec.choices
        )
        return (
            f'<label for="{ident}">{label}{optional}</label>'
            f'<select id="{ident}"{data}{need}>{options}</select>'
        )
    if spec.kind == "flag":
        return (
            f'<div class="check"><input type="checkbox" id="{ident}"{data}>'
            f'<label for="{ident}">{label}</label></div>'
        )
    if spec.kind in ("texts", "references"):
        return (
            f'<label for="{ident}">{label}{optional}</label>'
            f'<textarea id="{ident}" rows="3"{data}{need}></textarea>'
        )
    if spec.kind == "positive":
        return (
            f'<label for="{ident}">{label}{optional}</label>'
            f'<input type="number" min="1" step="1" id="{ident}"{data}{need}>'
        )
    return (
        f'<label for="{ident}">{label}{optional}</label>'
        f'<input type="text" maxlength="{spec.limit}" id="{ident}"{data}{need}>'
    )


def step_form(step: str) -> str:
    """The form for a table step (``type`` or ``type:refinement``), or why there is none."""
    step_type, _, refinement = step.partition(":")
    fields = STEP_FIELDS.get(step_type, ())
    title = escape(step_name(step))
    if not fields or any(spec.kind not in FORM_KINDS for spec in fields):
        return (
            f'<section class="step-form"><h3>{title}</h3>'
            "<p>此步骤需在专门页面办理（材料、申请人信息或评价），本页暂不提供。</p></section>"
        )
    refined_by = next(
        (spec.name for spec in fields if spec.kind == "choice" and refinement in spec.choices),
        None,
    )
    controls = "\n".join(
        _field_input(step, spec, refinement if spec.name == refined_by else None) for spec in fields
    )
    return f"""<section class="step-form" aria-labelledby="form-{escape(step)}">
<h3 id="form-{escape(step)}">{title}</h3>
<form class="stack draft" data-type="{escape(step_type)}" data-step="{escape(step)}">
{controls}
<button type="submit">填写完毕，核对内容</button>
</form>
</section>"""


def steps_for(flow: CaseState, body_id: str) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """The steps allowed next that ``body_id`` takes, and the others with the bodies that
    take them (the workflow's actor rule, ``CaseState.actor_bodies``)."""
    mine: list[str] = []
    others: dict[str, tuple[str, ...]] = {}
    for step in flow.allowed_steps():
        if step == "corrected":  # a body corrects its own earlier step
            if body_id in flow.steps_by_body.values():
                mine.append(step)
            continue
        bodies = flow.actor_bodies(flow.transition(step).actor)
        if body_id in bodies:
            mine.append(step)
        else:
            others[step] = bodies
    return mine, others


@router.get("/pages/receive", include_in_schema=False, response_model=None)
def receive_page(request: Request, node: Services) -> HTMLResponse | RedirectResponse:
    """收件: a new case's `received` step, signed in the page like every other step."""
    caller = officer_or_login(request, node)
    if isinstance(caller, RedirectResponse):
        return caller
    channels = "".join(
        f'<option value="{c}">{escape(n)}</option>'
        for c, n in (
            ("proxy", "窗口代收（跨省通办）"),
            ("online", "网上申请"),
            ("direct", "现场申请"),
        )
    )
    rows = "\n".join(
        f"""<div class="material">
<label for="material-name-{n}">材料名称 {n}</label>
<input type="text" id="material-name-{n}" maxlength="500"{" required" if n == 1 else ""}>
<label for="material-file-{n}">材料文件 {n}（在本机计算 SHA-256，文件不上传）</label>
<input type="file" id="material-file-{n}"{" required" if n == 1 else ""}>
</div>"""
        for n in (1, 2, 3)
    )
    main = f"""
<form id="receive" class="stack">
<h2>事项</h2>
<label for="item">事项编码（如 510000/2/23）</label>
<input type="text" id="item" required pattern="[1-9][0-9]{{5}}/[0-9]+/[0-9]+">
<label for="channel">办理渠道</label>
<select id="channel" required>{channels}</select>
<label for="home-body">受理部门编号</label>
<input type="text" id="home-body" required pattern="[A-Za-z0-9][A-Za-z0-9._:\\-]{{0,63}}">
<label for="jurisdiction">管辖区划代码（6 位）</label>
<input type="text" id="jurisdiction" required pattern="[1-9][0-9]{{5}}" inputmode="numeric">
<h2>申请人（存入本节点的个人信息库，台账中只记录引用和承诺值）</h2>
<label for="applicant-name">姓名</label>
<input type="text" id="applicant-name" required maxlength="64" autocomplete="off">
<label for="applicant-id">身份证号</label>
<input type="text" id="applicant-id" required maxlength="32" autocomplete="off">
<label for="applicant-phone">电话（可选）</label>
<input type="tel" id="applicant-phone" maxlength="32" autocomplete="off">
<label for="applicant-address">地址（可选）</label>
<input type="text" id="applicant-address" maxlength="256" autocomplete="off">
<h2>材料</h2>
{rows}
<button type="submit">填写完毕，核对内容</button>
</form>
<section id="confirm" aria-labelledby="confirm-heading" hidden>
<h2 id="confirm-heading" tabindex="-1">核对并签名</h2>
<p id="item-facts"></p>
<p>以下内容由本页从待签名的字节中解码得出：</p>
<dl id="decoded" class="facts"></dl>
<button type="button" id="sign">确认无误，签名并收件</button>
<button type="button" id="cancel">返回修改</button>
</section>
<p id="case-status" role="alert" aria-live="assertive"></p>
"""
    return page("收件", main, scripts=("receive.js",), officer=_who(caller))


def china_time(iso_utc: str) -> str:
    """``2026-12-07T14:46:10.990082Z`` as China time, to the minute: 2026-12-07 22:46."""
    moment = datetime.fromisoformat(iso_utc.replace("Z", "+00:00"))
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


@router.get("/pages/cases/{case_id}/notices/receipt", include_in_schema=False, response_model=None)
def receipt_notice(
    case_id: uuid.UUID, request: Request, node: Services
) -> HTMLResponse | RedirectResponse:
    """收件回执, printable, made from the case's signed `received` step and its receipt time."""
    caller = officer_or_login(request, node)
    if isinstance(caller, RedirectResponse):
        return caller
    case = case_public(node, caller, case_id, personal=False, purpose="")
    raw = node.ledger.envelope_at(case_id, 1)
    if raw is None:  # a case relayed elsewhere: its steps are its home node's
        raise ApiProblem(404, f"this node holds no step of case {case_id}", reason="not_found")
    received = parse_event(raw)
    first = case.timeline[0]
    materials = "".join(
        f"<li>{escape(str(m.get('name', '')))}"
        f"<br><small>SHA-256 {escape(bytes(m.get('sha256', b'')).hex())}</small></li>"
        for m in received.body.get("materials", [])
    )
    main = f"""
<dl class="facts">
<dt>案件编号</dt><dd>{escape(case.case_id)}</dd>
<dt>事项</dt><dd>{escape(case.item_name)}（{escape(case.item)}）</dd>
<dt>收件单位</dt><dd>{escape(first.body_name or first.body_id)}（{escape(first.body_id)}）</dd>
<dt>经办人</dt><dd>{escape(first.officer_id)}</dd>
<dt>收件时间</dt><dd>{escape(china_time(first.received_at))}（北京时间）</dd>
<dt>受理部门</dt><dd>{escape(case.home_body)}</dd>
<dt>办理渠道</dt><dd>{escape(CHANNEL_NAMES.get(case.channel, case.channel))}</dd>
</dl>
<h2>已收材料</h2>
<ol>{materials}</ol>
<p>本回执依据台账 {escape(case.ledger)} 中该案件第 1 步（收件）的签名记录生成；
该步骤的哈希为 <code>{escape(received.hash.hex())}</code>，可凭案件编号查询办理进度。</p>
<p class="no-print">请用浏览器的打印功能（Ctrl+P）打印本页。</p>
"""
    return page("收件回执", main, officer=_who(caller))


CHANNEL_NAMES = {"proxy": "跨省通办窗口代收", "online": "网上申请", "direct": "现场申请"}


# Steps the table allows in many states that wait on nobody: a case is not "waiting for" the
# body that could withdraw it, report a mail problem, correct or reopen it.
_NOT_WAITING = frozenset({"withdrawn", "mail_problem", "corrected", "reopened"})


def waiting_for(summary: CaseSummary, body_id: str) -> bool:
    """Whether the case in ``summary`` waits for a step of ``body_id``: the listing's state,
    channel and bodies judged by the workflow's actor rule. A summary carries no origin bodies,
    so an origin body's 协同办理 of a joint case is not flagged (the case page shows it)."""
    flow = CaseState(
        state=summary.state,
        channel=summary.channel,
        coordination="single",
        intake_body=summary.intake_body,
        home_body=summary.home_body,
    )
    mine, _ = steps_for(flow, body_id)
    return any(step.split(":", 1)[0] not in _NOT_WAITING for step in mine)


@router.get("/pages/cases/{case_id}", include_in_schema=False, response_model=None)
def case_page(
    case_id: uuid.UUID, request: Request, node: Services
) -> HTMLResponse | RedirectResponse:
    caller = officer_or_login(request, node)
    if isinstance(caller, RedirectResponse):
        return caller
    case: CasePublic = case_public(node, caller, case_id, personal=False, purpose="")
    steps = "\n".join(
        "<tr>"
        f"<td>{s.seq}</td>"
        f"<td>{escape(step_name(s.step))}</td>"
        f"<td>{escape(s.body_name or s.body_id)}<br><small>{escape(s.body_id)}</small></td>"
        f"<td>{escape(s.officer_id)}</td>"
        f"<td><time>{escape(s.received_at)}</time></td>"
        f"<td>{'有效' if s.signature == 'valid' else escape('无效：' + s.signature)}</td>"
        "</tr>"
        for s in case.timeline
    )
    mine, others = steps_for(node.cases.case(caller, case_id).flow, caller.subject)
    forms = "\n".join(step_form(step) for step in mine)
    if not mine:
        forms = "<p>本部门目前没有可办理的步骤。</p>"
    if others:
        waiting = "".join(
            f"<li>{escape(step_name(step))}：{escape('、'.join(bodies) or '无')}</li>"
            for step, bodies in others.items()
        )
        forms += f"<h3>由其他部门办理</h3><ul>{waiting}</ul>"
    main = f"""
<dl class="facts" id="case" data-case="{escape(case.case_id)}" data-ledger="{escape(case.ledger)}"
 data-head-seq="{case.head.seq}" data-head-hash="{escape(case.head.hash)}">
<dt>案件编号</dt><dd>{escape(case.case_id)}</dd>
<dt>事项</dt><dd>{escape(case.item_name)}（{escape(case.item)}）</dd>
<dt>状态</dt><dd>{escape(STATE_NAMES.get(case.state, case.state))}</dd>
<dt>收件部门</dt><dd>{escape(case.intake_body)}</dd>
<dt>受理部门</dt><dd>{escape(case.home_body)}</dd>
</dl>
<p><a href="/pages/cases/{escape(case.case_id)}/notices/receipt">打印收件回执</a></p>
<h2>办理经过</h2>
<table>
<caption>已签名的步骤</caption>
<thead><tr><th scope="col">序号</th><th scope="col">步骤</th><th scope="col">部门</th>
<th scope="col">工作人员</th><th scope="col">时间</th><th scope="col">签名</th></tr></thead>
<tbody>
{steps}
</tbody>
</table>
<h2>下一步</h2>
<p>填写后，本页从节点取得该步骤的内容字节，由本页自行解码并显示，您核对无误后用本机密钥签名。</p>
{forms}
<section id="confirm" aria-labelledby="confirm-heading" hidden>
<h2 id="confirm-heading" tabindex="-1">核对并签名</h2>
<p>以下内容由本页从待签名的字节中解码得出：</p>
<dl id="decoded" class="facts"></dl>
<button type="button" id="sign">确认无误，签名并提交</button>
<button type="button" id="cancel">返回修改</button>
</section>
<p id="case-status" role="alert" aria-live="assertive"></p>
"""
    return page(f"案件 {str(case_id)[:8]}", main, scripts=("case.js",), officer=_who(caller))


# -- the draft route ---------------------------------------------------------------------------


class DraftCreate(BaseModel):
    type: str = Field(description="the step type, e.g. `form_checked`", max_length=40)
    body: dict[str, Any] = Field(
        description='the step\'s body (docs/workflows.md, Step bodies); bytes as {"bin": hex}'
    )


class DraftPublic(BaseModel):
    content: str = Field(
        description="the canonical content bytes of the unsigned step, base64: decode them, "
        "show them, sign `ctx || 00 || SHA-256(content)` yourself (docs/envelope.md §2.3)"
    )
    seq: int
    prev: str = Field(description="hex: the hash of the case's head the step follows")


@router.post(
    "/cases/{case_id}/draft",
    response_model=DraftPublic,
    summary="the content bytes of an officer's next step, unsigned (for the officers' pages)",
)
def draft_step(
    case_id: uuid.UUID,
    draft: DraftCreate,
    request: Request,
    _: JsonBody,
    node: Services,
    caller: Caller,
) -> DraftPublic:
    require(caller, "body")
    session = getattr(request.state, "session", None)
    if session is None:
        raise ApiProblem(
            403,
            "drafting a step needs an officer's session (the step names the officer and key)",
            reason="forbidden",
        )
    # The key the session logged in with (checked valid on this very request): its suite,
    # so an SM2 officer's draft says sm2-sm3 and the page refuses to sign it (unsupported).
    key = node.ledger.registry.key(session.kid)
    # A new case is opened by its `received` step, at seq 1 after 32 zero bytes; whether this
    # body may open it (catalog, entitlement) is the append's to say, as for every client.
    # Any other draft is for a case the caller may read (403/404 before the body is looked at).
    opening = draft.type == "received" and not node.ledger.has_case(case_id)
    case = None if opening else node.cases.case(caller, case_id)
    body = with_bytes(draft.body, "body")
    try:
        step = check_body(draft.type, body)
    except MalformedEncoding as error:
        raise ApiProblem(422, error.detail, reason="malformed", field=error.field) from error
    seq, prev = 1, ZERO_HASH
    if case is not None:
        allowed = case.flow.allowed_steps()
        if step not in allowed and draft.type not in allowed:
            raise ApiProblem(
                422,
                f"{step} is not allowed now (allowed: {', '.join(allowed) or 'none'})",
                reason="illegal_step",
                field="type",
            )
        seq, prev = case.head.seq + 1, case.head.event_hash
    content = {
        "v": 1,
        "suite": key.suite,
        "ctx": EVENT_CONTEXT,
        "kid": session.kid,
        "ledger": node.ledger.ledger_name,
        "case": str(case_id),
        "seq": seq,
        "type": draft.type,
        "time": now_micros(),
        "actor": {"body": caller.subject, "officer": session.officer_id},
        "prev": prev,
        "body": body,
    }
    try:
        raw = canonical.encode(content)
    except MalformedEncoding as error:
        raise ApiProblem(422, error.detail, reason="malformed", field="body") from error
    return DraftPublic(content=base64.b64encode(raw).decode(), seq=seq, prev=prev.hex())


def with_bytes(value: Any, field: str) -> Any:
    """``value`` with every ``{"bin": "<hex>"}`` made the byte string it stands for (JSON has
    no bytes; the test vectors write them so): digests, commitments, materials' SHA-256."""
    if isinstance(value, dict):
        if set(value) == {"bin"}:
            text = value["bin"]
            if not isinstance(text, str) or not re.fullmatch(r"(?:[0-9a-f]{2})*", text):
                raise ApiProblem(
                    422, f"{field} must be lowercase hex", reason="malformed", field=field
                )
            return bytes.fromhex(text)
        return {k: with_bytes(v, f"{field}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [with_bytes(v, f"{field}[{i}]") for i, v in enumerate(value)]
    return value

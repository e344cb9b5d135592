"""The parts the officers' pages are made of: the policy every page carries, the page frame,
the Chinese words for steps, states and fields, the step forms drawn from the workflow's field
table, and which of the steps allowed next are the officer's body's (``api/routes/pages.py``
serves them)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from html import escape
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from adapters.access import Principal
from adapters.bootstrap import NodeServices
from api.deps import session_principal
from api.errors import ApiProblem
from ledger.case_listing import CaseSummary
from ledger.read_models import CHINA
from ledger.workflow import CaseState
from ledger.workflow.awaiting import awaits
from ledger.workflow.fields import STEP_FIELDS
from ledger.workflow.fields import Field as StepField

LOGIN_PAGE = "/pages/login"
WORKLIST_PAGE = "/pages/worklist"
SUPERVISION_PAGE = "/pages/supervision"  # where a supervisor's or the admin's session lands
AUDIT_PAGE = "/pages/audit"  # where an auditor's session lands (api/routes/audit_pages.py)
#: The auditors' pages, in the navigation of an auditor's or the administrator's session.
AUDIT_LINKS = (
    (AUDIT_PAGE, "审计"),
    ("/pages/audit/checkpoints", "检查点与见证"),
    ("/pages/audit/bodies", "部门报告"),
    ("/pages/audit/access", "个人信息访问记录"),
)

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


#: The public pages (no login), linked from each other's navigation.
PUBLIC_LINKS = (
    ("/pages/check", "证照核验"),
    ("/pages/catalog", "跨省通办事项目录"),
    ("/pages/progress", "办理进度查询"),
)


def page(
    title: str,
    main: str,
    *,
    scripts: tuple[str, ...] = (),
    officer: str = "",
    overseer: str = "",
    audit: bool = False,
    public: bool = False,
    admin: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    """A whole page with the node's policy; ``main`` is already escaped HTML. ``officer``
    shows the officers' navigation, ``overseer`` that of a token session (supervisors,
    auditors), with the auditors' pages when ``audit`` and the administrator's key page when
    ``admin``, ``public`` the public pages'
    (``api/routes/public_pages``)."""
    nav = ""
    if public:
        links = "".join(f'<li><a href="{href}">{name}</a></li>' for href, name in PUBLIC_LINKS)
        nav = f'<nav aria-label="主导航"><ul>{links}</ul></nav>'
    if officer:
        nav = (
            '<nav aria-label="主导航"><ul>'
            f'<li><a href="{WORKLIST_PAGE}">待办案件</a></li>'
            '<li><a href="/pages/receive">收件</a></li>'
            f'<li><span class="who">当前用户：{escape(officer)}</span></li>'
            '<li><button type="button" id="logout">退出登录</button></li>'
            "</ul></nav>"
        )
    if overseer:
        pages = ((SUPERVISION_PAGE, "时限监督"), *(AUDIT_LINKS if audit else ()))
        items = "".join(f'<li><a href="{href}">{name}</a></li>' for href, name in pages)
        nav = (
            f'<nav aria-label="主导航"><ul>{items}'
            + ('<li><a href="/pages/keys">工作人员密钥认证</a></li>' if admin else "")
            + f'<li><span class="who">当前用户：{escape(overseer)}</span></li>'
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
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def _field_input(
    step: str, spec: StepField, fixed: str | None, filled: tuple[str, str] | None = None
) -> str:
    """One labelled control for ``spec`` of the form for ``step``; ``filled``: a list's text
    filled in, and a note (escaped HTML) saying where it came from."""
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
        text, note = filled or ("", "")
        described = f' aria-describedby="{ident}-hint"' if note else ""
        return (
            f'<label for="{ident}">{label}{optional}</label>'
            f'<textarea id="{ident}" rows="3"{data}{need}{described}>{escape(text)}</textarea>'
            + (f'<p class="hint" id="{ident}-hint">{note}</p>' if note else "")
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


def session_or_login(
    request: Request, node: NodeServices, *, kinds: frozenset[str], elsewhere: str
) -> Principal | RedirectResponse:
    """The session's principal when its kind is one of ``kinds``; a session of another kind
    goes to its own page ``elsewhere``, no session to the login page (303, coming back here
    afterwards)."""
    try:
        found = session_principal(request, node)
    except ApiProblem as problem:
        if problem.status != 401:
            raise
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{LOGIN_PAGE}?next={quote(back, safe='')}", status_code=303)
    return found if found.kind in kinds else RedirectResponse(elsewhere, status_code=303)


def step_form(step: str, filled: Mapping[str, tuple[str, str]] | None = None) -> str:
    """The form for a table step (``type`` or ``type:refinement``), or why there is none;
    ``filled``: field name → (text, note) of a list the page fills in."""
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
        _field_input(
            step,
            spec,
            refinement if spec.name == refined_by else None,
            (filled or {}).get(spec.name),
        )
        for spec in fields
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


def china_time(iso_utc: str) -> str:
    """``2026-12-07T14:46:10.990082Z`` as China time, to the minute: 2026-12-07 22:46."""
    moment = datetime.fromisoformat(iso_utc.replace("Z", "+00:00"))
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


CHANNEL_NAMES = {"proxy": "跨省通办窗口代收", "online": "网上申请", "direct": "现场申请"}


def waiting_for(summary: CaseSummary, body_id: str) -> bool:
    """Whether the case in ``summary`` waits for a step of ``body_id``: the listing's state,
    channel and bodies judged by the workflow's actor rule (``ledger.workflow.awaiting``). A
    summary carries no origin bodies, so an origin body's 协同办理 of a joint case is not
    flagged (the case page shows it)."""
    return awaits(
        state=summary.state,
        channel=summary.channel,
        intake_body=summary.intake_body,
        home_body=summary.home_body,
        body_id=body_id,
    )


# The deadline engine's legs (docs/supervision.md §3) and statuses, as an applicant reads them.
LEG_NAMES = {
    "check": "形式审查",
    "mail": "寄送申请材料",
    "acceptance": "受理",
    "decision": "审查决定",
    "delivery": "送达结果",
}
LEG_STATUS_NAMES = {
    "on_time": "办理中",
    "due_soon": "即将到期",
    "overdue": "已超期",
    "provisional": "办理中（所跨年份的节假日尚未公布，期限为暂定）",
    "closed_on_time": "已按期完成",
    "closed_late": "已完成（超期）",
}

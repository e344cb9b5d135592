"""The applicant's progress page, with the receipt slip's one-time code instead of a login:
one of the public pages (``api/routes/public_pages.py``, the same layout and policy) showing
the state, the bodies, the steps taken and those the workflow allows next; no personal data.

The code is checked by :meth:`ledger.ratings.service.RatingService.case_with_code` (the
rating's own check and its per-case limit on wrong codes). The form is posted, so the code
never appears in a URL; like the check page it needs no CSRF token (no cookie is read,
nothing is changed but the wrong-code count anyone can raise through the rating route).
"""

from __future__ import annotations

import uuid
from functools import partial
from html import escape
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from adapters.bootstrap import NodeServices
from api.deps import Services
from api.page_applicant import applicant_section
from api.page_parts import (
    CHANNEL_NAMES,
    LEG_NAMES,
    LEG_STATUS_NAMES,
    STATE_NAMES,
    page,
    step_name,
)
from api.routes.public_pages import moment_text, problem_text
from ledger.calendars import china_date
from ledger.domain import Case
from ledger.envelope import Envelope, parse_event
from ledger.errors import LedgerError, MalformedEncoding, UnknownCase
from ledger.ratings.service import TooManyAttempts
from ledger.receipts import parse_receipt
from ledger.supervision.cases import legs_of_entries
from ledger.supervision.legs import judge
from ledger.workflow.rules import BadRatingCode
from ledger.workflow.table import RATEABLE_STATES, UNRATED

router = APIRouter(tags=["pages"])

PROGRESS_PAGE = "/pages/progress"
# Steps that wait on nobody (as the worklist's 待本部门办理 counts them), and the rating.
_NOT_AWAITED = frozenset({"withdrawn", "mail_problem", "corrected", "reopened", "rated"})


def _progress_form(case_text: str = "") -> str:
    return f"""
<p>凭收件回执上的案件编号和一次性查询码（评价码）查询办理进度。本页不显示任何个人信息。</p>
<form class="stack" method="post" action="{PROGRESS_PAGE}">
<label for="case">案件编号</label>
<input type="text" id="case" name="case" required maxlength="40" autocomplete="off"
 value="{escape(case_text)}">
<label for="code">查询码（回执上的 16 位评价码）</label>
<input type="text" id="code" name="code" required maxlength="40" autocomplete="off"
 aria-describedby="code-hint">
<p id="code-hint" class="hint">形如 ABCD-EFGH-JKMN-PQRS，连字符可省略，不区分大小写。</p>
<button type="submit">查询进度</button>
</form>"""


def _body_name(node: NodeServices, body_id: str) -> str:
    body = node.ledger.registry.bodies.get(body_id)
    return escape(body.name if body is not None else body_id)


RATE_PAGE = "/pages/rate"
LEVEL_NAMES = {
    "very_satisfied": "非常满意",
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "dissatisfied": "不满意",
    "very_dissatisfied": "非常不满意",
}


def _rating_form(case: Case, code: str) -> str:
    """The 好差评 form, when the workflow allows the rating now; the code the applicant just
    gave travels in the form (the page is not stored: ``Cache-Control: no-store``)."""
    if case.flow.state not in RATEABLE_STATES or case.flow.rating != UNRATED:
        return ""  # the rating table's own rule (``ledger.workflow.table``)
    levels = "".join(
        f'<div class="check"><input type="radio" id="level-{name}" name="level" '
        f'value="{name}" required><label for="level-{name}">{label}</label></div>'
        for name, label in LEVEL_NAMES.items()
    )
    return f"""<section aria-labelledby="rate-heading">
<h2 id="rate-heading">评价本次办理（好差评）</h2>
<form class="stack" method="post" action="{RATE_PAGE}">
<input type="hidden" name="case" value="{escape(str(case.id))}">
<input type="hidden" name="code" value="{escape(code)}">
<fieldset><legend>满意程度</legend>{levels}</fieldset>
<label for="comment">意见（可选，请勿填写姓名、证件号码、电话等个人信息）</label>
<textarea id="comment" name="comment" rows="3" maxlength="500"></textarea>
<button type="submit">提交评价</button>
</form>
</section>"""


def _deadlines_section(node: NodeServices, case: Case) -> str:
    """Each leg of the case with its promised deadline (working days, holidays and 调休
    counted on the published calendar) and its status today; a paused leg says so."""
    node.ledger.refresh_registry()
    registry = node.ledger.registry
    legs = legs_of_entries(
        case.id, node.ledger.stream_entries(case.id), registry.catalogs, registry.calendars
    )
    if legs is None or not legs.legs:
        return ""
    today = china_date(node.clock())
    calendar = registry.calendars.for_place(legs.item.split("/")[0], legs.jurisdiction)
    rows = []
    for leg in legs.legs:
        status, _ = judge(leg, today, calendar)
        if leg.stands_still:
            deadline, said = "恢复办理后顺延", "暂停计时（特别程序、补正等，所需时间不计入期限）"
        else:
            deadline, said = leg.deadline.isoformat(), LEG_STATUS_NAMES.get(status, status)
        rows.append(
            f"<tr><td>{escape(LEG_NAMES.get(leg.name, leg.name))}</td>"
            f"<td>{_body_name(node, legs.body_of(leg))}</td>"
            f"<td>{leg.started.isoformat()}</td><td>{leg.working_days_allowed}</td>"
            f"<td>{escape(deadline)}</td><td>{escape(said)}</td></tr>"
        )
    return f"""<h3>办理时限</h3>
<table id="deadlines">
<caption>承诺时限按工作日计算（不含法定节假日，含调休上班日），自环节开始次日起算</caption>
<thead><tr><th scope="col">环节</th><th scope="col">办理部门</th><th scope="col">开始日期</th>
<th scope="col">工作日</th><th scope="col">最迟完成日期</th><th scope="col">状态</th></tr></thead>
<tbody>{"".join(rows)}</tbody>
</table>"""


def _progress_section(node: NodeServices, case: Case) -> str:
    """Steps (type, body, time), state, bodies and what is awaited; no step's fields, no
    officer, no applicant."""
    flow = case.flow
    times = {
        entry.seq: parse_receipt(entry.receipt).time
        for entry in node.ledger.stream_entries(case.id)
    }
    rows = "".join(
        f"<tr><td>{seq}</td><td>{escape(step_name(step))}</td>"
        f"<td>{_body_name(node, body_id)}</td>"
        f"<td>{moment_text(times[seq]) if seq in times else ''}</td></tr>"
        for seq, step, body_id, _officer in case.steps
    )
    awaited = []
    for step in flow.allowed_steps():
        if step.split(":", 1)[0] in _NOT_AWAITED:
            continue
        bodies = "、".join(
            _body_name(node, b) for b in flow.actor_bodies(flow.transition(step).actor)
        )
        awaited.append(f"<li>{escape(step_name(step))}（{bodies or '—'}）</li>")
    waiting = (
        f'<ul id="awaited">{"".join(awaited)}</ul>'
        if awaited
        else '<p id="awaited">无（已办结或已终止）。</p>'
    )
    return f"""<section aria-labelledby="progress-heading">
<h2 id="progress-heading">办理进度</h2>
<dl class="facts">
<dt>案件编号</dt><dd>{escape(str(case.id))}</dd>
<dt>当前状态</dt><dd id="state">{escape(STATE_NAMES.get(flow.state, flow.state))}</dd>
<dt>收件部门</dt><dd>{_body_name(node, flow.intake_body)}</dd>
<dt>受理部门</dt><dd>{_body_name(node, flow.home_body)}</dd>
<dt>办理渠道</dt><dd>{escape(CHANNEL_NAMES.get(flow.channel, flow.channel))}</dd>
</dl>
{applicant_section(_signed_steps(node, case), flow.state)}
<h3>接下来等待（以下步骤之一，括号内为办理部门）</h3>
{waiting}
{_deadlines_section(node, case)}
<table>
<caption>已办理的步骤</caption>
<thead><tr><th scope="col">序号</th><th scope="col">步骤</th><th scope="col">办理部门</th>
<th scope="col">时间（北京时间）</th></tr></thead>
<tbody>{rows}</tbody>
</table>
</section>"""


def _signed_steps(node: NodeServices, case: Case) -> list[Envelope]:
    """The case's steps as signed (the ones that parse: the audit reports any other)."""
    steps = []
    for entry in node.ledger.stream_entries(case.id):
        try:
            steps.append(parse_event(entry.envelope))
        except LedgerError:
            continue
    return steps


def _progress_response(main: str) -> HTMLResponse:
    return page("办理进度查询", main, public=True)


@router.get(PROGRESS_PAGE, include_in_schema=False)
def progress_page() -> HTMLResponse:
    """The form: case number and the slip's code."""
    return _progress_response(_progress_form())


@router.post(PROGRESS_PAGE, include_in_schema=False)
async def progress(request: Request, node: Services) -> HTMLResponse:
    """The case's progress, for whoever holds its slip's code."""
    form_body = await request.body()
    problem = None
    case_text = code = ""
    if len(form_body) > 4096 or not request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        problem = "请用本页的表单查询。"
    else:
        try:
            fields = parse_qs(form_body.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            fields = {}
            problem = "提交的内容无法读取，请重新输入。"
        case_text = (fields.get("case") or [""])[0].strip()
        code = (fields.get("code") or [""])[0].strip()
    case_id = None
    if problem is None:
        try:
            case_id = uuid.UUID(case_text)
        except ValueError:
            problem = "案件编号应为回执上印的 36 位编号（如 3f2a…-…）。"
    if problem is None and not code:
        problem = "请输入回执上的查询码。"
    if problem is not None or case_id is None:
        return _progress_response(problem_text(problem or "") + _progress_form(case_text))
    try:
        case = await run_in_threadpool(node.ratings.case_with_code, case_id, code)
    except TooManyAttempts as error:
        problem = f"该案件的查询码错误次数过多，请 {error.retry_after} 秒后再试。"
    except UnknownCase:
        problem = "没有这个案件编号，请核对回执。"
    except BadRatingCode:
        problem = "查询码与该案件不符，请核对回执（连续输错 5 次将暂停查询 15 分钟）。"
    except MalformedEncoding:
        problem = "查询码应为 16 位字母和数字（回执上印的评价码）。"
    if problem is not None:
        return _progress_response(problem_text(problem) + _progress_form(case_text))
    node.ledger.refresh_registry()
    shown = _progress_section(node, case) + _rating_form(case, code)
    return _progress_response(shown + _progress_form())


def _form_fields(form_body: bytes, content_type: str) -> dict[str, str] | None:
    """One value per field of a posted form, or None when it is not a readable form."""
    if len(form_body) > 8192 or not content_type.startswith("application/x-www-form-urlencoded"):
        return None
    try:
        fields = parse_qs(form_body.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[0] for name, values in fields.items() if len(values) == 1}


@router.post(RATE_PAGE, include_in_schema=False)
async def rate(request: Request, node: Services) -> HTMLResponse:
    """The applicant's rating with the slip's code: ``RatingService.rate_with_code``, the
    code route's own service (node-signed ``rated`` step, one per case)."""
    fields = _form_fields(await request.body(), request.headers.get("content-type", ""))
    if fields is None:
        return _progress_response(problem_text("请用进度页上的评价表单提交。") + _progress_form())
    case_text, code = fields.get("case", ""), fields.get("code", "")
    level, comment = fields.get("level", ""), fields.get("comment", "").strip()
    try:
        case_id = uuid.UUID(case_text)
    except ValueError:
        return _progress_response(problem_text("案件编号不对，请重新查询。") + _progress_form())
    problem = None
    if level not in LEVEL_NAMES:
        problem = "请选择满意程度。"
    elif len(comment) > 500:
        problem = "意见最多 500 字。"
    else:
        try:
            await run_in_threadpool(
                partial(
                    node.ratings.rate_with_code,
                    case_id,
                    code=code,
                    level=level,
                    channel="online",
                    comment=comment or None,
                )
            )
        except TooManyAttempts as error:
            problem = f"该案件的查询码错误次数过多，请 {error.retry_after} 秒后再试。"
        except BadRatingCode:
            problem = "查询码与该案件不符，评价未提交。"
        except UnknownCase:
            problem = "没有这个案件编号。"
        except LedgerError as error:  # personal data in the comment, rated already, ...
            problem = f"评价未提交：{error.detail}（{error.reason}，{error.field or '—'}）"
    if problem is not None:
        return _progress_response(problem_text(problem) + _progress_form(case_text))
    done = '<p id="rated" role="status">评价已提交，谢谢。</p>'
    return _progress_response(done + _progress_form(case_text))

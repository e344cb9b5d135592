"""The supervisors' page (``/pages/supervision``, docs/pages.md): overdue and due-soon legs,
the on-time rates by body and by item, the open rectifications and the monthly bulletins,
for a token session of a supervisor (the rows of its scope), an auditor or the
administrator. It renders what the supervision routes answer (``api/routes/supervision.py``,
the same scope and figures), so it shows no personal data: case ids, bodies, items, dates.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from adapters.supervision import previous_month
from api.deps import Services
from api.page_parts import (
    LEG_NAMES,
    LEG_STATUS_NAMES,
    SUPERVISION_PAGE,
    WORKLIST_PAGE,
    page,
    session_or_login,
)
from api.routes.supervision import (
    FigurePublic,
    LegPublic,
    supervised_figures,
    supervised_legs,
    supervised_rectifications,
)
from api.schemas import StagePublic
from ledger.calendars import china_date

router = APIRouter(tags=["pages"])
SHOWN = 50  # legs per table (the rest: GET /supervision/legs)
KINDS = {"supervisor": "监督员", "auditor": "审计员", "admin": "管理员"}
STAGE_NAMES = {"verify": "核实", "rectify": "整改", "follow_up": "回访", "close": "办结"}


def _legs_table(ident: str, caption: str, legs: list[LegPublic]) -> str:
    if not legs:
        return f'<p id="{ident}">无。</p>'
    rows = "".join(
        "<tr>"
        f"<td>{escape(leg.case_id)}</td><td>{escape(leg.item)}</td>"
        f"<td>{escape(LEG_NAMES.get(leg.name.split('#')[0], leg.name))}</td>"
        f"<td>{escape(leg.body)}</td><td>{escape(leg.deadline or '')}</td>"
        f"<td>{escape(LEG_STATUS_NAMES.get(leg.status, leg.status))}</td>"
        "</tr>"
        for leg in legs
    )
    return f"""<table id="{ident}">
<caption>{escape(caption)}</caption>
<thead><tr><th scope="col">案件</th><th scope="col">事项</th><th scope="col">环节</th>
<th scope="col">办理部门</th><th scope="col">最迟完成日期</th><th scope="col">状态</th></tr></thead>
<tbody>{rows}</tbody>
</table>"""


def _figures_table(ident: str, key_name: str, rows: list[FigurePublic]) -> str:
    if not rows:
        return f'<p id="{ident}">无。</p>'

    def rate(row: FigurePublic) -> str:
        return "—" if row.on_time_rate is None else f"{row.on_time_rate:.1%}"

    def median(row: FigurePublic) -> str:
        return "—" if row.median_handling_days is None else f"{row.median_handling_days:g}"

    body = "".join(
        f"<tr><td>{escape(r.key)}</td><td>{r.open_legs}</td><td>{r.overdue_now}</td>"
        f"<td>{r.due_soon_now}</td><td>{r.legs_closed}</td><td>{rate(r)}</td>"
        f"<td>{median(r)}</td></tr>"
        for r in rows
    )
    return f"""<table id="{ident}">
<thead><tr><th scope="col">{key_name}</th><th scope="col">办理中环节</th>
<th scope="col">已超期</th><th scope="col">即将到期</th><th scope="col">已办结环节</th>
<th scope="col">按期办结率</th><th scope="col">审查决定用时中位数（工作日）</th></tr></thead>
<tbody>{body}</tbody>
</table>"""


def _open_stages(stages: list[StagePublic]) -> str:
    return "、".join(STAGE_NAMES.get(s.name, s.name) for s in stages if s.ended is None)


@router.get(SUPERVISION_PAGE, include_in_schema=False, response_model=None)
def supervision_page(request: Request, node: Services) -> HTMLResponse | RedirectResponse:
    caller = session_or_login(request, node, kinds=frozenset(KINDS), elsewhere=WORKLIST_PAGE)
    if isinstance(caller, RedirectResponse):
        return caller
    overdue = supervised_legs(node, caller, "overdue", None, None, None, SHOWN)
    soon = supervised_legs(node, caller, "due_soon", None, None, None, SHOWN)
    by_body = supervised_figures(node, caller, "body", None)
    by_item = supervised_figures(node, caller, "item", None)
    open_now = supervised_rectifications(node, caller, None, None)
    today = china_date(node.clock())
    rectifications = "".join(
        f"<tr><td>{escape(r.case_id)}</td><td>{escape(r.body)}</td>"
        f"<td>{escape(r.item)}</td><td>{escape(r.rated)}</td>"
        f"<td>{escape(_open_stages(r.stages))}</td>"
        f"<td>{'<strong>已逾期</strong>' if r.late else '按期'}</td></tr>"
        for r in open_now.rectifications
    )
    months = (today.strftime("%Y-%m"), previous_month(today))
    bulletins = "".join(
        f'<li><a href="/bulletins/{m}?format=html">{m} 月度通报</a>'
        f'（<a href="/bulletins/{m}?format=csv">CSV</a>）</li>'
        for m in months
    )
    scope = "、".join(caller.scope) if caller.kind == "supervisor" else "全部部门"
    main = f"""
<p>截至 {today.isoformat()}（北京时间），按工作日计算（不含法定节假日，含调休上班日）。
范围：{escape(scope)}。本页不含任何个人信息。读模型已处理至台账序号 {overdue.reflects}。</p>
<h2>已超期的环节（最早到期的在前）</h2>
{_legs_table("overdue", f"最多显示 {SHOWN} 条", overdue.legs)}
<h2>即将到期的环节（两个工作日内）</h2>
{_legs_table("due-soon", f"最多显示 {SHOWN} 条", soon.legs)}
<h2>按部门统计</h2>
{_figures_table("by-body", "部门", by_body.rows)}
<h2>按事项统计</h2>
{_figures_table("by-item", "事项", by_item.rows)}
<h2>差评整改（未办结）</h2>
{
        '<p id="rectifications">无。</p>'
        if not rectifications
        else f'''<table id="rectifications">
<thead><tr><th scope="col">案件</th><th scope="col">被评部门</th><th scope="col">事项</th>
<th scope="col">评价日期</th><th scope="col">当前阶段</th><th scope="col">是否逾期</th></tr></thead>
<tbody>{rectifications}</tbody></table>'''
    }
<h2>月度通报</h2>
<ul id="bulletins">{bulletins}</ul>"""
    who = f"{KINDS.get(caller.kind, caller.kind)} {caller.subject}"
    auditor = caller.kind in ("auditor", "admin")
    return page(
        "时限监督",
        main,
        scripts=("session.js",),
        overseer=who,
        audit=auditor,
        admin=caller.kind == "admin",
    )

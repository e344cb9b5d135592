"""The worklist's two lists, every case of the body and those waiting for its step.

Every case of the officer's body (``全部案件``, the listing in ledger order) and those waiting
for a step of that body (``待本部门办理``, the workflow's actor rule,
``ledger.workflow.awaiting``), with a link between them; ``api/routes/pages.py`` puts the
时限提醒 section (``api/page_deadlines.py``) first on page 1 of either.

The waiting list is one bounded query of the case summaries (``adapters/readmodel_awaiting``)
on a node with read models, a filter over the replayed listing on one without. It has no
total (counting would read every case of the body): a page reads one row more than it shows
to know whether there is a next page.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from adapters.access import Principal
from adapters.bootstrap import NodeServices
from adapters.supervision import caught_up
from api.page_parts import STATE_NAMES, WORKLIST_PAGE, waiting_for
from ledger.case_listing import CaseQuery, CaseSummary
from ledger.read_models import SUMMARIES

PAGE_SIZE = 50
WAITING = "waiting"  # the query parameter's value: ?show=waiting


def list_switch(waiting: bool) -> str:
    """The links between the two lists; the one shown is marked ``aria-current``."""
    links = (
        (WORKLIST_PAGE, "全部案件", not waiting),
        (f"{WORKLIST_PAGE}?show={WAITING}", "待本部门办理", waiting),
    )
    current = ' aria-current="page"'
    items = "".join(
        f'<li><a href="{href}"{current if shown else ""}>{name}</a></li>'
        for href, name, shown in links
    )
    return f'<nav aria-label="案件范围" class="switch"><ul>{items}</ul></nav>'


def case_rows(cases: Sequence[CaseSummary], body_id: str, *, mark: bool = True) -> str:
    """The table rows of ``cases`` (``mark``: with the 待办 column)."""
    return "\n".join(
        "<tr>"
        f'<td><a href="/pages/cases/{c.case_id}" aria-label="案件 {c.case_id}">'
        f"{escape(str(c.case_id)[:8])}…</a></td>"
        f"<td>{escape(c.item)}</td>"
        f"<td>{escape(STATE_NAMES.get(c.state, c.state))}</td>"
        + (
            f"<td>{'<strong>待本部门办理</strong>' if waiting_for(c, body_id) else ''}</td>"
            if mark
            else ""
        )
        + f"<td>{escape(c.intake_body)}</td>"
        f"<td>{escape(c.home_body)}</td>"
        f"<td>{c.steps}</td>"
        "</tr>"
        for c in cases
    )


def _waiting_cases(
    node: NodeServices, caller: Principal, offset: int, limit: int
) -> list[CaseSummary]:
    store = node.read_models
    if store is not None and node.follower is not None:
        caught_up(node, SUMMARIES)
        return store.awaiting_summaries(caller.subject, offset=offset, limit=limit)
    # No read models: the listing replays every case anyway; filter it here.
    every = node.cases.list_cases(caller, CaseQuery(body=caller.subject)).cases
    waiting = [c for c in every if waiting_for(c, caller.subject)]
    return waiting[offset : offset + limit]


def waiting_list(node: NodeServices, caller: Principal, page_number: int) -> str:
    """The 待本部门办理 list, page ``page_number`` (50 a page, ledger order)."""
    found = _waiting_cases(node, caller, (page_number - 1) * PAGE_SIZE, PAGE_SIZE + 1)
    shown = found[:PAGE_SIZE]
    pager = ""
    base = f"{WORKLIST_PAGE}?show={WAITING}"
    if page_number > 1:
        pager += f'<a href="{base}&amp;page={page_number - 1}">上一页</a> '
    if len(found) > PAGE_SIZE:
        pager += f'<a href="{base}&amp;page={page_number + 1}">下一页</a>'
    empty = "" if shown else "<p>本页没有等待本部门办理的案件。</p>"
    said = (
        f"等待本部门（{escape(caller.subject)}）办理下一步的案件，按收件先后排列，"
        f"第 {page_number} 页，本页 {len(shown)} 件。撤回、寄送异常、更正和重新办理不算等待；"
        "多地联办事项的协同办理不在此列（见案件页）。"
    )
    return f"""<h2 id="cases-heading">待本部门办理</h2>
<p>{said}</p>
{empty}<table id="waiting">
<caption>待本部门办理的案件</caption>
<thead><tr><th scope="col">案件</th><th scope="col">事项</th><th scope="col">状态</th>
<th scope="col">收件部门</th><th scope="col">受理部门</th><th scope="col">步骤数</th></tr></thead>
<tbody>
{case_rows(shown, caller.subject, mark=False)}
</tbody>
</table>
<p class="pager">{pager}</p>"""

"""The worklist's first section: the legs the officer's body owes that are overdue or due soon
today, earliest deadline first (docs/pages.md), read from the stored deadline legs
(``readmodel_case_dated``: an index range, whatever the ledger's size) and judged as the
supervision routes judge them (``api.routes.supervision.judged_legs``)."""

from __future__ import annotations

from collections.abc import Iterator
from html import escape

from adapters.bootstrap import NodeServices
from adapters.supervision import iter_open_legs
from api.page_parts import LEG_NAMES
from api.routes.supervision import judged_legs
from ledger.calendars import china_date
from ledger.read_models import CaseLeg
from ledger.supervision.watch import DUE_SOON_HORIZON

SHOWN = 20  # legs listed at most (the rest: /bodies/{id}/legs); also the rows read a time
URGENT = {"overdue": "已超期", "due_soon": "即将到期"}


def deadlines_section(node: NodeServices, body_id: str) -> str:
    """The section, or a sentence saying there is nothing urgent (or no read models)."""
    heading = '<h2 id="deadlines-heading">时限提醒（超期与即将到期，最早到期的在前）</h2>'
    store = node.read_models
    if store is None:
        return f"{heading}<p>本节点未开启读模型，无法列出办理时限。</p>"
    # The worklist's listing has just brought every projection up to the ledger.
    today = china_date(node.clock())
    urgent = []
    legs = iter_open_legs(store, until=today + DUE_SOON_HORIZON, bodies=[body_id], page_size=SHOWN)
    for page in _pages(legs):
        # Judged as GET /bodies/{id}/legs judges them (the body's working days, at today).
        urgent += [leg for leg in judged_legs(node, page, today, None) if leg.status in URGENT]
        if len(urgent) >= SHOWN:
            break
    if not urgent:
        return f"{heading}<p>本部门今天（{today.isoformat()}）没有超期或即将到期的环节。</p>"
    rows = "".join(
        "<tr>"
        f'<td><a href="/pages/cases/{leg.case_id}" aria-label="案件 {leg.case_id}">'
        f"{escape(leg.case_id[:8])}…</a></td>"
        f"<td>{escape(leg.item)}</td>"
        f"<td>{escape(LEG_NAMES.get(leg.name.split('#')[0], leg.name))}</td>"
        f"<td>{escape(leg.deadline or '')}</td>"
        f"<td>{_status(leg.status)}</td>"
        "</tr>"
        for leg in urgent[:SHOWN]
    )
    return f"""{heading}
<table id="deadlines">
<caption>截至 {today.isoformat()}（北京时间），按工作日计算（不含法定节假日，含调休上班日）
</caption>
<thead><tr><th scope="col">案件</th><th scope="col">事项</th><th scope="col">环节</th>
<th scope="col">最迟完成日期</th><th scope="col">状态</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>"""


def _status(status: str) -> str:
    said = URGENT[status]
    return f"<strong>{said}</strong>" if status == "overdue" else said


def _pages(legs: Iterator[tuple[CaseLeg, str]]) -> Iterator[list[tuple[CaseLeg, str]]]:
    """``legs`` in lists of SHOWN (the reads ``iter_open_legs`` makes)."""
    page: list[tuple[CaseLeg, str]] = []
    for leg in legs:
        page.append(leg)
        if len(page) == SHOWN:
            yield page
            page = []
    if page:
        yield page

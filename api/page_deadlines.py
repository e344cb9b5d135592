"""The worklist's first section: the legs the officer's body owes that are overdue or due soon
today, earliest deadline first (docs/pages.md), read from the stored deadline legs
(``readmodel_case_dated``: an index range, whatever the ledger's size) and judged at today's
China date on the body's working days (``ledger.supervision.watch.status_at``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from html import escape

from adapters.bootstrap import NodeServices
from adapters.readmodels import SqlReadModelStore
from adapters.supervision import calendars
from api.page_parts import LEG_NAMES
from ledger.calendars import china_date
from ledger.read_models import LEG_KIND, CaseLeg
from ledger.supervision.watch import DUE_SOON_HORIZON, status_at

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
    working_days = calendars(node)(body_id)
    rows: list[str] = []
    for case_leg, item in _open_legs_by_deadline(store, body_id, today + DUE_SOON_HORIZON):
        leg = case_leg.leg
        status = status_at(
            leg.deadline,
            closed=leg.closed,
            provisional=leg.provisional,
            as_of=today,
            calendar=working_days,
        )
        if status not in URGENT or leg.deadline is None:
            continue
        said = URGENT[status]
        rows.append(
            "<tr>"
            f'<td><a href="/pages/cases/{case_leg.case_id}" aria-label="案件 {case_leg.case_id}">'
            f"{escape(str(case_leg.case_id)[:8])}…</a></td>"
            f"<td>{escape(item)}</td>"
            f"<td>{escape(LEG_NAMES.get(leg.name.split('#')[0], leg.name))}</td>"
            f"<td>{leg.deadline.isoformat()}</td>"
            f"<td>{f'<strong>{said}</strong>' if status == 'overdue' else said}</td>"
            "</tr>"
        )
        if len(rows) == SHOWN:
            break
    if not rows:
        return f"{heading}<p>本部门今天（{today.isoformat()}）没有超期或即将到期的环节。</p>"
    return f"""{heading}
<table id="deadlines">
<caption>截至 {today.isoformat()}（北京时间），按工作日计算（不含法定节假日，含调休上班日）
</caption>
<thead><tr><th scope="col">案件</th><th scope="col">事项</th><th scope="col">环节</th>
<th scope="col">最迟完成日期</th><th scope="col">状态</th></tr></thead>
<tbody>
{"".join(rows)}
</tbody>
</table>"""


def _open_legs_by_deadline(
    store: SqlReadModelStore, body_id: str, until: date
) -> Iterator[tuple[CaseLeg, str]]:
    """The body's open legs with a deadline up to ``until``, earliest first, read SHOWN at a
    time: overdue ones come first, so a body with many needs one read."""
    after_row: tuple[date, uuid.UUID, str] | None = None
    while True:
        page = store.dated_rows(
            LEG_KIND, until=until, bodies=[body_id], after_row=after_row, limit=SHOWN
        )
        yield from page
        last = page[-1][0] if page else None
        if len(page) < SHOWN or last is None or last.leg.deadline is None:
            return
        after_row = (last.leg.deadline, last.case_id, last.leg.name)

"""The officers' pages for a case homed on another node, that this node relays steps of.

A window clerk works on their own node's pages only (docs/relay.md, docs/pages.md). A case
homed elsewhere is read through the relay read (``api.routes.relay.relayed_case``: the home
node's answer for the clerk's body), its next step is drafted on the home node's head, signed in
the browser and posted to this node's ``POST /cases/{id}/events``, which relays it as it relays
every client's step. When the home node cannot be read, the head is the newest step this node
relayed of the case (queued, held or accepted), as the client and the CLI do, and the case's
state for the forms is replayed from the exact bytes this node relayed, when they are the whole
case from its ``received`` step on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

from adapters.access import Principal
from adapters.bootstrap import NodeServices
from adapters.relay_store import RelayedStep
from api.errors import ApiProblem
from api.page_parts import STATE_NAMES, step_name
from api.routes.relay import relayed_case
from api.schemas import CasePublic
from ledger.envelope import parse_event
from ledger.read_models import CHINA
from ledger.workflow import CaseState, advance

# A relayed case's read fails with these when its home node cannot be read (docs/relay.md).
HOME_UNREADABLE = ("peer_unreachable", "peer_unauthenticated")
# A relayed step that stands (delivered or waiting): the head a step is signed on.
STANDING = ("queued", "held", "accepted")

RELAY_STATE_NAMES = {
    "queued": "排队中：主办节点暂不可达，本节点已出具转递回执，将自动送达",
    "held": "暂停：主办节点拒绝本节点的身份认证，待管理员处理后送达",
    "accepted": "主办节点已受理",
    "conflict": "冲突：主办节点在该序号已有另一步骤，未重新签名",
    "refused": "主办节点拒绝",
    "dropped": "管理员已放弃",
}


def relayed_home(node: NodeServices, case_id: uuid.UUID) -> str | None:
    """The home ledger of ``case_id`` when it is homed elsewhere and this node relayed a step
    of it; None for a case of this node's own ledger (or one it never saw)."""
    if node.relays is None:
        return None
    # The relay queue's index first: most cases were never relayed, and reading the case
    # from the ledger costs more (the page reads it next anyway).
    home = node.relays.home_of(str(case_id))
    if home is None or node.ledger.has_case(case_id):
        return None
    return home


@dataclass(frozen=True)
class RelayedView:
    """What the window node knows of a relayed case, for ``caller``'s body."""

    home_ledger: str
    rows: list[RelayedStep]  # the body's steps relayed of the case, in the order they came
    case: CasePublic | None  # the home node's answer; None when it cannot be read
    unreadable: ApiProblem | None  # why it cannot be read
    flow: CaseState | None  # the case's state for the forms
    head_seq: int
    head_hash: bytes
    signed_on: str = field(default="")  # set when the head is a relayed step, not the home's

    @property
    def ledger(self) -> str:
        return self.case.ledger if self.case is not None and self.case.ledger else self.home_ledger


def _flow_of(case: CasePublic) -> CaseState:
    """The home case's state as the workflow's actor rule needs it (from the home's read)."""
    return CaseState(
        state=case.state,
        item=case.item,
        channel=case.channel,
        coordination=case.coordination,
        intake_body=case.intake_body,
        home_body=case.home_body,
        origin_bodies=tuple(case.origin_bodies),
        steps_by_body={s.seq: s.body_id for s in case.timeline},
    )


def _replayed(rows: list[RelayedStep]) -> CaseState | None:
    """The state after the relayed steps, when they are the case from seq 1 on, one each."""
    if [r.seq for r in rows] != list(range(1, len(rows) + 1)):
        return None
    flow = CaseState()
    for row in rows:
        flow = advance(flow, parse_event(row.envelope))
    return flow


def read_relayed(
    node: NodeServices, caller: Principal, case_id: uuid.UUID, home: str
) -> RelayedView:
    """The case through the relay read, or, while its home node cannot be read, what this node
    relayed of it (``503 peer_unreachable`` when it relayed nothing of it for this body)."""
    assert node.relays is not None
    rows = node.relays.steps(body=caller.subject, case_id=str(case_id))
    try:
        case = relayed_case(node, caller, case_id, personal=False, purpose="")
    except ApiProblem as problem:
        if problem.reason not in HOME_UNREADABLE:
            raise
        standing = sorted((r for r in rows if r.state in STANDING), key=lambda r: r.seq)
        if not standing:
            raise
        newest = standing[-1]
        return RelayedView(
            home_ledger=home,
            rows=rows,
            case=None,
            unreadable=problem,
            flow=_replayed(standing),
            head_seq=newest.seq,
            head_hash=newest.event_hash,
            signed_on=(
                f"seq {newest.seq} ({newest.state}), the newest step this node relayed of the "
                f"case: its home node could not be read ({problem.reason})"
            ),
        )
    return RelayedView(
        home_ledger=home,
        rows=rows,
        case=case,
        unreadable=None,
        flow=_flow_of(case),
        head_seq=case.head.seq,
        head_hash=bytes.fromhex(case.head.hash),
    )


def _micros_time(micros: int) -> str:
    return (
        datetime.fromtimestamp(micros / 1_000_000, UTC)
        .astimezone(CHINA)
        .strftime("%Y-%m-%d %H:%M:%S")
    )


def relay_section(view: RelayedView) -> str:
    """The page's account of the relay: homed elsewhere, and where each relayed step stands."""
    rows = "\n".join(
        f'<tr data-seq="{r.seq}" data-state="{escape(r.state)}">'
        f"<td>{r.seq}</td>"
        f"<td>{escape(step_name(r.step))}</td>"
        f"<td>{escape(RELAY_STATE_NAMES.get(r.state, r.state))}</td>"
        f"<td>{'' if r.home_index is None else r.home_index}</td>"
        f"<td>{escape(_micros_time(r.relayed_at))}</td>"
        f"<td>{escape(r.detail)}</td>"
        "</tr>"
        for r in view.rows
    )
    unreadable = ""
    if view.unreadable is not None:
        unreadable = (
            '<p class="note" id="home-unreadable">主办节点暂时无法读取'
            f"（{escape(view.unreadable.reason or '')}：{escape(view.unreadable.detail)}）。"
            f"以下按本节点转递的最新步骤（第 {view.head_seq} 步）办理；若主办节点其间已有新步骤，"
            "送达时将显示冲突，不会重新签名。</p>"
        )
    return f"""
<section aria-labelledby="relay-heading" id="relay" data-home="{escape(view.home_ledger)}">
<h2 id="relay-heading">经本节点转递</h2>
<p>本案件由主办台账 {escape(view.home_ledger)} 办理，不在本节点的台账中。</p>
<p>本页经本节点读取主办节点的案件；您签名的步骤提交给本节点，由本节点原样转递给主办节点。</p>
{unreadable}<table>
<caption>本部门经本节点转递的步骤</caption>
<thead><tr><th scope="col">序号</th><th scope="col">步骤</th><th scope="col">转递状态</th>
<th scope="col">主办台账序号</th><th scope="col">到达本节点（北京时间）</th>
<th scope="col">说明</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</section>
"""


def relayed_worklist(node: NodeServices, caller: Principal) -> str:
    """The worklist's table of the cases homed elsewhere that the body's steps were relayed
    for: each case once, with its home ledger and its newest relayed step's state."""
    if node.relays is None:
        return ""
    newest: dict[str, RelayedStep] = {}
    counts: dict[str, int] = {}
    for row in node.relays.steps(body=caller.subject):
        counts[row.case_id] = counts.get(row.case_id, 0) + 1
        if row.case_id not in newest or row.seq >= newest[row.case_id].seq:
            newest[row.case_id] = row
    if not newest:
        return ""
    rows = "\n".join(
        "<tr>"
        f'<td><a href="/pages/cases/{escape(case_id)}" aria-label="转递案件 {escape(case_id)}">'
        f"{escape(case_id[:8])}…</a></td>"
        f"<td>{escape(row.home_ledger)}</td>"
        f"<td>{row.seq}（{escape(step_name(row.step))}）</td>"
        f"<td>{escape(RELAY_STATE_NAMES.get(row.state, row.state))}</td>"
        f"<td>{counts[case_id]}</td>"
        "</tr>"
        for case_id, row in newest.items()
    )
    return f"""
<table id="relayed-cases">
<caption>经本节点转递的外省案件（共 {len(newest)} 件）</caption>
<thead><tr><th scope="col">案件</th><th scope="col">主办台账</th><th scope="col">最新转递步骤</th>
<th scope="col">转递状态</th><th scope="col">本部门转递步骤数</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
"""


def state_name(view: RelayedView) -> str:
    if view.case is not None:
        return STATE_NAMES.get(view.case.state, view.case.state)
    if view.flow is not None:
        return STATE_NAMES.get(view.flow.state, view.flow.state) + "（按本节点转递的步骤）"
    return "未知（主办节点暂不可读）"

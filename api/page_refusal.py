"""The case page's refusal box: a case refused (不予受理, 形式审查不予收件, or decided against:
不予办理) shows at the top of its page the step that refused it — its reasons and basis as
signed, who signed it and when — and the steps the workflow still allows, with the body that
takes each (a form on this page when it is the officer's body's), not only in the timeline.

The refusing step is the newest one that put the case where it is: ``refused`` (state
``refused``), ``form_checked:refused`` (``intake_refused``), or a ``decided:rejected`` whose
result is on its way or delivered (until ``reopened`` starts the case again). Every value is
escaped here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

from adapters.bootstrap import NodeServices
from adapters.relay_store import RelayedStep
from api.page_notices import notice_title
from api.page_parts import china_time, step_name, steps_for
from api.schemas import StepPublic
from ledger.envelope import parse_event
from ledger.workflow import RATEABLE_STATES, UNRATED, CaseState

# States a decision's result is on its way in, or delivered: a rejection there still stands.
_AFTER_DECISION = frozenset(
    {
        "decided",
        "to_applicant",
        "to_applicant_problem",
        "to_window",
        "to_window_problem",
        "at_window",
        "delivered",
    }
)
_TITLES = {
    "refused": "本案件不予受理",
    "form_checked:refused": "形式审查不予收件",
    "decided:rejected": "已作出不予办理决定",
}
# What each step still allowed after a refusal means, in the officer's words.
_MEANINGS = {
    "reopened": "行政复议决定或法院裁判撤销后，重新办理",
    "corrected": "更正本部门自己此前某一步骤的错误（原步骤保留在台账中）",
    "withdrawn": "申请人撤回申请",
    "delivered": "将决定书送达申请人",
    "mailed": "寄送决定书",
}


def _concluding(state: str) -> tuple[str, ...]:
    """The steps one of which put a case in ``state`` (and may have refused it)."""
    if state == "refused":
        return ("refused",)
    if state == "intake_refused":
        return ("form_checked:refused",)
    if state in _AFTER_DECISION:
        return ("decided:approved", "decided:rejected")
    return ()


def refusing_step(state: str, timeline: Sequence[StepPublic]) -> StepPublic | None:
    """The step that refused the case in ``state``, or None when it stands refused by none."""
    concluding = _concluding(state)
    found = next((s for s in reversed(timeline) if s.step in concluding), None)
    return found if found is not None and found.step in _TITLES else None


def _signed_fields(body: Mapping[str, Any] | None) -> str:
    if body is None:
        return "<p>理由和依据记录在主办节点的签名步骤中，本节点未持有该步骤。</p>"
    reasons = [str(r) for r in body.get("reasons") or []]
    listed = "".join(f"<li>{escape(r)}</li>" for r in reasons)
    text = f"<p>理由：</p><ol>{listed}</ol>" if reasons else "<p>理由：（签名步骤未载明）</p>"
    basis = str(body.get("basis") or "")
    return text + (f"<p>依据：{escape(basis)}</p>" if basis else "")


def _allowed(flow: CaseState, body_id: str) -> str:
    mine, others = steps_for(flow, body_id)
    items = []
    for step in [*mine, *others]:
        meaning = _MEANINGS.get(step.split(":", 1)[0], "")
        if step in others:
            name, who = (
                escape(step_name(step)),
                f"由 {escape('、'.join(others[step]) or '无')} 办理",
            )
        else:  # a form below on this page
            name, who = (
                f'<a href="#form-{escape(step)}">{escape(step_name(step))}</a>',
                "本部门办理",
            )
        items.append(f"<li>{name}：{who}{'。' + meaning if meaning else ''}。</li>")
    if flow.state in RATEABLE_STATES and flow.rating == UNRATED:
        items.append("<li>评价：申请人凭收件回执上的查询码在“办理进度查询”页面评价一次。</li>")
    if not items:
        return "<p>工作流不再允许任何步骤。</p>"
    return f"<ul>{''.join(items)}</ul>"


def refusal_section(
    case_id: str,
    flow: CaseState,
    timeline: Sequence[StepPublic],
    body_id: str,
    signed_body: Callable[[int], Mapping[str, Any] | None],
) -> str:
    """The box (escaped HTML), or ``""`` when the case is not refused. ``signed_body(seq)``
    is the signed body of the case's step ``seq`` (None: this node does not hold it)."""
    refusing = refusing_step(flow.state, timeline)
    if refusing is None:
        return ""
    title = _TITLES[refusing.step]
    notice = notice_title(refusing.step)
    link = (
        f'<p><a href="/pages/cases/{escape(case_id)}/notices/{refusing.seq}">'
        f"打印{escape(notice)}</a></p>"
        if notice is not None
        else ""
    )
    who = (
        f"{escape(refusing.body_name or refusing.body_id)}（{escape(refusing.body_id)}）"
        f"工作人员 {escape(refusing.officer_id)} "
    )
    when = escape(china_time(refusing.received_at))
    name = escape(step_name(refusing.step))
    return f"""<section id="refusal" class="refusal" aria-labelledby="refusal-heading">
<h2 id="refusal-heading">{escape(title)}</h2>
<p>第 {refusing.seq} 步「{name}」，由{who}于 {when}（北京时间）签名作出。</p>
{_signed_fields(signed_body(refusing.seq))}
{link}
<h3>此后可以办理的步骤</h3>
{_allowed(flow, body_id)}
</section>"""


def signed_bodies(
    node: NodeServices, case_id: uuid.UUID, relayed: Sequence[RelayedStep] | None
) -> Callable[[int], Mapping[str, Any] | None]:
    """``signed_body`` for :func:`refusal_section`: a step of this node's ledger, or of a
    relayed case one this node relayed (``relayed``: the body's relayed steps of the case)."""

    def signed_body(seq: int) -> Mapping[str, Any] | None:
        if relayed is None:
            raw = node.ledger.envelope_at(case_id, seq)
        else:
            # only a step the home node accepted is the one its timeline shows at ``seq``
            raw = next(
                (r.envelope for r in relayed if r.seq == seq and r.state == "accepted"), None
            )
        return None if raw is None else parse_event(raw).body

    return signed_body

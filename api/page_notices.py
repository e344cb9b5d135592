"""Printable notices (告知书) made from a case's signed steps: what the applicant is told in
writing, each drawn from one step's signed content and receipt time, never typed again.

- 收件回执 (``received``): the materials taken in (``api/routes/pages.py`` draws it);
- 补正告知书 (``supplement_requested``, ``form_checked`` needing supplement): every missing
  material at once (行政许可法 Art. 32: 一次性告知);
- 特别程序告知书 (``suspended``): the special procedure, whose time is not counted (Art. 45);
- 延期告知书 (``extended``): the working days added, who approved and why (Art. 42), and the
  new deadline (:func:`extension_deadline`: the case's legs as the deadline engine counts them
  from its signed steps up to the extension, as the read models store them);
- 决定书 (``decided``) and 不予受理通知书 (``refused``): a refusal gives its reasons and the
  applicant's right to administrative review or litigation (Art. 38).

Every value is escaped here; the page frame is :func:`api.page_parts.page`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from adapters.bootstrap import NodeServices
from api.page_parts import CHOICE_NAMES
from ledger.supervision.cases import legs_of_entries
from ledger.supervision.legs import Leg

# The step (``type`` or ``type:refinement``, as the timeline names it) → the notice's title.
NOTICE_TITLES = {
    "received": "收件回执",
    "form_checked:needs_supplement": "补正告知书",
    "supplement_requested": "补正告知书",
    "suspended": "特别程序告知书",
    "extended": "延期告知书",
    "decided:approved": "准予办理决定书",
    "decided:rejected": "不予办理决定书",
    "refused": "不予受理通知书",
}
_RIGHTS = (
    "<p>如对本决定不服，可以自收到本文书之日起六十日内依法申请行政复议，"
    "或者六个月内依法提起行政诉讼。</p>"
)


def notice_title(step: str) -> str | None:
    """The title of the notice a timeline step gives the applicant (None: it gives none)."""
    return NOTICE_TITLES.get(step)


def _list(values: Sequence[Any]) -> str:
    return "<ol>" + "".join(f"<li>{escape(str(v))}</li>" for v in values) + "</ol>"


def _choice(value: Any) -> str:
    return escape(CHOICE_NAMES.get(str(value), str(value)))


def notice_text(step: str, body: Mapping[str, Any]) -> str:
    """The notice's own paragraphs (escaped HTML) for the step ``step`` with signed ``body``;
    ``step`` must have a title (:func:`notice_title`), ``received`` excepted."""
    if step == "supplement_requested":
        return (
            "<p>经审查，您的申请材料不齐全或者不符合法定形式。现一次性告知您需要补正的全部材料：</p>"
            + _list(body.get("items", []))
            + f"<p>原因：{escape(str(body.get('reason', '')))}</p>"
            + "<p>请按上述内容补正；材料补正齐全后，本部门继续办理。</p>"
        )
    if step == "form_checked:needs_supplement":
        return (
            "<p>经形式审查，您的申请材料需要补正。现一次性告知您需要补正的全部内容：</p>"
            + _list(body.get("reasons", []))
            + "<p>请按上述内容补正；材料补正齐全后，窗口继续办理。</p>"
        )
    if step == "suspended":
        detail = str(body.get("detail") or "")
        return (
            f"<p>本案件依法需要{_choice(body.get('reason'))}"
            + (f"（{escape(detail)}）" if detail else "")
            + "。</p><p>所需时间不计算在办理期限内；恢复办理时，本部门另行告知。</p>"
        )
    if step == "extended":
        reference = str(body.get("reference") or "")
        return (
            f"<p>因{escape(str(body.get('reason', '')))}，经{_choice(body.get('approval'))}批准，"
            f"本案件的办理期限延长 {escape(str(body.get('working_days', '')))} 个工作日。</p>"
            + (f"<p>批准文号：{escape(reference)}</p>" if reference else "")
        )
    if step in {"decided:approved", "decided:rejected"}:
        approved = step == "decided:approved"
        reasons = body.get("reasons") or []
        return (
            f"<p>经审查，本部门决定{'准予办理' if approved else '不予办理'}。</p>"
            + (f"<p>理由：</p>{_list(reasons)}" if reasons else "")
            + f"<p>依据：{escape(str(body.get('basis', '')))}</p>"
            + ("" if approved else _RIGHTS)
        )
    if step == "refused":
        return (
            "<p>经审查，您的申请不予受理。理由：</p>"
            + _list(body.get("reasons", []))
            + f"<p>依据：{escape(str(body.get('basis', '')))}</p>"
            + _RIGHTS
        )
    raise ValueError(f"no notice is drawn from a {step!r} step")


def _decision_leg(node: NodeServices, case_id: uuid.UUID, seq: int) -> Leg | None:
    """The open decision leg right after step ``seq``: the legs counted from the case's steps
    up to it (a later pause moves today's deadline, not the one this notice gave)."""
    node.ledger.refresh_registry()
    registry = node.ledger.registry
    entries = [e for e in node.ledger.stream_entries(case_id) if e.seq <= seq]
    legs = legs_of_entries(case_id, entries, registry.catalogs, registry.calendars)
    if legs is None:
        return None
    return next(
        (leg for leg in reversed(legs.legs) if leg.name == "decision" and leg.closed is None),
        None,
    )


def extension_deadline(node: NodeServices, case_id: uuid.UUID, seq: int) -> str:
    """The 延期告知书's paragraph with the decision's new deadline after the extension at
    ``seq`` (escaped HTML)."""
    leg = _decision_leg(node, case_id, seq)
    if leg is None:  # an extension is taken in an open decision leg: not expected
        return "<p>本节点未能据台账计算延长后的期限。</p>"
    text = (
        f'<p>延长后，本案件作出决定的期限截至 <strong id="new-deadline">'
        f"{leg.deadline.isoformat()}</strong>（自 {leg.started.isoformat()} 起算 "
        f"{leg.working_days_allowed} 个工作日，含已批准延长的 {leg.extended_days} 个工作日；"
        "按工作日计算，不含法定节假日，含调休上班日；特别程序所需时间不计入）。</p>"
    )
    if leg.legal_deadline is not None:
        basis = f"（{escape(leg.legal_basis)}）" if leg.legal_basis else ""
        text += f"<p>法定期限{basis}截至 {leg.legal_deadline.isoformat()}。</p>"
    if leg.provisional:
        text += (
            '<p class="note">期限所跨年份的法定节假日安排尚未公布，以上日期为暂定；'
            "公布后按实际工作日计算。</p>"
        )
    return text

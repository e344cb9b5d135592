"""Printable notices (告知书) made from a case's signed steps: what the applicant is told in
writing, each drawn from one step's signed content and receipt time, never typed again.

- 收件回执 (``received``): the materials taken in (``api/routes/pages.py`` draws it);
- 补正告知书 (``supplement_requested``, ``form_checked`` needing supplement): every missing
  material at once (行政许可法 Art. 32: 一次性告知);
- 特别程序告知书 (``suspended``): the special procedure, whose time is not counted (Art. 45);
- 延期告知书 (``extended``): the working days added, who approved and why (Art. 42);
- 决定书 (``decided``) and 不予受理通知书 (``refused``): a refusal gives its reasons and the
  applicant's right to administrative review or litigation (Art. 38).

Every value is escaped here; the page frame is :func:`api.page_parts.page`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from api.page_parts import CHOICE_NAMES

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

"""What the applicant is asked to do now, on the progress page (docs/pages.md): drawn from the
case's state and the signed step that put it there (the materials a 补正告知 lists, all at once
per 行政许可法 Art. 32; a refusal's reasons and basis; a special procedure), never from the
applicant's data. Free text in steps is screened for personal data when appended."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from ledger.envelope import Envelope

SUPPLEMENT_STATES = frozenset({"intake_supplement", "home_supplement"})
PROCEDURES = {
    "hearing": "听证",
    "testing": "检验、检测、检疫",
    "expert_review": "专家评审",
    "other": "其他特别程序",
}
DELIVERY = {"online": "网上送达", "post": "邮寄送达", "at_window": "窗口领取"}
REVIEW = "如对该决定不服，您可以依法申请行政复议或者提起行政诉讼。"
NOTHING = "目前无需您办理任何事项，请等待办理部门处理。"


def _last(steps: Sequence[Envelope], *types: str) -> Envelope | None:
    return next((s for s in reversed(steps) if s.type in types), None)


def _list(items: Any) -> str:
    texts = [str(i) for i in items] if isinstance(items, list) else []
    return "<ul>" + "".join(f"<li>{escape(t)}</li>" for t in texts) + "</ul>" if texts else ""


def _requested(step: Envelope | None) -> tuple[str, str]:
    """The materials a supplement notice asked for, and why."""
    if step is None:
        return "", ""
    body: Mapping[str, Any] = step.body
    if step.type == "supplement_requested":
        return _list(body.get("items")), str(body.get("reason", ""))
    return _list(body.get("reasons")), ""  # form_checked: needs_supplement lists what is missing


def applicant_section(steps: Sequence[Envelope], state: str) -> str:
    """The section "需要您办理的事项" for a case in ``state`` whose steps are ``steps``."""
    said = f"<p>{NOTHING}</p>"
    if state in SUPPLEMENT_STATES:
        asked = _last(steps, "supplement_requested", "form_checked")
        items, why = _requested(asked)
        said = (
            "<p><strong>请补正以下材料</strong>（办理部门已一次性告知全部所缺材料），"
            "补正前办理时限暂停计算：</p>"
            + (items or "<p>（告知中未列出具体材料，请联系办理部门。）</p>")
            + (f"<p>原因：{escape(why)}</p>" if why else "")
            + "<p>请按收件回执上的联系方式向收件窗口或办理部门提交。</p>"
        )
    elif state == "suspended":
        step = _last(steps, "suspended")
        procedure = PROCEDURES.get(str(step.body.get("reason")) if step else "", "特别程序")
        said = (
            f"<p>正在进行{escape(procedure)}，所需时间不计入办理时限。"
            "无需您办理；如需您配合，办理部门将另行通知。</p>"
        )
    elif state in {"refused", "intake_refused"}:
        step = _last(steps, "refused", "form_checked")
        reasons = _list(step.body.get("reasons")) if step else ""
        basis = str(step.body.get("basis", "")) if step else ""
        said = (
            "<p><strong>申请未被受理</strong>，理由：</p>"
            + (reasons or "<p>（未列出）</p>")
            + (f"<p>依据：{escape(basis)}</p>" if basis else "")
            + f"<p>{REVIEW}</p>"
        )
    elif state == "delivered":
        step = _last(steps, "delivered")
        method = DELIVERY.get(str(step.body.get("method")) if step else "", "送达")
        decided = _last(steps, "decided")
        result = decided.body.get("result") if decided else None
        said = f"<p>办理结果已{escape(method)}，本事项已办结。欢迎对本次服务进行评价。</p>"
        if result == "rejected":
            said = f"<p>办理决定为不予许可，已{escape(method)}。{REVIEW}</p>"
    elif state == "withdrawn":
        said = "<p>申请已撤回，无需办理任何事项。</p>"
    return f"""<h3 id="asked-heading">需要您办理的事项</h3>
<div id="asked">{said}</div>"""

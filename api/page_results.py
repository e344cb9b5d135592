"""The result licenses a case's ``送达`` forms list (docs/pages.md, "License issuance").

The home body issues a license only if the case's current ``delivered`` step lists its
identifier in ``results`` (``docs/license.md`` §12.1), and that identifier carries a check
character and the issuer's USCC: nobody types it at a counter. So the case page fills it in,
as ``tongban license id`` computes it (``api.license_client.identifier_for``): after an
approved decision, one identifier per license type the item results in
(``licenses.types.types_for_item``, of a person holder: a case's applicant is a person), with
the home body's USCC from the trust list this node holds for its region (its own, or a
peer's). The officer sees it in the form and in what the page decodes before signing, and
deletes it when no license is handed over.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from adapters.bootstrap import NodeServices
from api.license_client import identifier_for
from api.schemas import CasePublic
from licenses.errors import LicenseNotFound
from licenses.identifiers import HolderKind
from licenses.trust import parse_trust_list
from licenses.types import LicenseType, types_for_item

__all__ = ["ResultLicenses", "result_fills", "result_licenses"]


@dataclass(frozen=True)
class ResultLicenses:
    """What the 送达 forms offer for ``results``: the identifiers to fill in, and why."""

    identifiers: tuple[str, ...]
    note: str  # escaped HTML, shown under the field

    @property
    def text(self) -> str:
        """The field's text: one identifier a line."""
        return "\n".join(self.identifiers)


def _approved(case: CasePublic) -> bool:
    """Whether the case's decision since its last reopening approved it."""
    decision = ""
    for step in case.timeline:
        if step.step == "reopened":
            decision = ""
        elif step.step.startswith("decided:"):
            decision = step.step
    return decision == "decided:approved"


def _issuer_codes(node: NodeServices, body_id: str) -> tuple[str, ...]:
    """The body's USCCs as the trust list held here for its region names them (none when no
    list of that region is held, or it names no license key of the body)."""
    if node.licenses is None:
        return ()
    body = node.ledger.registry.bodies.get(body_id)
    if body is None:
        return ()
    try:
        trust_list = parse_trust_list(node.licenses.trust_list(body.region))
    except LicenseNotFound:  # no list of that region held here
        return ()
    codes = (entry.issuer_code for entry in trust_list.license_keys if entry.body_id == body_id)
    return tuple(dict.fromkeys(codes))


def result_licenses(node: NodeServices, case: CasePublic) -> ResultLicenses | None:
    """The licenses a 送达 of ``case`` hands over, or None when its item results in none or
    its decision was not approved."""
    types: tuple[LicenseType, ...] = tuple(
        t for t in types_for_item(case.item_name) if t.holder_kind is HolderKind.RIC
    )
    if not types or not _approved(case):
        return None
    names = "、".join(t.name for t in types)
    codes = _issuer_codes(node, case.home_body)
    if not codes:
        return ResultLicenses(
            (),
            f"本事项的结果为电子证照（{escape(names)}），但本节点没有受理部门 "
            f"{escape(case.home_body)} 所在地区的信任列表，无法得出证照编号：请向受理部门索取，"
            "或用 <code>tongban license id</code> 生成后填入。",
        )
    case_id = uuid.UUID(case.case_id)
    found = [(t.name, identifier_for(case_id, t.code, code).text) for t in types for code in codes]
    listed = "；".join(f"{escape(name)} <code>{escape(text)}</code>" for name, text in found)
    return ResultLicenses(
        tuple(text for _, text in found),
        f"已填入受理部门 {escape(case.home_body)} 将为本案签发的电子证照编号：{listed}"
        "（按其信任列表中的发证机构代码得出）。本次未发放的证照，请删除其编号。",
    )


def result_fills(
    node: NodeServices, case: CasePublic, steps: Iterable[str]
) -> dict[str, dict[str, tuple[str, str]]]:
    """For each 送达 form among ``steps``, its ``results`` filled in (``step_form``'s
    ``filled``); nothing for the other steps, or when the case hands over no license."""
    delivering = [step for step in steps if step.split(":", 1)[0] == "delivered"]
    found = result_licenses(node, case) if delivering else None
    if found is None:
        return {}
    return {step: {"results": (found.text, found.note)} for step in delivering}

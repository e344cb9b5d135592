"""What the license pages and their draft routes share.

``api/routes/license_pages.py`` and ``api/routes/license_drafts.py`` (``docs/pages.md``,
"License issuance") both need which licenses a case's delivered step lists, the body's seal
as this node holds it and the officer's session; here too is the case page's 电子证照 section.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from typing import Final

from fastapi import Request

from adapters.access import Principal
from adapters.bootstrap import NodeServices
from adapters.license_seals import SealKeyError, read_seal, seal_path
from adapters.sessions import Session
from api.errors import ApiProblem
from ledger.envelope import parse_event
from ledger.errors import LedgerError
from ledger.license_events import UnknownLicense, case_facts
from ledger.suites import SoftwareSigner
from ledger.workflow import CaseState
from licenses.errors import LicenseError
from licenses.identifiers import parse_identifier
from licenses.service import LicenseService
from licenses.trust import BEIJING
from licenses.types import get_type

#: Why the node reads the applicant when drafting a license (the access log shows it).
ISSUE_PURPOSE: Final = "签发电子证照"

STATE_NAMES: Final = {
    "issued": "有效",
    "suspended": "已暂停",
    "reinstated": "有效（已恢复）",
    "revoked": "已注销",
}
ACTION_NAMES: Final = {"suspend": "暂停", "reinstate": "恢复", "revoke": "注销"}


def license_page(identifier: str) -> str:
    return f"/pages/licenses/{identifier}"


def issue_page(case_id: uuid.UUID, identifier: str) -> str:
    return f"/pages/cases/{case_id}/licenses/{identifier}"


def service_of(node: NodeServices) -> LicenseService:
    if node.licenses is None:
        raise ApiProblem(404, "this node serves no licenses", reason="not_found")
    return node.licenses


def beijing_today(node: NodeServices) -> date:
    return datetime.fromtimestamp(node.ledger.clock() / 1_000_000, BEIJING).date()


def license_type_name(identifier: str) -> str:
    """The type's name (社会保障卡), or "" for text that is no identifier of a known type."""
    try:
        return get_type(parse_identifier(identifier).type_code).name
    except (LicenseError, ValueError):
        return ""


def issued_state(node: NodeServices, identifier: str) -> str:
    """The license's state in this ledger (issued, suspended, ...), "" if not issued."""
    try:
        return node.ledger.license_state(identifier).state
    except UnknownLicense:
        return ""


@dataclass(frozen=True)
class CaseLicenses:
    """What a case says about the licenses it results in."""

    state: str
    approved: bool
    home_body: str
    delivered_seq: int | None  # the current `delivered` step (none reopened after it)
    identifiers: tuple[str, ...]  # the license identifiers that step lists (known types)

    @property
    def issuable(self) -> bool:
        """Decided approved and delivered: the ledger's rule for a ``license_issued``."""
        return self.state == "delivered" and self.approved and self.delivered_seq is not None


def case_licenses(node: NodeServices, case_id: uuid.UUID) -> CaseLicenses:
    """The case's facts as ``ledger.license_events.check_issuance`` judges them."""
    envelopes = [parse_event(entry.envelope) for entry in node.ledger.stream_entries(case_id)]
    if not envelopes:
        node.ledger.get_case(case_id)  # UnknownCase, named as the API names it
    facts = case_facts(envelopes)
    current = [seq for seq in facts.delivered if seq >= facts.reopened_at]
    seq = max(current) if current else None
    listed = facts.delivered.get(seq, ()) if seq is not None else ()
    return CaseLicenses(
        state=facts.flow.state,
        approved=facts.approved,
        home_body=facts.flow.home_body,
        delivered_seq=seq,
        identifiers=tuple(i for i in listed if license_type_name(str(i))),
    )


def officer_session(request: Request, node: NodeServices, caller: Principal) -> Session:
    """The officer's session of a body of this region: the draft routes name its officer and
    key, and only this region's bodies issue its licenses (403 otherwise)."""
    if caller.kind != "body":
        raise ApiProblem(403, "this needs an officer of a body", reason="forbidden")
    session: Session | None = getattr(request.state, "session", None)
    if session is None:
        raise ApiProblem(
            403,
            "drafting a license event needs an officer's session (it names the officer and key)",
            reason="forbidden",
        )
    node.ledger.refresh_registry()
    found = node.ledger.registry.bodies.get(caller.subject)
    if found is None or found.region != node.settings.region:
        raise ApiProblem(
            403, "only bodies of this region issue and manage its licenses", reason="forbidden"
        )
    return session


@dataclass(frozen=True)
class Seal:
    """The body's seal as this node holds it: the key, or why there is none to use."""

    signer: SoftwareSigner | None
    reason: str = ""  # no_seal_key, seal_unusable; "" when usable
    detail: str = ""  # for the API's problem
    text: str = ""  # for the page, in Chinese

    def require(self) -> SoftwareSigner:
        if self.signer is None:
            status = 404 if self.reason == "no_seal_key" else 503
            raise ApiProblem(status, self.detail, reason=self.reason)
        return self.signer


def body_seal(node: NodeServices, body_id: str) -> Seal:
    """``body_id``'s seal (``adapters/license_seals.py``), if it is a license key of that
    body valid now in the key registry."""
    path = seal_path(node.settings.data_dir, body_id)
    try:
        signer = read_seal(node.settings.data_dir, body_id)
    except SealKeyError as error:
        return Seal(
            None,
            "seal_unusable",
            str(error),
            f"本节点保存的本部门电子印章密钥不能使用：{error}",
        )
    if signer is None:
        return Seal(
            None,
            "no_seal_key",
            f"this node holds no seal key of {body_id} ({path})",
            f"本节点没有本部门（{body_id}）的电子印章密钥，不能在页面签发电子证照。"
            f"请节点管理员将本部门的证照密钥放在 {path}（权限 0600），"
            "或由本部门的系统用证照密钥签发（tongban license issue）。",
        )
    node.ledger.refresh_registry()
    try:
        node.ledger.registry.license_key_at(signer.key_id, node.ledger.clock(), body_id=body_id)
    except LedgerError as error:
        return Seal(
            None,
            "seal_unusable",
            f"the seal key {signer.key_id} of {body_id} may not sign licenses now: "
            f"{error.detail} ({error.reason})",
            f"本节点保存的本部门电子印章密钥（{signer.key_id}）现在不能签发证照："
            f"{error.detail}（{error.reason}）",
        )
    return Seal(signer)


def license_section(
    node: NodeServices, caller: Principal, case_id: uuid.UUID, flow: CaseState
) -> str:
    """The case page's 电子证照 section for the case's home body, once the case is delivered
    after an approved decision: each license its delivered step lists, with 签发电子证照 or
    a link to the license. ``flow``: the case's state as the page read it."""
    if node.licenses is None:
        return ""
    if flow.home_body != caller.subject or flow.state != "delivered":
        return ""  # the common case: no need to read the case's steps
    facts = case_licenses(node, case_id)
    if caller.subject != facts.home_body or not facts.issuable or not facts.identifiers:
        return ""
    rows = []
    for identifier in facts.identifiers:
        state = issued_state(node, identifier)
        if state:
            action = f'<a href="{escape(license_page(identifier))}">查看电子证照</a>'
        else:
            action = f'<a href="{escape(issue_page(case_id, identifier))}">签发电子证照</a>'
        rows.append(
            f"<tr><td>{escape(license_type_name(identifier))}</td>"
            f"<td><code>{escape(identifier)}</code></td>"
            f"<td>{escape(STATE_NAMES.get(state, '未签发'))}</td><td>{action}</td></tr>"
        )
    return f"""<h2>电子证照</h2>
<table id="licenses">
<caption>送达步骤所列的电子证照</caption>
<thead><tr><th scope="col">证照类型</th><th scope="col">证照标识</th><th scope="col">状态</th>
<th scope="col">操作</th></tr></thead>
<tbody>
{"".join(rows)}
</tbody>
</table>"""

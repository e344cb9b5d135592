"""What the auditors' pages share (``api/routes/audit_pages.py``, ``audit_record_pages.py``):
who may open them (an auditor's or the administrator's token session, as the audit routes
``require``), their frame with the auditors' navigation, their error pages, and the Chinese
words for the audit's findings (``docs/audit.md``)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from html import escape

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from adapters.access import PRINCIPAL_KINDS, Principal
from adapters.bootstrap import NodeServices
from api.page_parts import AUDIT_PAGE, SUPERVISION_PAGE, WORKLIST_PAGE, page, session_or_login
from ledger.canonical import from_micros
from ledger.envelope import ID_PATTERN
from ledger.keys import registry_stream_id
from ledger.read_models import CHINA

AUDITORS = frozenset({"auditor", "admin"})
CASE_AUDIT_PAGE = "/pages/audit/cases"
CHECKPOINTS_PAGE = "/pages/audit/checkpoints"
BODIES_PAGE = "/pages/audit/bodies"
ACCESS_PAGE = "/pages/audit/access"
KIND_NAMES = {
    "auditor": "审计员",
    "admin": "管理员",
    "supervisor": "监督员",
    "body": "部门工作人员",
    "peer": "外省节点",
}
#: A reader as the access log names it: a body or principal, or ``body/officer``.
READER = re.compile(rf"{ID_PATTERN.pattern}(/{ID_PATTERN.pattern})?")

# The audit's reasons (docs/audit.md, "Reason codes"), as an auditor reads them.
REASON_NAMES = {
    "malformed": "格式不符",
    "unsupported_suite": "不支持的签名算法",
    "bad_hash": "哈希不符（存储字节被改动）",
    "broken_link": "链接断开",
    "seq_gap": "序号缺失",
    "index_gap": "台账序号或回执缺失",
    "bad_receipt": "回执无效",
    "bad_signature": "签名无效",
    "unknown_key": "未知密钥",
    "key_not_valid_at_time": "密钥当时不在有效期内",
    "key_revoked": "密钥已被吊销",
    "uncertified_officer": "密钥未获认证",
    "illegal_step": "不符合流程规则",
    "applicant_unmatched": "申请人记录与签名承诺不符",
    "applicant_reused": "同一申请人记录用于两个案件",
    "applicant_unbound": "申请人记录未绑定本案",
    "bad_checkpoint": "检查点无效",
    "missing_from_tree": "已入检查点的记录缺失",
    "root_mismatch": "检查点根哈希不符",
}
FINDING_KINDS = {"integrity": "完整性问题", "policy": "合规问题"}
RESOLUTIONS = {"ratified": "已追认", "repudiated": "已否认"}


def reason_text(reason: str) -> str:
    """A finding's reason in Chinese, with its code (what programs match on)."""
    return f"{escape(REASON_NAMES.get(reason, reason))}（<code>{escape(reason)}</code>）"


def china_seconds(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


def iso_in_china(iso_utc: str) -> str:
    """An ISO 8601 time (``…Z`` or with an offset) in China time, to the second."""
    try:
        return china_seconds(datetime.fromisoformat(iso_utc.replace("Z", "+00:00")))
    except ValueError:  # shown as stored rather than hidden
        return iso_utc


def micros_in_china(micros: int) -> str:
    return china_seconds(from_micros(micros))


def auditor_or_refusal(request: Request, node: NodeServices) -> Principal | Response:
    """The session's auditor or administrator; no session goes to the login page (303), any
    other session gets a 403 page: officers and supervisors may not call the audit routes
    (``require(caller, "auditor", "admin")``), nor read who read a person's data."""
    caller = session_or_login(request, node, kinds=frozenset(PRINCIPAL_KINDS), elsewhere=AUDIT_PAGE)
    if isinstance(caller, RedirectResponse):
        return caller
    if caller.kind in AUDITORS:
        return caller
    own = WORKLIST_PAGE if caller.kind == "body" else SUPERVISION_PAGE
    main = (
        '<p class="error" role="alert" id="page-error">本页仅供审计员和管理员查看，'
        f"{escape(KIND_NAMES.get(caller.kind, caller.kind))}的会话不能打开。</p>"
        f'<p><a href="{own}">返回您的页面</a></p>'
    )
    return page("无权查看", main, scripts=("session.js",), status_code=403)


def audit_frame(
    title: str,
    main: str,
    caller: Principal,
    *,
    scripts: tuple[str, ...] = (),
    status_code: int = 200,
) -> HTMLResponse:
    """An auditors' page: the token session's navigation with the auditors' pages."""
    who = f"{KIND_NAMES.get(caller.kind, caller.kind)} {caller.subject}"
    return page(
        title,
        main,
        scripts=("session.js", *scripts),
        overseer=who,
        audit=True,
        status_code=status_code,
    )


def problem_page(
    caller: Principal,
    status: int,
    title: str,
    message: str,
    *,
    back: tuple[str, str] = (AUDIT_PAGE, "返回审计页面"),
) -> HTMLResponse:
    """A 4xx page saying what was wrong with the request (which field, why)."""
    main = (
        f'<p class="error" role="alert" id="page-error">{escape(message)}</p>'
        f'<p><a href="{escape(back[0])}">{escape(back[1])}</a></p>'
    )
    return audit_frame(title, main, caller, status_code=status)


def parsed_case_id(text: str) -> uuid.UUID | None:
    """A case id as the ledger writes it (a UUID, any case, with or without hyphens)."""
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        return None


def case_link(case_id: str, seq: int | None = None) -> str:
    """The case's audit page, at the row of step ``seq`` when given."""
    anchor = "" if seq is None else f"#seq-{seq}"
    return f"{CASE_AUDIT_PAGE}/{escape(case_id)}{anchor}"


class FindingPlaces:
    """Where a finding is, in words, linked to the case page when it is a case's: a case's
    step, a region's key registry (its stream id as ``case_id``), or the ledger itself
    (``case_id`` empty: an index gap or a checkpoint)."""

    def __init__(self, node: NodeServices):
        self._ledger = node.ledger
        self._registries = {str(registry_stream_id(r)): r for r in node.ledger.trusted_roots}
        self._is_case: dict[str, bool] = {}

    def is_case(self, case_id: str) -> bool:
        if case_id not in self._is_case:
            parsed = parsed_case_id(case_id)
            self._is_case[case_id] = parsed is not None and self._ledger.has_case(parsed)
        return self._is_case[case_id]

    def html(self, case_id: str, seq: int) -> str:
        if not case_id:
            return "整个台账"
        if case_id in self._registries:
            return f"区域 {escape(self._registries[case_id])} 的密钥登记，第 {seq} 条记录"
        if self.is_case(case_id):
            return f'<a href="{case_link(case_id, seq)}">案件 {escape(case_id)} 第 {seq} 步</a>'
        return f"对象流 {escape(case_id)}，第 {seq} 条（非案件，如电子证照事件）"

"""The officers' pages: login, worklist, case; and the one route they need beyond the API.

Server-rendered HTML (no build step, no template engine: the pages are few and small, and
``html.escape`` on every value is easy to check), with plain JavaScript modules from
``/static/`` for what must happen in the browser: holding the officer's key (WebCrypto,
non-extractable, in IndexedDB), decoding the content bytes of a step, showing what *the page*
decoded, and signing. Every page is served with :data:`PAGE_POLICY`: scripts and every other
resource from the node only, no inline script, no ``eval`` — a non-extractable key does not
stop an injected script from signing with it, so no script may be injected.

``POST /cases/{case_id}/draft`` builds the canonical content bytes of the step an officer filled
in (never a signature, digest or signing input): the page decodes them with its own decoder
(``api/static/canonical.js``), renders what it decoded, builds ``ctx || 00 || SHA-256(content)``
itself and posts the signed bytes to ``POST /cases/{case_id}/events`` like every other client.
"""

from __future__ import annotations

import base64
import re
import uuid
from html import escape
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi import Path as FastApiPath
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from adapters.access import Principal
from adapters.bootstrap import NodeServices
from adapters.relay import unknown_ledger
from adapters.relay_peers import load_peers
from api.deps import Caller, JsonBody, Services, require
from api.errors import ApiProblem
from api.page_deadlines import deadlines_section
from api.page_licenses import license_section
from api.page_notices import extension_deadline, notice_text, notice_title
from api.page_parts import (
    CHANNEL_NAMES,
    STATE_NAMES,
    SUPERVISION_PAGE,
    WORKLIST_PAGE,
    china_time,
    page,
    session_or_login,
    step_form,
    step_name,
    steps_for,
)
from api.page_receive import receive_form
from api.page_refusal import refusal_section, signed_bodies
from api.page_relay import read_relayed, relay_section, relayed_home, relayed_worklist, state_name
from api.page_results import result_fills
from api.page_signing import signing_parts
from api.page_worklist import PAGE_SIZE, WAITING, case_rows, list_switch, waiting_list
from api.routes.cases import case_public, case_with_state
from api.schemas import CasePublic, problem_responses
from ledger import canonical
from ledger.application import now_micros
from ledger.case_listing import CaseQuery
from ledger.envelope import EVENT_CONTEXT, ZERO_HASH, parse_event
from ledger.errors import MalformedEncoding
from ledger.workflow import CaseState
from ledger.workflow.fields import check_body

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"

router = APIRouter(tags=["pages"], responses=problem_responses(401, 403, 404, 415, 422))


def install_static(app: FastAPI) -> None:
    """Serve ``/static/``: the pages' scripts and style sheet, from the package itself."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def officer_or_login(request: Request, node: NodeServices) -> Principal | RedirectResponse:
    """The session's officer; a token session (supervisors, auditors: they handle no case)
    goes to the supervision page, no session to the login page and back."""
    return session_or_login(request, node, kinds=frozenset({"body"}), elsewhere=SUPERVISION_PAGE)


def _notice_link(case_id: uuid.UUID, seq: int, step: str) -> str:
    title = notice_title(step)
    if title is None:
        return ""
    return f'<a href="/pages/cases/{case_id}/notices/{seq}">打印{escape(title)}</a>'


def _who(caller: Principal) -> str:
    return f"{caller.officer_id}（{caller.subject}）"


# -- pages -------------------------------------------------------------------------------------


@router.get("/pages", include_in_schema=False)
def pages_home() -> RedirectResponse:
    return RedirectResponse(WORKLIST_PAGE, status_code=303)


@router.get("/pages/worklist", include_in_schema=False, response_model=None)
def worklist_page(
    request: Request,
    node: Services,
    page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
    show: Annotated[Literal["waiting"] | None, Query(description="waiting: 待本部门办理")] = None,
) -> HTMLResponse | RedirectResponse:
    caller = officer_or_login(request, node)
    if isinstance(caller, RedirectResponse):
        return caller
    if show == WAITING:
        # Page 1 opens with the urgent legs, as the list of every case does.
        cases = waiting_list(node, caller, page_number)
        urgent = deadlines_section(node, caller.subject) if page_number == 1 else ""
        main = f"{urgent}\n{list_switch(waiting=True)}\n{cases}"
        return page("待办案件", main, scripts=("session.js",), officer=_who(caller))
    size = PAGE_SIZE
    listed = node.cases.list_cases(
        caller, CaseQuery(body=caller.subject, offset=(page_number - 1) * size, limit=size)
    )
    rows = case_rows(listed.cases, caller.subject)
    empty = "" if listed.cases else "<p>本部门暂无案件。</p>"
    relayed = relayed_worklist(node, caller) if page_number == 1 else ""
    urgent = deadlines_section(node, caller.subject) if page_number == 1 else ""
    more = ""
    if page_number > 1:
        more += f'<a href="{WORKLIST_PAGE}?page={page_number - 1}">上一页</a> '
    if page_number * size < listed.total:
        more += f'<a href="{WORKLIST_PAGE}?page={page_number + 1}">下一页</a>'
    main = f"""
{urgent}
{list_switch(waiting=False)}
<h2 id="cases-heading">全部案件</h2>
<p>本部门（{escape(caller.subject)}）的案件，共 {listed.total} 件，第 {page_number} 页。</p>
{empty}<table>
<caption>案件列表</caption>
<thead><tr><th scope="col">案件</th><th scope="col">事项</th><th scope="col">状态</th>
<th scope="col">待办</th>
<th scope="col">收件部门</th><th scope="col">受理部门</th><th scope="col">步骤数</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<p class="pager">{more}</p>
{relayed}"""
    return page("待办案件", main, scripts=("session.js",), officer=_who(caller))


@router.get("/pages/receive", include_in_schema=False, response_model=None)
def receive_page(request: Request, node: Services) -> HTMLResponse | RedirectResponse:
    """收件: a new case's `received` step, signed in the page like every other step."""
    caller = officer_or_login(request, node)
    if isinstance(caller, RedirectResponse):
        return caller
    main = receive_form(node, caller.subject)
    return page("收件", main, scripts=("receive.js",), officer=_who(caller))


@router.get("/pages/cases/{case_id}/notices/receipt", include_in_schema=False, response_model=None)
def receipt_notice(
    case_id: uuid.UUID, request: Request, node: Services
) -> HTMLResponse | RedirectResponse:
    """收件回执, printable, made from the case's signed `received` step and its receipt time."""
    return step_notice(case_id, 1, request, node)


@router.get("/pages/cases/{case_id}/notices/{seq}", include_in_schema=False, response_model=None)
def step_notice(
    case_id: uuid.UUID,
    seq: Annotated[int, FastApiPath(ge=1, le=1_000_000)],
    request: Request,
    node: Services,
) -> HTMLResponse | RedirectResponse:
    """The printable notice (告知书) the step at ``seq`` gives the applicant, made from its
    signed content and receipt time (``api/page_notices.py``)."""
    caller = officer_or_login(request, node)
    if isinstance(caller, RedirectResponse):
        return caller
    case = case_public(node, caller, case_id, personal=False, purpose="")
    raw = node.ledger.envelope_at(case_id, seq)
    taken = [s for s in case.timeline if s.seq == seq]
    if raw is None or not taken:  # a case relayed elsewhere: its steps are its home node's
        raise ApiProblem(
            404, f"this node holds no step {seq} of case {case_id}", reason="not_found"
        )
    step, envelope = taken[0], parse_event(raw)
    title = notice_title(step.step)
    if title is None:
        raise ApiProblem(
            404,
            f"step {seq} ({step_name(step.step)}) gives the applicant no notice",
            reason="not_found",
            field="seq",
        )
    scripts: tuple[str, ...] = ()
    if step.step == "received":
        text = _materials_taken(envelope.body) + _slip_code(case_id, envelope.body)
        scripts = ("receipt.js",) if "rating_code" in envelope.body else ()
    else:
        text = notice_text(step.step, envelope.body)
    if step.step == "extended":
        text += extension_deadline(node, case_id, seq)
    main = f"""
<dl class="facts">
<dt>案件编号</dt><dd>{escape(case.case_id)}</dd>
<dt>事项</dt><dd>{escape(case.item_name)}（{escape(case.item)}）</dd>
<dt>经办部门</dt><dd>{escape(step.body_name or step.body_id)}（{escape(step.body_id)}）</dd>
<dt>经办人</dt><dd>{escape(step.officer_id)}</dd>
<dt>时间</dt><dd>{escape(china_time(step.received_at))}（北京时间）</dd>
<dt>受理部门</dt><dd>{escape(case.home_body)}</dd>
<dt>办理渠道</dt><dd>{escape(CHANNEL_NAMES.get(case.channel, case.channel))}</dd>
</dl>
{text}
<p>本文书依据台账 {escape(case.ledger)} 中该案件第 {seq} 步
（{escape(step_name(step.step))}）的签名记录生成；
该步骤的哈希为 <code>{escape(envelope.hash.hex())}</code>，可凭案件编号查询办理进度。</p>
<p class="no-print">请用浏览器的打印功能（Ctrl+P）打印本页。</p>
"""
    return page(title, main, scripts=scripts, officer=_who(caller))


def _slip_code(case_id: uuid.UUID, body: dict[str, Any]) -> str:
    """Where the slip's one-time code goes: the receive page's tab shows it once
    (``api/static/receipt.js``); the node holds only its commitment."""
    commitment = body.get("rating_code")
    if not isinstance(commitment, bytes):
        return "<p>本案件收件时未生成查询码（评价码）。</p>"
    return f"""<h2>查询码（评价码）</h2>
<p class="slip-code"><strong id="rating-code" data-case="{case_id}"
 data-commitment="{commitment.hex()}">仅在收件的浏览器页面显示一次，本节点不保存</strong></p>
<p>凭案件编号和查询码，可在“办理进度查询”页面查询进度；办结后凭同一查询码评价（一次）。</p>"""


def _materials_taken(body: dict[str, Any]) -> str:
    materials = "".join(
        f"<li>{escape(str(m.get('name', '')))}"
        f"<br><small>SHA-256 {escape(bytes(m.get('sha256', b'')).hex())}</small></li>"
        for m in body.get("materials", [])
    )
    return f"<h2>已收材料</h2>\n<ol>{materials}</ol>"


@router.get("/pages/cases/{case_id}", include_in_schema=False, response_model=None)
def case_page(
    case_id: uuid.UUID, request: Request, node: Services
) -> HTMLResponse | RedirectResponse:
    caller = officer_or_login(request, node)
    if isinstance(caller, RedirectResponse):
        return caller
    home = relayed_home(node, case_id)
    view = None if home is None else read_relayed(node, caller, case_id, home)
    if view is None:
        case: CasePublic | None
        flow: CaseState | None
        case, flow = case_with_state(node, caller, case_id, personal=False, purpose="")
        ledger, head_seq, head_hash = case.ledger, case.head.seq, case.head.hash
    else:
        case, flow = view.case, view.flow
        ledger, head_seq, head_hash = view.ledger, view.head_seq, view.head_hash.hex()
    steps = "\n".join(
        "<tr>"
        f"<td>{s.seq}</td>"
        f"<td>{escape(step_name(s.step))}</td>"
        f"<td>{escape(s.body_name or s.body_id)}<br><small>{escape(s.body_id)}</small></td>"
        f"<td>{escape(s.officer_id)}</td>"
        f'<td><time datetime="{escape(s.received_at)}">'
        f"{escape(china_time(s.received_at))}</time></td>"
        f"<td>{'有效' if s.signature == 'valid' else escape('无效：' + s.signature)}</td>"
        f"<td>{_notice_link(case_id, s.seq, s.step)}</td>"
        "</tr>"
        for s in (case.timeline if case is not None else [])
    )
    mine, others = steps_for(flow, caller.subject) if flow is not None else ([], {})
    fills = result_fills(node, case, mine) if case is not None else {}
    forms = "\n".join(step_form(step, fills.get(step)) for step in mine)
    if flow is None:
        forms = "<p>主办节点暂不可读，本节点转递的步骤不足以得出案件状态，暂不能办理。</p>"
    elif not mine:
        forms = "<p>本部门目前没有可办理的步骤。</p>"
    if others:
        waiting = "".join(
            f"<li>{escape(step_name(step))}：{escape('、'.join(bodies) or '无')}</li>"
            for step, bodies in others.items()
        )
        forms += f"<h3>由其他部门办理</h3><ul>{waiting}</ul>"
    if case is not None:
        facts = f"""<dt>事项</dt><dd>{escape(case.item_name)}（{escape(case.item)}）</dd>
<dt>状态</dt><dd>{escape(STATE_NAMES.get(case.state, case.state))}</dd>
<dt>收件部门</dt><dd>{escape(case.intake_body)}</dd>
<dt>受理部门</dt><dd>{escape(case.home_body)}</dd>"""
    else:
        assert view is not None
        facts = f"<dt>状态</dt><dd>{escape(state_name(view))}</dd>"
        if flow is not None:
            facts = f"""<dt>事项</dt><dd>{escape(flow.item)}</dd>{facts}
<dt>收件部门</dt><dd>{escape(flow.intake_body)}</dd>
<dt>受理部门</dt><dd>{escape(flow.home_body)}</dd>"""
    relayed = ""
    notice = (
        f'<p><a href="/pages/cases/{case_id}/notices/receipt">打印收件回执</a></p>'
        if view is None
        else ""
    )
    if view is not None:
        relayed = f' data-relayed="{escape(view.home_ledger)}"'
        facts += f"<dt>主办台账</dt><dd>{escape(view.home_ledger)}（经本节点转递）</dd>"
    timeline = (
        f"""<h2>办理经过</h2>
<table id="timeline">
<caption>已签名的步骤</caption>
<thead><tr><th scope="col">序号</th><th scope="col">步骤</th><th scope="col">部门</th>
<th scope="col">工作人员</th><th scope="col">时间（北京时间）</th>
<th scope="col">签名</th><th scope="col">文书</th></tr></thead>
<tbody>
{steps}
</tbody>
</table>"""
        if case is not None
        else ""
    )
    refusal = ""
    if case is not None and flow is not None:
        rows = None if view is None else view.rows
        bodies = signed_bodies(node, case_id, rows)
        refusal = refusal_section(str(case_id), flow, case.timeline, caller.subject, bodies)
    signing = signing_parts(request, node)  # in the browser, or on the command line (SM2)
    main = f"""{refusal}
<dl class="facts" id="case" data-case="{case_id}" data-ledger="{escape(ledger)}"
 data-head-seq="{head_seq}" data-head-hash="{escape(head_hash)}"{relayed}{signing.attributes}>
<dt>案件编号</dt><dd>{case_id}</dd>
{facts}
</dl>
{notice}{"" if view is None else relay_section(view)}
{timeline}
{license_section(node, caller, case_id, flow) if view is None and flow is not None else ""}
<h2>下一步</h2>
{signing.intro}
{forms}
{signing.confirm}
<p id="case-status" role="alert" aria-live="assertive"></p>
<p id="case-reload" hidden><a href="/pages/cases/{case_id}">刷新案件</a></p>
"""
    return page(f"案件 {str(case_id)[:8]}", main, scripts=("case.js",), officer=_who(caller))


# -- the draft route ---------------------------------------------------------------------------


class DraftCreate(BaseModel):
    type: str = Field(description="the step type, e.g. `form_checked`", max_length=40)
    body: dict[str, Any] = Field(
        description='the step\'s body (docs/workflows.md, Step bodies); bytes as {"bin": hex}'
    )


class DraftPublic(BaseModel):
    content: str = Field(
        description="the canonical content bytes of the unsigned step, base64: decode them, "
        "show them, sign `ctx || 00 || SHA-256(content)` yourself (docs/envelope.md §2.3)"
    )
    seq: int
    prev: str = Field(description="hex: the hash of the case's head the step follows")
    ledger: str = Field(
        default="",
        description="the case's ledger the step is for: this node's, or the home ledger of a "
        "case this node relays (docs/relay.md)",
    )
    signed_on: str | None = Field(
        default=None,
        description="set when the home node of a relayed case cannot be read: the step follows "
        "the newest step this node relayed of the case, and says which",
    )


@router.post(
    "/cases/{case_id}/draft",
    response_model=DraftPublic,
    summary="the content bytes of an officer's next step, unsigned (for the officers' pages)",
)
def draft_step(
    case_id: uuid.UUID,
    draft: DraftCreate,
    request: Request,
    _: JsonBody,
    node: Services,
    caller: Caller,
) -> DraftPublic:
    require(caller, "body")
    session = getattr(request.state, "session", None)
    if session is None:
        raise ApiProblem(
            403,
            "drafting a step needs an officer's session (the step names the officer and key)",
            reason="forbidden",
        )
    # The key the session logged in with (checked valid on this very request): its suite,
    # so an SM2 officer's draft says sm2-sm3 and is signed on the command line (page_signing).
    key = node.ledger.registry.key(session.kid)
    # A new case is opened by its `received` step, at seq 1 after 32 zero bytes; whether this
    # body may open it (catalog, entitlement) is the append's to say, as for every client.
    # Any other draft is for a case the caller may read (403/404 before the body is looked at):
    # this node's own, or one homed elsewhere that it relays (read through the relay).
    home = relayed_home(node, case_id)
    opening = draft.type == "received" and home is None and not node.ledger.has_case(case_id)
    view = None if opening or home is None else read_relayed(node, caller, case_id, home)
    case = None if opening or view is not None else node.cases.case(caller, case_id)
    body = with_bytes(draft.body, "body")
    try:
        step = check_body(draft.type, body)
    except MalformedEncoding as error:
        raise ApiProblem(422, error.detail, reason="malformed", field=error.field) from error
    seq, prev, ledger, signed_on = 1, ZERO_HASH, node.ledger.ledger_name, None
    allowed: list[str] | None = None
    if opening:
        # A case lives in its item's region's ledger: another region's, when this node relays
        # to it (the window's 收件 of a case homed there), as the client signs it.
        # Any other region's item: refused here, as the append would, naming the ledgers.
        item_ledger = f"tongban/{str(body['item']).split('/')[0]}"
        if item_ledger != ledger:
            if not node.relay_peer(item_ledger):
                peers = load_peers(node.settings.data_dir) if node.relays is not None else {}
                raise ApiProblem(
                    422,
                    f"item {body['item']} is region {item_ledger.rpartition('/')[2]}'s and its "
                    f"cases live in {item_ledger}: "
                    + unknown_ledger(item_ledger, node.ledger.ledger_name, peers),
                    reason="wrong_ledger",
                    field="body.item",
                )
            ledger = item_ledger
    elif view is not None:
        seq, prev, ledger = view.head_seq + 1, view.head_hash, view.ledger
        signed_on = view.signed_on or None
        # While the home node cannot be read the state is this node's replay of what it
        # relayed, if any: with none, the home node alone judges the step on delivery.
        allowed = view.flow.allowed_steps() if view.flow is not None else None
    elif case is not None:
        seq, prev, allowed = case.head.seq + 1, case.head.event_hash, case.flow.allowed_steps()
    if allowed is not None and step not in allowed and draft.type not in allowed:
        raise ApiProblem(
            422,
            f"{step} is not allowed now (allowed: {', '.join(allowed) or 'none'})",
            reason="illegal_step",
            field="type",
        )
    content = {
        "v": 1,
        "suite": key.suite,
        "ctx": EVENT_CONTEXT,
        "kid": session.kid,
        "ledger": ledger,
        "case": str(case_id),
        "seq": seq,
        "type": draft.type,
        "time": now_micros(),
        "actor": {"body": caller.subject, "officer": session.officer_id},
        "prev": prev,
        "body": body,
    }
    try:
        raw = canonical.encode(content)
    except MalformedEncoding as error:
        raise ApiProblem(422, error.detail, reason="malformed", field="body") from error
    return DraftPublic(
        content=base64.b64encode(raw).decode(),
        seq=seq,
        prev=prev.hex(),
        ledger=ledger,
        signed_on=signed_on,
    )


def with_bytes(value: Any, field: str) -> Any:
    """``value`` with every ``{"bin": "<hex>"}`` made the byte string it stands for (JSON has
    no bytes; the test vectors write them so): digests, commitments, materials' SHA-256."""
    if isinstance(value, dict):
        if set(value) == {"bin"}:
            text = value["bin"]
            if not isinstance(text, str) or not re.fullmatch(r"(?:[0-9a-f]{2})*", text):
                raise ApiProblem(
                    422, f"{field} must be lowercase hex", reason="malformed", field=field
                )
            return bytes.fromhex(text)
        return {k: with_bytes(v, f"{field}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [with_bytes(v, f"{field}[{i}]") for i, v in enumerate(value)]
    return value

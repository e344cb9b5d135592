"""The officers' license pages (``docs/pages.md``, "License issuance"): 签发电子证照 for a case
its home body delivered after an approved decision, and the license page (its face, status,
QR code and ``TB1:`` text; suspend, reinstate, revoke), each event signed in the browser
(``api/static/license.js``) over content bytes drafted by ``api/routes/license_drafts.py``.

Pages answer as the other officers' pages do: no session, 303 to the login page; an officer of
another body, a page saying why (403); a case not yet delivered, or a node without the body's
seal, a page saying so rather than an error.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from html import escape

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from adapters.access import Principal
from adapters.bootstrap import NodeServices
from api.deps import Services
from api.page_licenses import (
    ACTION_NAMES,
    STATE_NAMES,
    Seal,
    beijing_today,
    body_seal,
    case_licenses,
    issued_state,
    license_page,
    license_type_name,
)
from api.page_parts import page
from api.routes.pages import officer_or_login
from ledger.errors import UnknownCase
from ledger.license_events import STATUS_TRANSITIONS
from licenses.document import LicenseDocument, parse_license
from licenses.drafts import compact_of, default_valid_until, typed_face_fields
from licenses.errors import LicenseError, LicenseNotFound, LicenseServiceError
from licenses.identifiers import parse_identifier
from licenses.issuance import STATUS_ACTIONS
from licenses.qr import qr_png
from licenses.types import LicenseType, get_type
from licenses.use import LicenseView, Reader

router = APIRouter(tags=["pages"])

SCRIPTS = ("session.js", "license.js")


def _who(caller: Principal) -> str:
    return f"{caller.officer_id}（{caller.subject}）"


def _said(caller: Principal, title: str, text: str, status: int) -> HTMLResponse:
    """A page that says why there is nothing to do here (and links back to the worklist)."""
    main = (
        f'<p class="note" id="refusal">{escape(text)}</p>\n'
        '<p><a href="/pages/worklist">返回待办案件</a></p>'
    )
    return page(title, main, scripts=("session.js",), officer=_who(caller), status_code=status)


def _confirm(button: str) -> str:
    return f"""<section id="confirm" aria-labelledby="confirm-heading" hidden>
<h2 id="confirm-heading" tabindex="-1">核对并签名</h2>
<p>以下内容由本页从待签名的字节中解码得出：</p>
<dl id="decoded" class="facts"></dl>
<div id="face-shown" hidden>
<h3>证照照面（本页从节点盖章的草稿中解码，其摘要即上面的证照摘要）</h3>
<dl id="face" class="facts"></dl>
</div>
<button type="button" id="sign">{escape(button)}</button>
<button type="button" id="cancel">返回修改</button>
</section>
<p id="license-status" role="alert" aria-live="assertive"></p>"""


# -- 签发电子证照 -------------------------------------------------------------------------------


@router.get(
    "/pages/cases/{case_id}/licenses/{identifier}", include_in_schema=False, response_model=None
)
def issue_license_page(
    case_id: uuid.UUID, identifier: str, request: Request, node: Services
) -> HTMLResponse | RedirectResponse:
    caller = officer_or_login(request, node)
    if isinstance(caller, RedirectResponse):
        return caller
    title = "签发电子证照"
    if node.licenses is None:
        return _said(caller, title, "本节点不提供电子证照服务。", 404)
    try:
        parsed = parse_identifier(identifier)
        license_type = get_type(parsed.type_code)
    except (LicenseError, ValueError) as error:
        return _said(caller, title, f"证照标识无效：{error}", 404)
    if issued_state(node, identifier):
        return RedirectResponse(license_page(identifier), status_code=303)
    try:
        facts = case_licenses(node, case_id)
    except UnknownCase:
        return _said(caller, title, f"本节点没有案件 {case_id}。", 404)
    if facts.home_body != caller.subject:
        return _said(
            caller,
            title,
            f"该案件的证照由其受理部门（{facts.home_body}）签发，本部门不能签发。",
            403,
        )
    if not facts.issuable:
        why = "尚未作出准予决定" if not facts.approved else "尚未送达办结"
        return _said(caller, title, f"该案件{why}，不能签发电子证照。", 409)
    if identifier not in facts.identifiers:
        return _said(caller, title, f"该案件的送达步骤没有列出证照 {identifier}。", 409)
    seal = body_seal(node, caller.subject)
    facts_html = f"""<dl class="facts" id="issuance" data-case="{case_id}"
 data-identifier="{escape(identifier)}" data-ledger="{escape(node.ledger.ledger_name)}"
 data-delivered-seq="{facts.delivered_seq}">
<dt>案件编号</dt><dd><a href="/pages/cases/{case_id}">{case_id}</a></dd>
<dt>证照类型</dt><dd>{escape(license_type.name)}（{escape(parsed.type_code)}）</dd>
<dt>证照标识</dt><dd><code>{escape(identifier)}</code></dd>
<dt>送达步骤</dt><dd>第 {facts.delivered_seq} 步</dd>
</dl>"""
    if seal.signer is None:
        main = f'{facts_html}\n<p class="note" id="no-seal">{escape(seal.text)}</p>'
        return page(title, main, scripts=("session.js",), officer=_who(caller))
    return page(
        title,
        facts_html + _issue_form(node, license_type, parsed.serial, seal),
        scripts=SCRIPTS,
        officer=_who(caller),
    )


def _issue_form(node: NodeServices, license_type: LicenseType, serial: str, seal: Seal) -> str:
    today = beijing_today(node)
    labels = json.dumps(
        {spec.key: spec.label for spec in license_type.face_fields}, ensure_ascii=False
    )
    until = default_valid_until(license_type, today)
    fields = []
    for spec in typed_face_fields(license_type):
        kind = "date" if spec.kind == "date" else "text"
        need = " required" if spec.required else ""
        optional = "" if spec.required else "（可选）"
        fields.append(
            f'<label for="face-{escape(spec.key)}">{escape(spec.label)}{optional}</label>'
            f'<input type="{kind}" id="face-{escape(spec.key)}" data-face="{escape(spec.key)}"'
            f' data-label="{escape(spec.label)}" maxlength="4096"{need}>'
        )
    derived = "、".join(
        spec.label
        for spec in license_type.face_fields
        if spec not in typed_face_fields(license_type)
    )
    return f"""
<p>填写后，节点从个人信息库读取申请人（记入访问日志：本人、用途“签发电子证照”），用本部门的电子印章
（密钥 <code>{escape(seal.signer.key_id if seal.signer else "")}</code>）制作证照草稿，并给出
“证照签发”事件的内容字节；本页自行解码、核对并显示，您确认后用本机密钥签名。</p>
<form id="issue" class="stack" data-labels="{escape(labels)}">
<h2>证照内容</h2>
<p class="hint">由节点填写：{escape(derived or "无")}。</p>
{"".join(fields)}
<label for="number">证照编号</label>
<input type="text" id="number" maxlength="256" value="{escape(serial)}" required>
<label for="valid-from">有效期起始日期</label>
<input type="date" id="valid-from" value="{today.isoformat()}" required>
<label for="valid-until">有效期截止日期（留空为长期）</label>
<input type="date" id="valid-until" value="{until.isoformat() if until else ""}">
<button type="submit">填写完毕，核对内容</button>
</form>
{_confirm("确认无误，签名并签发")}"""


# -- the license page ------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    status: int
    text: str


def _issuer_view(
    node: NodeServices, caller: Principal, identifier: str
) -> tuple[LicenseView, LicenseDocument] | Refusal:
    """The license as its issuer reads it (not logged: it is the issuer's own), or the
    status and why not (another body's: 403; its documents erased: 404)."""
    assert node.licenses is not None
    try:
        event, _ = node.licenses.ctx.issued_event(identifier)
        if event.body_id != caller.subject:
            return Refusal(
                403, f"证照 {identifier} 由 {event.body_id} 签发，只有签发部门可以查看和管理。"
            )
        region = node.settings.region
        view = node.licenses.read(
            identifier, Reader("body", caller.subject, region), grant_raw=None, purpose=""
        )
    except LicenseServiceError as error:
        status = 404 if isinstance(error, LicenseNotFound) else 403
        return Refusal(status, f"不能读取证照 {identifier}：{error.detail}（{error.reason}）")
    assert view.document is not None
    return view, parse_license(view.document, allow_draft=True)


def _compact(node: NodeServices, body: str, document: LicenseDocument) -> tuple[str, str]:
    """The ``TB1:`` text of an issued document, made with the seal that signed it; or why
    none can be made here."""
    if document.is_draft:
        return "", "证照尚未盖章完成（节点只保存了草稿），不能生成二维码。"
    seal = body_seal(node, body)
    if seal.signer is None:
        return "", seal.text
    if seal.signer.key_id != document.key_id:
        return "", (
            f"证照由密钥 {document.key_id} 盖章，本节点现有的电子印章（{seal.signer.key_id}）"
            "不是它，不能为其生成二维码。"
        )
    return compact_of(seal.signer, document), ""


@router.get("/pages/licenses/{identifier}", include_in_schema=False, response_model=None)
def license_view_page(
    identifier: str, request: Request, node: Services
) -> HTMLResponse | RedirectResponse:
    caller = officer_or_login(request, node)
    if isinstance(caller, RedirectResponse):
        return caller
    title = "电子证照"
    if node.licenses is None:
        return _said(caller, title, "本节点不提供电子证照服务。", 404)
    if license_type_name(identifier) == "" or not issued_state(node, identifier):
        return _said(caller, title, f"本节点没有签发证照 {identifier}。", 404)
    found = _issuer_view(node, caller, identifier)
    if isinstance(found, Refusal):
        return _said(caller, title, found.text, found.status)
    view, document = found
    labels = {spec.key: spec.label for spec in document.license_type.face_fields}
    ordered = [key for key in labels if key in document.face]  # as the type prints them
    ordered += [key for key in document.face if key not in labels]
    face = "".join(
        f"<dt>{escape(labels.get(key, key))}</dt><dd>{escape(document.face[key])}</dd>"
        for key in ordered
    )
    compact, why_not = _compact(node, caller.subject, document)
    if compact:
        qr_url = escape(license_page(identifier)) + "/qr.png"
        qr = f"""<h2>二维码</h2>
<p><img id="qr" class="license-qr" src="{qr_url}" alt="电子证照二维码（内容即下方 TB1: 文字）"></p>
<p><a href="{qr_url}" download="{escape(identifier)}.png">下载二维码图片</a>
 · <a href="/pages/check">到证照核验页面核验</a>（上传二维码图片或粘贴文字）</p>
<h3>二维码文字</h3>
<pre id="compact">{escape(compact)}</pre>"""
    else:
        qr = f'<p class="note" id="no-qr">{escape(why_not)}</p>'
    forms = "".join(
        _status_form(action)
        for action, kind in STATUS_ACTIONS.items()
        if (view.state, kind) in STATUS_TRANSITIONS
    )
    manage = (
        f"<h2>变更证照状态</h2>\n<p>填写原因后，本页从节点取得该事件的内容字节，自行解码并显示，"
        f"您核对无误后用本机密钥签名。</p>\n{forms}\n{_confirm('确认无误，签名并提交')}"
        if forms
        else "<p>证照已注销，状态不能再变更。</p>"
    )
    until = document.valid_until.isoformat() if document.valid_until else "长期"
    main = f"""
<dl class="facts" id="license" data-identifier="{escape(identifier)}"
 data-ledger="{escape(node.ledger.ledger_name)}" data-head-seq="{view.head_seq}"
 data-head-hash="{escape(view.head_hash)}">
<dt>证照标识</dt><dd><code>{escape(identifier)}</code></dd>
<dt>证照名称</dt><dd>{escape(document.name)}</dd>
<dt>状态</dt><dd id="state">{escape(STATE_NAMES.get(view.state, view.state))}</dd>
<dt>证照编号</dt><dd>{escape(document.number)}</dd>
<dt>持证人</dt><dd>{escape(document.holder.name)}（{escape(document.holder.code)}）</dd>
<dt>颁发机构</dt><dd>{escape(document.issuer.name)}（{escape(document.issuer.code)}）</dd>
<dt>颁发日期</dt><dd>{document.issued_on.isoformat()}</dd>
<dt>有效期</dt><dd>{document.valid_from.isoformat()} 至 {until}</dd>
<dt>案件</dt><dd><a href="/pages/cases/{document.case_id}">{document.case_id}</a></dd>
<dt>状态列表</dt><dd>{escape(view.status_list)} 第 {view.status_index} 项</dd>
<dt>签发事件</dt><dd>台账序号 {view.issuance_index}（最新事件 {view.last_index}）</dd>
<dt>证照摘要</dt><dd><code>{document.digest.hex()}</code></dd>
</dl>
<h2>照面信息</h2>
<dl class="facts" id="license-face">{face}</dl>
{qr}
{manage}
"""
    return page(title, main, scripts=SCRIPTS, officer=_who(caller))


def _status_form(action: str) -> str:
    name = ACTION_NAMES[action]
    return f"""<section class="step-form" aria-labelledby="form-{action}">
<h3 id="form-{action}">{name}证照</h3>
<form class="stack license-status" data-action="{action}">
<label for="reason-{action}">{name}原因</label>
<textarea id="reason-{action}" rows="2" maxlength="500" required></textarea>
<button type="submit">填写完毕，核对内容</button>
</form>
</section>"""


@router.get("/pages/licenses/{identifier}/qr.png", include_in_schema=False, response_model=None)
def license_qr(identifier: str, request: Request, node: Services) -> Response:
    """The license's QR code (PNG) for its issuer's officers: the ``TB1:`` text of the page."""
    caller = officer_or_login(request, node)
    if isinstance(caller, RedirectResponse):
        return caller
    if node.licenses is None or license_type_name(identifier) == "":
        return Response(status_code=404)
    if not issued_state(node, identifier):
        return Response(status_code=404)
    found = _issuer_view(node, caller, identifier)
    if isinstance(found, Refusal):
        return Response(status_code=found.status)
    compact, _ = _compact(node, caller.subject, found[1])
    if not compact:
        return Response(status_code=404)
    return Response(
        qr_png(compact, scale=6),
        media_type="image/png",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )

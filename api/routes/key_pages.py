"""The administrator's key page (``/pages/keys``, docs/pages.md): certify an officer's key
made in a browser, and revoke one, with the body's key held non-extractable in the
administrator's browser (``api/static/key-admin.js``).

``POST /keys/records/draft`` builds the record's canonical content bytes on the registry's head
(``ledger.admin.draft_officer_record``), never a digest or a signing input: the page decodes
them with its own decoder, shows what it decoded, computes ``tongban/key/v1 || 00 ||
SHA-256(content)`` itself, signs with the body key and posts the record to ``POST
/keys/records`` like any other client (the administrator's session).

Only the node's administrator (a token session) uses the page: key records are appended by the
administrator (``POST /keys/records``), and the body key it signs with is the body's
certifying key, not an officer's working key. An officer's session, a supervisor's or an
auditor's is refused (403).
"""

from __future__ import annotations

import base64
from datetime import datetime
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from adapters.access import Principal
from api.deps import Caller, JsonBody, Services, require
from api.page_parts import LOGIN_PAGE, page, session_or_login
from api.routes.pages import with_bytes
from api.schemas import problem_responses
from ledger.admin import draft_officer_record
from ledger.envelope import ID_PATTERN
from ledger.errors import LedgerError
from ledger.keys import KeyRegistry
from ledger.keys.key_info import BODY
from ledger.read_models import CHINA

router = APIRouter(tags=["keys"], responses=problem_responses(401, 403, 415, 422))

KEYS_PAGE = "/pages/keys"
TITLE = "工作人员密钥认证"
_ANY_SESSION = frozenset({"admin", "body", "supervisor", "auditor"})
_KINDS = {"supervisor": "监督员", "auditor": "审计员", "admin": "管理员"}
_ID_INPUT = r'pattern="[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}"'
# Why an officer key cannot sign now, as an administrator reads it.
_KEY_STATES = {
    "key_revoked": "已吊销",
    "key_not_valid_at_time": "已被替换或尚未生效",
    "uncertified_officer": "认证它的部门密钥已失控",
}


# -- the draft route -----------------------------------------------------------------------------


class KeyDraftCreate(BaseModel):
    type: str = Field(description="`officer_certified` or `key_revoked`", max_length=40)
    kid: str = Field(description="the id of the body key that will sign the record", max_length=64)
    body: dict[str, Any] = Field(
        description="officer_certified: `body_id`, `officer_id`, `device` (optional), "
        '`public_key` ({"bin": hex}); key_revoked: `kid` (the officer key), '
        "`compromised_since` (µs, optional: now), `reason` (optional). The node adds "
        "`key_suite` and `valid_from` (now)"
    )


class KeyDraftPublic(BaseModel):
    content: str = Field(
        description="the canonical content bytes of the unsigned key record, base64: decode "
        "them, show them, sign `tongban/key/v1 || 00 || SHA-256(content)` yourself "
        "(docs/keys.md §2) and post `[content, signature]` to POST /keys/records"
    )
    region: str = Field(description="the registry the record is for: the body's region")
    seq: int
    prev: str = Field(description="hex: the hash of the registry head the record follows")


@router.post(
    "/keys/records/draft",
    response_model=KeyDraftPublic,
    summary="the content bytes of an officer key record, unsigned (for the administrator's page)",
)
def draft_key_record(
    draft: KeyDraftCreate, _: JsonBody, node: Services, caller: Caller
) -> KeyDraftPublic:
    require(caller, "admin")
    body = with_bytes(draft.body, "body")
    drafted = draft_officer_record(node.ledger, draft.kid, draft.type, body)
    return KeyDraftPublic(
        content=base64.b64encode(drafted.content).decode(),
        region=drafted.region,
        seq=drafted.seq,
        prev=drafted.prev.hex(),
    )


# -- the page --------------------------------------------------------------------------------------


def _refused(caller: Principal) -> HTMLResponse:
    """403: the page is the administrator's."""
    main = (
        '<p class="error" role="alert">本页供本节点的管理员使用：请以管理员令牌登录。'
        "工作人员、监督员和审计员不能认证或吊销密钥（禁止访问，403）。</p>"
    )
    if caller.kind == "body":
        who = f"{caller.officer_id}（{caller.subject}）"
        return page(TITLE, main, scripts=("session.js",), officer=who, status_code=403)
    who = f"{_KINDS.get(caller.kind, caller.kind)} {caller.subject}"
    return page(TITLE, main, scripts=("session.js",), overseer=who, status_code=403)


def _micros_china(micros: int) -> str:
    return datetime.fromtimestamp(micros / 1_000_000, CHINA).strftime("%Y-%m-%d %H:%M")


def _officer_rows(registry: KeyRegistry, body_id: str, now: int) -> str:
    rows = []
    for (owner, officer_id, device), kid in sorted(registry.officers.items()):
        if owner != body_id:
            continue
        info = registry.keys[kid]
        try:
            registry.officer_key_at(kid, now, body_id=owner, officer_id=officer_id)
            state = "有效"
        except LedgerError as error:
            state = _KEY_STATES.get(error.reason, error.reason)
        action = ""
        if info.compromised_since is None:
            label = f"吊销 {officer_id} 在设备 {device or '（首台设备）'} 上的密钥"
            action = (
                f'<button type="button" class="revoke" data-kid="{escape(kid)}" '
                f'data-officer="{escape(officer_id)}" data-device="{escape(device)}" '
                f'aria-label="{escape(label)}">吊销</button>'
            )
        rows.append(
            f'<tr data-kid="{escape(kid)}"><td>{escape(officer_id)}</td>'
            f"<td>{escape(device) or '（首台设备）'}</td><td><code>{escape(kid)}</code></td>"
            f"<td>{_micros_china(info.valid_from)}</td><td>{escape(state)}</td>"
            f"<td>{action}</td></tr>"
        )
    if not rows:
        return '<p id="officer-keys">本部门尚无工作人员密钥。</p>'
    return f"""<table id="officer-keys">
<caption>每台设备一个密钥；被替换或吊销的密钥不再能签名或登录</caption>
<thead><tr><th scope="col">工作人员</th><th scope="col">设备</th>
<th scope="col">密钥编号</th><th scope="col">生效时间（北京时间）</th>
<th scope="col">状态</th><th scope="col">操作</th></tr></thead>
<tbody>{"".join(rows)}</tbody>
</table>"""


def _chooser(body: str = "") -> str:
    return f"""<form method="get" action="{KEYS_PAGE}" class="stack" id="choose-body">
<label for="body">部门编号</label>
<input id="body" name="body" type="text" required value="{escape(body)}" {_ID_INPUT}>
<button type="submit">打开本部门</button>
</form>
<section aria-labelledby="stored-heading">
<h2 id="stored-heading">本机保存的部门密钥</h2>
<ul id="stored-bodies"><li>正在读取……</li></ul>
</section>
<p id="keys-status" role="alert" aria-live="assertive"></p>"""


_INTRO = (
    "<p>为本部门工作人员在浏览器中生成的密钥签发认证，或吊销其密钥。"
    "部门密钥只在本浏览器中使用（导入后不可导出）；节点只提供待签名内容的字节，"
    "本页自行解码、显示，由您核对后在本机签名。</p>"
)


def _body_page(registry: KeyRegistry, body_id: str, now: int) -> str:
    body = registry.bodies[body_id]
    valid_kids = []
    for info in registry.keys.values():
        if info.role == BODY and info.owner == body_id:
            try:
                info.check_valid_at(now)
            except LedgerError:
                continue
            valid_kids.append(info.kid)
    shown_kids = "、".join(valid_kids) or "无（本部门当前没有有效的部门密钥）"
    return f"""{_INTRO}
<div id="body-facts" data-body="{escape(body_id)}" data-region="{escape(body.region)}"
 data-body-kids="{escape(" ".join(sorted(valid_kids)))}">
<dl class="facts">
<dt>部门</dt><dd>{escape(body.name)}（{escape(body_id)}）</dd>
<dt>地区</dt><dd>{escape(body.region)}</dd>
<dt>有效的部门密钥</dt><dd id="body-kids">{escape(shown_kids)}</dd>
</dl>
<p><a href="{KEYS_PAGE}">换一个部门</a></p>
</div>
<section aria-labelledby="body-key-heading">
<h2 id="body-key-heading">本机的部门密钥</h2>
<p id="body-key-status" role="status">正在读取本机保存的部门密钥……</p>
<form id="import-body-key" class="stack">
<p>每台设备导入一次本部门的密钥文件：私钥导入后不可导出，只保存在本浏览器中，文件内容不保留。</p>
<label for="body-key-file">部门密钥文件</label>
<input id="body-key-file" name="body-key-file" type="file" required>
<button type="submit">导入部门密钥</button>
</form>
<p><button type="button" id="forget-body-key" hidden>从本浏览器删除部门密钥</button></p>
</section>
<section aria-labelledby="certify-heading">
<h2 id="certify-heading">认证工作人员的密钥</h2>
<form id="certify" class="stack">
<p>工作人员在登录页“在本机生成密钥”后会看到一个认证码：粘贴后按“读取认证码”，或逐项填写。</p>
<label for="enrol-code">认证码（TBE1/…）</label>
<textarea id="enrol-code" rows="3"></textarea>
<button type="button" id="read-code">读取认证码</button>
<label for="officer-id">工作人员编号</label>
<input id="officer-id" name="officer-id" type="text" required {_ID_INPUT}>
<label for="device">设备名称</label>
<input id="device" name="device" type="text" required {_ID_INPUT}>
<label for="public-key">公钥（64 位十六进制，Ed25519）</label>
<input id="public-key" name="public-key" type="text" required pattern="[0-9a-f]{{64}}">
<button type="submit">核对待签名内容</button>
</form>
</section>
<section aria-labelledby="officers-heading">
<h2 id="officers-heading">本部门工作人员的密钥</h2>
{_officer_rows(registry, body_id, now)}
<form id="revoke" class="stack" hidden>
<h3 id="revoke-heading" tabindex="-1">吊销密钥</h3>
<p id="revoke-target"></p>
<label for="revoke-since">自何时起视为失控（北京时间，可选；不填即为现在）</label>
<input id="revoke-since" name="revoke-since" type="datetime-local">
<label for="revoke-reason">原因（可选）</label>
<input id="revoke-reason" name="revoke-reason" type="text" maxlength="500">
<p>吊销后，用该密钥打开的会话从下一次请求起即告结束，该密钥不能再签名或登录。</p>
<button type="submit">核对待签名内容</button>
<button type="button" id="revoke-cancel">取消</button>
</form>
</section>
<section id="confirm" aria-labelledby="confirm-heading" hidden>
<h2 id="confirm-heading" tabindex="-1">核对并签名</h2>
<p>以下内容由本页从待签名的字节中解码得出：</p>
<dl id="decoded" class="facts"></dl>
<button type="button" id="sign">确认无误，用部门密钥签名并提交</button>
<button type="button" id="cancel">返回修改</button>
</section>
<p id="keys-status" role="alert" aria-live="assertive"></p>"""


@router.get(KEYS_PAGE, include_in_schema=False, response_model=None)
def keys_page(
    request: Request,
    node: Services,
    body: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse | RedirectResponse:
    found = session_or_login(request, node, kinds=_ANY_SESSION, elsewhere=LOGIN_PAGE)
    if isinstance(found, RedirectResponse):
        return found
    if found.kind != "admin":
        return _refused(found)
    who = f"管理员 {found.subject}"
    scripts = ("session.js", "key-admin.js")
    if body is None:
        return page(TITLE, _INTRO + _chooser(), scripts=scripts, overseer=who, admin=True)
    problem = ""
    status = 200
    if not ID_PATTERN.fullmatch(body):
        problem, status = "部门编号格式不正确（字母或数字开头，至多 64 个字母、数字或 ._:-）。", 422
    else:
        node.ledger.refresh_registry()
        if body not in node.ledger.registry.bodies:
            problem, status = f"本节点的登记簿中没有部门 {body}。", 404
    if problem:
        main = f'<p class="error" role="alert">{escape(problem)}</p>' + _chooser(body)
        return page(TITLE, main, scripts=scripts, overseer=who, admin=True, status_code=status)
    main = _body_page(node.ledger.registry, body, node.ledger.clock())
    return page(TITLE, main, scripts=scripts, overseer=who, admin=True)

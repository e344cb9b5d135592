"""The public pages (no login): the license check and the 跨省通办 catalog (the applicant's
progress is ``api/routes/progress_page.py``).

Server-rendered with the officers' layout (``api.page_parts.page``, the same policy: no inline
script or style, nothing from outside the node), and complete without JavaScript: the check
page is an HTML form posted to the node, the catalog's filters are GET query parameters.

**The check page** (``/pages/check``) runs the node's own verification, the code behind
``POST /licenses/verify`` (:func:`api.routes.licenses.verdict_for`), and shows its verdict.
It needs no CSRF token: the form reads no cookie or session, changes nothing a person owns
(at most the node refreshes a cached status list, as any anonymous ``POST /licenses/verify``
may make it do) and its answer goes to the page that posted it; a cross-site post learns the
other site nothing (the browser does not let it read the answer) and the policy's
``frame-ancestors 'none'`` keeps the page out of other sites' frames.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from adapters.bootstrap import NodeServices
from api.deps import Services
from api.page_parts import page
from api.routes.licenses import verdict_for
from ledger.keys.key_info import LICENSE
from ledger.read_models import CHINA
from licenses.compact import COMPACT_PREFIX, MAX_COMPACT_TEXT, CompactLicense, decode_compact
from licenses.errors import LicenseError, LicenseServiceError
from licenses.verify import ListUsed, Verdict

router = APIRouter(tags=["pages"])

CHECK_PAGE = "/pages/check"
#: The largest form body the check page reads: the longest text a decoder takes, encoded.
MAX_FORM_BYTES = 4 * MAX_COMPACT_TEXT

#: Each reason of a verdict (docs/license.md §11) in the words a clerk reads.
REASON_TEXTS = {
    "malformed": "内容无法解读：文字不完整、有错字或被改动，无法按证照格式解码",
    "unsupported_suite": "证照使用的签名算法本节点不支持",
    "bad_check_character": "证照标识的校验码不对（可能抄错了一位）",
    "unknown_issuer": "发证机关的签名密钥不在有效的信任列表中，无法确认是谁签发的",
    "issuer_key_not_valid": "发证机关的签名密钥在签发当日无效或已泄露",
    "bad_signature": "签名不符：证照内容在签发后被改动过",
    "revoked": "证照已被发证机关注销",
    "suspended": "证照已被发证机关暂停使用",
    "expired": "证照已超过有效期",
    "not_yet_valid": "证照尚未到生效日期",
    "not_recognized": "本地区不认可该地区签发的此类证照",
    "holder_mismatch": "持证人证件号码与证照不符",
    "status_unavailable": (
        "无法取得证照的最新状态（没有足够新的状态列表），不能确认其未被注销或暂停"
    ),
}
STATUS_SOURCES = {
    "online": "发证节点在线答复",
    "status_list": "本节点保存的状态列表",
}


def moment_text(micros: int) -> str:
    """µs UTC as China time, to the minute."""
    moment = datetime.fromtimestamp(micros / 1_000_000, tz=UTC)
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def _age(micros: int) -> str:
    """A duration in µs as days, hours and minutes."""
    minutes = max(micros, 0) // 60_000_000
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} 天 {hours} 小时"
    if hours:
        return f"{hours} 小时 {minutes} 分钟"
    return f"{minutes} 分钟"


# -- the license check -------------------------------------------------------------------------

#: The in-browser check (``api/static/offline-check.js``): shown only by its script, so without
#: JavaScript the page is the form alone. The verdict and the cache are filled in by the script.
LOCAL_RESULT = """<section id="local-result" aria-labelledby="local-result-heading" hidden>
<h2 id="local-result-heading" tabindex="-1">本机核验的结果</h2>
<div id="local-verdict"></div>
</section>"""
# One line: a line break between two Chinese characters shows as a space.
LOCAL_NOTE = (
    "按“在本机核验”时，证照文字只在本浏览器中核验，不发送给任何节点。"
    "核验所用的是本节点公开的密钥、信任列表和状态列表：本页下载后保存在本浏览器中，离线时也可使用。"
    "状态列表有有效期，过期后须更新，才能确认证照未被注销或暂停。"
    "本机没有证照所用的状态列表时，本页向本节点下载该列表（请求中只有列表编号，没有证照内容）。"
    "国密（sm2-sm3）签名的证照浏览器不能核验，请改用“核验”。"
)
LOCAL_CACHE = """<section id="local-cache" aria-labelledby="local-cache-heading"
 data-regions="{regions}" hidden>
<h2 id="local-cache-heading">本机核验（不上传证照）</h2>
<p>{note}</p>
<button type="button" id="local-refresh">更新本机缓存</button>
<p id="local-cache-status" role="status" aria-live="polite"></p>
<div id="local-cache-lists"></div>
</section>"""


def _held_trust_regions(node: NodeServices) -> str:
    """The regions whose trust list this node serves (``GET /trust-list?region=``), for the
    in-browser check to fetch without asking for lists the node does not hold."""
    if node.licenses is None:
        return ""
    held = []
    for region in sorted(node.ledger.trusted_roots):
        try:
            node.licenses.trust_list(region)
        except (LicenseError, LicenseServiceError):  # none held for that region
            continue
        held.append(region)
    return " ".join(held)


def _local_check(node: NodeServices) -> str:
    return (
        LOCAL_RESULT
        + "\n"
        + LOCAL_CACHE.format(regions=escape(_held_trust_regions(node)), note=LOCAL_NOTE)
    )


def _check_form(node: NodeServices, text: str = "", *, offline: bool = False) -> str:
    checked = " checked" if offline else ""
    return f"""
<p>核验他人出示的电子证照：粘贴证照二维码中的文字（以 <code>TB1:</code> 开头；
扫码枪或手机扫码后得到的就是这段文字）。核验由本节点完成，不需要登录，本页不保存所粘贴的内容。</p>
<div id="qr-picker" class="stack" hidden>
<label for="qr-file">或选择证照二维码图片（在本浏览器中识别，图片不上传）</label>
<input type="file" id="qr-file" accept="image/*">
<button type="button" id="qr-camera">或用摄像头扫描证照二维码（画面在本浏览器中识别，不上传）
</button>
<video id="qr-video" hidden muted playsinline aria-label="摄像头画面"></video>
<button type="button" id="qr-stop" hidden>关闭摄像头</button>
<p id="qr-status" role="status" aria-live="polite"></p>
</div>
<form class="stack" method="post" action="{CHECK_PAGE}">
<label for="license">证照二维码文字</label>
<textarea id="license" name="license" rows="6" required
 aria-describedby="license-hint">{escape(text)}</textarea>
<p id="license-hint" class="hint">以 TB1: 开头，约 520 个字符，最长 {MAX_COMPACT_TEXT} 个字符。</p>
<div class="check"><input type="checkbox" id="offline" name="offline" value="1"{checked}>
<label for="offline">不向发证节点在线查询，只用本节点保存的状态列表</label></div>
<div class="buttons"><button type="submit">核验</button>
<button type="button" id="local-verify" hidden>在本机核验（不上传证照）</button></div>
</form>
{_local_check(node)}"""


def _claims_section(node: NodeServices, claims: CompactLicense, valid: bool) -> str:
    """What the text says: identifier, type, issuer, validity, masked holder. Trusted only
    when the verdict is valid, and said so."""
    node.ledger.refresh_registry()
    registry = node.ledger.registry
    key = registry.keys.get(claims.key_id)
    body_id = key.owner if key is not None and key.role == LICENSE else ""
    body = registry.bodies.get(body_id) if body_id else None
    issuer = (
        f"{escape(body.name)}（{escape(body.body_id)}）"
        if body is not None
        else "本节点的登记中没有该签名密钥所属的部门"
    )
    until = "长期" if claims.valid_until is None else claims.valid_until.isoformat()
    caution = (
        "以下内容经核验属实。"
        if valid
        else "以下为证照文字中所写的内容，核验未通过，<strong>不可信</strong>。"
    )
    return f"""<section aria-labelledby="claims-heading">
<h2 id="claims-heading">证照所载信息</h2>
<p>{caution}</p>
<dl class="facts">
<dt>证照标识</dt><dd>{escape(claims.identifier.text)}</dd>
<dt>证照类型代码</dt><dd>{escape(claims.type_code)}</dd>
<dt>发证机关统一社会信用代码</dt><dd>{escape(claims.issuer_code)}</dd>
<dt>签名密钥所属部门</dt><dd>{issuer}</dd>
<dt>有效期</dt><dd>{claims.valid_from.isoformat()} 至 {until}</dd>
<dt>持证人（已遮蔽）</dt><dd>{escape(claims.holder_name)}，{escape(claims.holder_id)}</dd>
<dt>状态列表条目</dt><dd>{escape(claims.status_list_id)} 第 {claims.status_index} 项</dd>
</dl>
</section>"""


def _list_row(used: ListUsed, now: int) -> str:
    return (
        f"<tr><td>{escape(used.id)}</td><td>{used.version}</td>"
        f"<td>{moment_text(used.issued_at)}</td><td>{_age(now - used.issued_at)}</td>"
        f"<td>{moment_text(used.valid_until)}</td></tr>"
    )


def _verdict_section(node: NodeServices, verdict: Verdict, claims: CompactLicense | None) -> str:
    now = node.clock()
    if verdict.valid:
        headline = '<p class="verdict valid" id="verdict">核验结果：<strong>有效</strong></p>'
        failed = ""
    else:
        headline = '<p class="verdict invalid" id="verdict">核验结果：<strong>无效</strong></p>'
        items = "".join(
            f'<li data-reason="{escape(reason)}">{escape(REASON_TEXTS.get(reason, reason))}'
            f"（<code>{escape(reason)}</code>）</li>"
            for reason in verdict.failed
        )
        failed = f'<h3>未通过的检查（按严重程度排列）</h3><ul id="failed">{items}</ul>'
    source = (
        STATUS_SOURCES.get(verdict.status_source, verdict.status_source)
        if verdict.status_source is not None
        else "未知（节点的说明：" + escape(verdict.status_detail or "没有可用的状态答复") + "）"
    )
    status_list = (
        "<p>未使用本节点保存的状态列表。</p>"
        if verdict.status_list is None
        else f"""<table>
<caption>所用状态列表</caption>
<thead><tr><th scope="col">列表</th><th scope="col">版本</th><th scope="col">签发时间</th>
<th scope="col">已签发</th><th scope="col">有效至</th></tr></thead>
<tbody>{_list_row(verdict.status_list, now)}</tbody>
</table>"""
    )
    trust = "".join(_list_row(used, now) for used in verdict.trust_lists)
    trust_table = (
        f"""<table>
<caption>所用信任列表（按地区）</caption>
<thead><tr><th scope="col">地区</th><th scope="col">版本</th><th scope="col">签发时间</th>
<th scope="col">已签发</th><th scope="col">有效至</th></tr></thead>
<tbody>{trust}</tbody>
</table>"""
        if trust
        else ""
    )
    online = (
        '<p class="note" id="online-detail">发证节点未答复在线状态：'
        f"{escape(verdict.online_detail)}"
        "（若有本节点保存的状态列表，则以其为准）</p>"
        if verdict.online_detail
        else ""
    )
    claims_html = "" if claims is None else _claims_section(node, claims, verdict.valid)
    return f"""<section aria-labelledby="verdict-heading">
<h2 id="verdict-heading">核验结果</h2>
{headline}
{failed}
<dl class="facts">
<dt>状态来源</dt><dd id="status-source">{source}</dd>
<dt>核验时间</dt><dd>{moment_text(now)}（北京时间）</dd>
</dl>
{online}
{status_list}
{trust_table}
</section>
{claims_html}"""


#: The check page's scripts, all optional (the page works without them): the QR image reading
#: and the in-browser check from cached lists.
CHECK_SCRIPTS = ("vendor/jsqr/jsQR.js", "check.js", "offline-check.js")


def _check_response(main: str) -> HTMLResponse:
    return page("电子证照核验", main, scripts=CHECK_SCRIPTS, public=True)


def problem_text(message: str) -> str:
    return f'<p class="error" role="alert" id="input-error">{escape(message)}</p>'


def _offline(form_body: bytes) -> bool:
    """Whether the form asked for no online status (the check box ``offline``)."""
    try:
        return parse_qs(form_body.decode("ascii")).get("offline") == ["1"]
    except (UnicodeDecodeError, ValueError):
        return False


def _checked_text(form_body: bytes, content_type: str) -> tuple[str, str | None]:
    """The pasted text, or why it cannot be checked (in the words the page shows)."""
    if len(form_body) > MAX_FORM_BYTES:
        return "", f"内容过长：证照二维码文字最长 {MAX_COMPACT_TEXT} 个字符。"
    if content_type.split(";", 1)[0].strip() != "application/x-www-form-urlencoded":
        return "", "请用本页的表单提交证照二维码文字。"
    try:
        fields = parse_qs(form_body.decode("ascii"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return "", "提交的内容无法读取，请重新粘贴证照二维码文字。"
    values = fields.get("license", [])
    text = values[0].strip() if len(values) == 1 else ""
    if len(values) > 1:
        return "", "请只提交一段证照二维码文字。"
    if not text:
        return "", "请粘贴证照二维码文字（以 TB1: 开头）。"
    if len(text) > MAX_COMPACT_TEXT:
        return text[:200], (
            f"内容过长：证照二维码文字最长 {MAX_COMPACT_TEXT} 个字符，所粘贴的有 {len(text)} 个。"
        )
    if not text.startswith(COMPACT_PREFIX):
        return text, "这不是证照二维码文字：应以 TB1: 开头（区分大小写，前面不能有其他文字）。"
    return text, None


@router.get(CHECK_PAGE, include_in_schema=False)
def check_page(node: Services) -> HTMLResponse:
    """The license check form."""
    return _check_response(_check_form(node))


@router.post(CHECK_PAGE, include_in_schema=False)
async def check_license(request: Request, node: Services) -> HTMLResponse:
    """The verdict on the pasted ``TB1:`` text, from the node's own verification."""
    form_body = await request.body()
    text, problem = _checked_text(form_body, request.headers.get("content-type", ""))
    offline = problem is None and _offline(form_body)
    if problem is not None:
        return _check_response(problem_text(problem) + _check_form(node, text))
    if node.licenses is None:
        refused = problem_text("本节点不提供证照核验服务。")
        return _check_response(refused + _check_form(node, text, offline=offline))
    try:
        verdict = await verdict_for(node, text, online=not offline)
    except LicenseServiceError as error:  # no trust list of its own yet: it recognizes nothing
        message = "本节点尚未发布本地区的信任列表，暂不能核验证照。"
        if error.reason != "no_trust_list":
            message = f"本节点暂不能核验证照：{error.detail}"
        return _check_response(problem_text(message) + _check_form(node, text, offline=offline))
    try:
        claims: CompactLicense | None = decode_compact(text)
    except LicenseError:
        claims = None  # the verdict says why (malformed)
    shown = _verdict_section(node, verdict, claims)
    return _check_response(shown + _check_form(node, offline=offline))

"""Signing from the pages in the browser or, for an SM2 key, on the command line.

The case page signs a step with the device's WebCrypto key, or, for an officer whose key the
browser cannot use (SM2: WebCrypto has none), has it signed on the command line; the login
page's section for such an officer is here too (:data:`CLI_LOGIN_SECTION`).

The session names the key the officer logged in with; the registry says its suite. For an
``sm2-sm3`` key the page still drafts and decodes the step and shows what it decoded, then
shows the draft's content bytes and the ``tongban case sign-draft`` command that signs them,
and takes the signed step pasted back (``api/static/clisign.js`` checks that its content is
byte for byte the draft it showed). The browser never holds or computes with the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from fastapi import Request

from adapters.bootstrap import NodeServices
from ledger.errors import LedgerError
from ledger.suites import ED25519_SHA256

#: The suites the pages' own code signs with (api/static/envelope.js); others sign elsewhere.
BROWSER_SUITES = frozenset({ED25519_SHA256})

_IN_BROWSER_INTRO = (
    "<p>填写后，本页从节点取得该步骤的内容字节，由本页自行解码并显示，"
    "您核对无误后用本机密钥签名。</p>"
)
_IN_BROWSER_CONFIRM = """<section id="confirm" aria-labelledby="confirm-heading" hidden>
<h2 id="confirm-heading" tabindex="-1">核对并签名</h2>
<p>以下内容由本页从待签名的字节中解码得出：</p>
<dl id="decoded" class="facts"></dl>
<button type="button" id="sign">确认无误，签名并提交</button>
<button type="button" id="cancel">返回修改</button>
</section>"""

_CLI_INTRO = (
    "<p>您以国密 SM2 密钥登录：浏览器的 WebCrypto 没有 SM2，本页不持有、也不使用您的密钥。"
    "填写后，本页从节点取得该步骤的内容字节，自行解码并显示；您在本人的终端用命令行签名"
    "（命令会再次解码并显示所签内容），再把命令输出的已签名步骤粘贴回本页提交。</p>"
)
_CLI_CONFIRM = """<section id="confirm" aria-labelledby="confirm-heading" hidden>
<h2 id="confirm-heading" tabindex="-1">核对并用命令行签名</h2>
<p>以下内容由本页从待签名的字节中解码得出：</p>
<dl id="decoded" class="facts"></dl>
<div class="stack">
<label for="draft-content">待签名内容（base64，即上面解码的字节）</label>
<textarea id="draft-content" rows="4" readonly></textarea>
<label for="sign-command">在终端运行以下命令签名（把 &lt;SM2 密钥文件&gt; 换成您的密钥文件；
命令显示的内容应与上面一致）</label>
<textarea id="sign-command" rows="5" readonly></textarea>
<label for="signed-envelope">粘贴命令输出的已签名步骤（base64）</label>
<textarea id="signed-envelope" rows="4" spellcheck="false" autocomplete="off"></textarea>
</div>
<p>本页核对粘贴的步骤所签内容与上面的字节完全一致后才提交。请在取得内容后五分钟内提交
（节点只接受时间在其前后五分钟内的步骤），超时请返回修改，重新核对。</p>
<button type="button" id="sign">提交已签名的步骤</button>
<button type="button" id="cancel">返回修改</button>
</section>"""


#: The login page's section for an officer whose key is SM2 (``api/static/cli-login.js``):
#: the page fetches a challenge and shows it as one line; the officer signs it with
#: ``tongban login sign`` in a terminal and pastes the proof, which the page posts to /login.
CLI_LOGIN_SECTION = """<section aria-labelledby="cli-heading">
<h2 id="cli-heading">国密 SM2 密钥：命令行签名登录</h2>
<form id="cli-login" class="stack">
<p>浏览器的 WebCrypto 没有 SM2，国密密钥不能导入本页。请取得登录挑战，在本人的终端用 tongban
命令对它签名，再把命令输出的登录证明粘贴到这里；本页不接触您的密钥。</p>
<label for="cli-body-id">部门编号（填入命令）</label>
<input id="cli-body-id" name="cli-body-id" type="text" autocomplete="organization"
 pattern="[A-Za-z0-9][A-Za-z0-9._:\\-]{0,63}">
<label for="cli-officer-id">工作人员编号（填入命令）</label>
<input id="cli-officer-id" name="cli-officer-id" type="text" autocomplete="username"
 pattern="[A-Za-z0-9][A-Za-z0-9._:\\-]{0,63}">
<button type="button" id="cli-challenge">国密密钥（命令行签名）</button>
<div id="cli-steps" class="stack" hidden>
<label for="challenge-text">登录挑战（五分钟内有效）</label>
<textarea id="challenge-text" rows="3" readonly></textarea>
<p id="challenge-expiry" class="hint"></p>
<label for="login-command">在终端运行以下命令（把 &lt;SM2 密钥文件&gt; 换成您的密钥文件；
核对命令显示的地址就是本页地址栏中的地址）</label>
<textarea id="login-command" rows="4" readonly></textarea>
<label for="pasted-proof">粘贴命令输出的登录证明</label>
<textarea id="pasted-proof" rows="4" spellcheck="false" autocomplete="off"></textarea>
<button type="submit" id="cli-submit">提交登录证明</button>
</div>
<p id="cli-status" role="alert" aria-live="assertive"></p>
</form>
</section>
"""


@dataclass(frozen=True)
class SigningParts:
    """What the case page shows around its forms for the session's key."""

    attributes: str  # on the case's facts: how the page signs, and for whom
    intro: str
    confirm: str


IN_BROWSER = SigningParts("", _IN_BROWSER_INTRO, _IN_BROWSER_CONFIRM)


def session_suite(request: Request, node: NodeServices) -> str:
    """The suite of the key the officer's session logged in with (checked valid on this
    request); ``ed25519-sha256`` when there is no officer session or no such key."""
    session = getattr(request.state, "session", None)
    kid = getattr(session, "kid", "")
    if not kid:
        return ED25519_SHA256
    try:
        return node.ledger.registry.key(kid).suite
    except LedgerError:
        return ED25519_SHA256


def signing_parts(request: Request, node: NodeServices) -> SigningParts:
    """In the browser for a key WebCrypto has; else on the command line, the page naming the
    session's key, body and officer (what the draft must say, checked in the page)."""
    suite = session_suite(request, node)
    if suite in BROWSER_SUITES:
        return IN_BROWSER
    session = request.state.session
    attributes = (
        f' data-suite="{escape(suite)}" data-kid="{escape(session.kid)}"'
        f' data-officer-body="{escape(session.body_id)}"'
        f' data-officer="{escape(session.officer_id)}"'
    )
    return SigningParts(attributes, _CLI_INTRO, _CLI_CONFIRM)

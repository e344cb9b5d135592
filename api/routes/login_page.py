"""The login page (``/pages/login``): an officer imports or generates a key and logs in by
signing the node's challenge (``api/static/login.js``, docs/login.md), or, with an SM2 key,
pastes the proof ``tongban login sign`` made of it (``api/static/cli-login.js``); an auditor,
a supervisor or the administrator logs in with their API token (``api/static/token-login.js``,
``POST /login/token``)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.page_parts import page
from api.page_signing import CLI_LOGIN_SECTION

router = APIRouter(tags=["pages"])


@router.get("/pages/login", include_in_schema=False)
def login_page() -> HTMLResponse:
    main = """
<p id="context-note" class="note" hidden></p>
<section aria-labelledby="key-heading">
<h2 id="key-heading">本机密钥</h2>
<p id="key-status" role="status">正在读取本机保存的密钥……</p>
<form id="import-key" class="stack">
<p>演示：导入一次演示密钥文件（私钥导入后不可导出，保存在本浏览器中）。</p>
<label for="key-file">密钥文件</label>
<input id="key-file" name="key-file" type="file" required>
<label for="body-id">部门编号</label>
<input id="body-id" name="body-id" type="text" required autocomplete="organization"
 pattern="[A-Za-z0-9][A-Za-z0-9._:\\-]{0,63}">
<label for="officer-id">工作人员编号</label>
<input id="officer-id" name="officer-id" type="text" required autocomplete="username"
 pattern="[A-Za-z0-9][A-Za-z0-9._:\\-]{0,63}">
<button type="submit">导入密钥</button>
</form>
</section>
<section aria-labelledby="enrol-heading">
<h2 id="enrol-heading">在本机生成密钥</h2>
<form id="generate-key" class="stack">
<p>在本浏览器中生成新的签名密钥（不可导出）。生成后，请本部门管理员用下方显示的认证码为您认证，认证后即可登录。</p>
<label for="new-body-id">部门编号</label>
<input id="new-body-id" name="new-body-id" type="text" required
 pattern="[A-Za-z0-9][A-Za-z0-9._:\\-]{0,63}">
<label for="new-officer-id">工作人员编号</label>
<input id="new-officer-id" name="new-officer-id" type="text" required
 pattern="[A-Za-z0-9][A-Za-z0-9._:\\-]{0,63}">
<button type="submit">生成密钥</button>
</form>
<div id="enrolment" hidden>
<p>请将下面的认证码交给本部门管理员，管理员在“工作人员密钥认证”页面粘贴认证码，核对后用部门密钥签名认证（一台设备一个密钥，其他设备的密钥仍然有效）：</p>
<div class="stack">
<label for="enrol-code">认证码</label>
<textarea id="enrol-code" rows="3" readonly></textarea>
<button type="button" id="copy-code">复制认证码</button>
</div>
<dl class="facts">
<dt>部门</dt><dd id="new-body"></dd>
<dt>工作人员</dt><dd id="new-officer"></dd>
<dt>设备</dt><dd id="new-device"></dd>
<dt>公钥</dt><dd id="new-public-key"></dd>
<dt>密钥编号</dt><dd id="new-kid"></dd>
</dl>
<p>管理员也可用命令行认证：</p>
<pre id="certify-command"></pre>
</div>
</section>
<section aria-labelledby="login-heading">
<h2 id="login-heading">登录</h2>
<p>登录时，本页用本机密钥对节点发来的登录挑战签名（tongban/login/v1）。</p>
<button type="button" id="login" disabled>用本机密钥登录</button>
<p id="login-status" role="alert" aria-live="assertive"></p>
</section>
"""
    main += CLI_LOGIN_SECTION  # an SM2 key: the proof is made on the command line
    main += """
<section aria-labelledby="token-heading">
<h2 id="token-heading">审计员、监督员、管理员：以令牌登录</h2>
<form id="token-login" class="stack">
<p>审计员、监督员和管理员不签署案件步骤，凭本节点发给您的访问令牌（tb_ 开头）登录。
令牌只用于本次登录，浏览器只保存会话；令牌被吊销时会话随即结束。</p>
<label for="api-token">访问令牌</label>
<input id="api-token" name="api-token" type="password" required autocomplete="off"
 pattern="tb_[a-z2-7]{8,190}">
<button type="submit">以令牌登录</button>
<p id="token-status" role="alert" aria-live="assertive"></p>
</form>
</section>
"""
    return page("登录", main, scripts=("login.js", "cli-login.js", "token-login.js"))

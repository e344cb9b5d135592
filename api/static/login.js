// The login page: import the demo key once (or find the device's key), then log in by signing
// the node's challenge with it (docs/login.md). The proof's content is built here, from the
// challenge's values and this page's own origin; the node's bytes are never signed.

import { fromHex, hex } from "./canonical.js";
import { LOGIN_CONTEXT, loginContent, signContent } from "./envelope.js";
import { deviceName, enrolmentCode } from "./enrolment.js";
import { generateKey, importSeedFile, storedKey } from "./keys.js";
import { problemText, rememberCsrf } from "./session.js";

const keyStatus = document.getElementById("key-status");
const loginButton = document.getElementById("login");
const loginStatus = document.getElementById("login-status");
const form = document.getElementById("import-key");

function say(text) {
  loginStatus.textContent = text;
}

/** Where to go after login: a page of this node only. */
function next() {
  const wanted = new URLSearchParams(location.search).get("next") ?? "";
  return /^\/pages\/[A-Za-z0-9/_-]*(\?[A-Za-z0-9=&_-]*)?$/.test(wanted) ? wanted : "/pages/worklist";
}

async function showKey() {
  const key = await storedKey();
  if (key) {
    keyStatus.textContent = `本机已保存密钥：部门 ${key.bodyId}，工作人员 ${key.officerId}，密钥编号 ${key.kid}。`;
    loginButton.disabled = false;
  } else {
    keyStatus.textContent = "本机尚无密钥：请先导入密钥文件。";
    loginButton.disabled = true;
  }
  return key;
}

async function logIn() {
  const key = await storedKey();
  if (!key) return say("本机尚无密钥。");
  loginButton.disabled = true;
  try {
    say("正在取得登录挑战……");
    const answer = await fetch("/login/challenge", { method: "POST" });
    if (!answer.ok) return say(`无法取得登录挑战：${await problemText(answer)}`);
    const challenge = await answer.json();
    if (challenge.origin !== location.origin) {
      return say(`节点地址 ${challenge.origin} 与本页地址 ${location.origin} 不一致，不签名。`);
    }
    const content = loginContent(
      {
        nonce: fromHex(challenge.nonce),
        issued_at: challenge.issued_at,
        expires_at: challenge.expires_at,
      },
      { kid: key.kid, bodyId: key.bodyId, officerId: key.officerId, origin: location.origin },
    );
    const proof = await signContent(key.privateKey, LOGIN_CONTEXT, content);
    const sent = await fetch("/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ proof: btoa(String.fromCharCode(...proof)) }),
    });
    if (!sent.ok) return say(`登录未成功：${await problemText(sent)}`);
    const session = await sent.json();
    rememberCsrf(session.csrf_token);
    say("登录成功，正在打开待办案件……");
    location.assign(next());
  } catch (error) {
    say(`登录失败：${error.message}`);
  } finally {
    loginButton.disabled = false;
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = document.getElementById("key-file").files[0];
  try {
    await importSeedFile(await file.text(), {
      bodyId: document.getElementById("body-id").value.trim(),
      officerId: document.getElementById("officer-id").value.trim(),
    });
    form.reset();
    await showKey();
    say("密钥已导入本浏览器（不可导出）。");
  } catch (error) {
    say(`导入失败：${error.message}`);
  }
});
loginButton.addEventListener("click", () => logIn());

const generator = document.getElementById("generate-key");
generator.addEventListener("submit", async (event) => {
  event.preventDefault();
  const bodyId = document.getElementById("new-body-id").value.trim();
  const officerId = document.getElementById("new-officer-id").value.trim();
  try {
    const key = await generateKey({ bodyId, officerId });
    // One key per device (docs/keys.md §5): a name of its own, so it stands beside the
    // officer's keys on other devices instead of replacing them.
    const device = deviceName(key.kid);
    const publicKey = hex(key.publicKey);
    const shown = { "new-body": bodyId, "new-officer": officerId, "new-device": device };
    for (const [id, text] of Object.entries({ ...shown, "new-public-key": publicKey, "new-kid": key.kid })) {
      document.getElementById(id).textContent = text;
    }
    document.getElementById("enrol-code").value = await enrolmentCode({
      bodyId,
      officerId,
      device,
      publicKey: key.publicKey,
    });
    document.getElementById("certify-command").textContent =
      `tongban keys certify-officer --body-key <本部门密钥文件> --body-id ${bodyId} ` +
      `--officer-id ${officerId} --officer-public-key ${publicKey} --device ${device}`;
    document.getElementById("enrolment").hidden = false;
    generator.reset();
    await showKey();
    say("已在本机生成密钥（不可导出）；管理员认证后即可登录。");
  } catch (error) {
    say(`生成失败：${error.message}`);
  }
});

document.getElementById("copy-code").addEventListener("click", async () => {
  const code = document.getElementById("enrol-code");
  code.select();
  try {
    await navigator.clipboard.writeText(code.value);
    say("认证码已复制。");
  } catch {
    say("浏览器不允许本页写入剪贴板：认证码已选中，请手动复制（Ctrl+C）。");
  }
});

if (!window.isSecureContext || !crypto.subtle) {
  const note = document.getElementById("context-note");
  note.hidden = false;
  note.textContent =
    "本页不是安全上下文（非 HTTPS，也不是 localhost），浏览器不提供 WebCrypto，无法签名登录。请通过 HTTPS 地址访问本节点。";
  keyStatus.textContent = "无法使用本机密钥。";
  form.querySelector("button").disabled = true;
  generator.querySelector("button").disabled = true;
} else {
  showKey().catch((error) => (keyStatus.textContent = `无法读取本机密钥：${error.message}`));
}

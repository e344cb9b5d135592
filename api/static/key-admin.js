// The administrator's key page (/pages/keys): the body's key imported once per device as a
// non-extractable key; an officer's key certified (from the enrolment code the login page
// shows) or revoked. The node drafts the record's content bytes (POST /keys/records/draft);
// this page decodes them with its own decoder, checks they are the record asked for, shows
// what it decoded, and only on confirmation computes `tongban/key/v1 || 00 || SHA-256(content)`
// itself, signs with the body key and posts the record to POST /keys/records.

import { fromHex, hex } from "./canonical.js";
import { row as addRow } from "./confirm.js";
import { checkCertifiedDraft, checkRevokedDraft, parseEnrolmentCode } from "./enrolment.js";
import { KEY_CONTEXT, decodeKeyRecordContent, kidOf, signContent } from "./envelope.js";
import { forgetBodyKey, importSeed, storeBodyKey, storedBodyKey, storedBodyKeys } from "./keys.js";
import { problemText, send } from "./session.js";

const facts = document.getElementById("body-facts");
const status = document.getElementById("keys-status");
const secure = window.isSecureContext && Boolean(crypto.subtle);
let pending = null; // {bytes, what}

function say(text) {
  if (status) status.textContent = text;
}

const TYPE_NAMES = { officer_certified: "认证工作人员密钥", key_revoked: "吊销密钥" };

function chinaTime(micros) {
  return new Date(Number(micros) / 1000).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai" });
}

/** `2026-05-01T10:00` typed as China time, in µs since the epoch; null when empty. */
function typedChinaTime(value) {
  if (!value) return null;
  const ms = Date.parse(`${value.length === 16 ? `${value}:00` : value}+08:00`);
  if (Number.isNaN(ms)) throw new Error("失控时间格式不正确");
  return ms * 1000;
}

// -- the page without a body: the bodies whose keys this device holds -----------------------

async function listStoredBodies() {
  const list = document.getElementById("stored-bodies");
  if (!list) return;
  if (!secure) {
    list.replaceChildren(Object.assign(document.createElement("li"), { textContent: "无法使用本机密钥（非安全上下文）。" }));
    return;
  }
  const stored = await storedBodyKeys();
  const items = stored.map((key) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = `/pages/keys?body=${encodeURIComponent(key.bodyId)}`;
    link.textContent = `${key.bodyId}（密钥编号 ${key.kid}）`;
    item.append(link);
    return item;
  });
  if (!items.length) items.push(Object.assign(document.createElement("li"), { textContent: "本机尚未导入任何部门密钥。" }));
  list.replaceChildren(...items);
}

// -- the page of one body ---------------------------------------------------------------------

const bodyId = facts?.dataset.body;
const region = facts?.dataset.region;
const validKids = new Set((facts?.dataset.bodyKids ?? "").split(" ").filter(Boolean));

/** This device's key of the body, if it is still a valid key of it (else null, and why). */
async function usableKey() {
  const key = await storedBodyKey(bodyId);
  if (!key) return { key: null, why: `本机尚未导入部门 ${bodyId} 的密钥。` };
  if (!validKids.has(key.kid)) {
    return { key: null, why: `本机保存的密钥 ${key.kid} 已不是部门 ${bodyId} 的有效密钥（可能已轮换或吊销）：请删除后导入当前的部门密钥。` };
  }
  return { key, why: "" };
}

async function showBodyKey() {
  const shown = document.getElementById("body-key-status");
  const forget = document.getElementById("forget-body-key");
  const stored = await storedBodyKey(bodyId);
  const { key, why } = await usableKey();
  shown.textContent = key ? `本机已保存部门 ${bodyId} 的密钥，密钥编号 ${key.kid}（不可导出）。` : why;
  forget.hidden = !stored;
  document.getElementById("import-body-key").hidden = Boolean(stored);
  return key;
}

async function importBodyKey(event) {
  event.preventDefault();
  const file = document.getElementById("body-key-file").files[0];
  try {
    const imported = await importSeed(await file.text());
    if (!validKids.has(imported.kid)) {
      const valid = [...validKids].join("、") || "无";
      return say(`导入失败：该密钥（密钥编号 ${imported.kid}）不是部门 ${bodyId} 的有效密钥（本部门的有效密钥：${valid}）。未保存。`);
    }
    await storeBodyKey({ bodyId, ...imported });
    event.target.reset();
    await showBodyKey();
    say("部门密钥已导入本浏览器（不可导出）。");
  } catch (error) {
    say(`导入失败：${error.message}`);
  }
}

function fillFromCode() {
  const text = document.getElementById("enrol-code").value;
  parseEnrolmentCode(text)
    .then((parsed) => {
      if (parsed.bodyId !== bodyId) {
        return say(`认证码属于部门 ${parsed.bodyId}，不是本页的部门 ${bodyId}：请打开该部门的页面。`);
      }
      document.getElementById("officer-id").value = parsed.officerId;
      document.getElementById("device").value = parsed.device;
      document.getElementById("public-key").value = hex(parsed.publicKey);
      say(`已读取认证码：工作人员 ${parsed.officerId}，设备 ${parsed.device}，密钥编号 ${parsed.kid}。请核对后继续。`);
    })
    .catch((error) => say(`认证码无法读取：${error.message}`));
}

/** Ask the node for the record's bytes; decode and check them here; show what was decoded. */
async function draft(request, check, rows) {
  const { key, why } = await usableKey();
  if (!key) return say(`不能签名：${why}`);
  const answer = await send("/keys/records/draft", {
    body: JSON.stringify({ ...request, kid: key.kid }),
    type: "application/json",
  });
  if (!answer.ok) return say(`节点未接受所填内容：${await problemText(answer)}`);
  const bytes = Uint8Array.from(atob((await answer.json()).content), (c) => c.charCodeAt(0));
  let content;
  try {
    content = decodeKeyRecordContent(bytes);
    check(content, key);
  } catch (error) {
    return say(`不能签名：${error.message}`);
  }
  const list = document.getElementById("decoded");
  list.replaceChildren();
  const row = (term, value) => addRow(list, term, value);
  row("记录", `${TYPE_NAMES[content.type]}（${content.type}）`);
  row("地区登记簿", `${content.region}，第 ${content.seq} 条`);
  await rows(content, row);
  row("记录时间", chinaTime(content.time));
  row("签名密钥（本部门）", content.kid);
  row("前一条记录的哈希", content.prev);
  pending = { bytes, what: TYPE_NAMES[content.type] };
  document.getElementById("confirm").hidden = false;
  document.getElementById("confirm-heading").focus();
  say("请核对以上内容；确认后用部门密钥签名。");
}

function certify(event) {
  event.preventDefault();
  const officerId = document.getElementById("officer-id").value.trim();
  const device = document.getElementById("device").value.trim();
  const keyHex = document.getElementById("public-key").value.trim();
  if (!/^[0-9a-f]{64}$/.test(keyHex)) return say("公钥应为 64 位小写十六进制（Ed25519 公钥）。");
  const publicKey = fromHex(keyHex);
  const request = {
    type: "officer_certified",
    body: { body_id: bodyId, officer_id: officerId, device, public_key: { bin: keyHex } },
  };
  const check = (content, key) =>
    checkCertifiedDraft(content, { kid: key.kid, region, bodyId, officerId, device, publicKey });
  const rows = async (content, row) => {
    row("部门", content.body.body_id);
    row("工作人员", content.body.officer_id);
    row("设备", content.body.device);
    row("公钥", content.body.public_key);
    row("公钥的密钥编号", await kidOf(content.body.public_key));
    row("生效时间", chinaTime(content.body.valid_from));
  };
  draft(request, check, rows).catch((error) => say(`出错：${error.message}`));
}

let revoking = null; // {kid, officer, device}

function openRevoke(button) {
  revoking = { ...button.dataset };
  const form = document.getElementById("revoke");
  document.getElementById("revoke-target").textContent =
    `工作人员 ${revoking.officer}，设备 ${revoking.device || "（首台设备）"}，密钥编号 ${revoking.kid}`;
  form.hidden = false;
  document.getElementById("revoke-heading").focus();
}

function revoke(event) {
  event.preventDefault();
  if (!revoking) return;
  let since;
  try {
    since = typedChinaTime(document.getElementById("revoke-since").value);
  } catch (error) {
    return say(error.message);
  }
  const reason = document.getElementById("revoke-reason").value.trim();
  const body = { kid: revoking.kid, reason };
  if (since !== null) body.compromised_since = since;
  const target = revoking;
  const check = (content, key) =>
    checkRevokedDraft(content, { kid: key.kid, region, officerKid: target.kid, reason, since });
  const rows = async (content, row) => {
    row("被吊销的密钥", content.body.kid);
    row("工作人员", `${target.officer}，设备 ${target.device || "（首台设备）"}`);
    row("自此时起视为失控", chinaTime(content.body.compromised_since));
    row("原因", content.body.reason || "（未填）");
  };
  draft({ type: "key_revoked", body }, check, rows).catch((error) => say(`出错：${error.message}`));
}

async function sign() {
  if (!pending) return;
  const { key, why } = await usableKey();
  if (!key) return say(`不能签名：${why}`);
  const { bytes, what } = pending;
  pending = null;
  const record = await signContent(key.privateKey, KEY_CONTEXT, bytes);
  const answer = await send("/keys/records", { body: record, type: "application/msgpack" });
  document.getElementById("confirm").hidden = true;
  if (!answer.ok) return say(`节点拒绝了该记录：${await problemText(answer)}`);
  const appended = await answer.json();
  say(`${what}已签名并记入登记簿：台账序号 ${appended.index}。`);
  location.reload();
}

function setUpBodyPage() {
  document.getElementById("import-body-key").addEventListener("submit", importBodyKey);
  document.getElementById("forget-body-key").addEventListener("click", async () => {
    await forgetBodyKey(bodyId);
    await showBodyKey();
    say("已从本浏览器删除部门密钥。");
  });
  document.getElementById("read-code").addEventListener("click", fillFromCode);
  document.getElementById("certify").addEventListener("submit", certify);
  for (const button of document.querySelectorAll("button.revoke")) {
    button.addEventListener("click", () => openRevoke(button));
  }
  document.getElementById("revoke").addEventListener("submit", revoke);
  document.getElementById("revoke-cancel").addEventListener("click", () => {
    revoking = null;
    document.getElementById("revoke").hidden = true;
  });
  document.getElementById("sign").addEventListener("click", () => {
    sign().catch((error) => say(`签名失败：${error.message}`));
  });
  document.getElementById("cancel").addEventListener("click", () => {
    pending = null;
    document.getElementById("confirm").hidden = true;
  });
  if (!secure) {
    say("本页不是安全上下文（非 HTTPS，也不是 localhost），浏览器不提供 WebCrypto，无法导入密钥或签名；只能查看。");
    document.getElementById("body-key-status").textContent = "无法使用本机密钥。";
    for (const button of document.querySelectorAll("#import-body-key button, #certify button, #revoke button, button.revoke")) {
      button.disabled = true;
    }
    return;
  }
  showBodyKey().catch((error) => say(`无法读取本机的部门密钥：${error.message}`));
}

if (facts) setUpBodyPage();
else listStoredBodies().catch((error) => say(`无法读取本机的部门密钥：${error.message}`));

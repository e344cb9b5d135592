// The license pages (api/routes/license_pages.py). 签发电子证照: the officer fills in the face
// and validity; the node holds a status entry, reads the holder, seals a draft document with
// the body's seal and drafts the `license_issued` event's content bytes (POST /licenses/draft,
// unsigned); this page decodes both with its own decoder, checks they are what was asked for
// (license-events.js), shows them, and only on confirmation signs the event with the device's
// key and posts it with the draft (POST /licenses/sealed). The license page: suspend,
// reinstate, revoke, drafted (POST /licenses/status-draft), checked, shown, signed and posted
// to POST /licenses/{id}/{action} as the exact envelope bytes.

import { row } from "./confirm.js";
import { EVENT_CONTEXT, signContent } from "./envelope.js";
import { storedKey } from "./keys.js";
import { checkIssuedDraft, checkStatusDraft } from "./license-events.js";
import { problemText, send } from "./session.js";

const status = document.getElementById("license-status");
const confirmBox = document.getElementById("confirm");
const decodedList = document.getElementById("decoded");
let pending = null; // {bytes, post(envelope)}

function say(text) {
  status.textContent = text;
}

const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

function toBase64(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text);
}

const chinaTime = (micros) =>
  new Date(Number(micros) / 1000).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai" });

function showCommon(content) {
  row(decodedList, "部门", content.actor.body);
  row(decodedList, "工作人员", content.actor.officer);
  row(decodedList, "时间", chinaTime(content.time));
  row(decodedList, "台账", content.ledger);
  row(decodedList, "证照事件流", `${content.case}，第 ${content.seq} 条`);
  row(decodedList, "前一事件哈希", content.prev);
  row(decodedList, "密钥编号", content.kid);
}

function open(bytes, post) {
  pending = { bytes, post };
  confirmBox.hidden = false;
  document.getElementById("confirm-heading").focus();
  say("请核对以上内容；确认后签名。");
}

async function signAndPost() {
  if (!pending) return;
  const key = await storedKey();
  const { bytes, post } = pending;
  pending = null;
  const envelope = await signContent(key.privateKey, EVENT_CONTEXT, bytes);
  const answer = await post(envelope);
  if (!answer.ok) {
    confirmBox.hidden = true;
    return say(`节点拒绝了该事件：${await problemText(answer)}`);
  }
  return answer.json();
}

// -- 签发电子证照 ------------------------------------------------------------------------------

const issuance = document.getElementById("issuance");
const issueForm = document.getElementById("issue");

function typedFace() {
  const face = {};
  for (const input of issueForm.querySelectorAll("[data-face]")) {
    const value = input.value.trim();
    if (value) face[input.dataset.face] = value;
  }
  return face;
}

async function draftIssue() {
  const key = await storedKey();
  if (!key) return say("本机没有密钥，请先在登录页导入。");
  const expected = {
    identifier: issuance.dataset.identifier,
    caseId: issuance.dataset.case,
    ledger: issuance.dataset.ledger,
    deliveredSeq: Number(issuance.dataset.deliveredSeq),
    number: document.getElementById("number").value.trim(),
    validFrom: document.getElementById("valid-from").value,
    validUntil: document.getElementById("valid-until").value,
    face: typedFace(),
  };
  const answer = await send("/licenses/draft", {
    type: "application/json",
    body: JSON.stringify({
      case: expected.caseId,
      identifier: expected.identifier,
      face: expected.face,
      number: expected.number,
      valid_from: expected.validFrom,
      valid_until: expected.validUntil,
    }),
  });
  if (!answer.ok) return say(`节点未接受所填内容：${await problemText(answer)}`);
  const drafted = await answer.json();
  const bytes = fromBase64(drafted.content);
  const documentBytes = fromBase64(drafted.document);
  let content;
  let draft;
  try {
    ({ content, document: draft } = await checkIssuedDraft(bytes, documentBytes, key, expected));
  } catch (error) {
    return say(`不能签名：${error.message}`);
  }
  const body = content.body;
  decodedList.replaceChildren();
  row(decodedList, "事件", `证照签发（${content.type}）`);
  row(decodedList, "证照标识", body.id);
  row(decodedList, "证照类型", `${draft.name}（${body.type}）`);
  row(decodedList, "案件", `${body.case}（送达步骤第 ${body.delivered_seq} 步）`);
  row(decodedList, "有效期", `${body.valid_from} 至 ${body.valid_until || "长期"}`);
  row(decodedList, "状态列表", `${body.status.list} 第 ${body.status.index} 项`);
  row(decodedList, "证照摘要", body.document_digest);
  row(decodedList, "持证人身份证号承诺值", body.holder_commitment);
  showCommon(content);
  const face = document.getElementById("face");
  face.replaceChildren();
  const labels = JSON.parse(issueForm.dataset.labels);
  row(face, "证照名称", draft.name);
  row(face, "证照编号", draft.number);
  row(face, "持证人", `${draft.holder.name}（${draft.holder.code}）`);
  row(face, "颁发机构", `${draft.issuer.name}（${draft.issuer.code}）`);
  row(face, "颁发日期", draft.issued_on);
  // In the order the type prints them (the labels'), then any other the draft holds.
  const names = [...Object.keys(labels), ...Object.keys(draft.face)];
  for (const name of new Set(names)) {
    if (Object.hasOwn(draft.face, name)) row(face, labels[name] ?? name, draft.face[name]);
  }
  document.getElementById("face-shown").hidden = false;
  open(bytes, (envelope) =>
    send("/licenses/sealed", {
      type: "application/json",
      body: JSON.stringify({ event: toBase64(envelope), document: toBase64(documentBytes) }),
    }),
  );
}

// -- the license page: suspend, reinstate, revoke ----------------------------------------------

const license = document.getElementById("license");
const ACTION_NAMES = { suspend: "暂停", reinstate: "恢复", revoke: "注销" };

async function draftStatus(form) {
  const key = await storedKey();
  if (!key) return say("本机没有密钥，请先在登录页导入。");
  const action = form.dataset.action;
  const expected = {
    identifier: license.dataset.identifier,
    ledger: license.dataset.ledger,
    headSeq: Number(license.dataset.headSeq),
    headHash: license.dataset.headHash,
    action,
    reason: form.querySelector("textarea").value.trim(),
  };
  const answer = await send("/licenses/status-draft", {
    type: "application/json",
    body: JSON.stringify({ identifier: expected.identifier, action, reason: expected.reason }),
  });
  if (!answer.ok) return say(`节点未接受所填内容：${await problemText(answer)}`);
  const bytes = fromBase64((await answer.json()).content);
  let content;
  try {
    content = await checkStatusDraft(bytes, key, expected);
  } catch (error) {
    return say(`不能签名：${error.message}`);
  }
  decodedList.replaceChildren();
  row(decodedList, "事件", `${ACTION_NAMES[action]}证照（${content.type}）`);
  row(decodedList, "证照标识", expected.identifier);
  row(decodedList, "原因", content.body.reason);
  showCommon(content);
  open(bytes, (envelope) =>
    send(`/licenses/${encodeURIComponent(expected.identifier)}/${action}`, {
      type: "application/msgpack",
      body: envelope,
    }),
  );
}

// -- wiring ------------------------------------------------------------------------------------

function guard(promise, prefix) {
  promise.catch((error) => say(`${prefix}：${error.message}`));
}

if (issueForm) {
  issueForm.addEventListener("submit", (event) => {
    event.preventDefault();
    guard(draftIssue(), "出错");
  });
}
for (const form of document.querySelectorAll("form.license-status")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guard(draftStatus(form), "出错");
  });
}
document.getElementById("sign")?.addEventListener("click", () => {
  guard(
    signAndPost().then((done) => {
      if (!done) return;
      if (issuance) {
        say(`已签发：台账序号 ${done.index}。`);
        location.assign(`/pages/licenses/${encodeURIComponent(done.identifier)}`);
      } else {
        say(`已签名并记入台账：第 ${done.seq} 条，台账序号 ${done.index}。`);
        location.reload();
      }
    }),
    "签名失败",
  );
});
document.getElementById("cancel")?.addEventListener("click", () => {
  pending = null;
  confirmBox.hidden = true;
});
if (!window.isSecureContext || !crypto.subtle) {
  say("本页不是安全上下文（非 HTTPS，也不是 localhost），浏览器不提供 WebCrypto，无法签名；只能查看。");
  for (const button of document.querySelectorAll("form button")) button.disabled = true;
}

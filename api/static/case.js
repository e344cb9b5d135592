// The case page: the officer fills in the next step; the node builds its canonical content
// bytes (POST /cases/{id}/draft, unsigned); this page decodes them with its own decoder, checks
// they are the step the officer filled in, for this case, officer and key, shows what it
// decoded, and only on the officer's confirmation computes ctx || 00 || SHA-256(content)
// itself, signs it with the device's key and posts the exact bytes to POST /cases/{id}/events.
// For a session whose key the browser cannot use (SM2: `data-suite` on the case's facts) the
// page shows the draft's bytes and the command that signs them instead, and posts the signed
// step pasted back only if its content is byte for byte that draft (clisign.js).

import { Refused, hex } from "./canonical.js";
import { row as addRow, same } from "./confirm.js";
import { base64, checkPastedEnvelope, signDraftCommand } from "./clisign.js";
import { EVENT_CONTEXT, SUITE, decodeEventContent, signContent } from "./envelope.js";
import { storedKey } from "./keys.js";
import { relayedAnswer } from "./relay.js";
import { problemText, send } from "./session.js";

const facts = document.getElementById("case");
const caseId = facts.dataset.case;
const status = document.getElementById("case-status");
const confirmBox = document.getElementById("confirm");
const decodedList = document.getElementById("decoded");
let pending = null; // {content bytes, decoded content}
// The session's key signs on the command line (its suite is not WebCrypto's): the key the page
// names, never one of this device.
const onCommandLine = Boolean(facts.dataset.suite) && facts.dataset.suite !== SUITE;

/** The key that signs: the session's (command line), else this device's WebCrypto key. */
async function signingKey() {
  if (!onCommandLine) return storedKey();
  const { suite, kid, officerBody: bodyId, officer: officerId } = facts.dataset;
  return { suite, kid, bodyId, officerId };
}

function say(text) {
  status.textContent = text;
}

/** The body the officer filled in, typed as the workflow's field table says. */
function bodyOf(form) {
  const body = {};
  for (const control of form.querySelectorAll("[data-field]")) {
    const { field, kind } = control.dataset;
    const raw = control.type === "checkbox" ? control.checked : control.value;
    if (kind === "flag") body[field] = raw;
    else if (kind === "positive") body[field] = Number.parseInt(raw, 10);
    else if (kind === "texts" || kind === "references") {
      const lines = raw.split("\n").map((line) => line.trim()).filter(Boolean);
      if (lines.length || control.required) body[field] = lines;
    } else if (kind === "text?" || raw.trim() || control.required) body[field] = raw.trim();
  }
  return body;
}

function row(term, value) {
  addRow(decodedList, term, value);
}

/** Refuse content that is not exactly the step this officer filled in for this case. */
function checkDraft(content, key, type, body) {
  const expect = (ok, what) => {
    if (!ok) throw new Refused("malformed", `待签名内容的 ${what} 与本页不符，不签名`, what);
  };
  expect(content.case === caseId, "case");
  expect(content.ledger === facts.dataset.ledger, "ledger");
  expect(content.kid === key.kid, "kid");
  expect(content.actor.body === key.bodyId && content.actor.officer === key.officerId, "actor");
  expect(content.type === type, "type");
  expect(same(content.body, body), "body");
  expect(content.seq === Number(facts.dataset.headSeq) + 1, "seq");
  expect(hex(content.prev) === facts.dataset.headHash, "prev");
}

async function draft(form) {
  const key = await signingKey();
  if (!key) return say("本机没有密钥，请先在登录页导入。");
  const type = form.dataset.type;
  const body = bodyOf(form);
  const answer = await send(`/cases/${caseId}/draft`, {
    body: JSON.stringify({ type, body }),
    type: "application/json",
  });
  if (!answer.ok) return say(`节点未接受所填内容：${await problemText(answer)}`);
  const { content: b64, signed_on: signedOn } = await answer.json();
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  let content;
  try {
    content = decodeEventContent(bytes, onCommandLine ? key.suite : SUITE);
    checkDraft(content, key, type, body);
  } catch (error) {
    return say(`不能签名：${error.message}`);
  }
  decodedList.replaceChildren();
  row("案件", content.case);
  row("台账", content.ledger);
  row("序号", content.seq);
  row("步骤", `${form.closest("section").querySelector("h3").textContent}（${content.type}）`);
  row("部门", content.actor.body);
  row("工作人员", content.actor.officer);
  row("时间", new Date(Number(content.time) / 1000).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai" }));
  // Each decoded field under the label of the control it was typed in (the name it has in
  // the bytes beside it); the values are the decoded ones, never the form's.
  for (const name of Object.keys(content.body).sort()) {
    const control = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
    const label = control && form.querySelector(`label[for="${CSS.escape(control.id)}"]`);
    row(`${label ? label.textContent : "内容"}（${name}）`, content.body[name]);
  }
  row("前一步哈希", content.prev);
  row("密钥编号", content.kid);
  pending = { bytes, content };
  if (onCommandLine) {
    // The bytes just decoded and shown, and the command that shows and signs the same bytes.
    document.getElementById("draft-content").value = base64(bytes);
    document.getElementById("sign-command").value = signDraftCommand(bytes);
    document.getElementById("signed-envelope").value = "";
  }
  confirmBox.hidden = false;
  document.getElementById("confirm-heading").focus();
  // A relayed case whose home node cannot be read: the step follows the newest step this node
  // relayed of it (the page's head says the same), and is queued when posted.
  const note = signedOn ? `主办节点暂不可读，本步骤接在本节点转递的最新步骤之后（${signedOn}）。` : "";
  const how = onCommandLine ? "请核对以上内容，在终端运行命令签名，再把输出粘贴到下面。" : "请核对以上内容；确认后签名。";
  say(`${note}${how}`);
}

/** The signed step pasted back, if it signs exactly the draft shown; else says why (the draft
 * stays, so the officer can paste again). */
function pastedEnvelope() {
  try {
    return checkPastedEnvelope(document.getElementById("signed-envelope").value, pending.bytes);
  } catch (error) {
    if (!(error instanceof Refused)) throw error;
    say(`不能提交：${error.message}`);
    return null;
  }
}

async function sign() {
  if (!pending) return;
  const { bytes } = pending;
  const pasted = onCommandLine ? pastedEnvelope() : null;
  if (onCommandLine && !pasted) return;
  pending = null; // one draft, one post: a second click does nothing
  const envelope = pasted ?? (await signContent((await storedKey()).privateKey, EVENT_CONTEXT, bytes));
  const answer = await send(`/cases/${caseId}/events`, { body: envelope, type: "application/msgpack" });
  if (!answer.ok) {
    confirmBox.hidden = true;
    return say(`节点拒绝了该步骤：${await problemText(answer)}`);
  }
  const appended = await answer.json();
  const relayed = relayedAnswer(answer.status, appended);
  if (relayed) {
    // A case homed elsewhere: say where the step stands (the case page's relay table shows it
    // too once reloaded); the clerk reloads when they have read it.
    confirmBox.hidden = true;
    say(relayed);
    document.getElementById("case-reload").hidden = false;
    return;
  }
  say(`已签名并记入台账：第 ${appended.seq} 步，台账序号 ${appended.index}。`);
  location.reload();
}

for (const form of document.querySelectorAll("form.draft")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    draft(form).catch((error) => say(`出错：${error.message}`));
  });
}
document.getElementById("sign").addEventListener("click", () => {
  sign().catch((error) => say(`签名失败：${error.message}`));
});
// A new paste: the refusal of the previous one no longer applies.
document.getElementById("signed-envelope")?.addEventListener("input", () => say(""));
document.getElementById("cancel").addEventListener("click", () => {
  pending = null;
  confirmBox.hidden = true;
});
if (!onCommandLine && (!window.isSecureContext || !crypto.subtle)) {
  say("本页不是安全上下文（非 HTTPS，也不是 localhost），浏览器不提供 WebCrypto，无法签名；只能查看。");
  for (const button of document.querySelectorAll("form.draft button")) button.disabled = true;
}

// 收件: the window clerk opens a case. The item is chosen from the list the page was served
// with (the catalogs new cases pin, the items this body may receive), narrowed by text and
// batch; its channels, the suggested home and origin bodies follow the choice
// (./receivechoices.js). The applicant's data goes to the node's vault
// (POST /applicants: a reference and HMAC commitments come back, never the data in the
// ledger); each material is hashed here (SHA-256 of the file, which is not uploaded); the node
// drafts the `received` step's content bytes for a new case id drawn here; the page decodes
// them with its own decoder, checks they are exactly this step, shows them, and only on
// confirmation signs and posts them to POST /cases, the path every client opens a case by.

import { Refused, hex } from "./canonical.js";
import { draftJson, row, same } from "./confirm.js";
import { EVENT_CONTEXT, decodeEventContent, sha256, signContent } from "./envelope.js";
import { codeCommitment, newRatingCode } from "./ratingcode.js";
import { storedKey } from "./keys.js";
import { relayedAnswer } from "./relay.js";
import {
  chosenOrigins,
  homeCandidates,
  itemShown,
  originCandidates,
  suggestedJurisdiction,
} from "./receivechoices.js";
import { problemText, send } from "./session.js";

const form = document.getElementById("receive");
const status = document.getElementById("case-status");
const confirmBox = document.getElementById("confirm");
const decodedList = document.getElementById("decoded");
const chooser = document.getElementById("item");
const filterText = document.getElementById("item-filter");
const filterBatch = document.getElementById("item-batch");
const chosenFacts = document.getElementById("item-chosen");
const channelSelect = document.getElementById("channel");
const homeInput = document.getElementById("home-body");
const jurisdiction = document.getElementById("jurisdiction");
const originsBox = document.getElementById("origins");
const originChoices = document.getElementById("origin-choices");
const materialsBox = document.getElementById("materials");
const addMaterial = document.getElementById("add-material");
const CHANNELS = { proxy: "窗口代收（跨省通办）", online: "网上申请", direct: "现场申请" };
// The registry's handler bodies the page was served with (the home and origin suggestions).
const bodies = [...document.querySelectorAll("#known-bodies li")].map((li) => ({
  ...li.dataset,
  name: li.textContent,
}));
let pending = null;

const say = (text) => (status.textContent = text);
const value = (id) => document.getElementById(id).value.trim();
const fromB64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

/** The catalog item (GET /catalog/...) and the catalog version new cases pin now. */
async function catalogItem(key) {
  const answer = await fetch(`/catalog/${key}`);
  if (!answer.ok) throw new Error(`事项 ${key}：${await problemText(answer)}`);
  return { item: await answer.json(), version: answer.headers.get("Catalog-Version") };
}

/** The item chosen in the list, from its option's data (null: none). */
function chosenItem() {
  const option = chooser.selectedOptions[0];
  if (!option || !option.value) return null;
  const data = option.dataset;
  return {
    key: option.value,
    region: data.region,
    channels: data.channels.split(" "),
    coordination: data.coordination,
    sectors: data.sectors.split("|"),
    name: data.name,
    unit: data.unit,
    cooperating: data.cooperating,
  };
}

function applyFilter() {
  const filter = { text: filterText.value.trim(), batch: filterBatch.value };
  let shown = 0;
  for (const option of chooser.options) {
    const visible = itemShown({ search: option.dataset.search, batch: option.dataset.batch }, filter);
    // hidden and disabled: out of sight and skipped by the arrow keys
    option.hidden = !visible;
    option.disabled = !visible;
    if (visible) shown += 1;
  }
  for (const group of chooser.querySelectorAll("optgroup")) {
    group.hidden = ![...group.children].some((option) => !option.hidden);
  }
  if (chooser.selectedOptions[0]?.hidden) {
    chooser.value = "";
    itemChosen();
  }
  document.getElementById("item-count").textContent =
    shown ? `按筛选条件显示 ${shown} 项。` : "没有符合筛选条件的事项。";
}

function tickedOrigins() {
  return [...originChoices.querySelectorAll("input:checked")].map((box) => box.value);
}

function showOrigins(item) {
  const ticked = new Set(tickedOrigins());
  const candidates = originCandidates(bodies, item, homeInput.value.trim());
  originChoices.replaceChildren();
  candidates.forEach((body, n) => {
    const line = document.createElement("div");
    line.className = "check";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.id = `origin-${n}`;
    box.value = body.id;
    box.checked = ticked.has(body.id);
    const label = document.createElement("label");
    label.htmlFor = box.id;
    label.textContent = `${body.name}（${body.id}）`;
    line.append(box, label);
    originChoices.append(line);
  });
  if (!candidates.length) {
    const none = document.createElement("p");
    none.className = "hint";
    none.textContent = "本节点的机构名录中没有该事项职能的其他办理部门，请在下面填写部门编号。";
    originChoices.append(none);
  }
}

/** The home body typed or chosen: the jurisdiction it suggests (unless one was typed), and
 * the origin bodies suggested beside it. */
function homeChosen() {
  const body = bodies.find((b) => b.id === homeInput.value.trim());
  if (!jurisdiction.value.trim() || jurisdiction.value === jurisdiction.dataset.suggested) {
    jurisdiction.value = suggestedJurisdiction(body);
    jurisdiction.dataset.suggested = jurisdiction.value;
  }
  const item = chosenItem();
  if (item && item.coordination === "joint") showOrigins(item);
}

/** Online and direct cases are received by their home body: this body. */
function channelChosen() {
  const own = channelSelect.value === "online" || channelSelect.value === "direct";
  if (own) homeInput.value = form.dataset.body;
  else if (homeInput.readOnly) homeInput.value = "";
  homeInput.readOnly = own;
  homeChosen();
}

function itemChosen() {
  const item = chosenItem();
  chosenFacts.replaceChildren();
  channelSelect.replaceChildren();
  chosenFacts.hidden = !item;
  originsBox.hidden = !item || item.coordination !== "joint";
  if (!item) {
    channelSelect.append(new Option("请先选择事项", ""));
    return;
  }
  row(chosenFacts, "所选事项", `${item.name}（${item.key}）`);
  row(chosenFacts, "牵头单位", item.unit);
  if (item.cooperating) row(chosenFacts, "协办单位", item.cooperating);
  row(chosenFacts, "本部门可用渠道", item.channels.map((c) => CHANNELS[c]).join("、"));
  row(chosenFacts, "办理方式", item.coordination === "joint" ? "多地联办：须指定协同办理部门" : "一地办理");
  for (const channel of item.channels) channelSelect.append(new Option(CHANNELS[channel], channel));
  const suggestions = document.getElementById("home-bodies");
  suggestions.replaceChildren(...homeCandidates(bodies, item).map((b) => new Option(b.name, b.id)));
  channelChosen();
}

function addMaterialRow() {
  const limit = Number(materialsBox.dataset.limit);
  const n = materialsBox.querySelectorAll(".material").length + 1;
  if (n > limit) return say(`本页一次收件最多 ${limit} 份材料。`);
  const line = document.createElement("div");
  line.className = "material";
  for (const [kind, text] of [["name", `材料名称 ${n}`], ["file", `材料文件 ${n}（在本机计算 SHA-256，文件不上传）`]]) {
    const label = document.createElement("label");
    label.htmlFor = `material-${kind}-${n}`;
    label.textContent = text;
    const input = document.createElement("input");
    input.id = label.htmlFor;
    input.type = kind === "name" ? "text" : "file";
    if (kind === "name") input.maxLength = document.getElementById("material-name-1").maxLength;
    line.append(label, input);
  }
  materialsBox.append(line);
  addMaterial.disabled = n >= limit;
  document.getElementById(`material-name-${n}`).focus();
}

async function materials() {
  const out = [];
  const count = materialsBox.querySelectorAll(".material").length;
  for (let n = 1; n <= count; n += 1) {
    const file = document.getElementById(`material-file-${n}`).files[0];
    const name = value(`material-name-${n}`);
    if (!file && !name) continue;
    if (!file || !name) throw new Error(`材料 ${n}：名称和文件都要填`);
    out.push({ name, sha256: await sha256(new Uint8Array(await file.arrayBuffer())) });
  }
  return out;
}

async function draft() {
  const key = await storedKey();
  if (!key) return say("本机没有密钥，请先在登录页导入或生成。");
  const chosen = chosenItem();
  if (!chosen) return say("请先在事项列表中选择事项。");
  const itemKey = chosen.key;
  const { item, version } = await catalogItem(itemKey);
  const channel = value("channel");
  if (!item.channels.includes(channel)) {
    return say(`事项 ${itemKey} 不提供该渠道（可用：${item.channels.join("、")}）。`);
  }
  let origins = [];
  if (item.coordination === "joint") {
    origins = chosenOrigins(tickedOrigins(), document.getElementById("origin-others").value);
    if (!origins.length) return say("多地联办事项须至少指定一个协同办理部门。");
  }
  const applicantData = { name: value("applicant-name"), id_number: value("applicant-id") };
  if (value("applicant-phone")) applicantData.phone = value("applicant-phone");
  if (value("applicant-address")) applicantData.address = value("applicant-address");
  const files = await materials();
  const stored = await send("/applicants", { body: JSON.stringify(applicantData), type: "application/json" });
  if (!stored.ok) return say(`申请人信息未被接受：${await problemText(stored)}`);
  const applicant = await stored.json();
  const commitments = {};
  for (const [field, b64] of Object.entries(applicant.commitments)) commitments[field] = fromB64(b64);
  const body = {
    item: itemKey,
    channel,
    coordination: item.coordination,
    catalog_version: version,
    applicant: { ref: applicant.ref, commitments },
    materials: files,
    home_body: value("home-body"),
    jurisdiction: value("jurisdiction"),
  };
  if (origins.length) body.origin_bodies = origins;
  const caseId = crypto.randomUUID();
  // The slip's one-time code: only its commitment goes into the step (§5.5).
  const code = newRatingCode();
  body.rating_code = await codeCommitment(caseId, code);
  const answer = await send(`/cases/${caseId}/draft`, {
    body: draftJson({ type: "received", body }),
    type: "application/json",
  });
  if (!answer.ok) return say(`节点未接受所填内容：${await problemText(answer)}`);
  const bytes = fromB64((await answer.json()).content);
  let content;
  try {
    content = decodeEventContent(bytes);
    const expect = (ok, what) => {
      if (!ok) throw new Refused("malformed", `待签名内容的 ${what} 与本页不符，不签名`, what);
    };
    expect(content.case === caseId, "case");
    // A case lives in its item's region's ledger (another region's: this node relays it).
    expect(content.ledger === `tongban/${itemKey.split("/")[0]}`, "ledger");
    expect(content.seq === 1 && hex(content.prev) === "00".repeat(32), "seq");
    expect(content.kid === key.kid, "kid");
    expect(content.actor.body === key.bodyId && content.actor.officer === key.officerId, "actor");
    expect(content.type === "received", "type");
    expect(same(content.body, body), "body");
  } catch (error) {
    return say(`不能签名：${error.message}`);
  }
  document.getElementById("item-facts").textContent =
    `事项：${item.national_name}（${itemKey}；渠道 ${item.channels.join("、")}；目录版本 ${version.slice(0, 12)}…）`;
  decodedList.replaceChildren();
  row(decodedList, "案件", content.case);
  row(decodedList, "台账", content.ledger);
  row(decodedList, "序号", content.seq);
  row(decodedList, "步骤", content.type);
  row(decodedList, "部门", content.actor.body);
  row(decodedList, "工作人员", content.actor.officer);
  row(decodedList, "时间", new Date(Number(content.time) / 1000).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai" }));
  for (const name of Object.keys(content.body).sort()) row(decodedList, `内容（${name}）`, content.body[name]);
  row(decodedList, "密钥编号", content.kid);
  pending = { bytes, caseId, code };
  confirmBox.hidden = false;
  document.getElementById("confirm-heading").focus();
  say("请核对以上内容；确认后签名。申请人的个人信息只以承诺值出现。");
}

async function sign() {
  if (!pending) return;
  const key = await storedKey();
  const { bytes, caseId, code } = pending;
  pending = null;
  const envelope = await signContent(key.privateKey, EVENT_CONTEXT, bytes);
  const answer = await send("/cases", { body: envelope, type: "application/msgpack" });
  if (!answer.ok) {
    confirmBox.hidden = true;
    return say(`节点拒绝了收件：${await problemText(answer)}`);
  }
  // Kept in this tab only, for the 收件回执 to print (the node never holds the code).
  sessionStorage.setItem(`rating-code:${caseId}`, code);
  const relayed = relayedAnswer(answer.status, await answer.json());
  if (relayed) {
    // Homed in another region: where the step stands, then the case page (read through this
    // node) when the clerk has read it.
    confirmBox.hidden = true;
    form.hidden = true;
    say(`${relayed} 请把查询码（评价码）${code} 抄给申请人：凭案件编号 ${caseId} 和此码查询进度、评价；本码只显示这一次。`);
    const open = document.getElementById("open-case");
    open.href = `/pages/cases/${caseId}`;
    open.parentElement.hidden = false;
    return;
  }
  location.assign(`/pages/cases/${caseId}`);
}

filterText.addEventListener("input", applyFilter);
filterBatch.addEventListener("change", applyFilter);
chooser.addEventListener("change", itemChosen);
channelSelect.addEventListener("change", channelChosen);
homeInput.addEventListener("input", homeChosen);
addMaterial.addEventListener("click", addMaterialRow);
applyFilter();
itemChosen();
form.addEventListener("submit", (event) => {
  event.preventDefault();
  draft().catch((error) => say(`出错：${error.message}`));
});
document.getElementById("sign").addEventListener("click", () => {
  sign().catch((error) => say(`签名失败：${error.message}`));
});
document.getElementById("cancel").addEventListener("click", () => {
  pending = null;
  confirmBox.hidden = true;
});
if (!window.isSecureContext || !crypto.subtle) {
  say("本页不是安全上下文（非 HTTPS，也不是 localhost），浏览器不提供 WebCrypto，无法签名。");
  form.querySelector("button[type=submit]").disabled = true;
}

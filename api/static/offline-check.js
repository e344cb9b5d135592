// The public check page's in-browser check (在本机核验, 不上传证照): the node's public keys,
// trust lists and status lists are fetched from this node (GET /keys, /trust-list,
// /status-lists/{id}), verified here and kept in this browser (localStorage); a pasted or scanned
// TB1: text is then verified by api/static/offline-verify.js in the page and never sent. Without
// JavaScript none of this is shown and the form posts to the node as before. An sm2-sm3 license
// cannot be verified here (no SM2 in browsers): the page says so and offers the node's check.

import { Refused } from "./canonical.js";
import { OfflineCache, STATUS_DETAILS, dayText, decodeCompact } from "./offline-verify.js";

const STORAGE_KEY = "tongban.offline-check.v1";

/** Each reason in the words a clerk reads (as the node's own page, api/routes/public_pages.py). */
const REASON_TEXTS = {
  malformed: "内容无法解读：文字不完整、有错字或被改动，无法按证照格式解码",
  unsupported_suite: "证照使用的签名算法本浏览器不支持",
  bad_check_character: "证照标识的校验码不对（可能抄错了一位）",
  unknown_issuer: "发证机关的签名密钥不在有效的信任列表中，无法确认是谁签发的",
  issuer_key_not_valid: "发证机关的签名密钥在签发当日无效或已泄露",
  bad_signature: "签名不符：证照内容在签发后被改动过",
  revoked: "证照已被发证机关注销",
  suspended: "证照已被发证机关暂停使用",
  expired: "证照已超过有效期",
  not_yet_valid: "证照尚未到生效日期",
  not_recognized: "本地区不认可该地区签发的此类证照",
  holder_mismatch: "持证人证件号码与证照不符",
  status_unavailable: "本机没有足够新的状态列表，不能确认证照未被注销或暂停（请更新本机缓存）",
};
const REFUSAL_TEXTS = {
  stale: "比本机已有的版本旧，未采用",
  conflict: "与本机已有的同一版本内容不同，未采用",
  unknown_region: "本机没有该地区的根密钥",
  unknown_key: "签名密钥不在本节点公布的密钥中",
  wrong_key: "不是该地区应使用的签名密钥",
  bad_signature: "签名不符",
};

const STATUS_DETAIL_TEXTS = {
  [STATUS_DETAILS.none]: "本机没有证照所用的状态列表",
  [STATUS_DETAILS.otherRegion]: "本机保存的同编号状态列表不是发证地区节点签发的",
  [STATUS_DETAILS.expired]: "本机保存的状态列表已过有效期，请更新本机缓存",
  [STATUS_DETAILS.tooOld]: "本机保存的状态列表太旧",
  [STATUS_DETAILS.pastEnd]: "证照的条目超出状态列表的范围",
};
const NODE_TEXTS = {
  no_trust_list: "本节点尚未发布本地区的信任列表",
  unknown_status_list: "本节点没有该状态列表",
  not_found: "本节点不提供证照核验服务",
};

const form = document.querySelector('form[action="/pages/check"]');
const textarea = document.getElementById("license");
const verifyButton = document.getElementById("local-verify");
const refreshButton = document.getElementById("local-refresh");
const resultSection = document.getElementById("local-result");
const verdictBox = document.getElementById("local-verdict");
const cacheSection = document.getElementById("local-cache");
const cacheStatus = document.getElementById("local-cache-status");
const cacheLists = document.getElementById("local-cache-lists");

const nowMicros = () => Date.now() * 1000;

/** µs UTC as Beijing time, to the minute. */
function moment(micros) {
  const d = new Date(Number(micros) / 1000 + 8 * 3_600_000);
  const two = (n) => String(n).padStart(2, "0");
  return `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}`;
}

/** A duration in µs as days, hours and minutes. */
function age(micros) {
  let minutes = Math.max(0, Math.floor(Number(micros) / 60_000_000));
  const days = Math.floor(minutes / 1440);
  minutes -= days * 1440;
  const hours = Math.floor(minutes / 60);
  minutes -= hours * 60;
  if (days) return `${days} 天 ${hours} 小时`;
  if (hours) return `${hours} 小时 ${minutes} 分钟`;
  return `${minutes} 分钟`;
}

function element(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function table(caption, headings, rows, id) {
  const t = element("table", null, id ? { id } : {});
  t.append(element("caption", caption));
  const head = element("thead");
  const headRow = element("tr");
  for (const h of headings) headRow.append(element("th", h, { scope: "col" }));
  head.append(headRow);
  const body = element("tbody");
  for (const row of rows) {
    const tr = element("tr");
    for (const cell of row) tr.append(element("td", cell));
    body.append(tr);
  }
  t.append(head, body);
  return t;
}

function facts(pairs, id) {
  const dl = element("dl", null, { class: "facts", ...(id ? { id } : {}) });
  for (const [term, value, ddId] of pairs) {
    dl.append(element("dt", term), element("dd", value, ddId ? { id: ddId } : {}));
  }
  return dl;
}

// -- the cache ---------------------------------------------------------------------------------

let cache = new OfflineCache();

function save() {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(cache));
  } catch {
    // storage full or forbidden (a private window): the cache lives as long as the page
  }
}

async function load() {
  let saved = null;
  try {
    saved = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "null");
  } catch {
    saved = null;
  }
  cache = await OfflineCache.restore(saved);
  if (cache.dropped?.length) save();
}

async function fetched(path) {
  const answer = await fetch(path, { credentials: "omit", cache: "no-store" });
  if (!answer.ok) {
    let reason = `HTTP ${answer.status}`;
    try {
      reason = (await answer.json()).reason ?? reason;
    } catch {
      // not a problem document
    }
    throw new Error(reason);
  }
  return answer;
}

const bytesOf = async (answer) => new Uint8Array(await answer.arrayBuffer());

function refusal(error) {
  if (error instanceof Refused) return REFUSAL_TEXTS[error.reason] ?? `${error.reason}：${error.message}`;
  return NODE_TEXTS[error.message] ?? error.message;
}

/** Fetch one status list by id into the cache: null when kept, else why not. */
async function fetchStatusList(id) {
  try {
    const answer = await fetched(`/status-lists/${encodeURIComponent(id)}`);
    await cache.addStatusList(await bytesOf(answer), nowMicros());
    return null;
  } catch (error) {
    // `not_found`: an id the route cannot name (one holding a "/"), answered by no route
    const missing = error.message === "not_found" || error.message === "unknown_status_list";
    return `状态列表 ${id}：${missing ? NODE_TEXTS.unknown_status_list : refusal(error)}`;
  }
}

/** Keys, this node's and its peers' trust lists, and every status list held or this region's
 * first: each fetched, verified and kept only if newer. */
async function refresh() {
  const problems = [];
  const keys = await (await fetched("/keys")).json();
  await cache.setKeys(keys.keys, nowMicros());
  const own = await cache.addTrustList(await bytesOf(await fetched("/trust-list")), nowMicros());
  cache.ownRegion = own.region;
  // the other regions whose lists the node holds (the page names them: no request in vain)
  const regions = (cacheSection.dataset.regions ?? "").split(" ").filter((r) => /^[1-9][0-9]{5}$/.test(r));
  for (const region of regions.filter((r) => r !== own.region)) {
    try {
      const answer = await fetched(`/trust-list?region=${region}`);
      await cache.addTrustList(await bytesOf(answer), nowMicros());
    } catch (error) {
      problems.push(`信任列表 ${region}：${refusal(error)}`);
    }
  }
  const ids = new Set([...cache.statusLists.values()].map((held) => held.list.id));
  ids.add(`${own.region}-1`);
  for (const id of ids) {
    const problem = await fetchStatusList(id);
    if (problem && !problem.endsWith(NODE_TEXTS.unknown_status_list)) problems.push(problem);
  }
  save();
  return problems;
}

function showCache(message) {
  const now = nowMicros();
  cacheLists.replaceChildren();
  const trust = [...cache.trustLists.values()];
  const status = [...cache.statusLists.values()];
  if (!trust.length && !status.length) {
    cacheLists.append(element("p", "本机尚未保存任何列表。按“更新本机缓存”下载。"));
  } else {
    const row = (kind, id, { list, fetchedAt }) => [
      kind,
      id,
      String(list.version),
      moment(list.issuedAt),
      age(now - Number(list.issuedAt)),
      `${moment(list.validUntil)}${now >= Number(list.validUntil) ? "（已过期）" : ""}`,
      fetchedAt ? moment(fetchedAt) : "",
    ];
    const rows = [
      ...trust.map((held) => row("信任列表", held.list.region, held)),
      ...status.map((held) => row("状态列表", held.list.id, held)),
    ];
    cacheLists.append(
      table("本机保存的列表（北京时间）", ["种类", "地区或编号", "版本", "签发时间", "已签发", "有效至", "下载时间"], rows, "local-lists"),
    );
  }
  cacheStatus.textContent = message ?? "";
}

// -- the verdict -------------------------------------------------------------------------------

function listRows(lists, now) {
  return lists.map((l) => [l.id, String(l.version), moment(l.issued_at), age(now - l.issued_at), moment(l.valid_until)]);
}

function showVerdict(verdict, text) {
  const parts = [];
  const valid = verdict.valid;
  const headline = element("p", null, { class: `verdict ${valid ? "valid" : "invalid"}`, id: "local-verdict-line" });
  headline.append("本机核验结果：", element("strong", valid ? "有效" : "无效"));
  parts.push(headline);
  if (!valid) {
    parts.push(element("h3", "未通过的检查（按严重程度排列）"));
    const list = element("ul", null, { id: "local-failed" });
    for (const reason of verdict.failed) {
      const item = element("li", null, { "data-reason": reason });
      item.append(`${REASON_TEXTS[reason] ?? reason}（`, element("code", reason), "）");
      list.append(item);
    }
    parts.push(list);
  }
  if (verdict.failed.includes("unsupported_suite")) {
    const sm2 = /sm2-sm3/.test(verdict.details.unsupported_suite ?? "");
    const note = element(
      "p",
      sm2
        ? "该证照使用国密算法（sm2-sm3）签名，浏览器不支持，不能在本机核验。可改由本节点核验：证照文字将发送给本节点。"
        : "该证照的签名算法本浏览器不支持。",
      { class: "note", id: "local-fallback" },
    );
    parts.push(note);
    if (sm2) {
      const ask = element("button", "改由本节点核验（上传证照文字）", { type: "button", id: "local-ask-node" });
      ask.addEventListener("click", () => {
        textarea.value = text;
        form.requestSubmit();
      });
      parts.push(ask);
    }
  }
  const now = verdict.checked_at;
  const source =
    verdict.status_source === "status_list"
      ? "本机保存的状态列表"
      : `未知（${STATUS_DETAIL_TEXTS[verdict.status_detail] ?? "没有可用的状态答复"}）`;
  parts.push(
    facts(
      [
        ["状态来源", source, "local-status-source"],
        ["核验时间", `${moment(now)}（北京时间，本机时钟）`],
        ["核验方式", "在本浏览器中核验，证照文字未发送"],
      ],
    ),
  );
  if (verdict.status_list) {
    parts.push(table("所用状态列表", ["列表", "版本", "签发时间", "已签发", "有效至"], listRows([verdict.status_list], now), "local-status-list"));
  }
  if (verdict.trust_lists.length) {
    parts.push(table("所用信任列表（按地区）", ["地区", "版本", "签发时间", "已签发", "有效至"], listRows(verdict.trust_lists, now)));
  }
  const claims = verdict.claims;
  if (claims) {
    parts.push(element("h3", "证照所载信息"));
    parts.push(element("p", valid ? "以下内容经核验属实。" : "以下为证照文字中所写的内容，核验未通过，不可信。"));
    const issuer = verdict.issuer
      ? `${verdict.issuer.body_id}（地区 ${verdict.issuer.region} 的信任列表所列）`
      : "信任列表中没有该签名密钥";
    parts.push(
      facts([
        ["证照标识", claims.identifier],
        ["证照类型代码", claims.type],
        ["发证机关统一社会信用代码", claims.issuer_code],
        ["签名密钥所属部门", issuer],
        ["有效期", `${dayText(claims.valid_from)} 至 ${claims.valid_until ? dayText(claims.valid_until) : "长期"}`],
        ["持证人（已遮蔽）", `${claims.holder.name}，${claims.holder.id}`],
        ["状态列表条目", `${claims.status.list} 第 ${claims.status.index} 项`],
      ]),
    );
  }
  verdictBox.replaceChildren(...parts);
  resultSection.hidden = false;
  document.getElementById("local-result-heading").focus();
}

async function verifyHere() {
  const text = textarea.value.trim();
  if (!text) {
    cacheStatus.textContent = "请先粘贴证照二维码文字（以 TB1: 开头）。";
    textarea.focus();
    return;
  }
  verifyButton.disabled = true;
  try {
    if (!cache.trustLists.size) {
      cacheStatus.textContent = "本机还没有信任列表，正在从本节点下载……";
      const problems = await refresh();
      showCache(problems.join("；"));
    }
    // The list the text names, when none is held: fetched by its id alone (not the text).
    let named = null;
    try {
      named = decodeCompact(text).status.list;
    } catch {
      named = null; // the verdict says why
    }
    if (named && ![...cache.statusLists.values()].some((held) => held.list.id === named)) {
      const problem = await fetchStatusList(named);
      save();
      showCache(problem ?? `已下载状态列表 ${named}。`);
    }
    showVerdict(await cache.verify(text, { now: nowMicros() }), text);
  } catch (error) {
    cacheStatus.textContent = `本机核验未能完成：${refusal(error)}`;
  } finally {
    verifyButton.disabled = false;
  }
}

if (form && textarea && verifyButton && refreshButton && cacheSection && globalThis.crypto?.subtle) {
  await load();
  showCache(cache.dropped?.length ? `本机保存的部分列表已无法核验，已删除：${cache.dropped.join("；")}` : "");
  verifyButton.hidden = false;
  cacheSection.hidden = false;
  verifyButton.addEventListener("click", verifyHere);
  refreshButton.addEventListener("click", async () => {
    refreshButton.disabled = true;
    cacheStatus.textContent = "正在更新……";
    try {
      const problems = await refresh();
      showCache(problems.length ? `已更新，但：${problems.join("；")}` : "已更新本机缓存。");
    } catch (error) {
      showCache(`更新失败：${refusal(error)}（仍使用本机已保存的列表）`);
    } finally {
      refreshButton.disabled = false;
    }
  });
}

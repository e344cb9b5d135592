// Signing on the command line for an officer whose key the browser cannot use (国密 SM2:
// WebCrypto has no SM2). The page shows what is to be signed and the `tongban` command that
// signs it; the officer pastes the signed bytes back, and the page checks them before posting:
// a login proof must answer the challenge it showed, at this page's origin; a signed step's
// content must be byte for byte the draft it decoded and showed. The key never reaches the
// page. Pure functions (no DOM), tested under Node (tests/js/clisign.test.mjs).

import { Refused, decode, equalBytes, hex, isMap } from "./canonical.js";
import { EVENT_CONTEXT, LOGIN_CONTEXT } from "./envelope.js";

export const CHALLENGE_PREFIX = "TBL1";
/** What the officer replaces with their key file's path in the commands shown. */
export const KEY_PLACEHOLDER = "<SM2 密钥文件>";

const ORIGIN = /^https?:\/\/[^\s/?#'"\\]{1,240}$/;

/** The challenge `{origin, nonce (hex), issued_at, expires_at}` as the one line the command
 * takes (docs/login.md §7): `TBL1/<nonce>/<issued_at>/<expires_at>/<origin>`. */
export function challengeText(challenge) {
  if (!ORIGIN.test(challenge.origin)) {
    throw new Refused("malformed", "节点给出的地址不是网页地址", "origin");
  }
  if (!/^(?:[0-9a-f]{2}){16,64}$/.test(challenge.nonce)) {
    throw new Refused("malformed", "挑战的随机数不是 16 至 64 字节的十六进制", "nonce");
  }
  const times = [challenge.issued_at, challenge.expires_at].map((t) => {
    if (!Number.isSafeInteger(t) || t <= 0) throw new Refused("malformed", "挑战的时间不是整数", "issued_at");
    return String(t);
  });
  return [CHALLENGE_PREFIX, challenge.nonce, ...times, challenge.origin].join("/");
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/** The `tongban login sign` command for a challenge text (no quote can be in it); a body or
 * officer id that is not an identifier is left as a placeholder, never put in the command. */
export function loginCommand(text, { bodyId = "", officerId = "" } = {}) {
  const body = ID.test(bodyId) ? bodyId : "'<部门编号>'";
  const officer = ID.test(officerId) ? officerId : "'<工作人员编号>'";
  return (
    `tongban login sign --key '${KEY_PLACEHOLDER}' --body-id ${body} ` +
    `--officer-id ${officer} --challenge '${text}'`
  );
}

/** The `tongban case sign-draft` command for the draft's content bytes. */
export function signDraftCommand(contentBytes) {
  return `tongban case sign-draft --key '${KEY_PLACEHOLDER}' --content ${base64(contentBytes)}`;
}

export function base64(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text);
}

/** Pasted base64 (line breaks and spaces from the copying are ignored) as bytes. */
export function fromPastedBase64(text, what) {
  const compact = String(text).replace(/\s+/g, "");
  if (!compact) throw new Refused("malformed", `请粘贴${what}`, what);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) {
    throw new Refused("malformed", `${what}不是 base64`, what);
  }
  return Uint8Array.from(atob(compact), (c) => c.charCodeAt(0));
}

/** `[content bytes, signature bytes]` of a signed object, with its content decoded. */
function signedParts(raw, what) {
  let outer;
  let content;
  try {
    outer = decode(raw);
    if (!Array.isArray(outer) || outer.length !== 2 || !outer.every((part) => part instanceof Uint8Array)) {
      throw new Refused("malformed", "not [content, signature]");
    }
    content = decode(outer[0]);
  } catch (error) {
    if (!(error instanceof Refused)) throw error;
    throw new Refused("malformed", `${what}不是已签名的对象（${error.message}）`, what);
  }
  if (!isMap(content)) throw new Refused("malformed", `${what}的内容不是映射`, what);
  if (outer[1].length === 0) throw new Refused("malformed", `${what}没有签名`, "signature");
  return { contentBytes: outer[0], content };
}

/**
 * The proof pasted for `challenge` (as fetched: nonce in hex) on a page at `origin`: its bytes,
 * to post as they are. Refused unless it is a login proof answering this very challenge at
 * this origin; the node checks the rest (signature, key, time, once only).
 */
export function checkPastedProof(text, challenge, origin) {
  const raw = fromPastedBase64(text, "登录证明");
  const { content } = signedParts(raw, "登录证明");
  if (content.ctx !== LOGIN_CONTEXT) {
    throw new Refused("wrong_context", `粘贴的不是登录证明（${String(content.ctx)}）`, "ctx");
  }
  if (content.origin !== origin) {
    throw new Refused("wrong_origin", `该登录证明是为 ${String(content.origin)} 签的，不是本页 ${origin}`, "origin");
  }
  const nonce = content.nonce instanceof Uint8Array ? hex(content.nonce) : "";
  if (nonce !== challenge.nonce || content.issued_at !== challenge.issued_at) {
    throw new Refused("unknown_challenge", "该登录证明回答的不是本页显示的挑战，请对本页的挑战签名", "nonce");
  }
  return raw;
}

/**
 * The signed step pasted for the draft `draftBytes` the page decoded and showed: its bytes, to
 * post as they are. Refused (`content_mismatch`) unless what it signs is byte for byte that
 * draft: the officer's command could have signed other bytes, the page posts only these.
 */
export function checkPastedEnvelope(text, draftBytes) {
  const raw = fromPastedBase64(text, "已签名步骤");
  const { contentBytes, content } = signedParts(raw, "已签名步骤");
  if (content.ctx !== EVENT_CONTEXT) {
    throw new Refused("wrong_context", `粘贴的不是案件步骤（${String(content.ctx)}）`, "ctx");
  }
  if (!equalBytes(contentBytes, draftBytes)) {
    throw new Refused("content_mismatch", "粘贴的步骤所签内容与本页显示的待签名内容不一致，不提交", "content");
  }
  return raw;
}

/** Where to go after login (the page's `?next=`): a page of this node only, as login.js. */
export function nextPage(search) {
  const wanted = new URLSearchParams(search).get("next") ?? "";
  return /^\/pages\/[A-Za-z0-9/_-]*(\?[A-Za-z0-9=&_-]*)?$/.test(wanted) ? wanted : "/pages/worklist";
}

// Enrolling an officer's browser-made key (docs/pages.md, "The administrator's key page").
//
// The enrolment code the login page shows once a key is generated, and the administrator's
// page reads back: `TBE1/<body id>/<officer id>/<device>/<public key, 64 hex>/<check>`, where
// `check` is the first 8 hex digits of the key's id (docs/envelope.md §3.3), so a code mangled
// in the copying is refused instead of certifying a key nobody holds. `/` is in no identifier.
//
// And the checks the administrator's page makes of a drafted key record before its body key
// signs it: exactly the record asked for, nothing added (a `head: true` would make the officer
// the body's head), for the body key this device holds.

import { Refused, equalBytes, fromHex, hex } from "./canonical.js";
import { SUITE, identifier, kidOf } from "./envelope.js";

export const ENROLMENT_PREFIX = "TBE1";
const CHECK_DIGITS = 8;

const malformed = (message, field) => new Refused("malformed", message, field);

/** The device name the login page gives a key it generates: `web-` + 8 digits of its id. */
export function deviceName(kid) {
  return `web-${kid.slice(0, CHECK_DIGITS)}`;
}

/** The enrolment code of an officer's new key. */
export async function enrolmentCode({ bodyId, officerId, device, publicKey }) {
  const kid = await kidOf(publicKey);
  const parts = [
    ENROLMENT_PREFIX,
    identifier(bodyId, "body_id"),
    identifier(officerId, "officer_id"),
    identifier(device, "device"),
    hex(publicKey),
    kid.slice(0, CHECK_DIGITS),
  ];
  return parts.join("/");
}

/**
 * `{bodyId, officerId, device, publicKey, kid}` of an enrolment code; Refused (`malformed`)
 * naming the part that is wrong: `code` (its form), `body_id`, `officer_id`, `device`,
 * `public_key`, `check`.
 */
export async function parseEnrolmentCode(text) {
  const parts = String(text).trim().split("/");
  if (parts.length !== 6 || parts[0] !== ENROLMENT_PREFIX) {
    throw malformed(
      `认证码应为 ${ENROLMENT_PREFIX}/部门编号/工作人员编号/设备名称/公钥/校验码（共 6 段，以 / 分隔）`,
      "code",
    );
  }
  const [, bodyId, officerId, device, keyHex, check] = parts;
  const named = (value, field, what) => {
    try {
      return identifier(value, field);
    } catch {
      throw malformed(`认证码中的${what}“${value}”格式不正确`, field);
    }
  };
  named(bodyId, "body_id", "部门编号");
  named(officerId, "officer_id", "工作人员编号");
  named(device, "device", "设备名称");
  if (!/^[0-9a-f]{64}$/.test(keyHex)) {
    throw malformed("认证码中的公钥应为 64 位小写十六进制（Ed25519 公钥）", "public_key");
  }
  const publicKey = fromHex(keyHex);
  const kid = await kidOf(publicKey);
  if (check !== kid.slice(0, CHECK_DIGITS)) {
    throw malformed("认证码的校验码与公钥不符：认证码在复制时可能有误，请重新复制", "check");
  }
  return { bodyId, officerId, device, publicKey, kid };
}

function expect(ok, field, what) {
  if (!ok) throw malformed(`待签名内容的${what}与本页所填不符，不签名`, field);
}

function exactBody(body, names) {
  const extra = Object.keys(body).filter((name) => !names.includes(name)).sort();
  if (extra.length) throw malformed(`待签名内容多出了 ${extra.join(", ")}，不签名`, `body.${extra[0]}`);
  const missing = names.filter((name) => !Object.hasOwn(body, name));
  if (missing.length) throw malformed(`待签名内容缺少 ${missing.join(", ")}，不签名`, `body.${missing[0]}`);
}

/** The record signed by this device's body key, in its body's region (any record type). */
function checkSigner(content, { kid, region }) {
  expect(content.suite === SUITE, "suite", "签名算法");
  expect(content.kid === kid, "kid", "签名密钥（本机的部门密钥）");
  expect(content.region === region, "region", "地区");
}

/**
 * Refuse a drafted `officer_certified` record (decoded content) unless it certifies exactly
 * `publicKey` (an Ed25519 key) for `officerId`'s `device` of `bodyId`, signed by `kid`.
 */
export function checkCertifiedDraft(content, { kid, region, bodyId, officerId, device, publicKey }) {
  expect(content.type === "officer_certified", "type", "记录类型");
  checkSigner(content, { kid, region });
  const body = content.body;
  exactBody(body, ["public_key", "key_suite", "valid_from", "body_id", "officer_id", "device"]);
  expect(body.body_id === bodyId, "body.body_id", "部门");
  expect(body.officer_id === officerId, "body.officer_id", "工作人员");
  expect(body.device === device, "body.device", "设备");
  expect(body.public_key instanceof Uint8Array && equalBytes(body.public_key, publicKey), "body.public_key", "公钥");
  expect(body.key_suite === SUITE, "body.key_suite", "公钥算法");
  return content;
}

/**
 * Refuse a drafted `key_revoked` record unless it revokes exactly `officerKid` with `reason`,
 * compromised since `since` (µs) or, when none was given, since the draft's own time.
 */
export function checkRevokedDraft(content, { kid, region, officerKid, reason, since }) {
  expect(content.type === "key_revoked", "type", "记录类型");
  checkSigner(content, { kid, region });
  const body = content.body;
  exactBody(body, ["kid", "compromised_since", "reason"]);
  expect(body.kid === officerKid, "body.kid", "被吊销的密钥");
  expect(body.reason === reason, "body.reason", "原因");
  const wanted = since ?? content.time;
  expect(Number(body.compromised_since) === Number(wanted), "body.compromised_since", "失控时间");
  return content;
}

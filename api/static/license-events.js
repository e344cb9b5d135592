// License events as the officers' pages check them before signing (docs/license.md §9, §3):
// the license stream id, the drafted `license_issued` event against the sealed draft document
// it names, and a drafted status change. The page decodes what the node drafted with its own
// decoder and refuses anything that is not exactly what the officer asked for.

import { Refused, decode, equalBytes, hex, isMap, textBytes } from "./canonical.js";
import { decodeEventContent, sha256 } from "./envelope.js";

/** The Tongban namespace (docs/keys.md): license streams are uuid5 of their identifier. */
export const TONGBAN_NAMESPACE = "6f1c5f0e-2b1a-5d7e-9a43-0e1c7d7a2b10";
export const LICENSE_CONTEXT = "tongban/license/v1";
export const ISSUED = "license_issued";
export const STATUS_EVENTS = {
  suspend: "license_suspended",
  reinstate: "license_reinstated",
  revoke: "license_revoked",
};
const ISSUED_FIELDS = [
  "id",
  "type",
  "issuer_body",
  "case",
  "delivered_seq",
  "holder_commitment",
  "status",
  "valid_from",
  "valid_until",
  "document_digest",
];
const DIGEST_SUITE = "ed25519-sha256"; // the page computes SHA-256, not SM3

const refuse = (what, message) =>
  new Refused("malformed", message ?? `待签名内容的 ${what} 与本页不符，不签名`, what);

function expect(ok, what, message) {
  if (!ok) throw refuse(what, message);
}

/** RFC 4122 version-5 UUID of `name` in the namespace `namespace` (SHA-1, WebCrypto). */
export async function uuid5(namespace, name) {
  const ns = Uint8Array.from(namespace.replaceAll("-", "").match(/../g), (h) =>
    Number.parseInt(h, 16),
  );
  const input = new Uint8Array(16 + textBytes(name).length);
  input.set(ns);
  input.set(textBytes(name), 16);
  const bytes = new Uint8Array(await crypto.subtle.digest("SHA-1", input)).subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x50;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const h = hex(bytes);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The stream id of the license `identifier` (`ledger.license_events.license_stream_id`). */
export function licenseStreamId(identifier) {
  return uuid5(TONGBAN_NAMESPACE, identifier);
}

/** The type code (21 characters) of a GB/T 36904 identifier's text. */
export function typeCodeOf(identifier) {
  return identifier.split(".")[5] ?? "";
}

function sameKeys(map, names) {
  const keys = Object.keys(map).sort();
  return keys.length === names.length && [...names].sort().every((name, i) => name === keys[i]);
}

function checkActor(content, key) {
  expect(content.kid === key.kid, "kid");
  expect(content.actor.body === key.bodyId && content.actor.officer === key.officerId, "actor");
}

/** The draft document's content (a signed object `[content, signature]`, ctx license). */
export function decodeLicenseDocument(documentBytes) {
  const outer = decode(documentBytes);
  if (!Array.isArray(outer) || outer.length !== 2 || !outer.every((x) => x instanceof Uint8Array)) {
    throw refuse("document", "证照草稿不是签名对象 [内容, 签名]");
  }
  const content = decode(outer[0]);
  if (!isMap(content) || content.ctx !== LICENSE_CONTEXT) {
    throw refuse("document.ctx", `证照草稿的 ctx 不是 ${LICENSE_CONTEXT}`);
  }
  return content;
}

/**
 * Check a drafted `license_issued` event (its content bytes) and the sealed draft document it
 * names against what the page asked for: `expected` = {identifier, caseId, ledger,
 * deliveredSeq, number, validFrom, validUntil, face (the typed fields)}, `key` the device's.
 * Returns {content, document} as decoded; Refused otherwise.
 */
export async function checkIssuedDraft(contentBytes, documentBytes, key, expected) {
  const content = decodeEventContent(contentBytes);
  checkActor(content, key);
  expect(content.type === ISSUED, "type");
  expect(content.ledger === expected.ledger, "ledger");
  expect(content.case === (await licenseStreamId(expected.identifier)), "case");
  expect(content.seq === 1, "seq");
  expect(equalBytes(content.prev, new Uint8Array(32)), "prev");
  const body = content.body;
  expect(sameKeys(body, ISSUED_FIELDS), "body");
  expect(body.id === expected.identifier, "body.id");
  expect(body.type === typeCodeOf(expected.identifier), "body.type");
  expect(body.issuer_body === key.bodyId, "body.issuer_body");
  expect(body.case === expected.caseId, "body.case");
  expect(body.delivered_seq === expected.deliveredSeq, "body.delivered_seq");
  expect(body.valid_from === expected.validFrom, "body.valid_from");
  expect(body.valid_until === expected.validUntil, "body.valid_until");
  const commitment = body.holder_commitment;
  expect(commitment instanceof Uint8Array && commitment.length === 32, "body.holder_commitment");
  expect(isMap(body.status) && sameKeys(body.status, ["index", "list"]), "body.status");

  const document = decodeLicenseDocument(documentBytes);
  const digestable = document.suite === DIGEST_SUITE;
  expect(digestable, "document.suite", `本页只能核对 ${DIGEST_SUITE} 证照的摘要，不签名`);
  const named = equalBytes(body.document_digest, await sha256(documentBytes));
  expect(named, "body.document_digest", "事件所载证照摘要与节点给出的证照草稿不符，不签名");
  expect(document.id === expected.identifier, "document.id");
  expect(document.case === expected.caseId, "document.case");
  expect(document.ledger === expected.ledger, "document.ledger");
  expect(document.issuance_index === 0, "document.issuance_index");
  expect(isMap(document.issuer) && document.issuer.body === key.bodyId, "document.issuer");
  expect(document.number === expected.number, "document.number");
  expect(document.valid_from === expected.validFrom, "document.valid_from");
  expect(document.valid_until === expected.validUntil, "document.valid_until");
  const status = document.status;
  const sameStatus = isMap(status) && status.list === body.status.list;
  expect(sameStatus && status.index === body.status.index, "document.status");
  expect(isMap(document.face), "document.face");
  for (const [name, value] of Object.entries(expected.face)) {
    expect(document.face[name] === value, `document.face.${name}`);
  }
  return { content, document };
}

/**
 * Check a drafted status change: `expected` = {identifier, action, reason, ledger, headSeq,
 * headHash (hex)}. Returns the decoded content; Refused otherwise.
 */
export async function checkStatusDraft(contentBytes, key, expected) {
  const content = decodeEventContent(contentBytes);
  checkActor(content, key);
  expect(content.type === STATUS_EVENTS[expected.action], "type");
  expect(content.ledger === expected.ledger, "ledger");
  expect(content.case === (await licenseStreamId(expected.identifier)), "case");
  expect(content.seq === expected.headSeq + 1, "seq");
  expect(hex(content.prev) === expected.headHash, "prev");
  expect(sameKeys(content.body, ["reason"]) && content.body.reason === expected.reason, "body");
  return content;
}

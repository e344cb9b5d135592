// Signed objects (docs/envelope.md §2–§6, docs/keys.md §2, docs/login.md §2), for the officers'
// pages: open and check the shape of what the node sends, and build the signing input
// `UTF-8(ctx) || 00 || SHA-256(content bytes)` from the content bytes the page decoded itself.
//
// Browsers have Ed25519 in WebCrypto but no SM2: this module signs and verifies the suite
// `ed25519-sha256` only, and refuses `sm2-sm3` objects as `unsupported_suite` (§3), as a node
// that does not implement a suite must. The one exception is decoding a draft's content bytes
// for an SM2 officer's session (`decodeEventContent(bytes, "sm2-sm3")`): no digest or signature
// is computed here; the officer signs on the command line (clisign.js).

import { Refused, concat, decode, encode, equalBytes, hex, isMap, textBytes } from "./canonical.js";

export const SUITE = "ed25519-sha256";
export const EVENT_CONTEXT = "tongban/event/v1";
export const RECEIPT_CONTEXT = "tongban/receipt/v1";
export const KEY_CONTEXT = "tongban/key/v1";
export const LOGIN_CONTEXT = "tongban/login/v1";
const DIGEST_SIZE = 32;

const subtle = globalThis.crypto.subtle;

const malformed = (message, field = null) => new Refused("malformed", message, field);

export async function sha256(bytes) {
  return new Uint8Array(await subtle.digest("SHA-256", bytes));
}

/** `UTF-8(ctx) || 00 || SHA-256(content bytes)` (§2.3): the bytes a key signs. */
export async function signingInput(ctx, contentBytes) {
  return concat(textBytes(ctx), Uint8Array.of(0), await sha256(contentBytes));
}

/** The key id of an Ed25519 public key (§3.3). */
export async function kidOf(publicKey, suite = SUITE) {
  const digest = await sha256(concat(textBytes(suite), Uint8Array.of(0), publicKey));
  return hex(digest.subarray(0, 16));
}

/** The outer form `[content, signature]`'s canonical bytes (§2.1). */
export function sealBytes(contentBytes, signature) {
  return encode([contentBytes, signature]);
}

/** The object hash (§2.4) of the bytes exactly as stored or received. */
export async function objectHash(outerBytes) {
  return sha256(outerBytes);
}

/** Type checks: a boolean is never an integer (§1.1). */
function isInteger(value) {
  return typeof value === "bigint" || (typeof value === "number" && Number.isSafeInteger(value));
}

const KINDS = {
  integer: isInteger,
  text: (v) => typeof v === "string",
  bytes: (v) => v instanceof Uint8Array,
  map: isMap,
  array: Array.isArray,
  boolean: (v) => typeof v === "boolean",
};

/** `content[name]`, which must be present and of `kind`; else malformed naming `field`. */
export function need(content, name, kind, field = name) {
  if (!(name in content)) throw malformed(`${field} is missing`, field);
  const value = content[name];
  if (!KINDS[kind](value)) throw malformed(`${field} must be ${kind}`, field);
  return value;
}

function exactly(content, fields, prefix = "") {
  const unknown = Object.keys(content)
    .filter((name) => !fields.has(name))
    .sort();
  if (unknown.length) {
    throw malformed(`unknown fields ${unknown.join(", ")}`, prefix + unknown[0]);
  }
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
const STEP = /^[a-z][a-z0-9_]{0,39}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function identifier(value, field) {
  if (typeof value !== "string" || !ID.test(value)) {
    throw malformed(`${field} is not a valid identifier`, field);
  }
  return value;
}

/**
 * Steps 1–6 of §2.5: `{content, contentBytes, signature, suite, ctx, kid}` of the signed object
 * in `raw`, expected under context `ctx`; Refused with the step's reason otherwise.
 */
export function openSigned(raw, ctx) {
  const outer = decode(raw);
  if (!Array.isArray(outer) || outer.length !== 2 || !outer.every(KINDS.bytes)) {
    throw malformed("a signed object is [content bytes, signature bytes]");
  }
  const [contentBytes, signature] = outer;
  const content = decode(contentBytes);
  if (!isMap(content)) throw malformed("the content is not a map");
  if (!("v" in content) || !isInteger(content.v) || content.v !== 1) {
    throw new Refused("unsupported_version", "only version 1 is implemented", "v");
  }
  if (content.suite !== SUITE) {
    throw new Refused(
      "unsupported_suite",
      `this page signs and verifies ${SUITE} only, not ${String(content.suite)}`,
      "suite",
    );
  }
  if (content.ctx !== ctx) {
    throw new Refused("wrong_context", `expected ${ctx}, not ${String(content.ctx)}`, "ctx");
  }
  const kid = need(content, "kid", "text");
  return { content, contentBytes, signature, suite: SUITE, ctx, kid, raw };
}

function digestLong(content, name, field = name) {
  const value = need(content, name, "bytes", field);
  if (value.length !== DIGEST_SIZE) throw malformed(`${field} must be one digest long`, field);
  return value;
}

function atLeast(content, name, minimum, field = name) {
  const value = need(content, name, "integer", field);
  if (value < minimum) throw malformed(`${field} must be at least ${minimum}`, field);
  return value;
}

const EVENT_FIELDS = new Set(
  ["v", "suite", "ctx", "kid", "ledger", "case", "seq", "type", "time", "actor", "prev", "body"],
);

/** Shape checks of a case event's content map (§5.1, §5.2). */
export function checkEvent(content) {
  exactly(content, EVENT_FIELDS);
  need(content, "ledger", "text");
  const caseId = need(content, "case", "text");
  if (!UUID.test(caseId)) throw malformed("case must be a lowercase hyphenated UUID", "case");
  atLeast(content, "seq", 1);
  const type = need(content, "type", "text");
  if (!STEP.test(type)) throw malformed(`type ${type} is not a step name`, "type");
  atLeast(content, "time", 0);
  const actor = need(content, "actor", "map");
  exactly(actor, new Set(["body", "officer"]), "actor.");
  identifier(need(actor, "body", "text", "actor.body"), "actor.body");
  identifier(need(actor, "officer", "text", "actor.officer"), "actor.officer");
  digestLong(content, "prev");
  need(content, "body", "map");
  return content;
}

/** Open a case event envelope (steps 1–7 of §2.5; the signature is `verify`'s). */
export function openEvent(raw) {
  const signed = openSigned(raw, EVENT_CONTEXT);
  checkEvent(signed.content);
  return signed;
}

/** The content bytes of an unsigned event, decoded and checked as the page signs them: in
 * `suite`, this page's own unless the session's key signs elsewhere (SM2, on the command line). */
export function decodeEventContent(contentBytes, suite = SUITE) {
  const content = decode(contentBytes);
  if (!isMap(content)) throw malformed("the content is not a map");
  if (content.v !== 1) throw new Refused("unsupported_version", "only version 1", "v");
  if (content.suite !== suite) throw new Refused("unsupported_suite", `not ${suite}`, "suite");
  if (content.ctx !== EVENT_CONTEXT) {
    throw new Refused("wrong_context", `expected ${EVENT_CONTEXT}`, "ctx");
  }
  need(content, "kid", "text");
  return checkEvent(content);
}

const RECEIPT_FIELDS = new Set(
  ["v", "suite", "ctx", "kid", "ledger", "index", "event", "stream", "seq", "time"],
);

/** Open a node receipt (§6). */
export function openReceipt(raw) {
  const signed = openSigned(raw, RECEIPT_CONTEXT);
  const content = signed.content;
  exactly(content, RECEIPT_FIELDS);
  need(content, "ledger", "text");
  atLeast(content, "index", 1);
  digestLong(content, "event");
  const stream = need(content, "stream", "text");
  if (!UUID.test(stream)) throw malformed("stream must be a lowercase hyphenated UUID", "stream");
  atLeast(content, "seq", 1);
  atLeast(content, "time", 0);
  return signed;
}

const KEY_FIELDS = ["public_key", "key_suite", "valid_from"];
const LICENSE_KEY_FIELDS = ["body_id", "public_key", "key_suite", "valid_from", "valid_until"];
/** Each key record type's body fields (docs/keys.md §3). */
export const KEY_BODY_FIELDS = {
  root_established: [...KEY_FIELDS],
  root_rotated: [...KEY_FIELDS, "proof"],
  body_registered: [...KEY_FIELDS, "body_id", "name", "org"],
  body_key_rotated: [...KEY_FIELDS, "body_id"],
  officer_certified: [...KEY_FIELDS, "body_id", "officer_id", "device", "head"],
  node_key_certified: [...KEY_FIELDS, "node_id"],
  key_revoked: ["kid", "compromised_since", "reason"],
  finding_resolved: ["case", "seq", "reason", "resolution", "note"],
  catalog_amended: ["base_version", "changes"],
  license_key_certified: LICENSE_KEY_FIELDS,
  calendar_published: ["year", "holidays", "workdays", "divisions", "source"],
  hall_published: ["body_id", "address", "hours", "phone", "appointment", "notice"],
};
const RECORD_FIELDS = new Set(
  ["v", "suite", "ctx", "kid", "region", "seq", "prev", "type", "time", "body"],
);

/** Shape checks of a key record's content map (docs/keys.md §2): not the registry's rules. */
export function checkKeyRecord(content) {
  const type = need(content, "type", "text");
  if (!Object.hasOwn(KEY_BODY_FIELDS, type)) {
    throw malformed(`unknown key record type ${type}`, "type");
  }
  exactly(content, RECORD_FIELDS);
  need(content, "region", "text");
  atLeast(content, "seq", 1);
  const body = need(content, "body", "map");
  exactly(body, new Set(KEY_BODY_FIELDS[type]), "body.");
  digestLong(content, "prev");
  atLeast(content, "time", 0);
  return content;
}

/** Open a key registry record (docs/keys.md §2): the shape, not the registry's rules. */
export function openKeyRecord(raw) {
  const signed = openSigned(raw, KEY_CONTEXT);
  checkKeyRecord(signed.content);
  return signed;
}

/** The content bytes of an unsigned key record, decoded and checked as a body key signs
 * them (the administrator's page): `unsupported_suite` for a record an SM2 key would sign. */
export function decodeKeyRecordContent(contentBytes) {
  const content = decode(contentBytes);
  if (!isMap(content)) throw malformed("the content is not a map");
  if (!("v" in content) || !isInteger(content.v) || content.v !== 1) {
    throw new Refused("unsupported_version", "only version 1 is implemented", "v");
  }
  if (content.suite !== SUITE) {
    throw new Refused("unsupported_suite", `this page signs ${SUITE} only, not ${String(content.suite)}`, "suite");
  }
  if (content.ctx !== KEY_CONTEXT) throw new Refused("wrong_context", `expected ${KEY_CONTEXT}`, "ctx");
  need(content, "kid", "text");
  return checkKeyRecord(content);
}

const LOGIN_FIELDS = new Set(
  ["v", "suite", "ctx", "kid", "origin", "nonce", "issued_at", "expires_at", "body_id", "officer_id"],
);
export const MAX_LOGIN_LIFETIME = 300_000_000; // µs

/** Shape checks of a login proof (docs/login.md §3 steps 1–2). */
export function openLogin(raw) {
  const signed = openSigned(raw, LOGIN_CONTEXT);
  const content = signed.content;
  exactly(content, LOGIN_FIELDS);
  const origin = need(content, "origin", "text");
  if (!origin || origin.length > 255 || origin !== origin.trim()) {
    throw malformed("origin must be a page origin", "origin");
  }
  const nonce = need(content, "nonce", "bytes");
  if (nonce.length < 16 || nonce.length > 64) throw malformed("nonce must be 16 to 64 bytes", "nonce");
  const issued = need(content, "issued_at", "integer");
  const expires = need(content, "expires_at", "integer");
  if (!(issued < expires && expires <= issued + MAX_LOGIN_LIFETIME)) {
    throw malformed("expires_at must follow issued_at by at most five minutes", "expires_at");
  }
  identifier(need(content, "body_id", "text"), "body_id");
  identifier(need(content, "officer_id", "text"), "officer_id");
  return signed;
}

/**
 * The content bytes of a login proof answering `challenge` (`{origin, nonce (bytes),
 * issued_at, expires_at}`), built by the page itself with its own origin (docs/login.md §2).
 */
export function loginContent(challenge, { kid, bodyId, officerId, origin }) {
  return encode({
    v: 1,
    suite: SUITE,
    ctx: LOGIN_CONTEXT,
    kid,
    origin,
    nonce: challenge.nonce,
    issued_at: challenge.issued_at,
    expires_at: challenge.expires_at,
    body_id: identifier(bodyId, "body_id"),
    officer_id: identifier(officerId, "officer_id"),
  });
}

/** Sign `contentBytes` under `ctx` with a WebCrypto Ed25519 private key: the outer bytes. */
export async function signContent(privateKey, ctx, contentBytes) {
  const input = await signingInput(ctx, contentBytes);
  const signature = new Uint8Array(await subtle.sign({ name: "Ed25519" }, privateKey, input));
  return sealBytes(contentBytes, signature);
}

/** Step 9 of §2.5: the signature of an opened object under a 32-byte Ed25519 public key. */
export async function verify(signed, publicKey) {
  const key = await subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  const input = await signingInput(signed.ctx, signed.contentBytes);
  const ok = await subtle.verify({ name: "Ed25519" }, key, signed.signature, input);
  if (!ok) throw new Refused("bad_signature", "the signature does not verify", "signature");
  return signed;
}

export { equalBytes };

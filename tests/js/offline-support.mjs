// Test helpers for api/static/offline-verify.js: the vectors as JavaScript values, WebCrypto
// signers from the vectors' seeds, and makers of the signed objects the verifier reads (trust
// lists, status lists, compact texts), built from the documents as an issuer would. Test code
// only: node:zlib compresses what the verifier must inflate itself.
import { readFileSync, readdirSync } from "node:fs";
import { deflateSync, gzipSync } from "node:zlib";

import { encode, fromHex, hex } from "../../api/static/canonical.js";
import { kidOf, sha256, signingInput } from "../../api/static/envelope.js";

const root = new URL("../vectors/", import.meta.url);

export function vector(dir, name) {
  return JSON.parse(readFileSync(new URL(`${dir}/${name}`, root), "utf8"));
}

export function vectors(dir) {
  return readdirSync(new URL(`${dir}/`, root))
    .filter((name) => name.endsWith(".json"))
    .sort()
    .map((name) => vector(dir, name));
}

/** JSON of a vector's content as msgpack values: {"bin": hex} is a byte string. */
export function fromJson(value) {
  if (Array.isArray(value)) return value.map(fromJson);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "bin") return fromHex(value.bin);
    const out = Object.create(null);
    for (const key of keys) out[key] = fromJson(value[key]);
    return out;
  }
  return value;
}

export const SUITE = "ed25519-sha256";
export const DAY = 86_400_000_000;

/** An Ed25519 signer from a 32-byte seed: `{seed, publicKey, kid, sign(bytes)}`. */
export async function signer(seedHex) {
  const pkcs8 = fromHex("302e020100300506032b657004220420" + seedHex);
  const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", key);
  const publicKey = new Uint8Array(Buffer.from(jwk.x, "base64url"));
  return {
    seed: seedHex,
    publicKey,
    kid: await kidOf(publicKey),
    sign: async (bytes) => new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key, bytes)),
  };
}

/** A signer from a label (a test key no vector gives). */
export async function labelled(label) {
  return signer(hex(await sha256(new TextEncoder().encode(`offline-verify-test/${label}`))));
}

/** `[content, signature]` of a content map signed under `ctx` (envelope.md §2). */
export async function signed(key, ctx, content) {
  const bytes = encode(content);
  return encode([bytes, await key.sign(await signingInput(ctx, bytes))]);
}

/** A `GET /keys` entry for a key. */
export function keyEntry(key, role, region, { validFrom = 0, validUntil = null, compromisedSince = null } = {}) {
  return {
    kid: key.kid,
    role,
    region,
    owner: role === "node" ? "node-1" : "",
    officer_id: "",
    suite: SUITE,
    public_key: hex(key.publicKey),
    valid_from: validFrom,
    valid_until: validUntil,
    compromised_since: compromisedSince,
  };
}

/** A trust list (license.md §10.1) signed by `rootKey`. */
export function trustList(rootKey, { region, version = 1, issuedAt, validUntil, licenseKeys = [], recognition = [], extra = {} }) {
  const content = {
    v: 1,
    suite: SUITE,
    ctx: "tongban/trust-list/v1",
    kid: rootKey.kid,
    region,
    version,
    issued_at: issuedAt,
    valid_until: validUntil,
    license_keys: licenseKeys,
    recognition,
    ...extra,
  };
  return signed(rootKey, "tongban/trust-list/v1", content);
}

/** A trust list entry for a license key. */
export function licenseKey(key, { bodyId, issuerCode, validFrom = 0, validUntil = null, revokedSince = null, suite = SUITE }) {
  return {
    kid: key.kid,
    suite,
    public_key: key.publicKey,
    body_id: bodyId,
    issuer_code: issuerCode,
    valid_from: validFrom,
    valid_until: validUntil,
    revoked_since: revokedSince,
  };
}

/** A bitstring of `entries` 2-bit entries with `values` ({index: value}) set. */
export function bitstring(entries, values = {}) {
  const bits = new Uint8Array(entries / 4);
  for (const [index, value] of Object.entries(values)) {
    const i = Number(index);
    bits[i >> 2] |= value << (6 - 2 * (i & 3));
  }
  return bits;
}

/** `u` || base64url_nopad(gzip(bits)) (license-offline.md §1.2). */
export function encodedList(bits) {
  return "u" + Buffer.from(gzipSync(bits)).toString("base64url");
}

/** A status list (license-offline.md §1.3) signed by `nodeKey`. */
export function statusList(nodeKey, { id, issuer, version = 1, issuedAt, validUntil, encoded, extra = {} }) {
  return signed(nodeKey, "tongban/status-list/v1", {
    v: 1,
    suite: SUITE,
    ctx: "tongban/status-list/v1",
    kid: nodeKey.kid,
    id,
    issuer,
    purpose: "status",
    version,
    issued_at: issuedAt,
    valid_until: validUntil,
    encoded_list: encoded,
    ...extra,
  });
}

const BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

export function base45(bytes) {
  let out = "";
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    const n = bytes[i] * 256 + bytes[i + 1];
    out += BASE45[n % 45] + BASE45[Math.floor(n / 45) % 45] + BASE45[Math.floor(n / 2025)];
  }
  if (bytes.length % 2) {
    const n = bytes[bytes.length - 1];
    out += BASE45[n % 45] + BASE45[Math.floor(n / 45)];
  }
  return out;
}

/** A compact text (license-offline.md §2.1) of `payload` signed by `key`. */
export async function compactText(key, payload, { sign = true } = {}) {
  const bytes = encode(payload);
  const input = await signingInput("tongban/license-compact/v1", bytes);
  const signature = sign ? await key.sign(input) : new Uint8Array(64);
  return "TB1:" + base45(deflateSync(encode([bytes, signature]), { level: 9 }));
}

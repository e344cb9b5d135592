// The officer's key on this device: a WebCrypto Ed25519 private key created non-extractable
// and kept in IndexedDB (a CryptoKey is stored as itself; its bytes cannot be read back by any
// script, this one included). One record per device: {kid, bodyId, officerId, privateKey,
// publicKey (32 bytes)}. The administrator's page keeps body keys the same way, in a database
// of its own, one per body: {bodyId, kid, privateKey, publicKey}.

import { fromHex } from "./canonical.js";
import { kidOf } from "./envelope.js";

const DB = "tongban-officer";
const STORE = "keys";
const ONLY = "this-device";
const ADMIN_DB = "tongban-admin";
const BODY_KEYS = "body-keys";

function database(name, store) {
  return new Promise((resolve, reject) => {
    const opening = indexedDB.open(name, 1);
    opening.onupgradeneeded = () => opening.result.createObjectStore(store);
    opening.onsuccess = () => resolve(opening.result);
    opening.onerror = () => reject(opening.error);
  });
}

async function run(mode, action, name = DB, storeName = STORE) {
  const db = await database(name, storeName);
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(storeName, mode);
      const request = action(tx.objectStore(storeName));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/** The key stored on this device, or null. */
export async function storedKey() {
  return (await run("readonly", (store) => store.get(ONLY))) ?? null;
}

export async function storeKey(record) {
  await run("readwrite", (store) => store.put(record, ONLY));
}

export async function forgetKey() {
  await run("readwrite", (store) => store.delete(ONLY));
}

const B64URL = (bytes) =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const FROM_B64URL = (text) =>
  Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

/**
 * A key file's Ed25519 seed (64 hex digits, as `tongban` writes key files) as a
 * non-extractable key: the seed goes through an extractable key only long enough to learn its
 * public key; the text is not kept. An SM2 key file (`sm2-sm3 <hex>`) is refused: WebCrypto
 * has no SM2 (its officer logs in and signs on the command line, cli-login.js). `{privateKey,
 * publicKey, kid}`.
 */
export async function importSeed(text) {
  const line = text.trim();
  if (/^sm2-sm3\s/.test(line) || line.includes("SM2 KEY")) {
    throw new Error(
      "国密 SM2 密钥无法在浏览器中使用（浏览器的 WebCrypto 没有 SM2：unsupported_suite），请改用下方“国密密钥（命令行签名）”登录，用命令行 tongban 签名",
    );
  }
  if (!/^[0-9a-f]{64}$/.test(line)) {
    throw new Error("密钥文件应为 64 位十六进制的 Ed25519 私钥种子");
  }
  const pkcs8 = fromHex("302e020100300506032b657004220420" + line);
  const temporary = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", temporary);
  const publicKey = FROM_B64URL(jwk.x);
  const privateKey = await crypto.subtle.importKey(
    "jwk",
    { kty: "OKP", crv: "Ed25519", d: jwk.d, x: jwk.x },
    { name: "Ed25519" },
    false,
    ["sign"],
  );
  return { privateKey, publicKey, kid: await kidOf(publicKey) };
}

/** A demo key file imported once as this device's officer key (see importSeed). */
export async function importSeedFile(text, { bodyId, officerId }) {
  const { privateKey, publicKey, kid } = await importSeed(text);
  const record = { kid, bodyId, officerId, privateKey, publicKey };
  await storeKey(record);
  return record;
}

/** The body key this device holds for `bodyId`, or null. */
export async function storedBodyKey(bodyId) {
  return (await run("readonly", (store) => store.get(bodyId), ADMIN_DB, BODY_KEYS)) ?? null;
}

/** Every body key this device holds. */
export async function storedBodyKeys() {
  return run("readonly", (store) => store.getAll(), ADMIN_DB, BODY_KEYS);
}

export async function storeBodyKey(record) {
  await run("readwrite", (store) => store.put(record, record.bodyId), ADMIN_DB, BODY_KEYS);
}

export async function forgetBodyKey(bodyId) {
  await run("readwrite", (store) => store.delete(bodyId), ADMIN_DB, BODY_KEYS);
}

/** A new key generated on this device, never extractable: its public key is for enrolment. */
export async function generateKey({ bodyId, officerId }) {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  const record = { kid: await kidOf(publicKey), bodyId, officerId, privateKey: pair.privateKey, publicKey };
  await storeKey(record);
  return record;
}

export { B64URL };

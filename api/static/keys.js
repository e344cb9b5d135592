// The officer's key on this device: a WebCrypto Ed25519 private key created non-extractable
// and kept in IndexedDB (a CryptoKey is stored as itself; its bytes cannot be read back by any
// script, this one included). One record per device: {kid, bodyId, officerId, privateKey,
// publicKey (32 bytes)}.

import { fromHex } from "./canonical.js";
import { kidOf } from "./envelope.js";

const DB = "tongban-officer";
const STORE = "keys";
const ONLY = "this-device";

function database() {
  return new Promise((resolve, reject) => {
    const opening = indexedDB.open(DB, 1);
    opening.onupgradeneeded = () => opening.result.createObjectStore(STORE);
    opening.onsuccess = () => resolve(opening.result);
    opening.onerror = () => reject(opening.error);
  });
}

async function run(mode, action) {
  const db = await database();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = action(tx.objectStore(STORE));
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
 * A demo key file (the 32-byte Ed25519 seed in hex, as `tongban` writes key files) imported
 * once: the seed goes through an extractable key only long enough to learn its public key,
 * then lives on as a non-extractable key; the file's text is not kept.
 */
export async function importSeedFile(text, { bodyId, officerId }) {
  const line = text.trim();
  if (!/^[0-9a-f]{64}$/.test(line)) {
    throw new Error("密钥文件应为 64 位十六进制的 Ed25519 私钥种子（国密 SM2 密钥无法在浏览器中使用）");
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
  const record = { kid: await kidOf(publicKey), bodyId, officerId, privateKey, publicKey };
  await storeKey(record);
  return record;
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

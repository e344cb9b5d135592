// The pages' signing code (api/static/canonical.js, envelope.js) against the envelope and login
// vectors: every valid vector rebuilt byte for byte (content, signing input, Ed25519 signature
// by WebCrypto, envelope, hash, kid), every negative one refused with the reason it names.
// Run by tests/unit/test_pages_js.py with `node --test`, so CI runs it.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { test } from "node:test";

import { Refused, decode, encode, fromHex, hex } from "../../api/static/canonical.js";
import {
  LOGIN_CONTEXT,
  decodeEventContent,
  kidOf,
  loginContent,
  objectHash,
  openEvent,
  openKeyRecord,
  openLogin,
  openReceipt,
  openSigned,
  signContent,
  signingInput,
  verify,
} from "../../api/static/envelope.js";

const root = new URL("../vectors/", import.meta.url);
const load = (dir) =>
  readdirSync(new URL(`${dir}/`, root))
    .filter((name) => name.endsWith(".json"))
    .sort()
    .map((name) => JSON.parse(readFileSync(new URL(`${dir}/${name}`, root), "utf8")));

const envelopeVectors = load("envelope");
const loginVectors = load("login");

/** JSON of a vector's `content` as msgpack values: {"bin": hex} is a byte string. */
function fromJson(value) {
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

/** A WebCrypto Ed25519 private key from a 32-byte seed (PKCS #8 of RFC 8410). */
async function privateKey(seedHex) {
  const pkcs8 = fromHex("302e020100300506032b657004220420" + seedHex);
  return crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, ["sign"]);
}

const OPENERS = {
  event: openEvent,
  receipt: openReceipt,
  key_record: openKeyRecord,
  login: openLogin,
};

function refusedWith(reason, action) {
  assert.throws(action, (error) => {
    assert.ok(error instanceof Refused, `not a refusal: ${error}`);
    assert.equal(error.reason, reason, error.message);
    return true;
  });
}

test("the vectors are there", () => {
  assert.ok(envelopeVectors.length >= 30, `${envelopeVectors.length} envelope vectors`);
  assert.ok(loginVectors.length >= 10, `${loginVectors.length} login vectors`);
});

for (const v of [...envelopeVectors, ...loginVectors].filter((v) => v.valid !== false)) {
  test(`valid ${v.name}: every expected value rebuilt`, async () => {
    const content = encode(fromJson(v.content));
    assert.equal(hex(content), v.expected.content, "content");
    // and the decoder gives back a value that encodes to the same bytes
    assert.equal(hex(encode(decode(content))), v.expected.content);
    const input = await signingInput(v.context, content);
    assert.equal(hex(input), v.expected.signing_input, "signing input");
    const outer = await signContent(await privateKey(v.signer.seed), v.context, content);
    const wanted = v.expected.envelope ?? v.expected.proof;
    assert.equal(hex(outer), wanted, "envelope");
    const opened = OPENERS[v.kind](outer);
    assert.equal(hex(opened.signature), v.expected.signature, "signature");
    await verify(opened, fromHex(v.signer.public_key));
    assert.equal(await kidOf(fromHex(v.signer.public_key)), v.signer.kid, "kid");
    if (v.expected.hash) assert.equal(hex(await objectHash(outer)), v.expected.hash, "hash");
    if (v.kind === "event") {
      const decoded = decodeEventContent(content);
      assert.equal(decoded.seq, v.content.seq);
      assert.equal(decoded.case, v.content.case);
    }
  });
}

for (const v of envelopeVectors.filter((v) => v.valid === false)) {
  test(`negative ${v.name}: refused as ${v.reason} by ${v.refused_by}`, async () => {
    const raw = fromHex(v.envelope);
    const open = OPENERS[v.kind];
    if (v.refused_by === "decoding") {
      refusedWith(v.reason, () => open(raw));
      // under the kind's own context, whatever the vector offers it as
      refusedWith(v.reason, () => {
        const opened = open(raw);
        if (opened.ctx !== v.context) throw new Error("opened under another context");
      });
    } else {
      assert.equal(v.refused_by, "signature");
      const opened = open(raw); // well formed
      await assert.rejects(verify(opened, fromHex(v.public_key)), (error) => {
        assert.equal(error.reason, v.reason);
        return true;
      });
    }
  });
}

/**
 * A login proof as a node checks it (docs/login.md §3), with the officer's key standing in for
 * the registry and `used` for the node's nonce book: the vectors' node-side reasons are these.
 */
async function checkLogin(raw, { origin, now, publicKey, used }) {
  const proof = openLogin(raw);
  const c = proof.content;
  if (c.origin !== origin) throw new Refused("wrong_origin", "another origin", "origin");
  if (!(c.issued_at <= now && now < c.expires_at)) {
    throw new Refused("challenge_expired", "not valid now", "expires_at");
  }
  await verify(proof, publicKey);
  const nonce = hex(c.nonce);
  if (used.has(nonce)) throw new Refused("unknown_challenge", "answered already", "nonce");
  used.add(nonce);
  return proof;
}

const loginValid = loginVectors.find((v) => v.name === "login-valid");

test("login-valid: the page's own builder gives the proof's content from the challenge", async () => {
  const c = loginValid.challenge;
  const content = loginContent(
    { nonce: fromHex(c.nonce), issued_at: c.issued_at, expires_at: c.expires_at },
    { kid: loginValid.signer.kid, bodyId: "510104-RS", officerId: "rs-001", origin: c.origin },
  );
  assert.equal(hex(content), loginValid.expected.content);
  const proof = await signContent(await privateKey(loginValid.signer.seed), LOGIN_CONTEXT, content);
  assert.equal(hex(proof), loginValid.expected.proof);
  const used = new Set();
  const check = { ...loginValid.check, publicKey: fromHex(loginValid.signer.public_key), used };
  await checkLogin(proof, check);
});

for (const v of loginVectors.filter((v) => v.valid === false)) {
  test(`login negative ${v.name}: refused as ${v.reason}`, async () => {
    const used = new Set();
    const check = {
      origin: v.check.origin,
      now: v.check.now,
      publicKey: fromHex(loginValid.signer.public_key),
      used,
    };
    if (v.check.nonce_used) {
      await checkLogin(fromHex(loginValid.expected.proof), { ...loginValid.check, ...check });
    }
    await assert.rejects(checkLogin(fromHex(v.proof), check), (error) => {
      assert.ok(error instanceof Refused, `not a refusal: ${error}`);
      assert.equal(error.reason, v.reason, error.message);
      return true;
    });
  });
}

test("an event's content is never opened as a login, nor a login as an event", async () => {
  const event = envelopeVectors.find((v) => v.name === "event-seq2");
  refusedWith("wrong_context", () => openLogin(fromHex(event.expected.envelope)));
  refusedWith("wrong_context", () => openEvent(fromHex(loginValid.expected.proof)));
});

test("canonical encoding: the document's examples and limits", () => {
  const m = Object.create(null);
  m.b = 1;
  m.a = [true, null, -1];
  assert.equal(hex(encode(m)), "82a16193c3c0ffa16201");
  assert.equal(hex(encode(5)), "05");
  assert.equal(hex(encode(200)), "ccc8");
  assert.equal(hex(encode(-1)), "ff");
  assert.equal(hex(encode(-33)), "d0df");
  assert.equal(hex(encode(1767225600000000)), "cf0006474846204000");
  assert.equal(hex(encode((1n << 64n) - 1n)), "cfffffffffffffffff");
  assert.equal(hex(encode(-(1n << 63n))), "d38000000000000000");
  // UTF-8 byte order, not UTF-16: U+FF61 before U+1F600
  const keys = Object.create(null);
  keys["😀"] = 1;
  keys["｡"] = 2;
  assert.equal(hex(encode(keys)), "82a3efbda102a4f09f988001");
  assert.throws(() => encode(1.5), Refused);
  assert.throws(() => encode(1n << 64n), Refused);
  assert.throws(() => encode("\ud800"), Refused);
  assert.throws(() => encode(undefined), Refused);
  // depth: 33 nested arrays around nothing pass, around a scalar do not
  let deep = [];
  for (let i = 0; i < 32; i++) deep = [deep];
  assert.equal(decode(encode(deep)).length, 1);
  let deeper = 0;
  for (let i = 0; i < 33; i++) deeper = [deeper];
  assert.throws(() => encode(deeper), Refused);
  const tooDeep = fromHex("91".repeat(33) + "00");
  refusedWith("malformed", () => decode(tooDeep));
  // every refused first byte, and trailing bytes
  for (const bad of ["ca00000000", "cb0000000000000000", "c1", "d40100", "c70101", "9100c0"]) {
    refusedWith("malformed", () => decode(fromHex(bad)));
  }
  refusedWith("malformed", () => decode(fromHex("a2ff61"))); // invalid UTF-8
  refusedWith("malformed", () => decode(fromHex("8101c0"))); // a key that is not text
  refusedWith("malformed", () => decode(fromHex("d90161"))); // str 8 for a fixstr
  refusedWith("malformed", () => decode(fromHex("dc000100"))); // array 16 for a fixarray
  refusedWith("malformed", () => decode(fromHex("c5000100"))); // bin 16 for bin 8
  refusedWith("malformed", () => decode(fromHex("d0ff"))); // int 8 for a negative fixint
  refusedWith("malformed", () => decode(fromHex("dd"))); // ends inside a header
  refusedWith("malformed", () => decode(fromHex("dcffff"))); // a length past the end
});

test("a sm2-sm3 object is unsupported here, not malformed: the page reads but does not sign", () => {
  const content = encode({ v: 1, suite: "sm2-sm3", ctx: "tongban/event/v1", kid: "00" });
  const raw = encode([content, new Uint8Array(64)]);
  refusedWith("unsupported_suite", () => openSigned(raw, "tongban/event/v1"));
  refusedWith("unsupported_suite", () => decodeEventContent(content));
});

// The administrator's key page's signing code (api/static/enrolment.js and the key record
// decoder of envelope.js) against the key record vectors: the drafted content of
// `key-officer-second-device` decoded, checked and signed by the body key to the vector's exact
// record; every way a draft may differ from what was asked refused with its field; the
// enrolment code read back, and every mangled code refused with the part that is wrong.
// Run by tests/unit/test_pages_js.py with `node --test`.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { Refused, decode, encode, fromHex, hex } from "../../api/static/canonical.js";
import {
  ENROLMENT_PREFIX,
  checkCertifiedDraft,
  checkRevokedDraft,
  deviceName,
  enrolmentCode,
  parseEnrolmentCode,
} from "../../api/static/enrolment.js";
import {
  KEY_CONTEXT,
  decodeKeyRecordContent,
  kidOf,
  openKeyRecord,
  signContent,
  signingInput,
  verify,
} from "../../api/static/envelope.js";

const vector = JSON.parse(
  readFileSync(new URL("../vectors/envelope/key-officer-second-device.json", import.meta.url), "utf8"),
);
const CONTENT = fromHex(vector.expected.content);
const OFFICER_KEY = fromHex(vector.content.body.public_key.bin);
const ASKED = {
  kid: vector.signer.kid,
  region: "510000",
  bodyId: "510104-RS",
  officerId: "rs-001",
  device: "laptop",
  publicKey: OFFICER_KEY,
};

async function bodyKey() {
  const pkcs8 = fromHex("302e020100300506032b657004220420" + vector.signer.seed);
  return crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, ["sign"]);
}

function refused(reason, field, action) {
  assert.throws(action, (error) => {
    assert.ok(error instanceof Refused, `not a refusal: ${error}`);
    assert.equal(error.reason, reason, error.message);
    assert.equal(error.field, field, error.message);
    return true;
  });
}

async function refusedAsync(reason, field, promise) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof Refused, `not a refusal: ${error}`);
    assert.equal(error.reason, reason, error.message);
    assert.equal(error.field, field, error.message);
    return true;
  });
}

/** The vector's content, changed by `change`, re-encoded canonically (as a node would send). */
function changed(change) {
  const content = decode(CONTENT);
  change(content);
  return decodeKeyRecordContent(encode(content));
}

test("a drafted officer_certified record is checked and signed to the vector's exact bytes", async () => {
  const content = decodeKeyRecordContent(CONTENT);
  checkCertifiedDraft(content, ASKED);
  assert.equal(hex(await signingInput(KEY_CONTEXT, CONTENT)), vector.expected.signing_input);
  const record = await signContent(await bodyKey(), KEY_CONTEXT, CONTENT);
  assert.equal(hex(record), vector.expected.envelope);
  await verify(openKeyRecord(record), fromHex(vector.signer.public_key));
});

test("a draft that is not the record asked for is refused, naming the field", () => {
  const cases = [
    ["kid", (c) => (c.kid = "0".repeat(32))],
    ["region", (c) => (c.region = "320000")],
    ["body.head", (c) => (c.body.head = true)], // would make the officer the body's head
    ["body.device", (c) => delete c.body.device],
    ["body.body_id", (c) => (c.body.body_id = "510000-ZWFW")],
    ["body.officer_id", (c) => (c.body.officer_id = "rs-002")],
    ["body.device", (c) => (c.body.device = "desk")],
    ["body.public_key", (c) => (c.body.public_key = new Uint8Array(32))],
    ["body.key_suite", (c) => (c.body.key_suite = "sm2-sm3")],
  ];
  for (const [field, change] of cases) {
    refused("malformed", field, () => checkCertifiedDraft(changed(change), ASKED));
  }
  // Another type: its body fields are another type's, refused by the decoder's shape check;
  // and by the check itself, whatever the decoder let through.
  refused("malformed", "body.device", () => changed((c) => (c.type = "body_key_rotated")));
  refused("malformed", "type", () => checkCertifiedDraft({ ...decode(CONTENT), type: "x" }, ASKED));
});

test("content the page cannot sign is refused before any check", () => {
  refused("unsupported_suite", "suite", () =>
    decodeKeyRecordContent(encode({ ...decode(CONTENT), suite: "sm2-sm3" })),
  );
  refused("wrong_context", "ctx", () =>
    decodeKeyRecordContent(encode({ ...decode(CONTENT), ctx: "tongban/event/v1" })),
  );
  refused("malformed", "body.name", () =>
    decodeKeyRecordContent(encode({ ...decode(CONTENT), body: { ...decode(CONTENT).body, name: "x" } })),
  );
  const longForm = hex(CONTENT).replace("a373657106", "a3736571cc06"); // seq 6 as uint 8
  assert.notEqual(longForm, hex(CONTENT));
  assert.throws(() => decodeKeyRecordContent(fromHex(longForm)), /canonical/);
});

function revocation(body) {
  const content = decode(CONTENT);
  content.type = "key_revoked";
  content.body = body;
  return encode(content);
}

test("a drafted revocation is checked: the key, the reason, the time asked for", async () => {
  const since = 1767225600000000;
  const asked = { kid: vector.signer.kid, region: "510000", officerKid: "ab".repeat(16), reason: "设备遗失", since };
  const bytes = revocation({ kid: asked.officerKid, compromised_since: since, reason: "设备遗失" });
  checkRevokedDraft(decodeKeyRecordContent(bytes), asked);
  const record = await signContent(await bodyKey(), KEY_CONTEXT, bytes);
  await verify(openKeyRecord(record), fromHex(vector.signer.public_key));
  // No time asked for: the draft's own time, and no other.
  const now = decode(CONTENT).time;
  const atNow = revocation({ kid: asked.officerKid, compromised_since: now, reason: "设备遗失" });
  checkRevokedDraft(decodeKeyRecordContent(atNow), { ...asked, since: null });
  const cases = [
    ["body.kid", { kid: "cd".repeat(16), compromised_since: since, reason: "设备遗失" }, asked],
    ["body.reason", { kid: asked.officerKid, compromised_since: since, reason: "" }, asked],
    ["body.compromised_since", { kid: asked.officerKid, compromised_since: since - 1, reason: "设备遗失" }, asked],
    ["body.compromised_since", { kid: asked.officerKid, compromised_since: since, reason: "设备遗失" }, { ...asked, since: null }],
    ["body.reason", { kid: asked.officerKid, compromised_since: since }, asked],
  ];
  for (const [field, body, expected] of cases) {
    refused("malformed", field, () => checkRevokedDraft(decodeKeyRecordContent(revocation(body)), expected));
  }
  refused("malformed", "type", () => checkRevokedDraft(decodeKeyRecordContent(CONTENT), asked));
});

test("the enrolment code carries the body, officer, device and key, and reads back", async () => {
  const kid = await kidOf(OFFICER_KEY);
  const device = deviceName(kid);
  assert.equal(device, `web-${kid.slice(0, 8)}`);
  const code = await enrolmentCode({ bodyId: "320105-ZWFW", officerId: "js:clerk.2", device, publicKey: OFFICER_KEY });
  assert.equal(code, `${ENROLMENT_PREFIX}/320105-ZWFW/js:clerk.2/${device}/${hex(OFFICER_KEY)}/${kid.slice(0, 8)}`);
  const parsed = await parseEnrolmentCode(`  ${code}\n`);
  assert.deepEqual(
    { ...parsed, publicKey: hex(parsed.publicKey) },
    { bodyId: "320105-ZWFW", officerId: "js:clerk.2", device, publicKey: hex(OFFICER_KEY), kid },
  );
});

test("a mangled enrolment code is refused, naming the part", async () => {
  const kid = await kidOf(OFFICER_KEY);
  const good = ["TBE1", "510104-RS", "rs-001", "web-1", hex(OFFICER_KEY), kid.slice(0, 8)];
  const code = (index, value) => good.map((part, i) => (i === index ? value : part)).join("/");
  const flipped = hex(OFFICER_KEY).replace(/^./, (c) => (c === "0" ? "1" : "0"));
  const cases = [
    ["code", ""],
    ["code", good.slice(0, 5).join("/")],
    ["code", code(0, "TBE2")],
    ["body_id", code(1, "510104 RS")],
    ["officer_id", code(2, "张三")],
    ["officer_id", code(2, "")],
    ["device", code(3, "-web")],
    ["public_key", code(4, hex(OFFICER_KEY).toUpperCase())],
    ["public_key", code(4, hex(OFFICER_KEY).slice(2))],
    ["check", code(4, flipped)], // one digit miscopied
    ["check", code(5, "00000000")],
  ];
  for (const [field, text] of cases) await refusedAsync("malformed", field, parseEnrolmentCode(text));
});

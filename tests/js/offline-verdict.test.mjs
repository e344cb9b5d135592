// api/static/offline-verify.js beyond the vectors: the verdict of docs/license.md §11 for one
// license in each situation (every reason, precedence with several at once, what runs after
// unknown_issuer), the status list refusals of license-offline.md §1.2–§1.3 (each encoded_list
// defect, each key problem), the trust list refusals of license.md §10, the cache's rollback
// rule, and the inflater against node:zlib. The license is the vectors' 社会保障卡
// (tests/vectors/license/), in compact form, signed by the vectors' license key and vouched for
// by region 330000's root of license-registry.json.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { deflateRawSync, deflateSync, gzipSync } from "node:zlib";

import { Refused, fromHex } from "../../api/static/canonical.js";
import {
  OfflineCache,
  decodeBase64url,
  decodeCompact,
  inflateGzip,
  inflateZlib,
  keySet,
  maskId,
  maskName,
  verifyCompact,
  verifyStatusList,
  verifyTrustList,
} from "../../api/static/offline-verify.js";
import {
  DAY,
  bitstring,
  compactText,
  encodedList,
  keyEntry,
  labelled,
  licenseKey,
  signed,
  signer,
  statusList,
  trustList,
  vector,
} from "./offline-support.mjs";

const registry = vector("license", "license-registry.json");
const card = vector("license", "license-social-security-card.json");
const REGION = registry.region; // 330000
const LIST = card.content.status.list;
const INDEX = card.content.status.index;
const ISSUED = card.verified_at; // 2026-01-05 09:00 Beijing: the issuance's receipt time
const NOW = ISSUED + 2 * DAY;

const rootKey = await signer(registry.root.seed);
const licenseSigner = await signer(card.signer.seed);
const nodeKey = await labelled("node-330000");
const otherRoot = await signer(vector("envelope", "key-root-established.json").signer.seed); // 510000
const otherNode = await labelled("node-510000");
const keys = await keySet([
  keyEntry(rootKey, "root", REGION),
  keyEntry(nodeKey, "node", REGION),
  keyEntry(otherRoot, "root", "510000"),
  keyEntry(otherNode, "node", "510000"),
]);

const ENTRY = {
  bodyId: card.content.issuer.body,
  issuerCode: card.content.issuer.code,
  validFrom: vector("envelope", "key-root-established.json").content.body.valid_from,
};
const RECOGNIZED = [{ type: card.content.type, regions: [REGION] }];

async function trust(options = {}, key = rootKey) {
  const raw = await trustList(key, {
    region: REGION,
    issuedAt: ISSUED,
    validUntil: ISSUED + 400 * DAY,
    licenseKeys: [licenseKey(licenseSigner, ENTRY)],
    recognition: RECOGNIZED,
    ...options,
  });
  return verifyTrustList(raw, keys);
}

async function status(values = {}, options = {}, key = nodeKey) {
  const raw = await statusList(key, {
    id: LIST,
    issuer: `tongban/${REGION}`,
    version: 1,
    issuedAt: NOW - 3_600_000_000,
    validUntil: NOW + DAY,
    encoded: encodedList(bitstring(131_072, values)),
    ...options,
  });
  return verifyStatusList(raw, keys);
}

function payload(changes = {}) {
  return {
    v: 1,
    suite: "ed25519-sha256",
    kid: card.signer.kid,
    id: card.content.id,
    type: card.content.type,
    issuer: card.content.issuer.code,
    from: 20260105,
    until: 20360104,
    status: [LIST, INDEX],
    holder: { name: maskName(card.content.holder.name), id: maskId(card.content.holder.code) },
    digest: fromHex(card.expected.digest),
    ...changes,
  };
}

const TEXT = await compactText(licenseSigner, payload());
const TRUST = await trust();

async function verdict(options = {}, text = TEXT) {
  return verifyCompact(text, {
    trustLists: [TRUST],
    ownRegion: REGION,
    statusLists: [await status()],
    now: NOW,
    ...options,
  });
}

// -- the verdict -------------------------------------------------------------------------------

test("a good license with fresh lists is valid, and the verdict says what it rests on", async () => {
  const v = await verdict();
  assert.equal(v.valid, true, JSON.stringify(v.details));
  assert.deepEqual(v.failed, []);
  assert.equal(v.primary, null);
  assert.equal(v.status_source, "status_list");
  assert.equal(v.status_detail, null);
  assert.equal(v.online_detail, null);
  assert.deepEqual(v.status_list, { id: LIST, version: 1, issued_at: NOW - 3_600_000_000, valid_until: NOW + DAY });
  assert.deepEqual(v.trust_lists, [{ id: REGION, version: 1, issued_at: ISSUED, valid_until: ISSUED + 400 * DAY }]);
  assert.deepEqual(v.issuer, { region: REGION, body_id: "330105-RS", issuer_code: card.content.issuer.code, kid: card.signer.kid });
  assert.equal(v.claims.identifier, card.content.id);
  assert.equal(v.claims.holder.id, "1101**********002X");
});

test("revoked and suspended entries", async () => {
  assert.deepEqual((await verdict({ statusLists: [await status({ [INDEX]: 2 })] })).failed, ["revoked"]);
  assert.deepEqual((await verdict({ statusLists: [await status({ [INDEX]: 1 })] })).failed, ["suspended"]);
  // neighbours of the entry do not count
  const around = await status({ [INDEX - 1]: 2, [INDEX + 1]: 1 });
  assert.equal((await verdict({ statusLists: [around] })).valid, true);
});

test("status unknown: no list, an expired one, one too old, another list, an index past the end", async () => {
  const none = await verdict({ statusLists: [] });
  assert.deepEqual(none.failed, ["status_unavailable"]);
  assert.equal(none.status_list, null);
  assert.equal(none.status_detail, "no list held for the license's list id");

  const old = await status({}, { issuedAt: NOW - 2 * DAY, validUntil: NOW });
  const expired = await verdict({ statusLists: [old] });
  assert.deepEqual(expired.failed, ["status_unavailable"]);
  assert.equal(expired.status_detail, "expired");
  assert.equal(expired.status_list.valid_until, NOW, "the list consulted is named");

  const aged = await verdict({ maxStatusAge: 1_800_000_000 });
  assert.deepEqual(aged.failed, ["status_unavailable"]);
  assert.equal(aged.status_detail, "older than the maximum age");
  assert.equal((await verdict({ maxStatusAge: 7_200_000_000 })).valid, true);

  const another = await status({}, { id: "330000-9" });
  assert.deepEqual((await verdict({ statusLists: [another] })).failed, ["status_unavailable"]);

  const far = await compactText(licenseSigner, payload({ status: [LIST, 131_072] }));
  const past = await verdict({}, far);
  assert.deepEqual(past.failed, ["status_unavailable"]);
  assert.equal(past.status_detail, "the index is past the list's end");
  assert.match(past.details.status_unavailable, /index 131072, 131072 entries/);
  const bigger = await status({ 131_072: 2 }, { encoded: encodedList(bitstring(131_076, { 131_072: 2 })) });
  assert.deepEqual((await verdict({ statusLists: [bigger] }, far)).failed, ["revoked"]);
});

test("a list of the same id from another region's node does not answer for this issuer", async () => {
  const foreign = await status({}, { issuer: "tongban/510000" }, otherNode);
  const v = await verdict({ statusLists: [foreign] });
  assert.deepEqual(v.failed, ["status_unavailable"]);
  assert.equal(v.status_detail, "the held list of that id is another region's");
});

test("the license's own days, in Beijing time", async () => {
  // 2026-01-04 23:59 Beijing = 15:59 UTC: not yet valid; one minute later it is
  const eve = Date.UTC(2026, 0, 4, 15, 59) * 1000;
  const lists = [await status({}, { issuedAt: eve - 60_000_000, validUntil: eve + DAY })];
  assert.deepEqual((await verdict({ now: eve, statusLists: lists })).failed, ["not_yet_valid"]);
  assert.equal((await verdict({ now: eve + 60_000_000, statusLists: lists })).valid, true);
  // the last day (2036-01-04) is valid to its end, Beijing time
  const last = Date.UTC(2036, 0, 4, 15, 59) * 1000;
  const late = [await status({}, { issuedAt: last - 60_000_000, validUntil: last + DAY })];
  const trustLater = await trust({ validUntil: last + DAY });
  const lastDay = await verdict({ now: last, statusLists: late, trustLists: [trustLater] });
  assert.equal(lastDay.valid, true, JSON.stringify(lastDay.details));
  const after = await verdict({ now: last + 60_000_000, statusLists: late, trustLists: [trustLater] });
  assert.deepEqual(after.failed, ["expired"]);
  // 长期: until 0 never expires
  const forever = await compactText(licenseSigner, payload({ until: 0 }));
  assert.equal((await verdict({ now: last + 60_000_000, statusLists: late, trustLists: [trustLater] }, forever)).valid, true);
});

test("unknown_issuer: no list, an expired list, a kid in two lists, another issuer code", async () => {
  assert.deepEqual((await verdict({ trustLists: [] })).failed, ["unknown_issuer"]);
  const expired = await trust({ validUntil: NOW });
  assert.deepEqual((await verdict({ trustLists: [expired] })).failed, ["unknown_issuer"]);
  const twice = await verifyTrustList(
    await trustList(otherRoot, { region: "510000", issuedAt: ISSUED, validUntil: NOW + DAY, licenseKeys: [licenseKey(licenseSigner, ENTRY)], recognition: RECOGNIZED }),
    keys,
  );
  assert.deepEqual((await verdict({ trustLists: [TRUST, twice] })).failed, ["unknown_issuer"]);
  const elsewhere = await trust({ licenseKeys: [licenseKey(licenseSigner, { ...ENTRY, issuerCode: "12510104MB1234567A" })] });
  const v = await verdict({ trustLists: [elsewhere] });
  assert.deepEqual(v.failed, ["unknown_issuer"]);
  assert.equal(v.issuer, null);
});

test("with unknown_issuer the signature is not checked and recognition not asked", async () => {
  const forged = await compactText(licenseSigner, payload(), { sign: false });
  const v = await verdict({ trustLists: [], statusLists: [await status({ [INDEX]: 2 })] }, forged);
  assert.deepEqual(v.failed, ["unknown_issuer", "revoked"]);
  assert.deepEqual(v.trust_lists, []);
  // the verifier's own list, searched for the key, is named as used
  const own = await trust({ licenseKeys: [] });
  const named = await verdict({ trustLists: [own] }, forged);
  assert.deepEqual(named.failed, ["unknown_issuer"]);
  assert.deepEqual(named.trust_lists.map((l) => l.id), [REGION]);
});

test("issuer_key_not_valid: a key not yet valid, ended, or compromised on the license's first day", async () => {
  const start = Date.UTC(2026, 0, 4, 16) * 1000; // 2026-01-05 00:00 Beijing
  const end = start + DAY;
  const cases = [
    [{ validFrom: end }, ["issuer_key_not_valid"]],
    [{ validFrom: end - 1 }, []], // valid at some moment of the day
    [{ validUntil: start }, ["issuer_key_not_valid"]],
    [{ validUntil: start + 1 }, []],
    [{ revokedSince: end - 1 }, ["issuer_key_not_valid"]],
    [{ revokedSince: end }, []], // compromised only after the day: still vouches
  ];
  for (const [change, failed] of cases) {
    const list = await trust({ licenseKeys: [licenseKey(licenseSigner, { ...ENTRY, validFrom: 0, ...change })] });
    assert.deepEqual((await verdict({ trustLists: [list] })).failed, failed, JSON.stringify(change));
  }
});

test("bad_signature; and a forged, expired, revoked license shows all three", async () => {
  const altered = await compactText(licenseSigner, payload(), { sign: false });
  assert.deepEqual((await verdict({}, altered)).failed, ["bad_signature"]);
  const otherKey = await labelled("not-the-license-key");
  const stolenKid = await compactText(otherKey, payload());
  assert.deepEqual((await verdict({}, stolenKid)).failed, ["bad_signature"]);
  const later = Date.UTC(2036, 5, 1) * 1000;
  const v = await verdict(
    {
      now: later,
      trustLists: [await trust({ validUntil: later + DAY })],
      statusLists: [await status({ [INDEX]: 2 }, { issuedAt: later - DAY, validUntil: later + DAY })],
    },
    altered,
  );
  assert.deepEqual(v.failed, ["bad_signature", "revoked", "expired"]);
  assert.equal(v.primary, "bad_signature");
});

test("not_recognized: the verifier's own list does not accept the type from the issuing region", async () => {
  const own = await verifyTrustList(
    await trustList(otherRoot, { region: "510000", issuedAt: ISSUED, validUntil: NOW + DAY, recognition: [{ type: "11100000TB0000010H002", regions: [REGION] }] }),
    keys,
  );
  const v = await verdict({ trustLists: [TRUST, own], ownRegion: "510000" });
  assert.deepEqual(v.failed, ["not_recognized"]);
  assert.deepEqual(v.trust_lists.map((l) => l.id), [REGION, "510000"]);
  const accepting = await verifyTrustList(
    await trustList(otherRoot, { region: "510000", version: 2, issuedAt: ISSUED, validUntil: NOW + DAY, recognition: [{ type: card.content.type, regions: [REGION, "510000"] }] }),
    keys,
  );
  assert.equal((await verdict({ trustLists: [TRUST, accepting], ownRegion: "510000" })).valid, true);
  assert.deepEqual((await verdict({ trustLists: [TRUST], ownRegion: "510000" })).failed, ["not_recognized"]);
  const silent = await trust({ recognition: [] });
  assert.deepEqual((await verdict({ trustLists: [silent] })).failed, ["not_recognized"]);
});

test("holder_mismatch compares masked forms of a normalized code", async () => {
  assert.equal((await verdict({ holderCode: "11010519491231002X" })).valid, true);
  assert.equal((await verdict({ holderCode: " 1101-0519 4912 3100 2x" })).valid, true);
  assert.equal((await verdict({ holderCode: "11019999999999002X" })).valid, true, "only the first and last 4 are compared");
  assert.deepEqual((await verdict({ holderCode: "110105194912310010" })).failed, ["holder_mismatch"]);
});

test("sm2-sm3: unsupported here, said so, nothing else run", async () => {
  const sm2 = await compactText(licenseSigner, payload({ suite: "sm2-sm3" }));
  refusedWithReason("unsupported_suite", () => decodeCompact(sm2));
  const v = await verdict({}, sm2);
  assert.deepEqual(v.failed, ["unsupported_suite"]);
  assert.match(v.details.unsupported_suite, /sm2-sm3 \(defined, but not implemented/);
  assert.equal(v.claims, null);
});

test("a wrong check character alone is bad_check_character; any other identifier fault malformed", async () => {
  const wrongCheck = card.content.id.slice(0, -1) + (card.content.id.endsWith("1") ? "2" : "1");
  assert.deepEqual((await verdict({}, await compactText(licenseSigner, payload({ id: wrongCheck })))).failed, ["bad_check_character"]);
  const lower = card.content.id.replace("TB", "tb");
  assert.deepEqual((await verdict({}, await compactText(licenseSigner, payload({ id: lower })))).failed, ["malformed"]);
});

test("decoding refusals the vectors do not cover", async () => {
  const cases = {
    "until before from": payload({ until: 20260104 }),
    "from not a calendar date": payload({ from: 20260230 }),
    "kid in upper case": payload({ kid: card.signer.kid.toUpperCase() }),
    "digest of 31 bytes": payload({ digest: new Uint8Array(31) }),
    "holder with a third field": payload({ holder: { name: "张*", id: "1101**********002X", sex: "男" } }),
    "id with no asterisk": payload({ holder: { name: "张*", id: "" } }),
    "empty name": payload({ holder: { name: "", id: "1101**********002X" } }),
    "status of three elements": payload({ status: [LIST, INDEX, 0] }),
    "issuer not the identifier's": payload({ issuer: "12510104MB1234567A" }),
    "v missing": (({ v, ...rest }) => rest)(payload()),
  };
  for (const [what, p] of Object.entries(cases)) {
    const text = await compactText(licenseSigner, p);
    const reason = what === "v missing" ? "unsupported_version" : "malformed";
    refusedWithReason(reason, () => decodeCompact(text), what);
  }
  // a final Base45 pair over 255 (RFC 9285), and a text past 6,244 characters
  refusedWithReason("malformed", () => decodeCompact(TEXT.slice(0, -2) + "::"));
  refusedWithReason("malformed", () => decodeCompact(TEXT + "0".repeat(6245 - TEXT.length)));
});

function refusedWithReason(reason, action, what = "") {
  assert.throws(action, (error) => {
    assert.ok(error instanceof Refused, `${what}: not a refusal: ${error}`);
    assert.equal(error.reason, reason, `${what}: ${error.message}`);
    return true;
  });
}

async function rejectsWith(reason, promise, what = "") {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof Refused, `${what}: not a refusal: ${error}`);
    assert.equal(error.reason, reason, `${what}: ${error.message}`);
    return true;
  });
}

// -- status lists: §1.2 and §1.3 ---------------------------------------------------------------

test("encoded_list: every refusal of §1.2", async () => {
  const bits = bitstring(131_072, { 5: 2 });
  const b64 = (bytes) => Buffer.from(bytes).toString("base64url");
  const gz = gzipSync(bits);
  const cases = {
    "no u": b64(gz),
    "z instead of u": "z" + b64(gz),
    padding: "u" + Buffer.from(gz).toString("base64"),
    "standard base64 characters": "u" + b64(gz).replaceAll("-", "+").replaceAll("_", "/") + (b64(gz).match(/[-_]/) ? "" : "+"),
    "length 1 mod 4": "u" + b64(gz) + (b64(gz).length % 4 === 0 ? "A" : b64(gz).length % 4 === 3 ? "AA" : "AAA"),
    "a zlib stream": "u" + b64(deflateSync(bits)),
    "a raw deflate stream": "u" + b64(deflateRawSync(bits)),
    "a byte after the member": "u" + b64(Buffer.concat([gz, Buffer.of(0)])),
    "two members": "u" + b64(Buffer.concat([gzipSync(bits.subarray(0, 16_384)), gzipSync(bits.subarray(16_384))])),
    truncated: "u" + b64(gz.subarray(0, gz.length - 4)),
    "a wrong CRC": "u" + b64(Buffer.concat([gz.subarray(0, gz.length - 8), Buffer.of(gz[gz.length - 8] ^ 1), gz.subarray(gz.length - 7)])),
    "fewer than 131,072 entries": "u" + b64(gzipSync(bits.subarray(0, 32_767))),
    "an entry of value 3": encodedList(bitstring(131_072, { 77_777: 3 })),
    "past 2 MiB": "u" + b64(gzipSync(new Uint8Array(2 * 1024 * 1024 + 4))),
  };
  // non-zero unused bits: a length of 2 mod 4 leaves 4 unused bits in the last character
  const good = b64(gz);
  if (good.length % 4 !== 0) {
    const last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".indexOf(good.at(-1));
    cases["non-zero unused bits"] = "u" + good.slice(0, -1) + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last | 1];
  }
  for (const [what, encoded] of Object.entries(cases)) {
    await rejectsWith("malformed", status({}, { encoded }), what);
  }
  // and the good one, with a GZIP header carrying a file name, is taken
  const named = Buffer.from(gz);
  const withName = Buffer.concat([Buffer.of(0x1f, 0x8b, 8, 0x08), named.subarray(4, 10), Buffer.from("list\0"), named.subarray(10)]);
  const list = await status({}, { encoded: "u" + b64(withName) });
  assert.equal(list.entries, 131_072);
});

test("a 2 MiB list (8,388,608 entries) is taken; a GZIP bomb stops at 2 MiB", async () => {
  const largest = await status({}, { encoded: encodedList(bitstring(8_388_608, { 8_388_607: 1 })) });
  assert.equal(largest.entries, 8_388_608);
  const bomb = gzipSync(new Uint8Array(64 * 1024 * 1024));
  assert.throws(() => inflateGzip(bomb, 2 * 1024 * 1024), /inflates past 2097152 bytes/);
});

test("status list fields and keys (§1.3, §1.4 step 1)", async () => {
  const cases = [
    ["malformed", { extra: { note: "x" } }],
    ["malformed", { extra: { purpose: "revocation" } }],
    ["malformed", { version: 0 }],
    ["malformed", { version: true }],
    ["malformed", { validUntil: NOW - 3_600_000_000 }],
    ["malformed", { id: "" }],
    ["malformed", { id: "x".repeat(65) }],
    ["unsupported_version", { extra: { v: 2 } }],
    ["unsupported_suite", { extra: { suite: "sm2-sm3" } }],
    ["wrong_context", { extra: { ctx: "tongban/trust-list/v1" } }],
    ["wrong_key", { issuer: "tongban/510000" }], // this region's node key, another ledger named
    ["wrong_key", { issuer: "tongban/sichuan" }], // names no region
  ];
  for (const [reason, options] of cases) {
    await rejectsWith(reason, status({}, options), JSON.stringify(options));
  }
  await rejectsWith("wrong_key", status({}, {}, rootKey), "signed by the region root");
  await rejectsWith("unknown_key", status({}, {}, await labelled("nobody")), "an unknown key");
  const ended = await keySet([keyEntry(nodeKey, "node", REGION, { validUntil: NOW - DAY })]);
  const raw = await statusList(nodeKey, { id: LIST, issuer: `tongban/${REGION}`, issuedAt: NOW, validUntil: NOW + DAY, encoded: encodedList(bitstring(131_072)) });
  await rejectsWith("wrong_key", verifyStatusList(raw, ended), "a node key that had ended");
  const compromised = await keySet([keyEntry(nodeKey, "node", REGION, { compromisedSince: NOW - 1 })]);
  await rejectsWith("wrong_key", verifyStatusList(raw, compromised), "a compromised node key");
  const forged = await signed(nodeKey, "tongban/status-list/v1", { v: 1 });
  await rejectsWith("malformed", verifyStatusList(forged.slice(0, -1), keys), "truncated");
});

// -- trust lists: §10.1, §10.2 -----------------------------------------------------------------

test("trust list refusals: region, key, signature, fields", async () => {
  const raw = await trustList(rootKey, { region: REGION, issuedAt: ISSUED, validUntil: NOW + DAY });
  await rejectsWith("unknown_region", verifyTrustList(raw, await keySet([keyEntry(nodeKey, "node", REGION)])));
  await rejectsWith("wrong_key", verifyTrustList(await trustList(otherRoot, { region: REGION, issuedAt: ISSUED, validUntil: NOW + DAY }), keys));
  await rejectsWith("wrong_key", verifyTrustList(await trustList(nodeKey, { region: REGION, issuedAt: ISSUED, validUntil: NOW + DAY }), keys));
  const tampered = raw.slice();
  tampered[tampered.length - 1] ^= 0x80;
  await rejectsWith("bad_signature", verifyTrustList(tampered, keys));
  const a = await labelled("a");
  const b = await labelled("b");
  const [low, high] = a.kid < b.kid ? [a, b] : [b, a];
  const entry = (k, extra = {}) => ({ ...licenseKey(k, ENTRY), ...extra });
  const bad = {
    "an unknown field": { extra: { note: "x" } },
    "a region that is no code": { region: "33000" },
    "keys out of order": { licenseKeys: [entry(high), entry(low)] },
    "a key twice": { licenseKeys: [entry(low), entry(low)] },
    "a kid not the key's": { licenseKeys: [entry(low, { kid: high.kid })] },
    "an issuer code with a wrong check character": { licenseKeys: [entry(low, { issuer_code: "11330105002500287D" })] },
    "valid_until before valid_from": { licenseKeys: [entry(low, { valid_from: 10, valid_until: 10 })] },
    "a key entry with an extra field": { licenseKeys: [entry(low, { note: "x" })] },
    "recognition out of order": { recognition: [{ type: "11100000TB0000010H002", regions: [REGION] }, { type: "11100000TB0000010H001", regions: [REGION] }] },
    "recognition with no region": { recognition: [{ type: card.content.type, regions: [] }] },
    "recognition regions unsorted": { recognition: [{ type: card.content.type, regions: [REGION, "110000"] }] },
    "a type that is no type code": { recognition: [{ type: "社会保障卡", regions: [REGION] }] },
  };
  for (const [what, options] of Object.entries(bad)) {
    await rejectsWith("malformed", trust(options), what);
  }
  await rejectsWith("unsupported_suite", trust({ licenseKeys: [entry(low, { suite: "rsa-sha1" })] }), "an undefined suite");
  // an sm2-sm3 key is kept, unusable here: a license naming it is refused at decoding anyway
  const withSm2 = await trust({ licenseKeys: [entry(low, { suite: "sm2-sm3", public_key: new Uint8Array(65) })] });
  assert.equal(withSm2.licenseKeys[0].usable, false);
});

// -- the cache ---------------------------------------------------------------------------------

test("the cache keeps the newest list, refuses rollback and conflicts, and restores verified", async () => {
  const cache = new OfflineCache();
  await cache.setKeys([keyEntry(rootKey, "root", REGION), keyEntry(nodeKey, "node", REGION)], NOW);
  cache.ownRegion = REGION;
  const v1 = await statusList(nodeKey, { id: LIST, issuer: `tongban/${REGION}`, version: 1, issuedAt: NOW - 10, validUntil: NOW + DAY, encoded: encodedList(bitstring(131_072)) });
  const v2 = await statusList(nodeKey, { id: LIST, issuer: `tongban/${REGION}`, version: 2, issuedAt: NOW - 5, validUntil: NOW + DAY, encoded: encodedList(bitstring(131_072, { [INDEX]: 2 })) });
  const v2other = await statusList(nodeKey, { id: LIST, issuer: `tongban/${REGION}`, version: 2, issuedAt: NOW - 4, validUntil: NOW + DAY, encoded: encodedList(bitstring(131_072)) });
  await cache.addTrustList(await trustList(rootKey, { region: REGION, issuedAt: ISSUED, validUntil: ISSUED + 400 * DAY, licenseKeys: [licenseKey(licenseSigner, ENTRY)], recognition: RECOGNIZED }), NOW);
  await cache.addStatusList(v1, NOW);
  assert.equal((await cache.verify(TEXT, { now: NOW })).valid, true);
  await cache.addStatusList(v2, NOW);
  assert.deepEqual((await cache.verify(TEXT, { now: NOW })).failed, ["revoked"]);
  await rejectsWith("stale", cache.addStatusList(v1, NOW), "an older version");
  await rejectsWith("conflict", cache.addStatusList(v2other, NOW), "the same version, other bytes");
  await cache.addStatusList(v2, NOW); // the same bytes again: nothing changes
  assert.deepEqual((await cache.verify(TEXT, { now: NOW })).failed, ["revoked"]);
  const olderTrust = await trustList(rootKey, { region: REGION, version: 0 + 1, issuedAt: ISSUED - 1, validUntil: NOW + DAY });
  await rejectsWith("conflict", cache.addTrustList(olderTrust, NOW));

  const saved = JSON.parse(JSON.stringify(cache));
  const restored = await OfflineCache.restore(saved);
  assert.deepEqual(restored.dropped, []);
  assert.deepEqual((await restored.verify(TEXT, { now: NOW })).failed, ["revoked"]);
  // a stored list altered in the browser's storage no longer verifies, and is dropped
  const altered = structuredClone(saved);
  const bytes = Buffer.from(altered.status_lists[0].raw, "base64");
  bytes[bytes.length - 1] ^= 1;
  altered.status_lists[0].raw = bytes.toString("base64");
  const dropped = await OfflineCache.restore(altered);
  assert.equal(dropped.dropped.length, 1);
  assert.deepEqual((await dropped.verify(TEXT, { now: NOW })).failed, ["status_unavailable"]);
});

// -- the inflater against node:zlib --------------------------------------------------------------

test("zlib and GZIP streams of node:zlib, every level, inflate to their input", () => {
  const inputs = [new Uint8Array(0), Uint8Array.of(7), randomBytes(3000), new Uint8Array(50_000).fill(65)];
  const text = new TextEncoder().encode("核验 status list ".repeat(500));
  inputs.push(text);
  for (const input of inputs) {
    for (const level of [0, 1, 6, 9]) {
      const z = inflateZlib(deflateSync(input, { level }), 1 << 20);
      assert.deepEqual(Buffer.from(z), Buffer.from(input), `zlib level ${level}, ${input.length} bytes`);
      const g = inflateGzip(gzipSync(input, { level }), 1 << 20);
      assert.deepEqual(Buffer.from(g), Buffer.from(input), `gzip level ${level}, ${input.length} bytes`);
    }
  }
  for (let i = 0; i < 200; i++) {
    const input = randomBytes(1 + (i * 37) % 700).map((b) => (i % 2 ? b & 3 : b));
    const stream = deflateSync(input, { level: 1 + (i % 9), strategy: i % 3 });
    assert.deepEqual(Buffer.from(inflateZlib(stream, 1 << 20)), Buffer.from(input));
  }
});

test("a corrupted zlib stream is refused, never misread", () => {
  const input = new TextEncoder().encode("tongban ".repeat(300));
  const stream = deflateSync(input, { level: 9 });
  let refused = 0;
  for (let i = 0; i < stream.length; i++) {
    for (const bit of [1, 16, 128]) {
      const broken = Uint8Array.from(stream);
      broken[i] ^= bit;
      try {
        const out = inflateZlib(broken, 4096);
        assert.deepEqual(Buffer.from(out), Buffer.from(input), `byte ${i} bit ${bit} changed the output`);
      } catch (error) {
        assert.ok(error instanceof Refused, String(error));
        refused++;
      }
    }
  }
  assert.ok(refused > stream.length, `${refused} refusals`);
});

test("base64url decoding is canonical", () => {
  assert.deepEqual([...decodeBase64url("AAEC")], [0, 1, 2]);
  assert.deepEqual([...decodeBase64url("_-8")], [0xff, 0xef]);
  assert.throws(() => decodeBase64url("_-9"), /unused bits/);
  assert.throws(() => decodeBase64url("AAE="), /not base64url/);
  assert.throws(() => decodeBase64url("A"), /1 mod 4/);
});

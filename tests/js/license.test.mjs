// The license pages' checks (api/static/license-events.js): the license stream id equals the
// node's (`ledger.license_events.license_stream_id`, value computed there), and a drafted
// `license_issued` event or status change is signed only when it is exactly what the page
// asked for: each field changed in turn is refused with its name.
import assert from "node:assert/strict";
import { test } from "node:test";

import { encode, fromHex } from "../../api/static/canonical.js";
import { sha256 } from "../../api/static/envelope.js";
import {
  checkIssuedDraft,
  checkStatusDraft,
  licenseStreamId,
  typeCodeOf,
} from "../../api/static/license-events.js";

// tests/vectors/license/license-social-security-card.json's identifier, and its stream id
// as `uuid.uuid5(TONGBAN_NAMESPACE, identifier)` gives it.
const IDENTIFIER = "1.2.156.3005.2.11100000TB0000010H001.11330105002500287C.2026010500000001.001.1";
const STREAM = "cbcb4105-b42f-5f3f-b88b-f74481980c06";
const CASE = "0d6f5f0e-2b1a-4d7e-9a43-0e1c7d7a2b10";
const KEY = { kid: "00112233445566778899aabbccddeeff", bodyId: "330105-RS", officerId: "rs-001" };

test("the license stream id is uuid5 of the identifier in the Tongban namespace", async () => {
  assert.equal(await licenseStreamId(IDENTIFIER), STREAM);
  assert.equal(typeCodeOf(IDENTIFIER), "11100000TB0000010H001");
});

const EXPECTED = {
  identifier: IDENTIFIER,
  caseId: CASE,
  ledger: "tongban/330000",
  deliveredSeq: 7,
  number: "A1",
  validFrom: "2026-01-01",
  validUntil: "",
  face: { card_no: "A12345678" },
};

function documentBytes(changes = {}) {
  const content = {
    v: 1,
    suite: "ed25519-sha256",
    ctx: "tongban/license/v1",
    kid: "ffeeddccbbaa99887766554433221100",
    id: IDENTIFIER,
    type: "11100000TB0000010H001",
    name: "社会保障卡",
    number: "A1",
    holder: { name: "欧阳明远", code: "11010519491231002X", code_type: "ric" },
    issuer: { name: "某区人社局", code: "11330105002500287C", body: "330105-RS" },
    issued_on: "2026-01-01",
    valid_from: "2026-01-01",
    valid_until: "",
    jurisdiction: "330105",
    face: { card_no: "A12345678", holder_name: "欧阳明远" },
    ledger: "tongban/330000",
    case: CASE,
    issuance_index: 0,
    status: { list: "330000-1", index: 5 },
    ...changes,
  };
  return encode([encode(content), new Uint8Array(64)]);
}

async function issuedContent(document, changes = {}, bodyChanges = {}) {
  return encode({
    v: 1,
    suite: "ed25519-sha256",
    ctx: "tongban/event/v1",
    kid: KEY.kid,
    ledger: "tongban/330000",
    case: STREAM,
    seq: 1,
    type: "license_issued",
    time: 1_767_225_600_000_000,
    actor: { body: KEY.bodyId, officer: KEY.officerId },
    prev: new Uint8Array(32),
    body: {
      id: IDENTIFIER,
      type: "11100000TB0000010H001",
      issuer_body: KEY.bodyId,
      case: CASE,
      delivered_seq: 7,
      holder_commitment: new Uint8Array(32).fill(1),
      status: { list: "330000-1", index: 5 },
      valid_from: "2026-01-01",
      valid_until: "",
      document_digest: await sha256(document),
      ...bodyChanges,
    },
    ...changes,
  });
}

test("a drafted issuance that is what the page asked for is accepted", async () => {
  const document = documentBytes();
  const { content, document: decoded } = await checkIssuedDraft(
    await issuedContent(document), document, KEY, EXPECTED,
  );
  assert.equal(content.body.id, IDENTIFIER);
  assert.equal(decoded.face.card_no, "A12345678");
});

test("each field of a drafted issuance that differs is refused by name", async () => {
  const document = documentBytes();
  const cases = [
    [{ kid: "ff".repeat(16) }, {}, "kid"],
    [{ case: CASE }, {}, "case"],
    [{ seq: 2 }, {}, "seq"],
    [{ ledger: "tongban/510000" }, {}, "ledger"],
    [{}, { delivered_seq: 6 }, "body.delivered_seq"],
    [{}, { valid_until: "2035-12-31" }, "body.valid_until"],
    [{}, { issuer_body: "330105-ZWFW" }, "body.issuer_body"],
    [{}, { document_digest: new Uint8Array(32) }, "body.document_digest"],
  ];
  for (const [changes, bodyChanges, field] of cases) {
    const content = await issuedContent(document, changes, bodyChanges);
    await assert.rejects(checkIssuedDraft(content, document, KEY, EXPECTED), (error) => {
      assert.equal(error.field, field);
      return true;
    });
  }
  // A draft whose face or holder differs from what was typed, digest and all consistent.
  for (const [changes, field] of [
    [{ face: { card_no: "B0" } }, "document.face.card_no"],
    [{ number: "A2" }, "document.number"],
    [{ issuance_index: 3 }, "document.issuance_index"],
  ]) {
    const other = documentBytes(changes);
    await assert.rejects(
      checkIssuedDraft(await issuedContent(other), other, KEY, EXPECTED),
      (error) => error.field === field,
    );
  }
});

test("a drafted status change is checked against the license's head and the reason", async () => {
  const head = "ab".repeat(32);
  const expected = {
    identifier: IDENTIFIER, action: "revoke", reason: "持证人申请", ledger: "tongban/330000",
    headSeq: 2, headHash: head,
  };
  const content = (changes) =>
    encode({
      v: 1, suite: "ed25519-sha256", ctx: "tongban/event/v1", kid: KEY.kid,
      ledger: "tongban/330000", case: STREAM, seq: 3, type: "license_revoked",
      time: 1, actor: { body: KEY.bodyId, officer: KEY.officerId }, prev: fromHex(head),
      body: { reason: "持证人申请" }, ...changes,
    });
  assert.equal((await checkStatusDraft(content({}), KEY, expected)).type, "license_revoked");
  for (const [changes, field] of [
    [{ type: "license_suspended" }, "type"],
    [{ seq: 2 }, "seq"],
    [{ prev: new Uint8Array(32) }, "prev"],
    [{ body: { reason: "别的原因" } }, "body"],
  ]) {
    const refused = checkStatusDraft(content(changes), KEY, expected);
    await assert.rejects(refused, (e) => e.field === field);
  }
});

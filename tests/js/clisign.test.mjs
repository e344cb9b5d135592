// The checks the pages make of what an SM2 officer pastes back from the command line
// (api/static/clisign.js): a login proof must answer the challenge shown, at this origin; a
// signed step must sign byte for byte the draft shown. Against the login and SM2 vectors.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { Refused, decode, encode, fromHex, hex } from "../../api/static/canonical.js";
import {
  KEY_PLACEHOLDER,
  base64,
  challengeText,
  checkPastedEnvelope,
  checkPastedProof,
  loginCommand,
  nextPage,
  signDraftCommand,
} from "../../api/static/clisign.js";
import { decodeEventContent } from "../../api/static/envelope.js";

const vector = (path) => JSON.parse(readFileSync(new URL(`../vectors/${path}`, import.meta.url), "utf8"));
const login = vector("login/login-valid.json");
const sm2Event = vector("sm2/event-seq2.json");
const sm2First = vector("sm2/event-seq1.json");

const PROOF = fromHex(login.expected.proof);
const CHALLENGE = login.challenge; // as POST /login/challenge answers it: nonce in hex
const ORIGIN = login.check.origin;

function refusedWith(reason, action) {
  assert.throws(action, (error) => {
    assert.ok(error instanceof Refused, `not a refusal: ${error}`);
    assert.equal(error.reason, reason, error.message);
    return true;
  });
}

test("the challenge is one line: TBL1/<nonce>/<issued_at>/<expires_at>/<origin>", () => {
  const text = challengeText(CHALLENGE);
  assert.equal(
    text,
    "TBL1/a0a1a2a3a4a5a6a7a8a9aaabacadaeaf/1767232800000000/1767232920000000/" +
      "https://tongban.sc.gov.example:8443",
  );
  const command = loginCommand(text, { bodyId: "510104-RS", officerId: "rs-sm2" });
  assert.equal(
    command,
    `tongban login sign --key '${KEY_PLACEHOLDER}' --body-id 510104-RS --officer-id rs-sm2 ` +
      `--challenge '${text}'`,
  );
  // What is typed into the page goes into the command only if it is an identifier.
  const typed = loginCommand(text, { bodyId: "x; rm -rf ~", officerId: "" });
  assert.ok(!typed.includes("rm -rf") && typed.includes("'<部门编号>'") && typed.includes("'<工作人员编号>'"));
  // A node answer that would break the command's quoting is never shown.
  refusedWith("malformed", () => challengeText({ ...CHALLENGE, origin: "https://a.example'; x" }));
  refusedWith("malformed", () => challengeText({ ...CHALLENGE, nonce: "00" }));
});

test("a pasted proof answering the challenge shown is posted as it is", () => {
  assert.deepEqual(checkPastedProof(base64(PROOF), CHALLENGE, ORIGIN), PROOF);
  // Line breaks and spaces from the terminal are ignored.
  const wrapped = base64(PROOF).replace(/(.{60})/g, "$1\n  ");
  assert.deepEqual(checkPastedProof(`\n${wrapped}\n`, CHALLENGE, ORIGIN), PROOF);
});

test("a pasted proof is refused with the reason when it is not one for this challenge here", () => {
  refusedWith("malformed", () => checkPastedProof("", CHALLENGE, ORIGIN));
  refusedWith("malformed", () => checkPastedProof("不是 base64", CHALLENGE, ORIGIN));
  refusedWith("malformed", () => checkPastedProof(base64(PROOF.subarray(0, 40)), CHALLENGE, ORIGIN));
  refusedWith("wrong_origin", () => checkPastedProof(base64(PROOF), CHALLENGE, "http://127.0.0.1:8000"));
  const another = { ...CHALLENGE, nonce: "b0".repeat(16) };
  refusedWith("unknown_challenge", () => checkPastedProof(base64(PROOF), another, ORIGIN));
  refusedWith("wrong_context", () => checkPastedProof(base64(fromHex(sm2Event.object)), CHALLENGE, ORIGIN));
});

test("an SM2 officer's draft is decoded (no signing here), and the command carries its bytes", () => {
  const content = fromHex(sm2Event.content);
  const decoded = decodeEventContent(content, "sm2-sm3");
  assert.equal(decoded.suite, "sm2-sm3");
  assert.equal(decoded.seq, 2);
  refusedWith("unsupported_suite", () => decodeEventContent(content)); // not as the page's own
  const command = signDraftCommand(content);
  assert.equal(command, `tongban case sign-draft --key '${KEY_PLACEHOLDER}' --content ${base64(content)}`);
  assert.equal(hex(Uint8Array.from(atob(command.split(" ").at(-1)), (c) => c.charCodeAt(0))), sm2Event.content);
});

test("a pasted signed step is posted only if it signs exactly the draft shown", () => {
  const draft = fromHex(sm2Event.content);
  const signed = fromHex(sm2Event.object);
  assert.deepEqual(checkPastedEnvelope(base64(signed), draft), signed);

  // The officer's command signed other bytes: another step, or the same one a byte apart.
  refusedWith("content_mismatch", () => checkPastedEnvelope(base64(fromHex(sm2First.object)), draft));
  const changed = decode(draft);
  changed.time += 1;
  const otherSigned = encode([encode(changed), fromHex(sm2Event.signature)]);
  refusedWith("content_mismatch", () => checkPastedEnvelope(base64(otherSigned), draft));
  // Not a signed step at all.
  refusedWith("malformed", () => checkPastedEnvelope("", draft));
  refusedWith("malformed", () => checkPastedEnvelope("%%%", draft));
  refusedWith("malformed", () => checkPastedEnvelope(base64(draft), draft)); // the draft, unsigned
  refusedWith("malformed", () => checkPastedEnvelope(base64(encode([draft, new Uint8Array(0)])), draft));
  refusedWith("malformed", () => checkPastedEnvelope(base64(signed.subarray(0, signed.length - 1)), draft));
  refusedWith("wrong_context", () => checkPastedEnvelope(base64(PROOF), draft));
});

test("after login: a page of this node only", () => {
  assert.equal(nextPage("?next=%2Fpages%2Fcases%2Fabc"), "/pages/cases/abc");
  assert.equal(nextPage("?next=https%3A%2F%2Fevil.example%2F"), "/pages/worklist");
  assert.equal(nextPage(""), "/pages/worklist");
});

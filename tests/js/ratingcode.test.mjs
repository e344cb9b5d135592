// The slip's code in the page (api/static/ratingcode.js) against the rating vectors: the same
// normal form, proof and commitment as ledger/ratings/code.py. Run by tests/unit/test_pages_js.py.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { ALPHABET, codeCommitment, codeProof, newRatingCode, normalizeCode } from "../../api/static/ratingcode.js";

const vector = JSON.parse(
  readFileSync(new URL("../vectors/ratings/rating-received.json", import.meta.url), "utf8"),
);
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

test("the vector's code gives its normal form, proof and commitment", async () => {
  const { code, normalized, proof, commitment } = vector.rating_code;
  const caseId = vector.content.case;
  assert.equal(normalizeCode(code), normalized);
  assert.equal(hex(await codeProof(caseId, code)), proof);
  assert.equal(hex(await codeCommitment(caseId, code)), commitment);
  assert.equal(vector.content.body.rating_code.bin, commitment);
  // typed in lower case, without hyphens, with O for 0: the same code
  const typed = code.toLowerCase().replace(/-/g, "").replace(/0/g, "o");
  assert.equal(hex(await codeProof(caseId, typed)), proof);
});

test("a new code is four groups of four from the alphabet, every character reachable", () => {
  const code = newRatingCode();
  assert.match(code, /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/);
  const every = newRatingCode(() => Uint8Array.from({ length: 16 }, (_, i) => i * 2 + 1));
  assert.equal(every.replace(/-/g, ""), Array.from({ length: 16 }, (_, i) => ALPHABET[i * 2 + 1]).join(""));
  assert.notEqual(newRatingCode(), newRatingCode());
});

test("a code of another length or with other characters is refused", () => {
  assert.throws(() => normalizeCode("7K3M-9QXW-2RTB-H4Z"));
  assert.throws(() => normalizeCode("7K3M-9QXW-2RTB-H4ZU"));
});

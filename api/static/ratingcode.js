// The one-time code (查询码 / 评价码) printed on the receipt slip (docs/envelope.md §5.5): the
// clerk's page draws it when it signs `received`, puts only its commitment in the step, and
// shows the code on the 收件回执 in this browser tab; the node never holds it. The applicant
// follows the case and rates it with the code (/pages/progress).
import { sha256 } from "./envelope.js";

export const CODE_CONTEXT = "tongban/rating-code/v1";
// Crockford's base32: no I, L, O, U, so a code read aloud or typed is hard to get wrong.
export const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const READ_AS = { O: "0", I: "1", L: "1" };

/** A fresh code `XXXX-XXXX-XXXX-XXXX`: 16 characters, 80 random bits (256 is a multiple of 32,
 * so each character is uniform). */
export function newRatingCode(random = (bytes) => crypto.getRandomValues(bytes)) {
  const drawn = Array.from(random(new Uint8Array(16)), (byte) => ALPHABET[byte & 31]).join("");
  return drawn.match(/.{4}/g).join("-");
}

/** The 16 characters of a code as typed (case, hyphens and spaces ignored, O read as 0 and I,
 * L as 1); throws on anything else. */
export function normalizeCode(text) {
  const cleaned = Array.from(text.toUpperCase().replace(/[- ]/g, ""), (ch) => READ_AS[ch] ?? ch);
  if (cleaned.length !== 16 || cleaned.some((ch) => !ALPHABET.includes(ch))) {
    throw new Error("the code is 16 characters of Crockford base32");
  }
  return cleaned.join("");
}

/** SHA-256(ctx || 00 || case id || 00 || code): what a node-signed rating carries. */
export async function codeProof(caseId, code) {
  const text = new TextEncoder();
  const parts = [text.encode(CODE_CONTEXT), Uint8Array.of(0), text.encode(caseId), Uint8Array.of(0)];
  parts.push(text.encode(normalizeCode(code)));
  const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    joined.set(part, at);
    at += part.length;
  }
  return sha256(joined);
}

/** SHA-256(proof): what `received.body.rating_code` carries. */
export async function codeCommitment(caseId, code) {
  return sha256(await codeProof(caseId, code));
}

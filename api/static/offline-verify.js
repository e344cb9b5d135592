// Offline license verification in the browser: a second implementation of
// docs/license-offline.md (status lists, the compact TB1: form) and of the verdict of
// docs/license.md §11, written from the documents and the vectors, not from the node's code.
// A license's TB1: text is checked against a cached key set (region roots and node keys), cached
// trust lists (license.md §10) and cached status lists; nothing is sent anywhere.
//
// Only the suite ed25519-sha256 (WebCrypto: Ed25519, SHA-256). An sm2-sm3 license is refused
// `unsupported_suite`, as a verifier that does not implement a suite must (envelope.md §3); the
// page then offers the node's own check. GZIP and zlib are inflated here (RFC 1951), with the
// byte limits the format sets, so nothing depends on how a browser's DecompressionStream treats
// trailing bytes or several members.
//
// Choices where the documents leave room (each a guess no vector decides):
// - A status list's node key (§1.4 step 1) must be valid at the list's `issued_at` and not
//   compromised by then; a kid naming no held key is `unknown_key`, any other key problem
//   `wrong_key`. A trust list's root must likewise be valid at its `issued_at`.
// - The status list answering for a license must be of the id the text names *and* published by
//   the ledger of the region whose trust list vouches for the license key; a list of that id from
//   another region is `status_unavailable`.
// - A status list of the same version with other bytes is `conflict`, as for trust lists.
// - A trust list entry of `sm2-sm3` is kept but unusable (its kid needs SM3 to check); an
//   undefined suite refuses the list (`unsupported_suite`).
// - For the compact form, `unknown_issuer` compares the entry's `issuer_code` and `suite` (the
//   text names no body); after `bad_check_character` nothing else runs; compact fields are
//   checked in the order of §2.2's table and a bad `status` or `holder` names that field.
// - The 6,244-character bound counts the `TB1:` prefix; a final Base45 pair over 255, a zlib
//   preset dictionary and GZIP reserved flags are refused; `from`/`until` years are 1 to 9999.
// - The roots and node keys are the node's own `GET /keys` answer: the page pins what the node
//   that served it says (license.md §10 pins roots out of band).

import { Refused, decode, equalBytes, fromHex, hex, isMap, textBytes } from "./canonical.js";
import { kidOf, openSigned, sha256, signingInput } from "./envelope.js";

export const SUITE = "ed25519-sha256";
/** Suites the format defines (envelope.md §3); only SUITE is implemented here. */
export const DEFINED_SUITES = new Set(["ed25519-sha256", "sm2-sm3"]);
export const COMPACT_PREFIX = "TB1:";
export const COMPACT_CONTEXT = "tongban/license-compact/v1";
export const STATUS_LIST_CONTEXT = "tongban/status-list/v1";
export const TRUST_LIST_CONTEXT = "tongban/trust-list/v1";
export const MAX_COMPACT_TEXT = 6244; // characters, the prefix included (license-offline.md §2.3)
export const MAX_COMPACT_INFLATED = 4096; // bytes (§2.1)
export const MIN_LIST_ENTRIES = 131_072; // §1.1
export const MAX_LIST_ENTRIES = 8_388_608;
export const MAX_BITSTRING = MAX_LIST_ENTRIES / 4; // 2 MiB
export const STATUS_NAMES = ["valid", "suspended", "revoked"];
const DAY_US = 86_400_000_000n;
const BEIJING_US = 8n * 3_600_000_000n;

const malformed = (message, field = null) => new Refused("malformed", message, field);

// -- small checks ------------------------------------------------------------------------------

const isInteger = (v) =>
  typeof v === "bigint" || (typeof v === "number" && Number.isSafeInteger(v));
const isText = (v) => typeof v === "string";
const isBytes = (v) => v instanceof Uint8Array;

/** A JSON-safe number for a µs time or count (BigInt only past 2^53). */
const plain = (v) =>
  typeof v === "bigint" && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(v)
    : v;

function field(content, name, check, what, prefix = "") {
  const where = prefix + name;
  if (!Object.hasOwn(content, name)) throw malformed(`${where} is missing`, where);
  const value = content[name];
  if (!check(value)) throw malformed(`${where} must be ${what}`, where);
  return value;
}

/** Exactly `names`: the first unknown field in canonical (UTF-8) order, else the first missing. */
function exactFields(content, names, prefix = "") {
  const allowed = new Set(names);
  const unknown = Object.keys(content)
    .filter((name) => !allowed.has(name))
    .sort((a, b) => compareText(a, b));
  if (unknown.length) throw malformed(`unknown field ${prefix}${unknown[0]}`, prefix + unknown[0]);
  const missing = names.find((name) => !Object.hasOwn(content, name));
  if (missing !== undefined) throw malformed(`${prefix}${missing} is missing`, prefix + missing);
}

function compareText(a, b) {
  const x = textBytes(a);
  const y = textBytes(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

const LIST_ID = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$/;
const BODY_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
const REGION = /^[1-9][0-9]{5}$/;
const KID = /^[0-9a-f]{32}$/;

/** The region of a ledger name: the text after its last `/`, a GB/T 2260 code, else null
 * (envelope.md §5.1, "Ledger names"). */
export function ledgerRegion(name) {
  const last = name.slice(name.lastIndexOf("/") + 1);
  return REGION.test(last) ? last : null;
}

// -- Base45 (RFC 9285) and base64url (RFC 4648 §5) ----------------------------------------------

const BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
const BASE45_VALUE = new Map([...BASE45].map((c, i) => [c, i]));

/** The bytes of a Base45 text; `malformed` for a character outside the alphabet, a length
 * of 1 mod 3, a group over 65,535 or a final pair over 255. */
export function decodeBase45(text) {
  const values = [];
  for (const c of text) {
    const v = BASE45_VALUE.get(c);
    if (v === undefined) throw malformed(`character ${JSON.stringify(c)} is not Base45`);
    values.push(v);
  }
  if (values.length % 3 === 1) throw malformed("Base45 length is 1 mod 3");
  const out = new Uint8Array(Math.floor(values.length / 3) * 2 + (values.length % 3 === 2 ? 1 : 0));
  let at = 0;
  for (let i = 0; i < values.length; i += 3) {
    if (i + 2 < values.length) {
      const n = values[i] + values[i + 1] * 45 + values[i + 2] * 2025;
      if (n > 0xffff) throw malformed("a Base45 group is over 65,535");
      out[at++] = n >> 8;
      out[at++] = n & 0xff;
    } else {
      const n = values[i] + values[i + 1] * 45;
      if (n > 0xff) throw malformed("a final Base45 pair is over 255");
      out[at++] = n;
    }
  }
  return out;
}

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64URL_VALUE = new Map([...B64URL].map((c, i) => [c, i]));

/** Canonical unpadded base64url: no padding, no other character, no length of 1 mod 4, no
 * non-zero unused bits in the last character. */
export function decodeBase64url(text) {
  if (text.length % 4 === 1) throw malformed("base64url length is 1 mod 4");
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let buffer = 0;
  let at = 0;
  for (const c of text) {
    const v = B64URL_VALUE.get(c);
    if (v === undefined) throw malformed(`character ${JSON.stringify(c)} is not base64url`);
    buffer = ((buffer << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (buffer >> bits) & 0xff;
    }
  }
  if ((buffer & ((1 << bits) - 1)) !== 0) throw malformed("non-zero unused bits: not canonical base64url");
  return out;
}

// -- inflate (RFC 1951), zlib (RFC 1950), GZIP (RFC 1952) ---------------------------------------

class Bits {
  constructor(bytes, at) {
    this.bytes = bytes;
    this.at = at; // next byte
    this.buffer = 0;
    this.count = 0;
  }
  need(n) {
    while (this.count < n) {
      if (this.at >= this.bytes.length) throw malformed("the compressed stream is truncated");
      this.buffer |= this.bytes[this.at++] << this.count;
      this.count += 8;
    }
  }
  take(n) {
    if (n === 0) return 0;
    this.need(n);
    const v = this.buffer & ((1 << n) - 1);
    this.buffer >>>= n;
    this.count -= n;
    return v;
  }
  /** Drop the bits left in the current byte; the byte offset after them. */
  align() {
    this.buffer = 0;
    this.count = 0;
    return this.at;
  }
}

/** A canonical Huffman code from code lengths; refuses over-subscribed sets and incomplete ones
 * (but a single code of length 1, as zlib allows), as zlib does. */
function huffman(lengths, kind) {
  const counts = new Uint16Array(16);
  for (const n of lengths) counts[n]++;
  counts[0] = 0;
  let left = 1;
  let max = 0;
  for (let n = 1; n < 16; n++) {
    left = left * 2 - counts[n];
    if (left < 0) throw malformed(`over-subscribed ${kind} code`);
    if (counts[n]) max = n;
  }
  if (left > 0 && max !== 0 && (kind === "code length" || max !== 1)) {
    throw malformed(`incomplete ${kind} code`);
  }
  const offsets = new Uint16Array(16);
  for (let n = 1; n < 15; n++) offsets[n + 1] = offsets[n] + counts[n];
  const symbols = new Uint16Array(lengths.length);
  lengths.forEach((n, symbol) => {
    if (n) symbols[offsets[n]++] = symbol;
  });
  return { counts, symbols, empty: max === 0 };
}

function decodeSymbol(bits, code) {
  let value = 0;
  let first = 0;
  let index = 0;
  for (let n = 1; n < 16; n++) {
    value |= bits.take(1);
    const count = code.counts[n];
    if (value - first < count) return code.symbols[index + value - first];
    index += count;
    first = (first + count) << 1;
    value <<= 1;
  }
  throw malformed("an invalid Huffman code in the compressed stream");
}

const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

let fixedCodes = null;
function fixed() {
  if (!fixedCodes) {
    const lit = new Array(288);
    for (let i = 0; i < 288; i++) lit[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
    fixedCodes = { lit: huffman(lit, "literal/length"), dist: huffman(new Array(32).fill(5), "distance") };
  }
  return fixedCodes;
}

function dynamic(bits) {
  const nlit = bits.take(5) + 257;
  const ndist = bits.take(5) + 1;
  const ncode = bits.take(4) + 4;
  if (nlit > 286 || ndist > 30) throw malformed("too many length or distance codes");
  const codeLengths = new Array(19).fill(0);
  for (let i = 0; i < ncode; i++) codeLengths[CODE_LENGTH_ORDER[i]] = bits.take(3);
  const lengthCode = huffman(codeLengths, "code length");
  if (lengthCode.empty) throw malformed("no code length codes");
  const lengths = [];
  while (lengths.length < nlit + ndist) {
    const symbol = decodeSymbol(bits, lengthCode);
    if (symbol < 16) {
      lengths.push(symbol);
      continue;
    }
    let repeat;
    let value = 0;
    if (symbol === 16) {
      if (!lengths.length) throw malformed("a repeat with no previous length");
      value = lengths[lengths.length - 1];
      repeat = 3 + bits.take(2);
    } else if (symbol === 17) repeat = 3 + bits.take(3);
    else repeat = 11 + bits.take(7);
    if (lengths.length + repeat > nlit + ndist) throw malformed("code lengths run past their count");
    for (let i = 0; i < repeat; i++) lengths.push(value);
  }
  if (lengths[256] === 0) throw malformed("no end-of-block code");
  return {
    lit: huffman(lengths.slice(0, nlit), "literal/length"),
    dist: huffman(lengths.slice(nlit), "distance"),
  };
}

/**
 * Inflate the raw deflate stream starting at `start` of `bytes`: `{output, end}`, `end` the byte
 * after the last block. Refuses (`malformed`) a corrupt or truncated stream and output past
 * `limit` bytes, stopping there (so a bomb costs nothing).
 */
export function inflateRaw(bytes, start, limit) {
  const bits = new Bits(bytes, start);
  let out = new Uint8Array(Math.min(limit, Math.max(1024, bytes.length * 4)));
  let size = 0;
  const room = (n) => {
    if (size + n > limit) throw malformed(`inflates past ${limit} bytes`);
    if (size + n > out.length) {
      const bigger = new Uint8Array(Math.min(limit, Math.max(size + n, out.length * 2)));
      bigger.set(out.subarray(0, size));
      out = bigger;
    }
  };
  let last = 0;
  while (!last) {
    last = bits.take(1);
    const type = bits.take(2);
    if (type === 0) {
      let at = bits.align();
      if (at + 4 > bytes.length) throw malformed("the compressed stream is truncated");
      const len = bytes[at] | (bytes[at + 1] << 8);
      const nlen = bytes[at + 2] | (bytes[at + 3] << 8);
      if ((len ^ 0xffff) !== nlen) throw malformed("a stored block's length is corrupt");
      at += 4;
      if (at + len > bytes.length) throw malformed("the compressed stream is truncated");
      room(len);
      out.set(bytes.subarray(at, at + len), size);
      size += len;
      bits.at = at + len;
      continue;
    }
    if (type === 3) throw malformed("invalid deflate block type");
    const { lit, dist } = type === 1 ? fixed() : dynamic(bits);
    for (;;) {
      const symbol = decodeSymbol(bits, lit);
      if (symbol < 256) {
        room(1);
        out[size++] = symbol;
      } else if (symbol === 256) {
        break;
      } else {
        const l = symbol - 257;
        if (l >= 29) throw malformed("invalid length code");
        const length = LENGTH_BASE[l] + bits.take(LENGTH_EXTRA[l]);
        if (dist.empty) throw malformed("a distance with no distance codes");
        const d = decodeSymbol(bits, dist);
        if (d >= 30) throw malformed("invalid distance code");
        const distance = DIST_BASE[d] + bits.take(DIST_EXTRA[d]);
        if (distance > size) throw malformed("a distance too far back");
        room(length);
        for (let i = 0; i < length; i++, size++) out[size] = out[size - distance];
      }
    }
  }
  return { output: out.slice(0, size), end: bits.align() };
}

function adler32(bytes) {
  let a = 1;
  let b = 0;
  for (let i = 0; i < bytes.length; i++) {
    a = (a + bytes[i]) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

let crcTable = null;
function crc32(bytes) {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const u32be = (b, at) => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
const u32le = (b, at) => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;

/** A zlib stream (RFC 1950): header, deflate, Adler-32, and not one byte more. */
export function inflateZlib(bytes, limit) {
  if (bytes.length < 2) throw malformed("not a zlib stream");
  const [cmf, flg] = bytes;
  if ((cmf & 0x0f) !== 8 || cmf >> 4 > 7 || ((cmf << 8) | flg) % 31 !== 0) {
    throw malformed("not a zlib stream (header)");
  }
  if (flg & 0x20) throw malformed("a zlib stream with a preset dictionary");
  const { output, end } = inflateRaw(bytes, 2, limit);
  if (end + 4 > bytes.length) throw malformed("the zlib stream is truncated (no Adler-32)");
  if (u32be(bytes, end) !== adler32(output)) throw malformed("the zlib stream's Adler-32 is wrong");
  if (end + 4 !== bytes.length) throw malformed("bytes follow the zlib stream");
  return output;
}

/** One GZIP member (RFC 1952): header, deflate, CRC-32, size, and not one byte more. */
export function inflateGzip(bytes, limit) {
  if (bytes.length < 10 || bytes[0] !== 0x1f || bytes[1] !== 0x8b || bytes[2] !== 8) {
    throw malformed("not a GZIP stream");
  }
  const flags = bytes[3];
  if (flags & 0xe0) throw malformed("GZIP reserved flags are set");
  let at = 10;
  const zeroEnded = () => {
    while (at < bytes.length && bytes[at] !== 0) at++;
    if (at >= bytes.length) throw malformed("the GZIP header is truncated");
    at++;
  };
  if (flags & 0x04) {
    if (at + 2 > bytes.length) throw malformed("the GZIP header is truncated");
    at += 2 + (bytes[at] | (bytes[at + 1] << 8));
  }
  if (flags & 0x08) zeroEnded();
  if (flags & 0x10) zeroEnded();
  if (flags & 0x02) {
    if (at + 2 > bytes.length) throw malformed("the GZIP header is truncated");
    if ((crc32(bytes.subarray(0, at)) & 0xffff) !== (bytes[at] | (bytes[at + 1] << 8))) {
      throw malformed("the GZIP header CRC is wrong");
    }
    at += 2;
  }
  if (at > bytes.length) throw malformed("the GZIP header is truncated");
  const { output, end } = inflateRaw(bytes, at, limit);
  if (end + 8 > bytes.length) throw malformed("the GZIP stream is truncated (no trailer)");
  if (u32le(bytes, end) !== crc32(output)) throw malformed("the GZIP stream's CRC-32 is wrong");
  if (u32le(bytes, end + 4) !== output.length >>> 0) throw malformed("the GZIP stream's size is wrong");
  if (end + 8 !== bytes.length) throw malformed("bytes follow the GZIP member");
  return output;
}

// -- identifiers (license.md §3.4) and USCCs ---------------------------------------------------

const USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
const USCC = /^[0-9]{8}[0-9ABCDEFGHJKLMNPQRTUWXY]{10}$/;

/** Whether `code` is an 18-character USCC with its GB 32100 check character. */
export function isUscc(code) {
  if (typeof code !== "string" || !USCC.test(code)) return false;
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += USCC_ALPHABET.indexOf(code[i]) * USCC_WEIGHTS[i];
  return code[17] === USCC_ALPHABET[(31 - (sum % 31)) % 31];
}

const ALNUM36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** The ISO/IEC 7064 MOD 37,36 check character of `text` (characters of ALNUM36). */
export function mod3736(text) {
  let p = 36;
  for (const c of text) {
    p = (p + ALNUM36.indexOf(c)) % 36;
    if (p === 0) p = 36;
    p = (2 * p) % 37;
  }
  return ALNUM36[(37 - p) % 36];
}

export const IDENTIFIER_ROOT = "1.2.156.3005.2.";

/**
 * The parts of a GB/T 36904 identifier in canonical text: `{text, type, issuer, serial,
 * version, check}`. Refused with field `id` and the reason of the first failing part:
 * `bad_type_code`, `bad_issuer_code`, `bad_serial`, `bad_version`, `malformed` (root, part
 * count, lower case, a check that is no character of [0-9A-Z]) or `bad_check_character`.
 */
export function parseIdentifier(text) {
  const refuse = (reason, message) => new Refused(reason, message, "id");
  if (typeof text !== "string") throw refuse("malformed", "the identifier is not text");
  if (!text.startsWith(IDENTIFIER_ROOT)) throw refuse("malformed", `the identifier must start with ${IDENTIFIER_ROOT}`);
  if (text !== text.toUpperCase()) throw refuse("malformed", "lower case is not canonical");
  const parts = text.slice(IDENTIFIER_ROOT.length).split(".");
  if (parts.length !== 5) throw refuse("malformed", `${parts.length} parts after the root, not 5`);
  const [type, issuer, serial, version, check] = parts;
  if (!(type.length === 21 && isUscc(type.slice(0, 18)) && /^[0-9]{3}$/.test(type.slice(18)))) {
    throw refuse("bad_type_code", "the type code is not a USCC and 3 digits");
  }
  if (!isUscc(issuer)) throw refuse("bad_issuer_code", "the issuer code is not a valid USCC");
  if (!/^[0-9A-Z]{1,32}$/.test(serial)) throw refuse("bad_serial", "the serial is not 1 to 32 of [0-9A-Z]");
  if (!/^[0-9]{3}$/.test(version)) throw refuse("bad_version", "the version is not 3 digits");
  if (!/^[0-9A-Z]$/.test(check)) throw refuse("malformed", "the check is not one of [0-9A-Z]");
  if (mod3736(type + issuer + serial + version) !== check) {
    throw refuse("bad_check_character", "the check character is wrong");
  }
  return { text, type, issuer, serial, version, check };
}

// -- masking (license-offline.md §4) -----------------------------------------------------------

/** A name masked: NFC, first code point kept when there are two or more, the rest `*`. */
export function maskName(name) {
  const points = [...name.normalize("NFC")];
  if (points.length <= 1) return "*".repeat(points.length);
  return points[0] + "*".repeat(points.length - 1);
}

/** An id number masked: first 4 and last 4 kept when longer than 8, the rest `*`. */
export function maskId(id) {
  const points = [...id];
  if (points.length <= 8) return "*".repeat(points.length);
  return points.slice(0, 4).join("") + "*".repeat(points.length - 8) + points.slice(-4).join("");
}

// -- dates -------------------------------------------------------------------------------------

/** `YYYYMMDD` as an integer, a Gregorian calendar date (year 1 to 9999), else false. */
export function isCalendarDay(n) {
  if (!isInteger(n)) return false;
  const v = Number(n);
  if (v < 101 || v > 99_991_231) return false;
  const year = Math.floor(v / 10_000);
  const month = Math.floor(v / 100) % 100;
  const day = v % 100;
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  return day <= days;
}

/** The Beijing (UTC+8) calendar day of a µs UTC moment, as `YYYYMMDD`. */
export function beijingDay(micros) {
  const date = new Date(Number((BigInt(micros) + BEIJING_US) / 1000n));
  return date.getUTCFullYear() * 10_000 + (date.getUTCMonth() + 1) * 100 + date.getUTCDate();
}

/** The µs UTC at which Beijing day `YYYYMMDD` starts. */
export function beijingDayStart(day) {
  const date = new Date(0);
  date.setUTCFullYear(Math.floor(day / 10_000), (Math.floor(day / 100) % 100) - 1, day % 100);
  return BigInt(date.getTime()) * 1000n - BEIJING_US;
}

export function dayText(day) {
  if (!day) return "";
  const s = String(day).padStart(8, "0");
  return `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6)}`;
}

// -- the compact form (license-offline.md §2) --------------------------------------------------

const COMPACT_FIELDS = ["v", "suite", "kid", "id", "type", "issuer", "from", "until", "status", "holder", "digest"];

/** `v` then `suite` (envelope.md §2.5 steps 3–4, and §3: a defined suite this verifier does not
 * implement is refused like an unknown one). */
function versionAndSuite(content) {
  if (!Object.hasOwn(content, "v") || !isInteger(content.v) || content.v !== 1) {
    throw new Refused("unsupported_version", "only version 1 is implemented", "v");
  }
  if (content.suite !== SUITE) {
    const named = typeof content.suite === "string" ? content.suite : "(not text)";
    const defined = DEFINED_SUITES.has(named) ? " (defined, but not implemented in this browser)" : "";
    throw new Refused("unsupported_suite", `suite ${named}${defined}`, "suite");
  }
}

/**
 * Decode a `TB1:` text (license-offline.md §2.3, every step in order, without a key):
 * `{payload, payloadBytes, signature, kid, suite, identifier, type, issuer, from, until,
 * status: {list, index}, holder: {name, id}, digest}`. Refused with the first failure.
 */
export function decodeCompact(text) {
  if (typeof text !== "string" || !text.startsWith(COMPACT_PREFIX)) {
    throw malformed("the text must start with TB1: (case-sensitive, nothing before it)");
  }
  if (text.length > MAX_COMPACT_TEXT) throw malformed(`longer than ${MAX_COMPACT_TEXT} characters`);
  const zlib = decodeBase45(text.slice(COMPACT_PREFIX.length));
  const outerBytes = inflateZlib(zlib, MAX_COMPACT_INFLATED);
  const outer = decode(outerBytes);
  if (!Array.isArray(outer) || outer.length !== 2 || !outer.every(isBytes)) {
    throw malformed("the compact form is [payload bytes, signature bytes]");
  }
  const [payloadBytes, signature] = outer;
  const payload = decode(payloadBytes);
  if (!isMap(payload)) throw malformed("the payload is not a map");
  versionAndSuite(payload);
  exactFields(payload, COMPACT_FIELDS);
  const kid = field(payload, "kid", (v) => isText(v) && KID.test(v), "32 lowercase hex characters");
  const idText = field(payload, "id", isText, "text");
  let identifier;
  try {
    identifier = parseIdentifier(idText);
  } catch (error) {
    if (!(error instanceof Refused)) throw error;
    const refused = malformed(`id: ${error.message}`, "id");
    refused.identifierReason = error.reason; // the verdict reports bad_check_character (§2.3)
    throw refused;
  }
  const type = field(payload, "type", isText, "text");
  if (type !== identifier.type) throw malformed("type is not the identifier's type code", "type");
  const issuer = field(payload, "issuer", isText, "text");
  if (issuer !== identifier.issuer) throw malformed("issuer is not the identifier's issuer code", "issuer");
  const from = field(payload, "from", isCalendarDay, "a calendar date YYYYMMDD");
  const until = field(payload, "until", (v) => v === 0 || isCalendarDay(v), "a calendar date YYYYMMDD or 0");
  if (until !== 0 && until < from) throw malformed("until is before from", "until");
  const status = field(payload, "status", Array.isArray, "an array [list id, index]");
  if (status.length !== 2) throw malformed("status must be [list id, index]", "status");
  const [list, index] = status;
  if (!isText(list) || !LIST_ID.test(list)) throw malformed("the status list id is not a list id", "status");
  if (!isInteger(index) || index < 0 || index >= MAX_LIST_ENTRIES) {
    throw malformed(`the status index must be an integer 0 to ${MAX_LIST_ENTRIES - 1}`, "status");
  }
  const holder = field(payload, "holder", isMap, "a map");
  exactFields(holder, ["name", "id"], "holder.");
  const name = field(holder, "name", isText, "text", "holder.");
  const id = field(holder, "id", isText, "text", "holder.");
  if (!name || name !== name.normalize("NFC") || maskName(name) !== name) {
    throw malformed("holder.name is not in masked form (NFC, non-empty, masking it again changes nothing)", "holder");
  }
  if (!id || !id.includes("*") || maskId(id) !== id) {
    throw malformed("holder.id is not in masked form (non-empty, at least one *, masking it again changes nothing)", "holder");
  }
  const digest = field(payload, "digest", (v) => isBytes(v) && v.length === 32, "32 bytes");
  return {
    payload,
    payloadBytes,
    signature,
    kid,
    suite: payload.suite,
    identifier,
    type,
    issuer,
    from,
    until,
    status: { list, index: Number(index) },
    holder: { name, id },
    digest,
  };
}

async function ed25519Verify(publicKey, signature, message) {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32 || signature.length !== 64) {
    return false;
  }
  try {
    const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  } catch {
    return false; // a key WebCrypto cannot import verifies nothing
  }
}

/** The compact signature (§2.1) under a 32-byte Ed25519 key: true or false. */
export async function compactSignatureVerifies(compact, publicKey) {
  const input = await signingInput(COMPACT_CONTEXT, compact.payloadBytes);
  return ed25519Verify(publicKey, compact.signature, input);
}

/** Whether `documentBytes` are the full license document the compact form names (§2.2). */
export async function digestBinds(compact, documentBytes) {
  return equalBytes(await sha256(documentBytes), compact.digest);
}

// -- keys: region roots and node keys ----------------------------------------------------------

/**
 * A key set from the node's `GET /keys` answer (`keys`: kid, role, region, suite, public_key
 * hex, valid_from, valid_until, compromised_since): the region roots and node keys this
 * verifier trusts. Each kid is derived again from its public key (envelope.md §3.3); a key
 * whose kid does not match is dropped, and keys of another suite are kept out (not usable here).
 */
export async function keySet(keys) {
  const usable = [];
  for (const key of keys ?? []) {
    if (key.role !== "root" && key.role !== "node") continue;
    if (key.suite !== SUITE || !REGION.test(String(key.region))) continue;
    let publicKey;
    try {
      publicKey = fromHex(key.public_key);
    } catch {
      continue;
    }
    if (publicKey.length !== 32 || (await kidOf(publicKey, SUITE)) !== key.kid) continue;
    usable.push({
      kid: key.kid,
      role: key.role,
      region: key.region,
      publicKey,
      validFrom: BigInt(key.valid_from),
      validUntil: key.valid_until == null ? null : BigInt(key.valid_until),
      compromisedSince: key.compromised_since == null ? null : BigInt(key.compromised_since),
    });
  }
  return usable;
}

/** The key may sign at `moment` (valid then, not compromised then). */
function validAt(key, moment) {
  return (
    key.validFrom <= moment &&
    (key.validUntil === null || moment < key.validUntil) &&
    (key.compromisedSince === null || moment < key.compromisedSince)
  );
}

// -- status lists (license-offline.md §1) ------------------------------------------------------

const STATUS_LIST_FIELDS = ["v", "suite", "ctx", "kid", "id", "issuer", "purpose", "version", "issued_at", "valid_until", "encoded_list"];

/** Steps 1–7 of envelope.md §2.5 for a status list (§1.3): the opened object and its fields. */
export function openStatusList(raw) {
  const signed = openSigned(raw, STATUS_LIST_CONTEXT);
  const c = signed.content;
  exactFields(c, STATUS_LIST_FIELDS);
  const id = field(c, "id", (v) => isText(v) && LIST_ID.test(v), "a list id");
  const issuer = field(c, "issuer", (v) => isText(v) && LIST_ID.test(v), "a ledger name");
  field(c, "purpose", (v) => v === "status", "status");
  const version = field(c, "version", (v) => isInteger(v) && v >= 1, "an integer ≥ 1");
  const issuedAt = field(c, "issued_at", (v) => isInteger(v) && v >= 0, "an integer ≥ 0");
  const validUntil = field(c, "valid_until", (v) => isInteger(v) && BigInt(v) > BigInt(issuedAt), "an integer after issued_at");
  const encodedList = field(c, "encoded_list", isText, "text");
  return { signed, id, issuer, version: BigInt(version), issuedAt: BigInt(issuedAt), validUntil: BigInt(validUntil), encodedList };
}

/** `encoded_list` to the bitstring (§1.2): refused `malformed` as the section lists. */
export function decodeEncodedList(encoded) {
  if (!encoded.startsWith("u")) throw malformed("encoded_list must start with the multibase code u", "encoded_list");
  let bitstring;
  try {
    bitstring = inflateGzip(decodeBase64url(encoded.slice(1)), MAX_BITSTRING);
  } catch (error) {
    if (error instanceof Refused) throw malformed(error.message.replace(/^malformed: /, ""), "encoded_list");
    throw error;
  }
  if (bitstring.length < MIN_LIST_ENTRIES / 4) {
    throw malformed(`fewer than ${MIN_LIST_ENTRIES} entries`, "encoded_list");
  }
  for (let i = 0; i < bitstring.length; i++) {
    const b = bitstring[i];
    if (b & (b >> 1) & 0x55) {
      const entry = i * 4 + [0, 1, 2, 3].find((j) => ((b >> (6 - 2 * j)) & 3) === 3);
      throw malformed(`entry ${entry} holds the reserved value 3`, "encoded_list");
    }
  }
  return bitstring;
}

/** The value of entry `index` (§1.1). */
export function entryValue(bitstring, index) {
  return (bitstring[index >> 2] >> (6 - 2 * (index & 3))) & 3;
}

/**
 * Open and verify a signed status list (§1.3, §1.4 step 1) under the node key of the ledger
 * its `issuer` names, from `keys` (a `keySet`): `{raw, id, issuer, region, version, issuedAt,
 * validUntil, bitstring, entries}`. Refused: the opening reasons, `unknown_key` (no such key),
 * `wrong_key` (not a node key of the issuer's region, or not valid at `issued_at`),
 * `bad_signature`, then `malformed` for `encoded_list`.
 */
export async function verifyStatusList(raw, keys) {
  const list = openStatusList(raw);
  const key = keys.find((k) => k.kid === list.signed.kid);
  if (!key) throw new Refused("unknown_key", `no held key has kid ${list.signed.kid}`, "kid");
  const region = ledgerRegion(list.issuer);
  if (key.role !== "node" || region === null || key.region !== region) {
    throw new Refused("wrong_key", `kid ${key.kid} is not a node key of the ledger ${list.issuer}`, "kid");
  }
  if (!validAt(key, list.issuedAt)) {
    throw new Refused("wrong_key", `node key ${key.kid} was not valid when the list was issued`, "kid");
  }
  const input = await signingInput(STATUS_LIST_CONTEXT, list.signed.contentBytes);
  if (!(await ed25519Verify(key.publicKey, list.signed.signature, input))) {
    throw new Refused("bad_signature", "the status list's signature does not verify", "signature");
  }
  const bitstring = decodeEncodedList(list.encodedList);
  return {
    raw,
    id: list.id,
    issuer: list.issuer,
    region,
    version: list.version,
    issuedAt: list.issuedAt,
    validUntil: list.validUntil,
    bitstring,
    entries: bitstring.length * 4,
  };
}

// -- trust lists (license.md §10) --------------------------------------------------------------

const TRUST_LIST_FIELDS = ["v", "suite", "ctx", "kid", "region", "version", "issued_at", "valid_until", "license_keys", "recognition"];
const LICENSE_KEY_FIELDS = ["kid", "suite", "public_key", "body_id", "issuer_code", "valid_from", "valid_until", "revoked_since"];
const TYPE_CODE = (v) => isText(v) && v.length === 21 && isUscc(v.slice(0, 18)) && /^[0-9]{3}$/.test(v.slice(18));

function strictlyAscending(texts) {
  for (let i = 1; i < texts.length; i++) if (compareText(texts[i - 1], texts[i]) >= 0) return false;
  return true;
}

/** Steps 1–7 of envelope.md §2.5 for a trust list (§10.1). License keys of a suite this
 * verifier does not implement are kept with `usable: false` (their kid cannot be checked here). */
export async function openTrustList(raw) {
  const signed = openSigned(raw, TRUST_LIST_CONTEXT);
  const c = signed.content;
  exactFields(c, TRUST_LIST_FIELDS);
  const region = field(c, "region", (v) => isText(v) && REGION.test(v), "a 6-digit region code");
  const version = field(c, "version", (v) => isInteger(v) && v >= 1, "an integer ≥ 1");
  const issuedAt = field(c, "issued_at", (v) => isInteger(v) && v >= 0, "an integer ≥ 0");
  const validUntil = field(c, "valid_until", (v) => isInteger(v) && BigInt(v) > BigInt(issuedAt), "an integer after issued_at");
  const entries = field(c, "license_keys", Array.isArray, "an array");
  const licenseKeys = [];
  for (const [i, entry] of entries.entries()) {
    const at = `license_keys[${i}].`;
    if (!isMap(entry)) throw malformed(`${at.slice(0, -1)} must be a map`, at.slice(0, -1));
    exactFields(entry, LICENSE_KEY_FIELDS, at);
    const kid = field(entry, "kid", isText, "text", at);
    const suite = field(entry, "suite", isText, "text", at);
    const publicKey = field(entry, "public_key", isBytes, "bytes", at);
    const bodyId = field(entry, "body_id", (v) => isText(v) && BODY_ID.test(v), "a body id", at);
    const issuerCode = field(entry, "issuer_code", isUscc, "a USCC with its check character", at);
    const from = field(entry, "valid_from", isInteger, "an integer", at);
    const until = field(entry, "valid_until", (v) => v === null || (isInteger(v) && BigInt(v) > BigInt(from)), "nil or an integer after valid_from", at);
    const revoked = field(entry, "revoked_since", (v) => v === null || isInteger(v), "nil or an integer", at);
    let usable = false;
    if (suite === SUITE) {
      if (publicKey.length !== 32 || (await kidOf(publicKey, SUITE)) !== kid) {
        throw malformed("kid is not the key id of public_key", `${at}kid`);
      }
      usable = true;
    } else if (!DEFINED_SUITES.has(suite)) {
      throw new Refused("unsupported_suite", `license key suite ${suite}`, `${at}suite`);
    }
    licenseKeys.push({
      kid,
      suite,
      publicKey,
      bodyId,
      issuerCode,
      validFrom: BigInt(from),
      validUntil: until === null ? null : BigInt(until),
      revokedSince: revoked === null ? null : BigInt(revoked),
      usable,
    });
  }
  if (!strictlyAscending(licenseKeys.map((k) => k.kid))) {
    throw malformed("license_keys must be sorted by kid, without repeats", "license_keys");
  }
  const rules = field(c, "recognition", Array.isArray, "an array");
  const recognition = new Map();
  for (const [i, rule] of rules.entries()) {
    const at = `recognition[${i}].`;
    if (!isMap(rule)) throw malformed(`${at.slice(0, -1)} must be a map`, at.slice(0, -1));
    exactFields(rule, ["type", "regions"], at);
    const type = field(rule, "type", TYPE_CODE, "a license type code", at);
    const regions = field(rule, "regions", (v) => Array.isArray(v) && v.length > 0 && v.every((r) => isText(r) && REGION.test(r)), "a non-empty array of region codes", at);
    if (!strictlyAscending(regions)) throw malformed("regions must be sorted, without repeats", `${at}regions`);
    recognition.set(type, regions);
  }
  if (!strictlyAscending([...recognition.keys()]) || recognition.size !== rules.length) {
    throw malformed("recognition must be sorted by type, without repeats", "recognition");
  }
  return {
    signed,
    region,
    version: BigInt(version),
    issuedAt: BigInt(issuedAt),
    validUntil: BigInt(validUntil),
    licenseKeys,
    recognition,
  };
}

/**
 * Open and verify a trust list (§10.2 steps 1–2) under a root of its region from `keys`:
 * `unknown_region` (no root of that region held), `wrong_key` (kid is no root of it, or one not
 * valid at the list's `issued_at`), `bad_signature`.
 */
export async function verifyTrustList(raw, keys) {
  const list = await openTrustList(raw);
  const roots = keys.filter((k) => k.role === "root" && k.region === list.region);
  if (!roots.length) throw new Refused("unknown_region", `no root of region ${list.region} is held`, "region");
  const root = roots.find((k) => k.kid === list.signed.kid);
  if (!root || !validAt(root, list.issuedAt)) {
    throw new Refused("wrong_key", `kid ${list.signed.kid} is not a root of region ${list.region}`, "kid");
  }
  const input = await signingInput(TRUST_LIST_CONTEXT, list.signed.contentBytes);
  if (!(await ed25519Verify(root.publicKey, list.signed.signature, input))) {
    throw new Refused("bad_signature", "the trust list's signature does not verify", "signature");
  }
  return { ...list, raw };
}

// -- the verdict (license.md §11) --------------------------------------------------------------

export const PRECEDENCE = [
  "malformed",
  "unsupported_suite",
  "bad_check_character",
  "unknown_issuer",
  "issuer_key_not_valid",
  "bad_signature",
  "revoked",
  "suspended",
  "expired",
  "not_yet_valid",
  "not_recognized",
  "holder_mismatch",
  "status_unavailable",
];

function listUsed(list) {
  return {
    id: list.id ?? list.region,
    version: plain(list.version),
    issued_at: plain(list.issuedAt),
    valid_until: plain(list.validUntil),
  };
}

/** Why the status is unknown (`status_detail`, license.md §11), as short fixed phrases. */
export const STATUS_DETAILS = Object.freeze({
  none: "no list held for the license's list id",
  otherRegion: "the held list of that id is another region's",
  expired: "expired",
  tooOld: "older than the maximum age",
  pastEnd: "the index is past the list's end",
});

/** A holder code as a person types it: upper case, no spaces or hyphens (license.md §11). */
export function normalizeHolderCode(code) {
  return code.toUpperCase().replace(/[\s-]/g, "");
}

/**
 * The verdict on a `TB1:` text (license.md §11), from verified lists only:
 *
 * - `trustLists`: verified trust lists (`verifyTrustList`), one per region;
 * - `ownRegion`: the verifier's region, whose list says what it recognizes;
 * - `statusLists`: verified status lists (`verifyStatusList`);
 * - `now` (µs UTC), `maxStatusAge` (µs, optional), `holderCode` (optional).
 *
 * Returns `{valid, primary, failed, status_source, status_detail, status_list, trust_lists,
 * online_detail}` as §11 defines it (`online_detail` always null: nothing is asked online),
 * and besides: `details` (each failed reason's explanation), `claims` (what the text says, or
 * null when it does not decode), `issuer` (the trust list entry that vouches for the key) and
 * `checked_at`.
 */
export async function verifyCompact(text, { trustLists = [], ownRegion = null, statusLists = [], now, maxStatusAge = null, holderCode = null } = {}) {
  if (now === undefined) throw new TypeError("verifyCompact needs now (µs UTC)");
  const at = BigInt(now);
  const failures = new Map();
  const fail = (reason, detail) => {
    if (!failures.has(reason)) failures.set(reason, detail);
  };
  const verdict = {
    valid: false,
    primary: null,
    failed: [],
    status_source: null,
    status_detail: null,
    status_list: null,
    trust_lists: [],
    online_detail: null,
    details: {},
    claims: null,
    issuer: null,
    checked_at: plain(at),
  };
  const finish = () => {
    verdict.failed = PRECEDENCE.filter((reason) => failures.has(reason));
    verdict.primary = verdict.failed[0] ?? null;
    verdict.valid = verdict.failed.length === 0;
    verdict.details = Object.fromEntries(verdict.failed.map((reason) => [reason, failures.get(reason)]));
    return verdict;
  };

  let compact;
  try {
    compact = decodeCompact(text);
  } catch (error) {
    if (!(error instanceof Refused)) throw error;
    if (error.reason === "unsupported_suite") fail("unsupported_suite", error.message);
    else if (error.identifierReason === "bad_check_character") fail("bad_check_character", error.message);
    else fail("malformed", error.message); // unsupported_version is a decoding failure too
    return finish();
  }
  verdict.claims = {
    identifier: compact.identifier.text,
    type: compact.type,
    issuer_code: compact.issuer,
    kid: compact.kid,
    suite: compact.suite,
    valid_from: compact.from,
    valid_until: compact.until,
    holder: { ...compact.holder },
    status: { ...compact.status },
    digest: hex(compact.digest),
  };

  // Authority: exactly one fresh trust list names the kid, for this issuer code and suite.
  const fresh = trustLists.filter((list) => at < list.validUntil);
  const naming = fresh
    .map((list) => ({ list, key: list.licenseKeys.find((k) => k.kid === compact.kid) }))
    .filter((found) => found.key);
  let vouching = null;
  if (naming.length === 0) {
    const stale = trustLists.some((list) => list.licenseKeys.some((k) => k.kid === compact.kid));
    fail("unknown_issuer", stale ? "only an expired trust list names the key" : `no held trust list names key ${compact.kid}`);
  } else if (naming.length > 1) {
    fail("unknown_issuer", `the trust lists of ${naming.map((n) => n.list.region).join(", ")} all name key ${compact.kid}`);
  } else if (naming[0].key.issuerCode !== compact.issuer || naming[0].key.suite !== compact.suite) {
    fail("unknown_issuer", `key ${compact.kid} belongs to issuer ${naming[0].key.issuerCode}, not ${compact.issuer}`);
  } else {
    vouching = naming[0];
    const { key, list } = vouching;
    verdict.issuer = { region: list.region, body_id: key.bodyId, issuer_code: key.issuerCode, kid: key.kid };
    verdict.trust_lists.push(listUsed(list));
    const start = beijingDayStart(compact.from);
    const end = start + DAY_US;
    if (!(key.validFrom < end && (key.validUntil === null || key.validUntil > start))) {
      fail("issuer_key_not_valid", `key ${key.kid} was not valid on ${dayText(compact.from)}`);
    } else if (key.revokedSince !== null && key.revokedSince < end) {
      fail("issuer_key_not_valid", `key ${key.kid} was compromised on or before ${dayText(compact.from)}`);
    }
    if (!key.usable || !(await compactSignatureVerifies(compact, key.publicKey))) {
      fail("bad_signature", "the signature does not verify under the issuer's listed key");
    }
  }

  // Status: the held list the text names, fresh, young enough, holding the index.
  const named = statusLists.filter(
    (list) => list.id === compact.status.list && (vouching === null || list.region === vouching.list.region),
  );
  const list = named.sort((a, b) => (b.issuedAt > a.issuedAt ? 1 : -1))[0];
  if (!list) {
    const elsewhere = statusLists.some((l) => l.id === compact.status.list);
    verdict.status_detail = elsewhere ? STATUS_DETAILS.otherRegion : STATUS_DETAILS.none;
    fail(
      "status_unavailable",
      elsewhere
        ? `the held list ${compact.status.list} is another region's than the issuer's`
        : `no status list ${compact.status.list} is held`,
    );
  } else {
    verdict.status_list = listUsed(list);
    let unknown = null;
    if (at >= list.validUntil) unknown = STATUS_DETAILS.expired;
    else if (maxStatusAge !== null && at - list.issuedAt > BigInt(maxStatusAge)) unknown = STATUS_DETAILS.tooOld;
    else if (compact.status.index >= list.entries) unknown = STATUS_DETAILS.pastEnd;
    if (unknown) {
      verdict.status_detail = unknown;
      const where = unknown === STATUS_DETAILS.pastEnd ? ` (index ${compact.status.index}, ${list.entries} entries)` : "";
      fail("status_unavailable", `status list ${list.id} version ${list.version}: ${unknown}${where}`);
    } else {
      verdict.status_source = "status_list";
      const value = entryValue(list.bitstring, compact.status.index);
      if (value === 2) fail("revoked", `entry ${compact.status.index} of list ${list.id} says revoked`);
      if (value === 1) fail("suspended", `entry ${compact.status.index} of list ${list.id} says suspended`);
    }
  }

  // Time: the license's own days, in Beijing.
  const today = beijingDay(at);
  if (compact.until !== 0 && today > compact.until) fail("expired", `valid until ${dayText(compact.until)}`);
  if (today < compact.from) fail("not_yet_valid", `valid from ${dayText(compact.from)}`);

  // Policy: the verifier's own list accepts this type from the issuing region. Its own list,
  // held and fresh, is named as used even when recognition is not asked (unknown_issuer): its
  // keys were searched too. (So does the reference node's verdict, seen from outside.)
  const own = trustLists.find((l) => l.region === ownRegion);
  const ownFresh = own !== undefined && at < own.validUntil;
  if (ownFresh && own !== vouching?.list) verdict.trust_lists.push(listUsed(own));
  if (vouching !== null) {
    if (!ownFresh) {
      fail("not_recognized", own ? "this region's trust list has expired" : "no trust list of this region is held");
    } else {
      if (!(own.recognition.get(compact.type) ?? []).includes(vouching.list.region)) {
        fail("not_recognized", `region ${ownRegion} does not accept type ${compact.type} from region ${vouching.list.region}`);
      }
    }
  }

  if (holderCode !== null && holderCode !== undefined && holderCode !== "") {
    if (maskId(normalizeHolderCode(holderCode)) !== compact.holder.id) {
      fail("holder_mismatch", "the given holder code does not match the masked one");
    }
  }
  return finish();
}

// -- the cache: what a verifier keeps between checks (§1.4, §10.2) ------------------------------

/** Bytes as base64 (standard, padded) for storage. */
export function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/**
 * What a verifier holds: the key set, the newest trust list per region and the newest status
 * list per (issuer, id), with when each was fetched. Rollback refused: an older version is
 * `stale`; the same version with other bytes `conflict`; the same bytes again change nothing.
 */
export class OfflineCache {
  constructor() {
    this.keys = [];
    this.keysFetchedAt = null;
    this.ownRegion = null;
    this.trustLists = new Map(); // region → {list, fetchedAt}
    this.statusLists = new Map(); // `${issuer} ${id}` → {list, fetchedAt}
  }

  /** The region roots and node keys of a `GET /keys` answer's `keys` (others are not kept). */
  async setKeys(keysAnswer, fetchedAt) {
    this.rawKeys = (keysAnswer ?? []).filter((k) => k.role === "root" || k.role === "node");
    this.keys = await keySet(this.rawKeys);
    this.keysFetchedAt = fetchedAt;
  }

  static #newer(held, list, what) {
    if (!held) return true;
    if (list.version < held.list.version) {
      throw new Refused("stale", `${what} version ${list.version} is older than version ${held.list.version} held`, "version");
    }
    if (list.version === held.list.version) {
      if (equalBytes(list.raw, held.list.raw)) return false;
      throw new Refused("conflict", `${what} version ${list.version} differs from the one held`, "version");
    }
    return true;
  }

  /** Verify and keep a trust list (`raw` bytes): the kept list, or Refused. */
  async addTrustList(raw, fetchedAt) {
    const list = await verifyTrustList(raw, this.keys);
    const held = this.trustLists.get(list.region);
    if (OfflineCache.#newer(held, list, `trust list of ${list.region}`)) {
      this.trustLists.set(list.region, { list, fetchedAt });
    }
    return this.trustLists.get(list.region).list;
  }

  /** Verify and keep a status list (`raw` bytes): the kept list, or Refused. */
  async addStatusList(raw, fetchedAt) {
    const list = await verifyStatusList(raw, this.keys);
    const slot = `${list.issuer} ${list.id}`;
    const held = this.statusLists.get(slot);
    if (OfflineCache.#newer(held, list, `status list ${list.id}`)) {
      this.statusLists.set(slot, { list, fetchedAt });
    }
    return this.statusLists.get(slot).list;
  }

  /** The verdict on `text` from what is held (see `verifyCompact`). */
  verify(text, { now, maxStatusAge = null, holderCode = null }) {
    return verifyCompact(text, {
      trustLists: [...this.trustLists.values()].map((held) => held.list),
      ownRegion: this.ownRegion,
      statusLists: [...this.statusLists.values()].map((held) => held.list),
      now,
      maxStatusAge,
      holderCode,
    });
  }

  /** A JSON-able form (raw bytes as base64), verified again by `restore`. */
  toJSON() {
    return {
      format: 1,
      own_region: this.ownRegion,
      keys: this.rawKeys ?? [],
      keys_fetched_at: this.keysFetchedAt,
      trust_lists: [...this.trustLists.values()].map((held) => ({ raw: toBase64(held.list.raw), fetched_at: held.fetchedAt })),
      status_lists: [...this.statusLists.values()].map((held) => ({ raw: toBase64(held.list.raw), fetched_at: held.fetchedAt })),
    };
  }

  /** A cache from `toJSON`'s form, every list verified again (a list that no longer verifies
   * is left out and named in `dropped`). */
  static async restore(saved) {
    const cache = new OfflineCache();
    cache.dropped = [];
    if (!saved || saved.format !== 1) return cache;
    cache.ownRegion = saved.own_region ?? null;
    await cache.setKeys(saved.keys ?? [], saved.keys_fetched_at ?? null);
    for (const [kind, items] of [["trust", saved.trust_lists], ["status", saved.status_lists]]) {
      for (const item of items ?? []) {
        try {
          const raw = fromBase64(item.raw);
          if (kind === "trust") await cache.addTrustList(raw, item.fetched_at);
          else await cache.addStatusList(raw, item.fetched_at);
        } catch (error) {
          if (!(error instanceof Refused) && !(error instanceof DOMException)) throw error;
          cache.dropped.push(`${kind}: ${error.message}`);
        }
      }
    }
    return cache;
  }
}

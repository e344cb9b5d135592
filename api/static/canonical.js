// Canonical msgpack (docs/envelope.md §1), written for the officers' pages from the document,
// not from the node's code: the page decodes what it is asked to sign with this decoder, so it
// must not share the node's mistakes.
//
// Values: null, true/false, integers (Number when safe, else BigInt), text (string), bytes
// (Uint8Array), arrays, maps (objects without prototype, keys text). No floats, no ext.
// A decoder refuses every byte string that is not the canonical encoding of a value: it decodes
// strictly (no floats, no ext, no c1, text valid UTF-8, map keys text, depth at most 32, nothing
// after the value), re-encodes canonically and refuses unless the bytes are identical (§1.3).

export const MAX_DEPTH = 32;
const MAX_UINT = (1n << 64n) - 1n;
const MIN_INT = -(1n << 63n);

/** A refusal: `reason` is machine-readable (docs/envelope.md §7), `field` names the place. */
export class Refused extends Error {
  constructor(reason, message, field = null) {
    super(field ? `${reason} (${field}): ${message}` : `${reason}: ${message}`);
    this.name = "Refused";
    this.reason = reason;
    this.field = field;
  }
}

const malformed = (message, field = null) => new Refused("malformed", message, field);

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The UTF-8 bytes of `text`; a lone surrogate has none, and is refused. */
export function textBytes(text) {
  if (!text.isWellFormed()) throw malformed("text holds a lone surrogate, which is not Unicode");
  return utf8.encode(text);
}

function compareBytes(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

export function isMap(value) {
  return (
    value !== null &&
    typeof value === "object" &&
    !Array.isArray(value) &&
    !(value instanceof Uint8Array)
  );
}

class Writer {
  constructor() {
    this.chunks = [];
    this.length = 0;
  }
  bytes(array) {
    this.chunks.push(array);
    this.length += array.length;
  }
  byte(...values) {
    this.bytes(Uint8Array.from(values));
  }
  uint(prefix, size, value) {
    // `size` bytes big-endian after `prefix`
    const out = new Uint8Array(1 + size);
    out[0] = prefix;
    let v = BigInt(value);
    for (let i = size; i >= 1; i--) {
      out[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    this.bytes(out);
  }
  result() {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }
}

function writeInteger(w, value) {
  const v = BigInt(value);
  if (v > MAX_UINT || v < MIN_INT) throw malformed(`integer ${v} outside the 64-bit range`);
  if (v >= 0n) {
    if (v <= 0x7fn) w.byte(Number(v));
    else if (v <= 0xffn) w.uint(0xcc, 1, v);
    else if (v <= 0xffffn) w.uint(0xcd, 2, v);
    else if (v <= 0xffffffffn) w.uint(0xce, 4, v);
    else w.uint(0xcf, 8, v);
    return;
  }
  const twos = (bits) => (1n << bits) + v; // two's complement of a negative value
  if (v >= -32n) w.byte(Number(twos(8n)));
  else if (v >= -128n) w.uint(0xd0, 1, twos(8n));
  else if (v >= -32768n) w.uint(0xd1, 2, twos(16n));
  else if (v >= -2147483648n) w.uint(0xd2, 4, twos(32n));
  else w.uint(0xd3, 8, twos(64n));
}

function writeLength(w, n, fix, fixMax, forms) {
  if (fix !== null && n <= fixMax) return w.byte(fix | n);
  for (const [prefix, size] of forms) {
    if (n < 2 ** (8 * size)) return w.uint(prefix, size, n);
  }
  throw malformed(`length ${n} too large`);
}

function write(w, value, depth) {
  if (depth > MAX_DEPTH) throw malformed(`nesting deeper than ${MAX_DEPTH}`);
  if (value === null) return w.byte(0xc0);
  if (value === false) return w.byte(0xc2);
  if (value === true) return w.byte(0xc3);
  if (typeof value === "bigint") return writeInteger(w, value);
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw malformed(`${value} is not an integer (no floats)`);
    return writeInteger(w, value);
  }
  if (typeof value === "string") {
    const bytes = textBytes(value);
    writeLength(w, bytes.length, 0xa0, 31, [
      [0xd9, 1],
      [0xda, 2],
      [0xdb, 4],
    ]);
    return w.bytes(bytes);
  }
  if (value instanceof Uint8Array) {
    writeLength(w, value.length, null, 0, [
      [0xc4, 1],
      [0xc5, 2],
      [0xc6, 4],
    ]);
    return w.bytes(value);
  }
  if (Array.isArray(value)) {
    writeLength(w, value.length, 0x90, 15, [
      [0xdc, 2],
      [0xdd, 4],
    ]);
    for (const item of value) write(w, item, depth + 1);
    return;
  }
  if (isMap(value)) {
    const keys = Object.keys(value).map((key) => [textBytes(key), key]);
    keys.sort((a, b) => compareBytes(a[0], b[0]));
    writeLength(w, keys.length, 0x80, 15, [
      [0xde, 2],
      [0xdf, 4],
    ]);
    for (const [, key] of keys) {
      write(w, key, depth + 1);
      write(w, value[key], depth + 1);
    }
    return;
  }
  throw malformed(`a ${typeof value} cannot be encoded`);
}

/** The canonical msgpack bytes of `value`. */
export function encode(value) {
  const w = new Writer();
  write(w, value, 0);
  return w.result();
}

class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.at = 0;
  }
  need(n) {
    if (this.at + n > this.bytes.length) throw malformed("the bytes end inside a value");
  }
  take(n) {
    this.need(n);
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  uint(size) {
    this.need(size);
    let v = 0n;
    for (let i = 0; i < size; i++) v = (v << 8n) | BigInt(this.bytes[this.at + i]);
    this.at += size;
    return v;
  }
  int(size) {
    const u = this.uint(size);
    const bits = BigInt(size * 8);
    return u >= 1n << (bits - 1n) ? u - (1n << bits) : u;
  }
  length(size) {
    const n = Number(this.uint(size));
    // a container of n elements needs at least n more bytes: bounds the work by the input
    if (n > this.bytes.length - this.at) throw malformed("a length runs past the end");
    return n;
  }
}

const integer = (v) => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);

function text(r, n) {
  try {
    return strictUtf8.decode(r.take(n));
  } catch (error) {
    if (error instanceof Refused) throw error;
    throw malformed("text is not valid UTF-8");
  }
}

function read(r, depth) {
  if (depth > MAX_DEPTH) throw malformed(`nesting deeper than ${MAX_DEPTH}`);
  r.need(1);
  const b = r.bytes[r.at++];
  if (b <= 0x7f) return b;
  if (b >= 0xe0) return b - 0x100;
  if (b >= 0xa0 && b <= 0xbf) return text(r, b & 0x1f);
  if (b >= 0x90 && b <= 0x9f) return array(r, b & 0x0f, depth);
  if (b >= 0x80 && b <= 0x8f) return map(r, b & 0x0f, depth);
  switch (b) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
      return r.take(r.length(1)).slice();
    case 0xc5:
      return r.take(r.length(2)).slice();
    case 0xc6:
      return r.take(r.length(4)).slice();
    case 0xcc:
      return integer(r.uint(1));
    case 0xcd:
      return integer(r.uint(2));
    case 0xce:
      return integer(r.uint(4));
    case 0xcf:
      return integer(r.uint(8));
    case 0xd0:
      return integer(r.int(1));
    case 0xd1:
      return integer(r.int(2));
    case 0xd2:
      return integer(r.int(4));
    case 0xd3:
      return integer(r.int(8));
    case 0xd9:
      return text(r, r.length(1));
    case 0xda:
      return text(r, r.length(2));
    case 0xdb:
      return text(r, r.length(4));
    case 0xdc:
      return array(r, r.length(2), depth);
    case 0xdd:
      return array(r, r.length(4), depth);
    case 0xde:
      return map(r, r.length(2), depth);
    case 0xdf:
      return map(r, r.length(4), depth);
    case 0xca:
    case 0xcb:
      throw malformed("floats are not allowed");
    case 0xc1:
      throw malformed("byte c1 is never used");
    default:
      throw malformed(`msgpack ext types are not allowed (first byte ${b.toString(16)})`);
  }
}

function array(r, n, depth) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(read(r, depth + 1));
  return out;
}

function map(r, n, depth) {
  const out = Object.create(null);
  for (let i = 0; i < n; i++) {
    const key = read(r, depth + 1);
    if (typeof key !== "string") throw malformed("a map key is not text");
    out[key] = read(r, depth + 1); // a duplicate collapses here; re-encoding then differs
  }
  return out;
}

/** The value `bytes` canonically encode; `Refused` (malformed) for any other byte string. */
export function decode(bytes) {
  if (!(bytes instanceof Uint8Array)) throw malformed("decode takes a Uint8Array");
  const r = new Reader(bytes);
  const value = read(r, 0);
  if (r.at !== bytes.length) throw malformed("bytes after the value");
  if (compareBytes(encode(value), bytes) !== 0) {
    throw malformed("not the canonical encoding (long form, unsorted or duplicate keys)");
  }
  return value;
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(text) {
  if (typeof text !== "string" || !/^(?:[0-9a-f]{2})*$/.test(text)) {
    throw malformed("not lowercase hex");
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export function equalBytes(a, b) {
  return a.length === b.length && compareBytes(a, b) === 0;
}

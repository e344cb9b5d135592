// What the case and receiving pages share: comparing decoded values with what the officer
// typed, and listing decoded values for the officer to read before signing.

import { equalBytes, hex } from "./canonical.js";

/** Deep equality of decoded msgpack values (bytes by content). */
export function same(a, b) {
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && equalBytes(a, b);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  }
  if (a && b && typeof a === "object" && typeof b === "object") {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && same(a[k], b[k]));
  }
  return a === b;
}

/** A decoded value as text: bytes in hex, lists joined, maps as `key: value`. */
export function show(value) {
  if (value instanceof Uint8Array) return hex(value);
  if (Array.isArray(value)) return value.map(show).join("；");
  if (value === true) return "是";
  if (value === false) return "否";
  if (value && typeof value === "object") {
    return Object.keys(value).map((k) => `${k}: ${show(value[k])}`).join("，");
  }
  return String(value);
}

/** Append `term` / `value` to the description list `list` (text only, never HTML). */
export function row(list, term, value) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = show(value);
  list.append(dt, dd);
}

/** JSON for the draft route: byte strings as {"bin": hex}, as the test vectors write them. */
export function draftJson(value) {
  return JSON.stringify(value, (key, v) => (v instanceof Uint8Array ? { bin: hex(v) } : v));
}

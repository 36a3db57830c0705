/**
 * Building safe group names from arbitrary parts (user input, topic names).
 *
 * @module
 */
import { MAX_NAME_LENGTH } from "./names.ts";

/** FNV-1a, 64 bits, over the UTF-8 bytes of `text`: the first 12 hex digits. */
function fnv1a64(text: string): string {
  // 64-bit arithmetic in two 32-bit halves (BigInt per byte is ~20× slower): the prime is
  // 2^40 + 0x1b3, so h * prime = (h << 40) + h * 0x1b3 (mod 2^64).
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  for (const b of new TextEncoder().encode(text)) {
    lo ^= b;
    const low = (lo >>> 0) * 0x1b3; // < 2^41: exact in a double
    const carry = Math.floor(low / 0x100000000);
    hi = ((hi >>> 0) * 0x1b3 + carry + ((lo << 8) >>> 0)) >>> 0;
    lo = low >>> 0;
  }
  const hex = (n: number) => (n >>> 0).toString(16).padStart(8, "0");
  return (hex(hi) + hex(lo)).slice(0, 12);
}

/** Replaces each run of characters outside `[A-Za-z0-9._-]` with one `-`, then trims `-`. */
function cleanPart(part: string): string {
  const replaced = part.replace(UNSAFE_RUN, "-"); // one pass: a run is consumed whole
  // Trimming with a loop, not /^-+|-+$/: that regex retries `-+$` from every dash of a long run
  // in the middle (quadratic time on "a" + "-".repeat(n) + "a").
  let start = 0;
  let end = replaced.length;
  while (start < end && replaced.charCodeAt(start) === DASH) start++;
  while (end > start && replaced.charCodeAt(end - 1) === DASH) end--;
  return replaced.slice(start, end);
}

const UNSAFE_RUN = /[^A-Za-z0-9._-]+/g;
const DASH = 0x2d;

/**
 * Joins `parts` into a valid group name: characters outside `[A-Za-z0-9._-]` become `-`, empty
 * parts are dropped, parts are joined with `.`, an optional namespace goes first. Names longer
 * than 99 characters are cut and suffixed with a 12-hex-digit digest, so distinct inputs stay
 * distinct. Linear in the length of the parts.
 *
 * `safeGroupName(["room", "Weekly Sync!"])` → `"room.Weekly-Sync"`.
 */
export function safeGroupName(parts: ReadonlyArray<string | number>, namespace?: string): string {
  const clean = (namespace === undefined ? parts : [namespace, ...parts])
    .map((p) => cleanPart(String(p)))
    .filter((p) => p.length > 0);
  const name = clean.join(".");
  if (!name) throw new TypeError("safeGroupName() produced an empty name");
  const max = MAX_NAME_LENGTH - 1;
  if (name.length <= max) return name;
  return `${name.slice(0, max - 13)}.${fnv1a64(name)}`;
}

/**
 * Building safe group names from arbitrary parts (user input, topic names).
 *
 * @module
 */
import { MAX_NAME_LENGTH } from "./names.ts";

function fnv1a64(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (const b of new TextEncoder().encode(text)) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, "0").slice(0, 12);
}

/**
 * Joins `parts` into a valid group name: characters outside `[A-Za-z0-9._-]` become `-`, empty
 * parts are dropped, parts are joined with `.`, an optional namespace goes first. Names longer
 * than 99 characters are cut and suffixed with a 12-hex-digit digest, so distinct inputs stay
 * distinct.
 *
 * `safeGroupName(["room", "Weekly Sync!"])` → `"room.Weekly-Sync"`.
 */
export function safeGroupName(parts: ReadonlyArray<string | number>, namespace?: string): string {
  const clean = (namespace === undefined ? parts : [namespace, ...parts])
    .map((p) => String(p).replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, ""))
    .filter((p) => p.length > 0);
  const name = clean.join(".");
  if (!name) throw new TypeError("safeGroupName() produced an empty name");
  const max = MAX_NAME_LENGTH - 1;
  if (name.length <= max) return name;
  return `${name.slice(0, max - 13)}.${fnv1a64(name)}`;
}

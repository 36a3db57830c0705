/**
 * What the Redis presence backend reads back: a group's entries from its hash (`HSCAN`, bounded)
 * and a diff from the JSON its scripts publish (`presence_scripts.ts`).
 *
 * @module
 */
import type { PresenceDiff, PresenceEntries, PresenceList } from "../../src/presence/backend.ts";
import type { RedisClientLike } from "./redis_client.ts";

/** At most `max` keys of the hash `hash` with their metas (HSCAN: eventually consistent). */
export async function listHash(
  client: RedisClientLike,
  hash: string,
  max: number,
): Promise<PresenceList> {
  const entries: PresenceEntries = {};
  let count = 0;
  let cursor = "0";
  for (let round = 0; round < 1000; round++) {
    const [next, flat] = await client.sendCommand([
      "HSCAN",
      hash,
      cursor,
      "COUNT",
      String(Math.min(1000, max)),
    ]) as [string, string[]];
    for (let i = 0; i < flat.length; i += 2) {
      if (Object.hasOwn(entries, flat[i])) continue;
      if (count === max) return { entries, truncated: true };
      const metas = JSON.parse(flat[i + 1]) as Record<string, string>;
      entries[flat[i]] = Object.values(metas).map((m) => JSON.parse(m));
      count++;
    }
    cursor = next;
    if (cursor === "0") return { entries, truncated: false };
  }
  return { entries, truncated: true };
}

/** The diff of `group` a script published as `text`; throws when it is not one. */
export function parseDiff(group: string, text: string): PresenceDiff {
  const raw = JSON.parse(text) as { j?: Record<string, string[]>; l?: Record<string, string[]> };
  const parse = (o: Record<string, string[]> | undefined): PresenceEntries => {
    const out: PresenceEntries = {};
    for (const [k, metas] of Object.entries(o ?? {})) out[k] = metas.map((m) => JSON.parse(m));
    return out;
  };
  return { group, joins: parse(raw.j), leaves: parse(raw.l) };
}

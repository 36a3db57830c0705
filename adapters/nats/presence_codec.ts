/**
 * Names and payloads of the NATS presence backend: base64url tokens for KV keys and subjects, a
 * key's entry value, the diff messages (`{"j"?: {key: [meta JSON]}, "l"?: {…}}`), and a group's
 * entries read back.
 *
 * @module
 */
import type { KV } from "@nats-io/kv";
import type { PresenceDiff, PresenceEntries, PresenceList } from "../../src/presence/backend.ts";
import { getLogger } from "../../src/logger.ts";

/** One key's connections: ref → meta JSON and owning process. */
export type KeyValue = Record<string, { m: string; p: string }>;

/** UTF-8 encoder of payloads. */
export const enc: TextEncoder = new TextEncoder();
/** UTF-8 decoder of payloads. */
export const dec: TextDecoder = new TextDecoder();

/** base64url of `text` (a KV key token: letters, digits, `-`, `_`). */
export function token(text: string): string {
  let bin = "";
  for (const b of enc.encode(text)) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "") || "_";
}

/** The text of a {@linkcode token}. */
export function untoken(tok: string): string {
  const b64 = tok.replaceAll("-", "+").replaceAll("_", "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return dec.decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

/** Parses a diff message of `group`; undefined (logged) when it is unreadable. */
export function parseDiff(group: string, text: string): PresenceDiff | undefined {
  try {
    const raw = JSON.parse(text) as { j?: Record<string, string[]>; l?: Record<string, string[]> };
    const parse = (o: Record<string, string[]> | undefined): PresenceEntries => {
      const out: PresenceEntries = {};
      for (const [k, metas] of Object.entries(o ?? {})) out[k] = metas.map((m) => JSON.parse(m));
      return out;
    };
    return { group, joins: parse(raw.j), leaves: parse(raw.l) };
  } catch (error) {
    getLogger().warn("Presence: an unreadable diff was ignored", { error });
    return undefined;
  }
}

/** At most `max` keys of the entries `names` (`e.<group>.<key>`) of `kv`, 100 reads at a time. */
export async function readEntries(kv: KV, names: string[], max: number): Promise<PresenceList> {
  const entries: PresenceEntries = {};
  let count = 0;
  for (let i = 0; i < names.length; i += 100) {
    const batch = names.slice(i, i + 100);
    const values = await Promise.all(batch.map((n) => kv.get(n)));
    for (let j = 0; j < batch.length; j++) {
      const got = values[j];
      if (!got || got.operation !== "PUT") continue;
      if (count === max) return { entries, truncated: true };
      const value = got.json<KeyValue>();
      entries[untoken(batch[j].split(".")[2])] = Object.values(value).map((c) => JSON.parse(c.m));
      count++;
    }
  }
  return { entries, truncated: false };
}

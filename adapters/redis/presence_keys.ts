/**
 * Key and channel names of the Redis presence backend, on a standalone Redis and on a Redis
 * Cluster. A group `g`'s sorted set (`<p>:presence:{g}:z`) and hash (`<p>:presence:{g}:h`) share
 * the hash tag `{g}`, so they are in one slot either way.
 *
 * - Standalone: one sweep index `<p>:presence:index` for every group; diffs on the pub/sub
 *   channel `<p>:presence:diff:<g>` (unchanged from before cluster support).
 * - Cluster: one sweep index per hash slot, `<p>:presence:index:{<tag>}` where `<tag>` is a
 *   short string that hashes to the group's slot ({@linkcode slotTag}), so every script touches
 *   keys of one slot; diffs on the shard channel `<p>:presence:diff:{g}` (same slot, SPUBLISH).
 *   The sorted set `<p>:presence:slot-leases` lists the slots whose index may hold groups
 *   (what a sweep visits), each scored with the Redis time it was last listed at (a lease, see
 *   `presence_sweep.ts`), and `<p>:presence:sweeping` is a short lock (it expires: `SET NX PX`)
 *   so one process sweeps per period.
 *
 * @module
 */
import { hashTag } from "./cluster_keys.ts";

/** Hash slots of a Redis Cluster. */
export const SLOTS = 16384;

/** CRC16/XMODEM of `text` (UTF-8) modulo 16384: Redis Cluster's slot of a hash tag. */
export function tagSlot(text: string): number {
  let crc = 0;
  for (const b of new TextEncoder().encode(text)) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc % SLOTS;
}

/** The slot of a key (of its hash tag when it has one). */
export function keySlotOf(key: string): number {
  return tagSlot(hashTag(key));
}

let tags: string[] | undefined;

/**
 * A short string whose slot is `slot` (the first base-36 number that hashes there; the table of
 * all 16384 is built once, about 170,000 CRCs of 1–4 characters).
 */
export function slotTag(slot: number): string {
  if (!tags) {
    const table = new Array<string>(SLOTS);
    let found = 0;
    for (let n = 0; found < SLOTS; n++) {
      const tag = n.toString(36);
      const s = tagSlot(tag);
      if (table[s] === undefined) {
        table[s] = tag;
        found++;
      }
    }
    tags = table;
  }
  return tags[slot];
}

/** Where the presence of a group lives. */
export class PresenceKeys {
  /** True on a Redis Cluster. */
  readonly cluster: boolean;
  readonly #prefix: string;

  /** The names under `prefix`, for a cluster or a standalone Redis. */
  constructor(prefix: string, cluster: boolean) {
    this.#prefix = prefix;
    this.cluster = cluster;
  }

  /** The sorted set of connections (member `ref|key`, score = expiry). */
  z(group: string): string {
    return `${this.#prefix}:presence:{${group}}:z`;
  }
  /** The hash key → `{ref: meta JSON}`. */
  h(group: string): string {
    return `${this.#prefix}:presence:{${group}}:h`;
  }
  /** The group's slot (cluster). */
  slot(group: string): number {
    return keySlotOf(this.z(group));
  }
  /** The sweep index `group` is scored in. */
  index(group: string): string {
    return this.cluster ? this.slotIndex(this.slot(group)) : `${this.#prefix}:presence:index`;
  }
  /** The sweep index of a slot (cluster). */
  slotIndex(slot: number): string {
    return `${this.#prefix}:presence:index:{${slotTag(slot)}}`;
  }
  /** The diff channel (a shard channel in the group's slot on a cluster). */
  channel(group: string): string {
    return this.cluster
      ? `${this.#prefix}:presence:diff:{${group}}`
      : `${this.#prefix}:presence:diff:${group}`;
  }
  /**
   * The sorted set of slots whose index may hold groups, scored by when each was last listed
   * (cluster). Not `:slots`: that name held a plain set before the leases.
   */
  get slots(): string {
    return `${this.#prefix}:presence:slot-leases`;
  }
  /** The sweep lock (cluster). */
  get sweeping(): string {
    return `${this.#prefix}:presence:sweeping`;
  }
}

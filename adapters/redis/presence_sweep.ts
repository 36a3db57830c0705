/**
 * The eviction sweep of the Redis presence backend: on a standalone Redis one index of groups;
 * on a Redis Cluster one index per hash slot, the slots listed in a sorted set of leases, and a
 * short lock so that one process sweeps each period (the work of a round does not grow with the
 * number of processes).
 *
 * **Listing before writing.** A track lists its group's slot *before* its script puts the group
 * in the slot's index, never after: a process killed between the script (whose join is already
 * published) and a listing after it would leave a group no sweep visits, its entries never
 * evicted (tests/FLAKES.md item 18). A listing is a lease: the slot is scored with the Redis time
 * of the listing, and a sweep unlists a slot only when its index is empty *and* its last listing
 * is older than {@linkcode SLOT_LEASE_MS}. A process renews the lease of a slot it tracks in once
 * its own listing is older than half the lease ({@linkcode SlotListing}), and lists again after a
 * script that took longer than that. So when a track's script runs, the slot is listed and
 * cannot be unlisted before the script's group is in the index; once it is, every unlisting
 * finds the index non-empty (it looks before and after removing the slot, and lists it back).
 * Heartbeats list the slots of held groups again (a lost set is rebuilt within `ttlMs / 3`).
 *
 * @module
 */
import type { RedisClientLike } from "./redis_client.ts";
import { keySlotOf, type PresenceKeys } from "./presence_keys.ts";
import { DUE, LIST_SLOTS, SWEEP, UNLIST_SLOT } from "./presence_scripts.ts";

/** Most expired members one sweep script removes. */
export const SWEEP_BATCH = 500;
/** Most groups one index read returns. */
export const SWEEP_GROUPS = 100;
/** Slots one cluster sweep works on at once. */
const PARALLEL_SLOTS = 32;
/**
 * How long a slot stays listed after its last listing even with an empty index, in ms (a track
 * between its listing and its script must not find its slot unlisted).
 */
export const SLOT_LEASE_MS = 60_000;

/** Sweeps the groups `index` says are due; returns the members removed. */
async function sweepIndex(
  client: RedisClientLike,
  keys: PresenceKeys,
  index: string,
): Promise<{ removed: number; due: number }> {
  const due = await DUE.run(client, [index], [String(SWEEP_GROUPS)]) as string[];
  let removed = 0;
  for (const group of due) {
    removed += Number(
      await SWEEP.run(client, [keys.z(group), keys.h(group), index], [
        String(SWEEP_BATCH),
        keys.channel(group),
        group,
      ]),
    );
  }
  return { removed, due: due.length };
}

/** One sweep of a standalone Redis (its single index). */
export async function sweepStandalone(
  client: RedisClientLike,
  keys: PresenceKeys,
): Promise<number> {
  return (await sweepIndex(client, keys, keys.index(""))).removed;
}

/**
 * One sweep of a Redis Cluster: takes the lock for `periodMs` (another process holds it: 0), then
 * {@linkcode sweepSlots}.
 */
export async function sweepCluster(
  client: RedisClientLike,
  keys: PresenceKeys,
  periodMs: number,
): Promise<number> {
  const lock = await client.sendCommand([
    "SET",
    keys.sweeping,
    "1",
    "NX",
    "PX",
    String(Math.max(1, Math.floor(periodMs * 0.9))),
  ]);
  if (lock === null) return 0;
  return await sweepSlots(client, keys);
}

/**
 * Sweeps every listed slot's index (without the lock), unlisting the slots whose index is empty
 * and whose lease ran out (`leaseMs`); returns the members removed.
 */
export async function sweepSlots(
  client: RedisClientLike,
  keys: PresenceKeys,
  leaseMs: number = SLOT_LEASE_MS,
): Promise<number> {
  const slots = (await client.sendCommand(["ZRANGE", keys.slots, "0", "-1"]) as string[])
    .map(Number);
  let removed = 0;
  for (let i = 0; i < slots.length; i += PARALLEL_SLOTS) {
    const results = await Promise.all(
      slots.slice(i, i + PARALLEL_SLOTS).map(async (slot) => {
        const index = keys.slotIndex(slot);
        const swept = await sweepIndex(client, keys, index);
        if (swept.due === 0) await unlistIfEmpty(client, keys, slot, index, leaseMs);
        return swept.removed;
      }),
    );
    for (const n of results) removed += n;
  }
  return removed;
}

/**
 * Unlists `slot` when its index is empty and its lease ran out, then lists it again if its index
 * is not empty any more (a track's script raced the check).
 */
async function unlistIfEmpty(
  client: RedisClientLike,
  keys: PresenceKeys,
  slot: number,
  index: string,
  leaseMs: number,
): Promise<void> {
  if (Number(await client.sendCommand(["ZCARD", index])) > 0) return;
  const unlisted = await UNLIST_SLOT.run(client, [keys.slots], [String(slot), String(leaseMs)]);
  if (Number(unlisted) !== 1) return;
  if (Number(await client.sendCommand(["ZCARD", index])) > 0) {
    await LIST_SLOTS.run(client, [keys.slots], [String(slot)]);
  }
}

/**
 * The slot leases one process renewed (cluster): slot → `performance.now()` when its listing
 * was sent. At most one entry per hash slot (16384).
 */
export class SlotListing {
  readonly #keys: PresenceKeys;
  readonly #leaseMs: number;
  readonly #sent = new Map<number, number>();

  /** Listings of `keys`'s slots, renewed after half of `leaseMs`. */
  constructor(keys: PresenceKeys, leaseMs: number = SLOT_LEASE_MS) {
    this.#keys = keys;
    this.#leaseMs = leaseMs;
  }

  /**
   * Lists the slots of `groups` (one script) unless this process listed each less than half a
   * lease ago; `renew` lists them all regardless (heartbeats).
   */
  async list(client: RedisClientLike, groups: Iterable<string>, renew = false): Promise<void> {
    const now = performance.now();
    const slots = new Set<number>();
    for (const g of groups) {
      const slot = keySlotOf(this.#keys.z(g));
      const sent = this.#sent.get(slot);
      if (renew || sent === undefined || now - sent >= this.#leaseMs / 2) slots.add(slot);
    }
    if (slots.size === 0) return;
    for (const slot of slots) this.#sent.set(slot, now);
    try {
      await LIST_SLOTS.run(client, [this.#keys.slots], [...slots].map(String));
    } catch (error) {
      for (const slot of slots) if (this.#sent.get(slot) === now) this.#sent.delete(slot);
      throw error;
    }
  }
}

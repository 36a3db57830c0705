/**
 * The eviction sweep of the Redis presence backend: on a standalone Redis one index of groups;
 * on a Redis Cluster one index per hash slot, the slots listed in a set, and a short lock so
 * that one process sweeps each period (the work of a round does not grow with the number of
 * processes).
 *
 * A slot leaves the set when a sweep finds its index empty: the sweep removes it first and then
 * looks at the index again, putting it back if a group appeared meanwhile; a track that finds
 * its slot's index empty adds the slot after its script. Whatever the order of the two, a slot
 * whose index holds a group stays listed. Heartbeats list the slots of held groups again.
 *
 * @module
 */
import type { RedisClientLike } from "./redis_client.ts";
import type { PresenceKeys } from "./presence_keys.ts";
import { DUE, SWEEP } from "./presence_scripts.ts";

/** Most expired members one sweep script removes. */
export const SWEEP_BATCH = 500;
/** Most groups one index read returns. */
export const SWEEP_GROUPS = 100;
/** Slots one cluster sweep works on at once. */
const PARALLEL_SLOTS = 32;

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
 * sweeps every listed slot's index, unlisting the empty ones.
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
  const slots = (await client.sendCommand(["SMEMBERS", keys.slots]) as string[]).map(Number);
  let removed = 0;
  for (let i = 0; i < slots.length; i += PARALLEL_SLOTS) {
    const results = await Promise.all(
      slots.slice(i, i + PARALLEL_SLOTS).map(async (slot) => {
        const index = keys.slotIndex(slot);
        const swept = await sweepIndex(client, keys, index);
        if (swept.due === 0) await unlistIfEmpty(client, keys, slot, index);
        return swept.removed;
      }),
    );
    for (const n of results) removed += n;
  }
  return removed;
}

/** Unlists `slot`, then lists it again if its index is not empty (a track raced the check). */
async function unlistIfEmpty(
  client: RedisClientLike,
  keys: PresenceKeys,
  slot: number,
  index: string,
): Promise<void> {
  if (Number(await client.sendCommand(["ZCARD", index])) > 0) return;
  await client.sendCommand(["SREM", keys.slots, String(slot)]);
  if (Number(await client.sendCommand(["ZCARD", index])) > 0) {
    await client.sendCommand(["SADD", keys.slots, String(slot)]);
  }
}

/** Lists the slots of `groups` (cluster): one SADD. */
export async function listSlots(
  client: RedisClientLike,
  keys: PresenceKeys,
  groups: Iterable<string>,
): Promise<void> {
  const slots = new Set<string>();
  for (const g of groups) slots.add(String(keys.slot(g)));
  if (slots.size) await client.sendCommand(["SADD", keys.slots, ...slots]);
}

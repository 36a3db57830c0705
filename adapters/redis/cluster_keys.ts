/**
 * Key names of the Redis queue layer on a Redis Cluster: each key carries a hash tag, so that a
 * script or a blocking pop over several keys touches one slot.
 *
 * - `p:q:{<token>}<owner>`: the inbox of a process-local prefix `<owner>` = `x.<token>!`; every
 *   inbox of one layer instance shares the instance's token, so its reader pops them together;
 * - `p:q:{<channel>}`: the queue of a normal channel (its own slot);
 * - `p:group:{<group>}`: a group's members.
 *
 * On a standalone Redis the layer keeps its untagged names (`p:q:<owner>`).
 *
 * @module
 */
import { isProcessLocal } from "../../src/layers/kit.ts";

/**
 * The hash tag Redis hashes for `key`: what is between its first `{` and the next `}` when that
 * is not empty, else the whole key.
 */
export function hashTag(key: string): string {
  const open = key.indexOf("{");
  if (open === -1) return key;
  const close = key.indexOf("}", open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

/** The tag of a queue owner: a process-local prefix's token (`x.<token>!`), else the name. */
export function ownerTag(owner: string): string {
  if (!isProcessLocal(owner)) return owner;
  const bang = owner.indexOf("!");
  const head = owner.slice(0, bang);
  const dot = head.lastIndexOf(".");
  return dot === -1 ? head : head.slice(dot + 1) || head;
}

/** The queue key of `owner` (a normal channel or a process-local prefix) on a cluster. */
export function clusterQueueKey(prefix: string, owner: string): string {
  const tag = ownerTag(owner);
  return isProcessLocal(owner) ? `${prefix}:q:{${tag}}${owner}` : `${prefix}:q:{${owner}}`;
}

/** The owner of a queue key (`p:q:<owner>`, `p:q:{tag}<owner>` or `p:q:{<channel>}`). */
export function ownerOfKey(prefix: string, key: string): string {
  const rest = key.slice(prefix.length + 3);
  if (!rest.startsWith("{")) return rest;
  const close = rest.indexOf("}");
  const after = rest.slice(close + 1);
  return after || rest.slice(1, close);
}

/** Groups `keys` (with their `counts`) by hash tag, in order of first appearance. */
export function bySlot(keys: string[], counts: string[]): Array<[string[], string[]]> {
  const groups = new Map<string, [string[], string[]]>();
  keys.forEach((key, i) => {
    const tag = hashTag(key);
    let group = groups.get(tag);
    if (!group) groups.set(tag, group = [[], []]);
    group[0].push(key);
    group[1].push(counts[i]);
  });
  return [...groups.values()];
}

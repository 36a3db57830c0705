/**
 * The group send of the Redis queue layer: one Lua round trip on a single host (`GROUP_SEND`), or
 * with several hosts (or RegExp capacities, which Lua cannot evaluate) one read of the group and
 * then one `DELIVER` per destination host, in parallel, with every key declared.
 *
 * @module
 */
import { type CapacityOptions, isProcessLocal, nonLocalName } from "../../src/layers/kit.ts";
import type { RedisClientLike } from "./redis_client.ts";
import { DELIVER, globToLuaPattern, GROUP_MEMBERS, GROUP_SEND } from "./scripts.ts";

/** What a group send needs from its layer; `H` is the layer's host type. */
export interface GroupSendContext<H> {
  /** Key prefix. */
  readonly prefix: string;
  /** Message expiry in ms. */
  readonly expiryMs: number;
  /** Membership expiry in ms. */
  readonly groupExpiryMs: number;
  /** Unread entries a process inbox may hold. */
  readonly inboxCapacity: number;
  /** Capacity of a normal channel. */
  capacity(name: string): number;
  /** The capacity rules as Lua patterns, or undefined when one is a RegExp. */
  readonly luaRules: string[] | undefined;
  /** Number of hosts. */
  readonly hostCount: number;
  /**
   * On a Redis Cluster: the hash tag of an owner's key. Destinations are then batched per tag
   * (one DELIVER per slot) and the one-script path is not used.
   */
  readonly slotOf?: (owner: string) => string;
  /** The host of a name. */
  hostOf(name: string): H;
  /** The queue key of a channel or process inbox. */
  key(owner: string): string;
  /** A ready command client of `host` (or throws). */
  command(host: H): Promise<RedisClientLike>;
}

/** Capacity rules as `[count, pattern, capacity, ...]` for Lua, or undefined (RegExp rules). */
export function luaRules(options: CapacityOptions): string[] | undefined {
  const entries = Array.isArray(options.channelCapacity)
    ? options.channelCapacity
    : Object.entries(options.channelCapacity ?? {});
  const out = [String(entries.length)];
  for (const [pattern, capacity] of entries) {
    if (typeof pattern !== "string") return undefined;
    out.push(globToLuaPattern(pattern), String(capacity));
  }
  return out;
}

/** Scripts a group send may run: await before {@linkcode groupSend} so it issues at once. */
export function groupSendReady(): Promise<unknown> {
  return Promise.all([GROUP_SEND.ready(), GROUP_MEMBERS.ready(), DELIVER.ready()]);
}

/**
 * Sends one entry (`header` + targets + `body`) per destination of group `groupKey`, whose host
 * `client` is. Its first command is sent synchronously. Resolves with `[destinations, full]`.
 */
export function groupSend<H>(
  ctx: GroupSendContext<H>,
  client: RedisClientLike,
  groupKey: string,
  header: string,
  body: string,
): Promise<[number, number]> {
  if (ctx.hostCount === 1 && ctx.luaRules && !ctx.slotOf) {
    return GROUP_SEND.run(client, [groupKey], [
      String(ctx.expiryMs),
      String(ctx.groupExpiryMs),
      `${ctx.prefix}:q:`,
      header,
      body,
      String(ctx.inboxCapacity),
      String(ctx.capacity("")),
      ...ctx.luaRules,
    ]).then((reply) => {
      const [n, f] = reply as number[];
      return [Number(n), Number(f)];
    });
  }
  const members = GROUP_MEMBERS.run(client, [groupKey], [String(ctx.groupExpiryMs)]);
  return members.then((list) => deliverSteps(ctx, list as string[], header, body));
}

async function deliverSteps<H>(
  ctx: GroupSendContext<H>,
  members: string[],
  header: string,
  body: string,
): Promise<[number, number]> {
  const buckets = new Map<string, string[]>();
  for (const channel of members) {
    const owner = nonLocalName(channel);
    let list = buckets.get(owner);
    if (!list) buckets.set(owner, list = []);
    if (isProcessLocal(channel)) list.push(channel);
  }
  const perHost = new Map<H | string, { host: H; keys: string[]; args: string[] }>();
  for (const [owner, list] of buckets) {
    const host = ctx.hostOf(owner);
    const batchKey = ctx.slotOf ? ctx.slotOf(owner) : host;
    let batch = perHost.get(batchKey);
    if (!batch) {
      perHost.set(batchKey, batch = { host, keys: [], args: [String(ctx.expiryMs), header, body] });
    }
    batch.keys.push(ctx.key(owner));
    batch.args.push(
      String(isProcessLocal(owner) ? ctx.inboxCapacity : ctx.capacity(owner)),
      JSON.stringify(list),
    );
  }
  const results = await Promise.all(
    [...perHost.values()].map(async (batch) =>
      (await DELIVER.run(await ctx.command(batch.host), batch.keys, batch.args)) as unknown[]
    ),
  );
  let full = 0;
  for (const r of results) full += r.length;
  return [buckets.size, full];
}

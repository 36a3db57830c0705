/**
 * Presence on Redis, across processes: {@linkcode RedisPresence}. Each change is one Lua script
 * (`presence_scripts.ts`) that also publishes its diff; every process subscribes to the diff
 * channels of the groups its members watch. Entries carry an expiry: this process refreshes what
 * it holds every `ttlMs / 3` (expiry `2/3 · ttlMs` ahead) and every process sweeps expired
 * entries every `ttlMs / 12`, publishing their leaves, so the entries of a process that died
 * (SIGKILL) are gone within `ttlMs`.
 *
 * On a Redis Cluster (`cluster: { rootNodes }`) every script touches keys of one hash slot (the
 * group's hash tag; the sweep index is one per slot), diffs travel over sharded pub/sub
 * (SPUBLISH / SSUBSCRIBE on a shard channel of the group's slot), and one process at a time sweeps
 * the listed slots (`presence_sweep.ts`).
 *
 * While Redis is away every call rejects with `PresenceUnavailableError` within the command
 * timeout; what this process tracks stays held and is tracked again once Redis is back (the
 * first heartbeat after the reconnect), and watchers get a `resync` diff (diffs published
 * meanwhile were lost). A subscription that could not be made is kept and retried. `onEvent`
 * tells when calls stop and start reaching Redis, when this process's changes landed and when a
 * heartbeat tracked what it holds again (`PresenceEvent`).
 *
 * ```ts ignore
 * import { presenceBackends } from "@switchboard/switchboard";
 * import { RedisPresence } from "@switchboard/switchboard/adapters/redis";
 *
 * presenceBackends.register("default", new RedisPresence({ url: Deno.env.get("REDIS_URL") }));
 * ```
 *
 * @module
 */
import {
  checkEntry,
  listLimit,
  metaText,
  type PresenceBackend,
  type PresenceDiff,
  type PresenceEvent,
  type PresenceList,
  type PresenceListener,
  type PresenceMeta,
  type PresenceStats,
  PresenceUnavailableError,
} from "../../src/presence/backend.ts";
import { KeyedOrder } from "../../src/presence/keyed_order.ts";
import { PresenceEvents } from "../../src/presence/events.ts";
import { getLogger } from "../../src/logger.ts";
import { backgroundInterval } from "../../src/layers/kit.ts";
import {
  assertPrefix,
  closeLink,
  LazyLink,
  openLink,
  type RedisHost,
  type RedisLink,
  type RedisTimeouts,
} from "./redis_client.ts";
import { HEARTBEAT, TRACK, UNTRACK } from "./presence_scripts.ts";
import {
  assertClusterOptions,
  isClusterClient,
  isClusterHost,
  type RedisClusterOptions,
} from "./cluster_client.ts";
import { PresenceKeys } from "./presence_keys.ts";
import { SlotListing, sweepCluster, sweepStandalone } from "./presence_sweep.ts";
import { listHash, parseDiff } from "./presence_read.ts";

/** Options of {@linkcode RedisPresence}. */
export interface RedisPresenceOptions {
  /** The Redis URL (default `redis://127.0.0.1:6379`), or pass `client`. */
  url?: string;
  /** A node-redis client to use instead of a URL (never closed; duplicated for pub/sub). */
  client?: RedisHost;
  /**
   * A Redis Cluster instead of `url` / `client` (Redis 7: sharded pub/sub); the backend owns its
   * two cluster clients.
   */
  cluster?: RedisClusterOptions;
  /** Key and channel prefix (default `"switchboard"`). */
  prefix?: string;
  /**
   * Milliseconds within which the entries of a process that stopped (SIGKILL, a network split)
   * are removed and their leaves published. Default 30 000, at least 300.
   */
  ttlMs?: number;
  /** Bounded waits on Redis (connect and command timeouts, 5 s each by default). */
  timeouts?: RedisTimeouts;
}

/** How many members one heartbeat script refreshes. */
const HEARTBEAT_BATCH = 500;

interface Held {
  key: string;
  meta: string;
}

/** Presence in Redis (sorted set + hash per group, TTL heartbeats, diffs over pub/sub). */
export class RedisPresence implements PresenceBackend {
  /** The eviction bound, in ms. */
  readonly ttlMs: number;
  readonly #keys: PresenceKeys;
  /** The slot leases this process renewed (cluster). */
  readonly #listing: SlotListing;
  readonly #host: RedisHost;
  readonly #timeouts: RedisTimeouts | undefined;
  readonly #commands: LazyLink;
  readonly #subscriber: LazyLink;
  /** What this process tracks: group → ref → entry (tracked again after an outage). */
  readonly #held = new Map<string, Map<string, Held>>();
  readonly #listeners = new Map<string, Set<PresenceListener>>();
  /** Groups with listeners whose SUBSCRIBE failed (retried on the heartbeat timer). */
  readonly #unsubscribed = new Set<string>();
  readonly #subscribing = new Set<string>();
  readonly #onText = new Map<string, (text: string) => void>();
  readonly #stops: Array<() => void> = [];
  /** Each connection's track / untrack calls, in call order (see #inOrder). */
  readonly #order = new KeyedOrder();
  readonly #events = new PresenceEvents("Redis presence");
  #closed = false;
  #beating: Promise<void> | undefined;
  #sweeping: Promise<number> | undefined;

  /** Creates the backend; it connects on first use. */
  constructor(options: RedisPresenceOptions = {}) {
    const prefix = options.prefix ?? "switchboard";
    assertPrefix(prefix);
    this.ttlMs = options.ttlMs ?? 30_000;
    if (!Number.isFinite(this.ttlMs) || this.ttlMs < 300) {
      throw new RangeError(`ttlMs must be a number >= 300, got ${options.ttlMs}`);
    }
    if (options.cluster !== undefined) {
      if (options.url !== undefined || options.client !== undefined) {
        throw new TypeError("Pass one of url, client or cluster");
      }
      assertClusterOptions(options.cluster);
      this.#host = { cluster: options.cluster };
    } else {
      this.#host = options.client ?? options.url ?? "redis://127.0.0.1:6379";
    }
    this.#keys = new PresenceKeys(
      prefix,
      isClusterHost(this.#host) || isClusterClient(this.#host),
    );
    this.#listing = new SlotListing(this.#keys);
    this.#timeouts = options.timeouts;
    this.#commands = new LazyLink(() =>
      openLink(this.#host, "presence", {
        duplicate: false,
        timeouts: this.#timeouts,
        hooks: {
          onDown: (reason) => this.#events.down(reason),
          onUp: () => {
            this.#events.up();
            void this.heartbeat().catch(() => {});
          },
        },
      })
    );
    this.#subscriber = new LazyLink(() =>
      openLink(this.#host, "presence subscriber", {
        duplicate: typeof this.#host !== "string",
        timeouts: this.#timeouts,
        hooks: { onUp: () => this.#resyncAll() },
      })
    );
    this.#stops.push(
      backgroundInterval(() => {
        this.#retrySubscriptions();
        void this.heartbeat().catch(() => {});
      }, this.ttlMs / 3),
      backgroundInterval(() => void this.sweep().catch(() => {}), this.ttlMs / 12),
    );
  }

  #z(group: string): string {
    return this.#keys.z(group);
  }
  #h(group: string): string {
    return this.#keys.h(group);
  }
  #channel(group: string): string {
    return this.#keys.channel(group);
  }
  /** Expiry ahead of now, in ms: two refresh periods. */
  get #expiry(): string {
    return String(Math.round((this.ttlMs * 2) / 3));
  }

  async #run<T>(what: string, fn: (link: RedisLink) => Promise<T>): Promise<T> {
    if (this.#closed) throw new PresenceUnavailableError("The Redis presence backend is closed");
    try {
      const result = await fn(await this.#commands.get());
      this.#events.up();
      return result;
    } catch (error) {
      this.#events.down(String((error as Error)?.message ?? error));
      if (error instanceof PresenceUnavailableError) throw error;
      throw new PresenceUnavailableError(
        `Presence ${what} failed: Redis is unavailable (${(error as Error)?.message ?? error})`,
        { cause: error },
      );
    }
  }

  async #trackScript(link: RedisLink, group: string, ref: string, held: Held): Promise<void> {
    // Cluster: the slot is listed for the sweeps before the script puts the group in its index,
    // so a process killed right after the script still leaves a listed slot (presence_sweep.ts).
    if (this.#keys.cluster) await this.#listing.list(link.client, [group]);
    const reply = await TRACK.run(link.client, [
      this.#z(group),
      this.#h(group),
      this.#keys.index(group),
    ], [ref, held.key, held.meta, this.#expiry, this.#channel(group), group]);
    // A group new to its slot's index after a slow script: renew the lease if it is half gone.
    if (this.#keys.cluster && Number(reply) & 2) await this.#listing.list(link.client, [group]);
  }

  /** Tracks `ref`; held locally first, so a failure (typed) is tracked again once Redis is back. */
  track(group: string, key: string, ref: string, meta: PresenceMeta): Promise<void> {
    try {
      checkEntry(group, key, ref);
      const held = { key, meta: metaText(meta) };
      let refs = this.#held.get(group);
      if (!refs) this.#held.set(group, refs = new Map());
      refs.set(ref, held);
      return this.#inOrder(group, ref, async () => {
        await this.#run("track", (link) => this.#trackScript(link, group, ref, held));
        this.#events.changed("tracked", group, key, ref);
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Untracks `ref` (if Redis is away, its entry expires within the TTL). */
  untrack(group: string, key: string, ref: string): Promise<void> {
    try {
      checkEntry(group, key, ref);
      const refs = this.#held.get(group);
      refs?.delete(ref);
      if (refs?.size === 0) this.#held.delete(group);
      return this.#inOrder(group, ref, async () => {
        await this.#run(
          "untrack",
          (link) =>
            UNTRACK.run(link.client, [this.#z(group), this.#h(group), this.#keys.index(group)], [
              ref,
              key,
              this.#channel(group),
              group,
            ]),
        );
        this.#events.changed("untracked", group, key, ref);
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Runs the track / untrack calls of one connection in call order: a track may wait for its
   * slot's listing (cluster) and must not be overtaken by its own untrack.
   */
  #inOrder(group: string, ref: string, call: () => Promise<unknown>): Promise<void> {
    return this.#order.run(`${group}\n${ref}`, call).then(() => {});
  }

  /** Refreshes every entry this process holds; tracks again those that are gone (swept, flushed). */
  heartbeat(): Promise<void> {
    this.#beating ??= this.#beat().finally(() => this.#beating = undefined);
    return this.#beating;
  }

  async #beat(): Promise<void> {
    if (this.#closed) return;
    let tracked = 0;
    if (this.#held.size > 0) {
      await this.#run("heartbeat", async (link) => {
        if (this.#keys.cluster) await this.#listing.list(link.client, this.#held.keys(), true);
        for (const [group, refs] of [...this.#held]) {
          const members = [...refs].map(([ref, h]) => `${ref}|${h.key}`);
          for (let i = 0; i < members.length; i += HEARTBEAT_BATCH) {
            const batch = members.slice(i, i + HEARTBEAT_BATCH);
            const missing = await HEARTBEAT.run(link.client, [this.#z(group)], [
              this.#expiry,
              ...batch,
            ]) as string[];
            for (const member of missing) {
              const ref = member.slice(0, member.indexOf("|"));
              const held = this.#held.get(group)?.get(ref);
              if (held) await this.#trackScript(link, group, ref, held);
              if (held) tracked++;
            }
          }
        }
      });
    }
    this.#events.synced(tracked);
  }

  /** Calls `listener` with each {@linkcode PresenceEvent}; returns the function that removes it. */
  onEvent(listener: (event: PresenceEvent) => void): () => void {
    return this.#events.listen(listener);
  }

  /** Removes expired entries of due groups (any process's), publishing their leaves. */
  sweep(): Promise<number> {
    if (this.#closed) return Promise.resolve(0);
    const sweeping = this.#run(
      "sweep",
      (link) =>
        this.#keys.cluster
          ? sweepCluster(link.client, this.#keys, this.ttlMs / 12)
          : sweepStandalone(link.client, this.#keys),
    );
    this.#sweeping = sweeping;
    return sweeping;
  }

  /** At most `limit` keys of `group` (HSCAN: eventually consistent, bounded). */
  async list(group: string, limit?: number): Promise<PresenceList> {
    const max = listLimit(limit); // a bad limit rejects
    return await this.#run("list", (link) => listHash(link.client, this.#h(group), max));
  }

  /** Keys (HLEN) and connections (ZCARD) of `group`: two O(1) commands. */
  stats(group: string): Promise<PresenceStats> {
    return this.#run("stats", async (link) => {
      const [keys, connections] = await Promise.all([
        link.client.sendCommand(["HLEN", this.#h(group)]),
        link.client.sendCommand(["ZCARD", this.#z(group)]),
      ]);
      return { keys: Number(keys), connections: Number(connections) };
    });
  }

  /**
   * Listens to `group`'s diffs from every process (one Redis subscription per group). While Redis
   * is away the listener is kept and the subscription retried every `ttlMs / 3`; once it is made,
   * the group's listeners get a `resync` diff (diffs of the outage were missed).
   */
  async subscribe(group: string, listener: PresenceListener): Promise<() => Promise<void>> {
    if (this.#closed) throw new PresenceUnavailableError("The Redis presence backend is closed");
    let set = this.#listeners.get(group);
    if (!set) {
      this.#listeners.set(group, set = new Set());
      set.add(listener);
      await this.#subscribeChannel(group);
    } else {
      set.add(listener);
    }
    const current = set;
    return async () => {
      current.delete(listener);
      if (current.size > 0 || this.#listeners.get(group) !== current) return;
      this.#listeners.delete(group);
      this.#unsubscribed.delete(group);
      const link = await this.#subscriber.opened();
      await link?.client.unsubscribe(this.#channel(group)).catch(() => {});
    };
  }

  /** SUBSCRIBEs `group`'s channel (one listener function per group); false, to retry, on failure. */
  async #subscribeChannel(group: string): Promise<boolean> {
    if (this.#subscribing.has(group)) return false;
    this.#subscribing.add(group);
    try {
      let onText = this.#onText.get(group);
      if (!onText) this.#onText.set(group, onText = (text) => this.#deliver(group, text));
      const link = await this.#subscriber.get();
      await link.client.subscribe(this.#channel(group), onText);
      this.#unsubscribed.delete(group);
      return true;
    } catch (error) {
      if (this.#listeners.has(group)) this.#unsubscribed.add(group);
      getLogger().warn(`Presence: subscribing to ${group} failed; retrying`, { error });
      return false;
    } finally {
      this.#subscribing.delete(group);
    }
  }

  /** Retries the subscriptions that failed; their listeners resync once made. */
  #retrySubscriptions(): void {
    for (const group of [...this.#unsubscribed]) {
      if (!this.#listeners.has(group)) {
        this.#unsubscribed.delete(group);
        continue;
      }
      void this.#subscribeChannel(group).then((ok) => {
        if (ok) this.#emit(group, { group, joins: {}, leaves: {}, resync: true });
      });
    }
  }

  #deliver(group: string, text: string): void {
    let diff: PresenceDiff;
    try {
      diff = parseDiff(group, text);
    } catch (error) {
      getLogger().warn("Presence: an unreadable diff was ignored", { error });
      return;
    }
    this.#emit(group, diff);
  }

  #emit(group: string, diff: PresenceDiff): void {
    for (const listener of this.#listeners.get(group) ?? []) {
      try {
        listener(diff);
      } catch (error) {
        getLogger().error("Presence listener threw", { error });
      }
    }
  }

  /** The subscriber reconnected: diffs may have been missed, so every watcher resyncs. */
  #resyncAll(): void {
    for (const group of this.#listeners.keys()) {
      this.#emit(group, { group, joins: {}, leaves: {}, resync: true });
    }
  }

  /** Untracks what this process holds (bounded by the command timeout), then closes its links. */
  async close(): Promise<void> {
    if (this.#closed) return;
    for (const stop of this.#stops) stop();
    await Promise.all([this.#beating?.catch(() => {}), this.#sweeping?.catch(() => {})]);
    const held = [...this.#held].flatMap(([g, refs]) => [...refs].map(([r, h]) => [g, h.key, r]));
    if (held.length) {
      await Promise.all(held.map(([g, k, r]) => this.untrack(g, k, r).catch(() => {})));
    }
    this.#closed = true;
    this.#events.clear();
    this.#listeners.clear();
    this.#unsubscribed.clear();
    this.#onText.clear();
    const links = await Promise.all([this.#commands.opened(), this.#subscriber.opened()]);
    await Promise.all(links.map((l) => l && closeLink(l)));
  }
}

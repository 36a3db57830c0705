/**
 * Redis Cluster support of the Redis layers and job queue: {@linkcode ClusterClient} puts
 * node-redis's cluster client (`createCluster`) behind the {@linkcode RedisClientLike} surface
 * the layers use, so one cluster is one "host" of a layer:
 *
 * - a raw command is routed by its first key (the first of KEYS for `EVAL`/`EVALSHA`): every
 *   script the layers run on a cluster touches keys of one hash slot (hash tags);
 * - `PUBLISH` becomes `SPUBLISH` and `subscribe` / `unsubscribe` become `SSUBSCRIBE` /
 *   `SUNSUBSCRIBE` (sharded pub/sub, Redis 7): a message travels only to the shard that owns its
 *   channel and to the processes subscribed there, not over the whole cluster bus;
 * - the layers' link events (`ready`, `reconnecting`, `error`) are the per-node ones.
 *
 * @module
 */
import { createCluster } from "redis";
import type { RedisClientLike } from "./redis_client.ts";
import { onAbort } from "../../src/abort.ts";

/** Where a Redis Cluster is: seed nodes, and optional node-redis client options of every node. */
export interface RedisClusterOptions {
  /** Seed nodes as `redis://host:port` URLs (any few nodes; the rest is discovered). */
  rootNodes: string[];
  /**
   * node-redis client options every node connection gets (`password`, `username`, `socket.tls`
   * ...). The layer sets `disableOfflineQueue` and its own connect timeout and backoff.
   */
  defaults?: Record<string, unknown>;
  /**
   * Milliseconds a node may keep reconnecting before the topology is read again (a failover
   * moved its slots). Default 1000.
   */
  topologyRefreshMs?: number;
}

/** A layer host that is a Redis Cluster (`{ cluster: { rootNodes } }`). */
export interface ClusterHost {
  /** The cluster. */
  cluster: RedisClusterOptions;
}

/** True when `host` is a {@linkcode ClusterHost}. */
export function isClusterHost(host: unknown): host is ClusterHost {
  return typeof host === "object" && host !== null && "cluster" in host &&
    !("sendCommand" in host);
}

/** Checks cluster options: a non-empty list of redis:// URLs. */
export function assertClusterOptions(options: RedisClusterOptions): void {
  const roots = options?.rootNodes;
  if (!Array.isArray(roots) || roots.length === 0) {
    throw new TypeError("cluster.rootNodes must be a non-empty array of redis:// URLs");
  }
  for (const url of roots) {
    if (typeof url !== "string" || !/^rediss?:\/\//.test(url)) {
      throw new TypeError(`cluster.rootNodes: not a redis:// URL: ${JSON.stringify(url)}`);
    }
  }
}

/** Seed URLs from `REDIS_CLUSTER_URLS`-style text (comma or space separated). */
export function parseClusterUrls(text: string): string[] {
  return text.split(/[\s,]+/).filter(Boolean);
}

/** How long a command answered `TRYAGAIN` (a slot being migrated) is retried, in ms. */
export const TRYAGAIN_LIMIT_MS = 2_000;

/** Commands without a key: sent to any node. */
const KEYLESS = new Set(["PING", "TIME", "INFO", "CLIENT", "SCRIPT", "SCAN", "DBSIZE"]);

/**
 * Node-redis's cluster client (`createCluster(...)`), typed loosely: its generic types are not
 * needed here.
 */
// deno-lint-ignore no-explicit-any
export type NodeRedisCluster = any;

/** Builds the node-redis cluster client of `options`. */
export function makeCluster(
  options: RedisClusterOptions,
  socket: { connectTimeout: number; reconnectStrategy: (retries: number) => number | false },
): NodeRedisCluster {
  const defaults = options.defaults ?? {};
  return createCluster({
    rootNodes: options.rootNodes.map((url) => ({ url })),
    defaults: {
      ...defaults,
      disableOfflineQueue: true,
      socket: { ...(defaults.socket as object ?? {}), ...socket },
    },
    topologyRefreshOnReconnectionAttemptStrategy: options.topologyRefreshMs ?? 1000,
  });
}

/** Link events of the layers and the cluster events that carry them. */
const EVENTS: Record<string, string[]> = {
  ready: ["node-ready"],
  reconnecting: ["node-reconnecting"],
  error: ["error", "node-error"],
  end: ["disconnect"],
};

/**
 * A node-redis cluster client as a {@linkcode RedisClientLike}: raw commands routed by their
 * first key, pub/sub on sharded channels. `duplicate()` opens another cluster client with the
 * same options (its own connections to every node it talks to).
 */
export class ClusterClient implements RedisClientLike {
  /** The node-redis cluster client. */
  readonly cluster: NodeRedisCluster;
  /** Always true: lets code that must differ on a cluster tell. */
  readonly isCluster = true;

  /** Wraps a node-redis cluster client (`createCluster(...)`, connected or not). */
  constructor(cluster: NodeRedisCluster) {
    this.cluster = cluster;
  }

  /** True once the slot map is known and the client is open. */
  get isReady(): boolean {
    return this.cluster.isReady;
  }

  /** True from `connect()` until `close()` / `destroy()`. */
  get isOpen(): boolean {
    return this.cluster.isOpen;
  }

  /** Reads the slot map from a seed node and connects to the masters. */
  connect(): Promise<unknown> {
    return this.cluster.connect();
  }

  /** Another cluster client with the same options (unconnected). */
  duplicate(): ClusterClient {
    return new ClusterClient(this.cluster.duplicate());
  }

  /**
   * Sends a raw command to the master of its first key (any node for keyless ones). `PUBLISH`
   * is sent as `SPUBLISH`.
   */
  sendCommand(args: string[]): Promise<unknown> {
    const name = String(args[0]).toUpperCase();
    let key: string | undefined;
    if (name === "EVAL" || name === "EVALSHA") {
      key = Number(args[2]) > 0 ? args[3] : undefined;
    } else if (name === "PUBLISH") {
      args = ["SPUBLISH", ...args.slice(1)];
      key = args[1];
    } else if (!KEYLESS.has(name)) {
      key = args[1];
    }
    return this.#withTryAgain(() => this.cluster.sendCommand(key, false, args));
  }

  /**
   * Retries a `TRYAGAIN` reply (a multi-key command or script whose slot is being migrated and
   * whose keys are split between the two nodes for a moment): it did not run, so running it
   * again is safe. 10 ms apart, at most {@linkcode TRYAGAIN_LIMIT_MS} in all.
   */
  async #withTryAgain(run: () => Promise<unknown>): Promise<unknown> {
    const deadline = Date.now() + TRYAGAIN_LIMIT_MS;
    for (;;) {
      try {
        return await run();
      } catch (error) {
        const text = String((error as Error)?.message ?? error);
        if (!text.startsWith("TRYAGAIN") || Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  }

  /** Runs `args` on the master of `key`'s slot through that node's own connection. */
  async onNodeOf(key: string, args: string[]): Promise<unknown> {
    const node = await this.cluster.getNodeClientForKey(key, false);
    return node.sendCommand(args);
  }

  /** `host:port` of the master that serves `key`'s slot (as this client knows the slot map). */
  async nodeOf(key: string): Promise<string> {
    const node = await this.cluster.getNodeClientForKey(key, false);
    const socket = node?.options?.socket ?? {};
    return `${socket.host}:${socket.port}`;
  }

  /** The node clients of every master (for SCAN, which works per node). */
  masters(): Promise<RedisClientLike[]> {
    // deno-lint-ignore no-explicit-any
    return Promise.all(this.cluster.masters.map((m: any) => this.cluster.nodeClient(m)));
  }

  /**
   * `SSUBSCRIBE`: the sharded channel's shard sends its messages to `listener`.
   *
   * When the channel's slot moves to another master, Redis ends the subscription and node-redis
   * subscribes again on the new owner; what was published in between is lost. The client then
   * reports it as its link events: `reconnecting`, and `ready` once subscribed again, so the
   * layers treat it as the reconnect it is (the pub/sub layer signals a resync, the job queue
   * looks at the jobs it waits for).
   */
  async subscribe(
    channel: string,
    listener: (message: string, channel: string) => void,
  ): Promise<unknown> {
    const reply = await this.cluster.sSubscribe(channel, listener);
    this.#subscribed.set(channel, listener);
    this.#watchMoves();
    return reply;
  }

  /** `SUNSUBSCRIBE`. */
  unsubscribe(channel: string): Promise<unknown> {
    this.#subscribed.delete(channel);
    return this.cluster.sUnsubscribe(channel);
  }

  readonly #subscribed = new Map<string, (message: string, channel: string) => void>();
  readonly #watched = new WeakSet<object>();
  readonly #linkListeners = {
    reconnecting: new Set<(...a: unknown[]) => void>(),
    ready: new Set<(...a: unknown[]) => void>(),
  };

  /** Listens for moved shard channels on every master's sharded pub/sub connection. */
  #watchMoves(): void {
    // deno-lint-ignore no-explicit-any
    for (const master of this.cluster.masters as any[]) {
      const client = master?.pubSub?.client;
      if (!client || this.#watched.has(client)) continue;
      this.#watched.add(client);
      client.on("sharded-channel-moved", (channel: string) => this.#moved(channel));
    }
  }

  /** Re-subscriptions after a moved shard channel still running (`close()` waits for them). */
  readonly #moving = new Set<Promise<void>>();
  /** Aborted by `close()` / `destroy()`: no retry after it, and a retry's wait ends at once. */
  readonly #closing = new AbortController();

  #moved(channel: string): void {
    const run = this.#resubscribe(channel).finally(() => this.#moving.delete(run));
    this.#moving.add(run);
  }

  async #resubscribe(channel: string): Promise<void> {
    const closing = this.#closing.signal;
    for (const l of this.#linkListeners.reconnecting) l();
    const listener = this.#subscribed.get(channel);
    if (listener) {
      // node-redis subscribes again on the new owner; so does this (idempotent: one listener set).
      for (let i = 0; i < 50 && this.isOpen && !closing.aborted; i++) {
        try {
          await this.cluster.sSubscribe(channel, listener);
          break;
        } catch {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => (stop(), resolve()), 20);
            const stop = onAbort(closing, () => (clearTimeout(timer), resolve()));
          });
        }
      }
      this.#watchMoves();
    }
    if (!closing.aborted) { for (const l of this.#linkListeners.ready) l(); }
  }

  /**
   * Closes every node connection after pending replies, then waits for the re-subscriptions of
   * moved channels still running (they end at once: their commands fail on the closed client).
   */
  async close(): Promise<unknown> {
    this.#closing.abort();
    try {
      return await this.cluster.close();
    } finally {
      await Promise.allSettled([...this.#moving]);
    }
  }

  /** Closes every node connection at once. */
  destroy(): unknown {
    this.#closing.abort();
    return this.cluster.destroy();
  }

  /** Adds a listener of a link event (mapped to the per-node cluster events). */
  // deno-lint-ignore no-explicit-any
  on(event: string, listener: (...args: any[]) => void): unknown {
    for (const e of EVENTS[event] ?? [event]) this.cluster.on(e, listener);
    if (event === "reconnecting" || event === "ready") this.#linkListeners[event].add(listener);
    return this;
  }

  /** Removes a listener added with {@linkcode on}. */
  // deno-lint-ignore no-explicit-any
  off(event: string, listener: (...args: any[]) => void): unknown {
    for (const e of EVENTS[event] ?? [event]) this.cluster.off(e, listener);
    if (event === "reconnecting" || event === "ready") this.#linkListeners[event].delete(listener);
    return this;
  }
}

/** True when `client` (possibly wrapped in a timed client) talks to a Redis Cluster. */
export function isClusterClient(client: unknown): boolean {
  return (client as { isCluster?: boolean })?.isCluster === true;
}

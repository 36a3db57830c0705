/**
 * The part of a node-redis client (`npm:redis` 5.x or 6.x) the Redis layers use, and how they
 * open and close their own links to Redis ({@linkcode RedisLink}: one Redis client connection;
 * "connection" alone means a WebSocket connection elsewhere in Switchboard).
 *
 * Pass a URL and the layer owns every connection it opens. Pass your own client and the layer
 * uses it for commands (it never closes it) and `duplicate()`s it for the subscriber / blocking
 * reader connection, which it does close.
 *
 * @module
 */
import { createClient } from "redis";
import { getLogger, LayerUnavailableError } from "../../src/layers/kit.ts";
import { orderHosts } from "./shard.ts";
import {
  assertClusterOptions,
  ClusterClient,
  type ClusterHost,
  isClusterHost,
  makeCluster,
  type RedisClusterOptions,
} from "./cluster_client.ts";
import {
  DEFAULT_REDIS_TIMEOUTS,
  type RedisTimeouts,
  resolveTimeouts,
  TimedClient,
} from "./timeouts.ts";

export {
  blockingMs,
  DEFAULT_REDIS_TIMEOUTS,
  RedisTimeoutError,
  type RedisTimeouts,
  resolveTimeouts,
} from "./timeouts.ts";

/** What the layers need from a node-redis client. `createClient()` results fit. */
export interface RedisClientLike {
  /** True when connected and ready for commands. */
  readonly isReady: boolean;
  /** True from `connect()` until `close()`/`destroy()`. */
  readonly isOpen: boolean;
  /** Opens the connection. */
  connect(): Promise<unknown>;
  /** A new, unconnected client with the same options. */
  duplicate(): RedisClientLike;
  /** Sends a raw command. */
  sendCommand(args: string[]): Promise<unknown>;
  /** Subscribes to a pub/sub channel. */
  subscribe(
    channel: string,
    listener: (message: string, channel: string) => void,
  ): Promise<unknown>;
  /** Unsubscribes from a pub/sub channel (always called with an explicit name). */
  unsubscribe(channel: string): Promise<unknown>;
  /** Closes after pending replies. */
  close(): Promise<unknown>;
  /** Closes at once. */
  destroy(): unknown;
  /** Adds an event listener (`error`, `ready`, `reconnecting`, `end`). */
  // deno-lint-ignore no-explicit-any
  on(event: string, listener: (...args: any[]) => void): unknown;
  /** Removes an event listener. */
  // deno-lint-ignore no-explicit-any
  off(event: string, listener: (...args: any[]) => void): unknown;
}

/**
 * Where a layer finds Redis: URLs (the layer owns the connections), clients, or a Redis Cluster
 * (`{ cluster: { rootNodes } }`, the layer owns its cluster clients).
 */
export type RedisHost = string | RedisClientLike | ClusterHost;

/** Reconnect backoff of connections the layer opens from URLs. */
export interface BackoffOptions {
  /** First retry delay in ms. Default 50. */
  minDelayMs?: number;
  /** Longest retry delay in ms. Default 2000. */
  maxDelayMs?: number;
}

/**
 * Hosts from layer options: `hosts`, else `url`, else `redis://127.0.0.1:6379`. Several hosts
 * come back sorted by {@linkcode hostIdentity} (not in the order given): shards are chosen by
 * host identity, so processes that list the same hosts in another order still agree.
 */
export function resolveHosts(
  options: { url?: string; hosts?: readonly RedisHost[]; cluster?: RedisClusterOptions },
): RedisHost[] {
  if (options.cluster !== undefined) {
    if (options.url !== undefined || options.hosts !== undefined) {
      throw new TypeError("Pass one of url, hosts or cluster");
    }
    assertClusterOptions(options.cluster);
    return [{ cluster: options.cluster }];
  }
  if (options.hosts !== undefined) {
    if (!Array.isArray(options.hosts) || options.hosts.length === 0) {
      throw new TypeError("hosts must be a non-empty array of Redis URLs or clients");
    }
    if (options.url !== undefined) throw new TypeError("Pass either url or hosts, not both");
    for (const h of options.hosts) {
      if (typeof h !== "string" && (typeof h !== "object" || h === null || !("sendCommand" in h))) {
        throw new TypeError("Each host must be a redis:// URL or a node-redis client");
      }
    }
    return orderHosts(options.hosts);
  }
  return [options.url ?? "redis://127.0.0.1:6379"];
}

/** Checks a key prefix: ASCII letters, digits, `-`, `_`, `.`, 1 to 64 characters. */
export function assertPrefix(prefix: string): void {
  if (typeof prefix !== "string" || !/^[a-zA-Z0-9\-_.]{1,64}$/.test(prefix)) {
    throw new TypeError(
      `prefix must be 1-64 ASCII letters, digits, '-', '_' or '.'; got ${JSON.stringify(prefix)}`,
    );
  }
}

/** One link to Redis (a client connection) the layer uses, whether it owns it. */
export interface RedisLink {
  /** The client. */
  client: RedisClientLike;
  /** True when the layer opened it and must close it. */
  owned: boolean;
  /** Removes the listeners the layer attached. */
  detach(): void;
  /**
   * Resolves when no reconnect delay the layer scheduled is pending any more (node-redis sleeps
   * between attempts with a timer that `destroy()` does not cancel).
   */
  settled(): Promise<void>;
  /** The timeouts this connection applies. */
  timeouts: Required<RedisTimeouts>;
}

/** Listeners a layer attaches to a {@linkcode RedisLink}. */
export interface LinkHooks {
  /** The connection dropped (first `error`/`reconnecting` after being ready). */
  onDown?(reason: string): void;
  /** The connection is ready again after being down. */
  onUp?(): void;
  /**
   * node-redis asked for the delay before its next reconnect attempt of a connection the layer
   * opened from a URL or a cluster (given clients keep their own strategy): `attempt` is how many
   * attempts failed (0: it just dropped, and node-redis tries again at once), `delayMs` the
   * delay. Called once node-redis's synchronous part is over (its 'error' listeners ran and its
   * timer is started).
   */
  onRetry?(attempt: number, delayMs: number): void;
}

/**
 * Opens a {@linkcode RedisLink} for `host`: a new client from a URL (offline queue off, so commands fail
 * at once while Redis is down), or `base.duplicate()` for a client (`duplicate` true), or the
 * client itself. Every connection gets an `error` listener; `label` names it in logs.
 */
export async function openLink(
  host: RedisHost,
  label: string,
  options: {
    duplicate: boolean;
    backoff?: BackoffOptions;
    hooks?: LinkHooks;
    timeouts?: RedisTimeouts;
  },
): Promise<RedisLink> {
  const timeouts = resolveTimeouts(options.timeouts);
  const min = options.backoff?.minDelayMs ?? 50;
  const max = options.backoff?.maxDelayMs ?? 2000;
  let client: RedisClientLike;
  let owned: boolean;
  let retryUntil = 0;
  let detached = false;
  const reconnectStrategy = (retries: number): number | false => {
    // A closed link retries no more. On a cluster this is what stops the client of a node that
    // died and left the topology: node-redis no longer closes it, and it would retry for ever,
    // after the layer's close() too (tests/FLAKES.md item 28).
    if (detached) return false;
    const delay = Math.min(min * 2 ** Math.min(retries, 16), max) +
      Math.floor(Math.random() * min);
    // The latest end of any pending retry: on a cluster every node's client shares this
    // strategy, and a short retry of one must not hide a longer one of another (a closed layer
    // then left the dead node's retry timer behind: tests/FLAKES.md item 28).
    retryUntil = Math.max(retryUntil, Date.now() + delay);
    // node-redis starts its timer after this returns (and after its 'error' listeners ran):
    // measured again once that synchronous part is over, the end is not before the timer's.
    queueMicrotask(() => {
      retryUntil = Math.max(retryUntil, Date.now() + delay);
      options.hooks?.onRetry?.(retries, delay);
    });
    return delay;
  };
  if (typeof host === "string") {
    client = createClient({
      url: host,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: timeouts.connectTimeoutMs,
        reconnectStrategy,
      },
    }) as unknown as RedisClientLike;
    owned = true;
  } else if (isClusterHost(host)) {
    client = new ClusterClient(
      makeCluster(host.cluster, { connectTimeout: timeouts.connectTimeoutMs, reconnectStrategy }),
    );
    owned = true;
  } else if (options.duplicate) {
    client = host.duplicate();
    owned = true;
  } else {
    client = host;
    owned = false;
  }
  let down = false;
  let lastLogged = "";
  const onError = (error: Error) => {
    const text = error?.message ?? String(error);
    if (text !== lastLogged) {
      lastLogged = text;
      getLogger().warn(`Redis ${label}: ${text}`);
    }
    if (!down && client.isOpen) {
      down = true;
      options.hooks?.onDown?.(text);
    }
  };
  const onReconnecting = () => {
    if (!down) {
      down = true;
      options.hooks?.onDown?.("reconnecting");
    }
  };
  const onReady = () => {
    lastLogged = "";
    if (down) {
      down = false;
      options.hooks?.onUp?.();
    }
  };
  client.on("error", onError);
  client.on("reconnecting", onReconnecting);
  client.on("ready", onReady);
  const detach = () => {
    detached = true;
    client.off("reconnecting", onReconnecting);
    client.off("ready", onReady);
    // The error listener stays: an unhandled 'error' event would kill the process.
  };
  const settled = async () => {
    if (retryUntil === 0) return; // no reconnect delay was ever scheduled
    // Wait with a timer due after node-redis's: timers fire in deadline order, and on a busy
    // event loop a timer whose time has passed is still pending until the loop reaches it, so
    // this waits even when `retryUntil` is behind us.
    const wait = Math.max(0, retryUntil - Date.now());
    await new Promise((r) => setTimeout(r, wait + 5));
  };
  if (owned || !client.isOpen) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // node-redis retries a refused connection forever and a paused server never answers the
      // handshake: either would make connect() wait as long as the outage.
      const connecting = client.connect();
      connecting.catch(() => {});
      await Promise.race([
        connecting,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`not ready within ${timeouts.connectTimeoutMs} ms`)),
            timeouts.connectTimeoutMs,
          );
        }),
      ]);
    } catch (error) {
      clearTimeout(timer);
      detach();
      if (owned) {
        await closeClient(client, timeouts.commandTimeoutMs);
        await settled();
      }
      throw new LayerUnavailableError(`Cannot connect to Redis (${label}): ${error}`, {
        cause: error,
      });
    }
    clearTimeout(timer);
  }
  const timed = new TimedClient(client, label, timeouts.commandTimeoutMs);
  return { client: timed, owned, detach, settled, timeouts };
}

/** Detaches and closes a link the layer owns, then waits for its reconnect timer. */
export async function closeLink(conn: RedisLink): Promise<void> {
  conn.detach();
  if (!conn.owned) {
    if (conn.client instanceof TimedClient) conn.client.stop(); // the owner closes the client
    return;
  }
  await closeClient(conn.client, conn.timeouts.commandTimeoutMs);
  await conn.settled();
}

/**
 * A link opened on first need and shared by every caller; an open that fails is forgotten, so
 * the next caller tries again.
 */
export class LazyLink {
  readonly #open: () => Promise<RedisLink>;
  #link: Promise<RedisLink> | undefined;

  /** `open` runs on the first {@linkcode get} (and again after it failed). */
  constructor(open: () => Promise<RedisLink>) {
    this.#open = open;
  }

  /** The link, opening it when needed. */
  get(): Promise<RedisLink> {
    if (!this.#link) {
      const link = this.#open();
      this.#link = link;
      link.catch(() => {
        if (this.#link === link) this.#link = undefined;
      });
    }
    return this.#link;
  }

  /** The link when one opened (after an open in flight settles), else undefined. */
  opened(): Promise<RedisLink | undefined> {
    return this.#link?.catch(() => undefined) ?? Promise.resolve(undefined);
  }
}

/**
 * Closes a client: `close()` when it is ready (bounded by `timeoutMs`), `destroy()` otherwise,
 * when close fails or when it takes too long.
 */
export async function closeClient(
  client: RedisClientLike,
  timeoutMs: number = DEFAULT_REDIS_TIMEOUTS.commandTimeoutMs,
): Promise<void> {
  if (!client.isOpen) return;
  if (client.isReady) {
    // close() waits for pending replies: bounded, since a paused server never sends them.
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const closing = client.close();
      closing.catch(() => {});
      const ok = await Promise.race([
        closing.then(() => true),
        new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), timeoutMs)),
      ]);
      if (ok) return;
    } catch {
      // fall through to destroy
    } finally {
      clearTimeout(timer);
    }
  }
  try {
    client.destroy();
  } catch {
    // already closed
  }
}

/**
 * Waits for every promise to settle, then throws the first rejection (unlike `Promise.all`,
 * nothing is left running when one fails: connecting to several hosts cleans up after all).
 */
export async function allSettledOrThrow<T>(promises: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** Wraps a command failure in {@linkcode LayerUnavailableError}. */
export function unavailable(what: string, error: unknown): LayerUnavailableError {
  if (error instanceof LayerUnavailableError) return error;
  return new LayerUnavailableError(
    `${what} failed: Redis is unavailable (${(error as Error)?.message ?? error})`,
    { cause: error },
  );
}

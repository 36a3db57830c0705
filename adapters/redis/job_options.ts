/**
 * The options of {@linkcode RedisJobQueue} and their checks: which Redis (a URL, a client or a
 * cluster), the queue's name and key prefix, result keeping, tries and the result re-check period.
 *
 * @module
 */
import type { BackoffOptions, RedisClientLike, RedisHost } from "./redis_client.ts";
import { assertClusterOptions, type RedisClusterOptions } from "./cluster_client.ts";

/** Options of {@linkcode RedisJobQueue}. */
export interface RedisJobQueueOptions {
  /** Redis URL; the queue owns its connections. Default `redis://127.0.0.1:6379`. */
  url?: string;
  /**
   * A node-redis client to use for commands instead of `url` (never closed by the queue). The
   * queue `duplicate()`s it for the pub/sub and blocking connections, which it closes. Create it
   * with `disableOfflineQueue: true` so commands fail fast while Redis is away.
   */
  client?: RedisClientLike;
  /**
   * A Redis Cluster instead of `url` / `client`. Every key of the queue then carries one hash
   * tag (the default prefix is `switchboard:jobs:{<queueName>}`; a `prefix` given must contain
   * a `{tag}`), so each script touches one slot; results travel over sharded pub/sub.
   */
  cluster?: RedisClusterOptions;
  /** The queue's name. Default `"default"`. */
  queueName?: string;
  /**
   * Key prefix. Default `switchboard:jobs:<queueName>`. On Redis Cluster, include a hash tag
   * (`{jobs:default}`) so every key of the queue is in one slot.
   */
  prefix?: string;
  /** How long finished jobs (and their results) are kept, in ms. Default 3,600,000 (1 hour). */
  keepResultMs?: number;
  /** `maxTries` of jobs enqueued without one. Default 3. */
  defaultMaxTries?: number;
  /** Reconnect backoff of connections opened from `url`. */
  backoff?: BackoffOptions;
  /**
   * While `result()` waits, how often each waited job is looked at again (besides after every
   * reconnect), in ms: finds jobs whose data vanished without a reconnect and keeps the waiter
   * registration alive. Default 30,000.
   */
  resultRecheckMs?: number;
}

/** {@linkcode RedisJobQueueOptions} checked, with their defaults. */
export interface ResolvedQueueOptions {
  /** Where the queue's Redis is. */
  host: RedisHost;
  /** The key prefix. */
  prefix: string;
  /** How long finished jobs are kept, in ms. */
  keepResultMs: number;
  /** `maxTries` of jobs enqueued without one. */
  defaultMaxTries: number;
  /** The result re-check period, in ms. */
  recheckMs: number;
}

/** Checks `options` (a `TypeError` says what is wrong) and fills in the defaults. */
export function resolveQueueOptions(options: RedisJobQueueOptions): ResolvedQueueOptions {
  const given = [options.url, options.client, options.cluster].filter((o) => o !== undefined);
  if (given.length > 1) throw new TypeError("Pass one of url, client or cluster");
  if (options.cluster !== undefined) assertClusterOptions(options.cluster);
  const host: RedisHost = options.cluster !== undefined
    ? { cluster: options.cluster }
    : options.client ?? options.url ?? "redis://127.0.0.1:6379";
  const queueName = options.queueName ?? "default";
  if (!/^[A-Za-z0-9_.\-]{1,64}$/.test(queueName)) {
    throw new TypeError("queueName must be 1-64 ASCII letters, digits, '-', '_' or '.'");
  }
  const prefix = options.prefix ??
    (options.cluster ? `switchboard:jobs:{${queueName}}` : `switchboard:jobs:${queueName}`);
  if (typeof prefix !== "string" || !/^\S{1,200}$/.test(prefix)) {
    throw new TypeError("prefix must be 1-200 characters without whitespace");
  }
  if (options.cluster && !/\{[^}]+\}/.test(prefix)) {
    throw new TypeError(
      "On Redis Cluster the prefix needs a hash tag ({tag}) so every key of the queue shares a slot",
    );
  }
  const keepResultMs = Math.max(0, Math.round(options.keepResultMs ?? 3_600_000));
  const defaultMaxTries = options.defaultMaxTries ?? 3;
  if (!Number.isInteger(defaultMaxTries) || defaultMaxTries < 1) {
    throw new TypeError("defaultMaxTries must be a positive integer");
  }
  const recheckMs = options.resultRecheckMs ?? 30_000;
  if (typeof recheckMs !== "number" || !(recheckMs >= 10)) {
    throw new TypeError("resultRecheckMs must be a number of ms >= 10");
  }
  return { host, prefix, keepResultMs, defaultMaxTries, recheckMs };
}

/**
 * Channel layers of the tutorial app, by alias: in memory by default, on Redis when REDIS_URL is
 * set (the pub/sub layer for chat and notifications, the queue layer for reliable chat and
 * analytics), on a Redis Cluster when REDIS_CLUSTER_URLS is (the same layers, cluster-aware), on
 * NATS when NATS_URL is set (it wins over REDIS_URL; see nats_layers.ts; the jobs follow).
 * SWITCHBOARD_PREFIX namespaces every Redis key and channel, and every NATS subject (tests set a
 * unique one).
 */
import { InMemoryChannelLayer } from "../../adapters/memory/mod.ts";
import { RedisPubSubChannelLayer, RedisQueueChannelLayer } from "../../adapters/redis/mod.ts";
import { layers } from "../../mod.ts";
import { natsServers, redisTarget } from "./settings.ts";
import { setupNatsLayers } from "./nats_layers.ts";

/** The aliases the tutorial consumers use. */
export const LAYER_ALIASES = ["chat", "queue", "notifications", "analytics"] as const;

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Where the tutorial's layers live: `"nats"` when NATS_URL is set, else `"redis"` when REDIS_URL
 * is set, `"redis-cluster"` when REDIS_CLUSTER_URLS is, else `"memory"`.
 */
export function layerBackend(): "nats" | "redis" | "redis-cluster" | "memory" {
  if (natsServers()) return "nats";
  const target = redisTarget();
  return !target ? "memory" : "cluster" in target ? "redis-cluster" : "redis";
}

let givenPrefix: string | undefined;

/** The namespace of the tutorial's Redis keys: `setupLayers`' `prefix`, SWITCHBOARD_PREFIX, `tutorial`. */
export function redisPrefix(): string {
  return givenPrefix ?? env("SWITCHBOARD_PREFIX") ?? "tutorial";
}

/**
 * Registers every tutorial layer (idempotent unless `force`); `prefix` namespaces the Redis ones
 * and the job queue (default: SWITCHBOARD_PREFIX, else `tutorial`).
 */
export function setupLayers(options: { force?: boolean; prefix?: string } = {}): void {
  if (options.prefix !== undefined) givenPrefix = options.prefix;
  if (!options.force && LAYER_ALIASES.every((a) => layers.has(a))) return;
  const nats = natsServers(); // throws a SettingsError for a URL without its scheme
  if (nats) return setupNatsLayers(nats, redisPrefix());
  const url = redisTarget(); // throws a SettingsError for a URL without its scheme
  if (!url) {
    layers.register("chat", () => new InMemoryChannelLayer());
    layers.register("queue", () => new InMemoryChannelLayer({ expiry: 900, capacity: 1000 }));
    layers.register("notifications", () => new InMemoryChannelLayer());
    layers.register("analytics", () => new InMemoryChannelLayer({ expiry: 3600, capacity: 5000 }));
    return;
  }
  const prefix = redisPrefix();
  layers.register("chat", () => new RedisPubSubChannelLayer({ ...url, prefix: `${prefix}.chat` }));
  layers.register(
    "queue",
    () =>
      new RedisQueueChannelLayer({
        ...url,
        prefix: `${prefix}.queue`,
        expiry: 900,
        capacity: 1000,
      }),
  );
  layers.register(
    "notifications",
    () => new RedisPubSubChannelLayer({ ...url, prefix: `${prefix}.notify` }),
  );
  layers.register(
    "analytics",
    () =>
      new RedisQueueChannelLayer({
        ...url,
        prefix: `${prefix}.analytics`,
        expiry: 3600,
        capacity: 5000,
      }),
  );
}

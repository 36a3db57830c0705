/**
 * Channel layers of the tutorial app, by alias: in memory by default, on Redis when REDIS_URL is
 * set (the pub/sub layer for chat and notifications, the queue layer for reliable chat and
 * analytics). SWITCHBOARD_PREFIX namespaces every Redis key and channel (tests set a unique one).
 */
import { InMemoryChannelLayer } from "../../adapters/memory/mod.ts";
import { RedisPubSubChannelLayer, RedisQueueChannelLayer } from "../../adapters/redis/mod.ts";
import { layers } from "../../mod.ts";
import { redisUrl } from "./settings.ts";

/** The aliases the tutorial consumers use. */
export const LAYER_ALIASES = ["chat", "queue", "notifications", "analytics"] as const;

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

/** Where the tutorial's layers live: `"redis"` when REDIS_URL is set, else `"memory"`. */
export function layerBackend(): "redis" | "memory" {
  return redisUrl() ? "redis" : "memory";
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
  const url = redisUrl(); // throws a SettingsError for a URL without its scheme
  if (!url) {
    layers.register("chat", () => new InMemoryChannelLayer());
    layers.register("queue", () => new InMemoryChannelLayer({ expiry: 900, capacity: 1000 }));
    layers.register("notifications", () => new InMemoryChannelLayer());
    layers.register("analytics", () => new InMemoryChannelLayer({ expiry: 3600, capacity: 5000 }));
    return;
  }
  const prefix = redisPrefix();
  layers.register("chat", () => new RedisPubSubChannelLayer({ url, prefix: `${prefix}.chat` }));
  layers.register(
    "queue",
    () =>
      new RedisQueueChannelLayer({ url, prefix: `${prefix}.queue`, expiry: 900, capacity: 1000 }),
  );
  layers.register(
    "notifications",
    () => new RedisPubSubChannelLayer({ url, prefix: `${prefix}.notify` }),
  );
  layers.register(
    "analytics",
    () =>
      new RedisQueueChannelLayer({
        url,
        prefix: `${prefix}.analytics`,
        expiry: 3600,
        capacity: 5000,
      }),
  );
}

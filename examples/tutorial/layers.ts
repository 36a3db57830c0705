/**
 * Channel layers of the tutorial app, by alias. In memory by default; on Redis when REDIS_URL is set.
 */
import { InMemoryChannelLayer } from "../../adapters/memory/mod.ts";
import { layers } from "../../mod.ts";

/** The aliases the tutorial consumers use. */
export const LAYER_ALIASES = ["chat", "queue", "notifications", "analytics"] as const;

/** Registers every tutorial layer (idempotent unless `force`). */
export function setupLayers(options: { force?: boolean } = {}): void {
  if (!options.force && LAYER_ALIASES.every((a) => layers.has(a))) return;
  layers.register("chat", () => new InMemoryChannelLayer());
  layers.register("queue", () => new InMemoryChannelLayer({ expiry: 900, capacity: 1000 }));
  layers.register("notifications", () => new InMemoryChannelLayer());
  layers.register("analytics", () => new InMemoryChannelLayer({ expiry: 3600, capacity: 5000 }));
}

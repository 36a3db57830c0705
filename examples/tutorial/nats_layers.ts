/**
 * The tutorial's layers on NATS (NATS_URL): every alias on a {@linkcode NatsChannelLayer} of its
 * own subject prefix. NATS has no queue layer here: "queue" (reliable chat) and "analytics" get
 * the same at-most-once delivery as chat, with larger local mailboxes and longer expiry, and a
 * resync notice after an outage (docs/scaling.md compares the engines).
 */
import { NatsChannelLayer } from "../../adapters/nats/mod.ts";
import { layers } from "../../mod.ts";

/** Registers the four tutorial aliases on the NATS `servers`, under subjects `<prefix>.<alias>`. */
export function setupNatsLayers(servers: string[], prefix: string): void {
  const on = (name: string, options: { expiry?: number; capacity?: number } = {}) => () =>
    new NatsChannelLayer({ servers, prefix: `${prefix}.${name}`, ...options });
  layers.register("chat", on("chat"));
  layers.register("queue", on("queue", { expiry: 900, capacity: 1000 }));
  layers.register("notifications", on("notify"));
  layers.register("analytics", on("analytics", { expiry: 3600, capacity: 5000 }));
}

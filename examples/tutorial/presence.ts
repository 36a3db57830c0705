/**
 * The tutorial's presence backend (who is online in the room chat), matching its layers: on one
 * Redis (`REDIS_URL`) a `RedisPresence`, on a Redis Cluster (`REDIS_CLUSTER_URLS`) the same
 * backend with `cluster`, on NATS (`NATS_URL`) a `NatsPresence` (JetStream KV), else the
 * default in-memory one (one process). Called by the process entry (`main.ts`), not by the app
 * module: the tests keep the in-memory default unless they register another.
 */
import { presenceBackends } from "../../mod.ts";
import { RedisPresence } from "../../adapters/redis/mod.ts";
import { natsServers, redisTarget } from "./settings.ts";
import { redisPrefix } from "./layers.ts";

/** Registers the `default` presence backend; returns which one (`"memory"` when none is set). */
export async function setupPresence(): Promise<"nats" | "redis" | "redis-cluster" | "memory"> {
  const servers = natsServers();
  if (servers) {
    const { NatsPresence } = await import("../../adapters/nats/mod.ts");
    presenceBackends.register("default", new NatsPresence({ servers, prefix: redisPrefix() }));
    return "nats";
  }
  const target = redisTarget();
  if (!target) return "memory";
  presenceBackends.register("default", new RedisPresence({ ...target, prefix: redisPrefix() }));
  return "cluster" in target ? "redis-cluster" : "redis";
}

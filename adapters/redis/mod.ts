/**
 * Redis channel layers for Switchboard: {@linkcode RedisPubSubChannelLayer} (low latency, no
 * persistence; tells consumers to resync after an outage) and {@linkcode RedisQueueChannelLayer}
 * (sorted-set queues with capacity and expiry). Both shard names over several hosts with
 * {@linkcode consistentHash}, serialize as JSON (optionally AES-GCM encrypted) and release every
 * connection on `close()`.
 *
 * {@linkcode RedisJobQueue} is the background job queue on Redis (run its jobs with `Worker`).
 *
 * All three run on a Redis Cluster too (`{ cluster: { rootNodes: [...] } }`, see
 * {@linkcode RedisClusterOptions}): sharded pub/sub, hash-tagged keys (docs/scaling.md).
 *
 * ```ts ignore
 * import { layers } from "@switchboard/switchboard";
 * import { RedisPubSubChannelLayer } from "@switchboard/switchboard/adapters/redis";
 *
 * layers.register("default", new RedisPubSubChannelLayer({ url: "redis://127.0.0.1:6379" }));
 * ```
 *
 * @module
 */
export { RedisPubSubChannelLayer, type RedisPubSubChannelLayerOptions } from "./pubsub_layer.ts";
export { RedisQueueChannelLayer, type RedisQueueChannelLayerOptions } from "./queue_layer.ts";
export { RedisJobQueue, type RedisJobQueueOptions } from "./job_queue.ts";
export type { RedisJobQueueConnection, RedisJobQueueEvent } from "./job_events.ts";
export { ForeignChannelError } from "../../src/layers/kit.ts";
export {
  ClusterClient,
  type ClusterHost,
  type NodeRedisCluster,
  parseClusterUrls,
  type RedisClusterOptions,
} from "./cluster_client.ts";
export type { DropListener, DropReason } from "../../src/layers/mailbox.ts";
export {
  type BackoffOptions,
  DEFAULT_REDIS_TIMEOUTS,
  type RedisClientLike,
  type RedisHost,
  RedisTimeoutError,
  type RedisTimeouts,
} from "./redis_client.ts";
export {
  deriveKey,
  ENCRYPTED_PREFIX,
  encryptedSerializer,
  jsonSerializer,
  makeSerializer,
  type MessageSerializer,
} from "../../src/layers/kit.ts";
export { consistentHash, crc32, hostIdentity } from "./shard.ts";
export { RedisPresence, type RedisPresenceOptions } from "./presence.ts";

/**
 * NATS for Switchboard: {@linkcode NatsChannelLayer}, the channel layer on core NATS subjects
 * (a process subscribes only to the groups it has members in; low latency, no persistence; tells
 * consumers to resync after an outage). Messages are JSON, optionally AES-GCM encrypted (the same
 * serializer as the Redis layers); every connection it opens is released on `close()`.
 *
 * {@linkcode NatsJobQueue} is the background job queue on JetStream (a KV bucket for the jobs, a
 * work-queue stream for the ready ones; run its jobs with `Worker`). {@linkcode NatsPresence} is
 * the presence backend on a JetStream KV bucket (docs/presence.md).
 *
 * ```ts ignore
 * import { layers } from "@switchboard/switchboard";
 * import { NatsChannelLayer } from "@switchboard/switchboard/adapters/nats";
 *
 * layers.register("default", new NatsChannelLayer({ servers: "nats://127.0.0.1:4222" }));
 * ```
 *
 * @module
 */
export { NatsChannelLayer, type NatsChannelLayerOptions } from "./layer.ts";
export { NatsJobQueue, type NatsJobQueueOptions } from "./job_queue.ts";
export type { NatsJobQueueEvent } from "./job_events.ts";
export { NatsPresence, type NatsPresenceOptions } from "./presence.ts";
export { ForeignChannelError, MessageTooLargeError } from "./errors.ts";
export {
  DEFAULT_NATS_TIMEOUTS,
  type NatsBackoffOptions,
  type NatsConnectionLike,
  type NatsSubscriptionLike,
  NatsTimeoutError,
  type NatsTimeouts,
} from "./link.ts";
export type { DropListener, DropReason } from "../../src/layers/mailbox.ts";

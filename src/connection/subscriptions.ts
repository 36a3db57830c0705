/**
 * The topic subscriptions of one connection: subscribe (limit, pattern match, `authorize`, the
 * topic's layer group, `onSubscribe`), end (`onUnsubscribe` exactly once, leave the group), and
 * the topic refusals a client gets as `{reason, detail}` error frames.
 *
 * @module
 */
import type { Consumer, ConsumerClass } from "../consumer/consumer.ts";
import { type HandlerTable, handlerTable } from "../consumer/handlers.ts";
import { type Topic, TOPIC_BINDING, type TopicClass } from "../consumer/topic.ts";
import { getLogger } from "../logger.ts";
import { TopicAction } from "../protocol/builtins.ts";
import type { Envelope } from "../protocol/envelope.ts";
import { ErrorReason, reasonFrame } from "../protocol/error_frames.ts";
import { truncateForEcho } from "../protocol/truncate.ts";
import { topicSubscribed, topicUnsubscribed } from "../presence/topic_presence.ts";
import type { LayerLoop } from "./layer_loop.ts";
import type { Outbox } from "./outbox.ts";
import type { StreamHooks } from "./recovery.ts";

/** Where a frame's or event's handler runs: the consumer itself or one of its subscriptions. */
export interface Target {
  /** The consumer or topic instance. */
  readonly instance: object;
  /** Its handler table. */
  readonly table: HandlerTable;
  /** Its class name (logs). */
  readonly name: string;
}

/** One topic subscription: a topic instance and the layer group its broadcasts arrive on. */
export interface Subscription extends Target {
  /** The topic class. */
  readonly cls: TopicClass;
  /** The topic instance. */
  readonly instance: Topic;
  /** The layer group of the topic. */
  readonly group: string;
}

/** The layer side subscriptions use (the connection's {@linkcode LayerLoop}). */
export type SubscriptionLayer = Pick<
  LayerLoop,
  "channelName" | "layer" | "requireLayer" | "closed"
>;

const NONE: ReadonlyMap<string, Subscription> = new Map();

/** The subscriptions of a connection that never subscribed (layer messages look topics up). */
export const NO_SUBSCRIPTIONS: Pick<Subscriptions, "get"> = { get: () => undefined };

/** The subscriptions of one connection, at most `max`. */
export class Subscriptions {
  /** Made at the first subscription: a Map reserves its table when made, idle or not. */
  #subs: Map<string, Subscription> | undefined;

  get #map(): ReadonlyMap<string, Subscription> {
    return this.#subs ?? NONE;
  }

  constructor(
    readonly consumer: Consumer,
    readonly cls: ConsumerClass,
    readonly outbox: Pick<Outbox, "write">,
    readonly layer: SubscriptionLayer,
    readonly max: number,
    readonly streams?: StreamHooks,
  ) {}

  /** The subscribed topics. */
  get topics(): string[] {
    return [...this.#map.keys()];
  }

  /** The subscription to `topic`, if any. */
  get(topic: string): Subscription | undefined {
    return this.#map.get(topic);
  }

  /** The subscription a topic frame goes to; without one, answers `not_subscribed`. */
  require(topic: string, envelope: Envelope): Subscription | undefined {
    const sub = this.#map.get(topic);
    if (!sub) {
      this.#refuse(
        ErrorReason.notSubscribed,
        `Not subscribed to '${truncateForEcho(topic)}'`,
        envelope,
      );
    }
    return sub;
  }

  #refuse(reason: string, detail: string, envelope: Envelope): void {
    getLogger().warn("Topic error", {
      consumer: this.cls.name,
      reason,
      topic: envelope.topic === undefined ? undefined : truncateForEcho(envelope.topic),
    });
    this.outbox.write(reasonFrame(reason, detail), envelope);
  }

  /** Subscribes to `topic` (answers `subscribed`, or a refusal); idempotent. */
  async subscribe(topic: string, envelope: Envelope): Promise<void> {
    const replyEnvelope = { ...envelope, topic };
    if (this.#map.has(topic)) {
      this.outbox.write({ action: TopicAction.subscribed, payload: null }, replyEnvelope);
      return;
    }
    if (this.#map.size >= this.max) {
      return this.#refuse(
        ErrorReason.tooManySubscriptions,
        `Too many subscriptions: the limit is ${this.max} per connection; unsubscribe first`,
        replyEnvelope,
      );
    }
    let cls: TopicClass | undefined;
    let params: Record<string, string> | undefined;
    for (const t of this.cls.topics) {
      params = t.parse(topic);
      if (params) {
        cls = t;
        break;
      }
    }
    if (!cls || !params) {
      return this.#refuse(
        ErrorReason.unknownTopic,
        `Unknown topic '${truncateForEcho(topic)}'`,
        replyEnvelope,
      );
    }
    const instance = new cls();
    instance.topic = topic;
    instance.params = Object.freeze(params);
    instance[TOPIC_BINDING] = {
      consumer: this.consumer,
      send: (message, env) => this.outbox.write(message, env),
    };
    let allowed = false;
    try {
      allowed = Boolean(await instance.authorize(instance.params));
    } catch (error) {
      getLogger().error(`${cls.name}.authorize failed`, { error, topic: truncateForEcho(topic) });
    }
    if (!allowed) {
      return this.#refuse(
        ErrorReason.unauthorized,
        `Not allowed to subscribe to '${truncateForEcho(topic)}'`,
        replyEnvelope,
      );
    }
    // The disconnect walks the subscriptions once: one that would be added after it has begun
    // (closed while `authorize` or `groupAdd` was awaited) is never made, or is left at once.
    if (this.layer.closed) return;
    const group = cls.groupName(topic);
    const layer = this.layer.requireLayer("subscribe");
    const channel = this.layer.channelName;
    const streams = this.streams;
    const stream = cls.history && streams?.open(group, topic, cls.history);
    try {
      await layer.groupAdd(group, channel);
    } catch (error) {
      if (stream) streams!.close(group);
      throw error;
    }
    if (this.layer.closed) {
      if (stream) streams!.close(group);
      return void await layer.groupDiscard(group, channel).catch((error) =>
        getLogger().warn(`Could not leave group ${group}`, { error })
      );
    }
    (this.#subs ??= new Map()).set(topic, {
      cls,
      instance,
      table: handlerTable(cls),
      name: cls.name,
      group,
    });
    if (stream) await streams!.joined(group);
    this.outbox.write({ action: TopicAction.subscribed, payload: null }, replyEnvelope);
    if (cls.presence) await topicSubscribed(instance, cls.presence, group); // opt-in presence
    try {
      await instance.onSubscribe();
    } catch (error) {
      getLogger().error(`${cls.name}.onSubscribe failed`, { error, topic: truncateForEcho(topic) });
    }
  }

  /** Ends a subscription (onUnsubscribe exactly once, then leave its group). No-op if absent. */
  async end(topic: string): Promise<void> {
    const sub = this.#map.get(topic);
    if (!sub) return;
    this.#subs!.delete(topic);
    this.streams?.close(sub.group);
    try {
      await sub.instance.onUnsubscribe();
    } catch (error) {
      getLogger().error(`${sub.cls.name}.onUnsubscribe failed`, {
        error,
        topic: truncateForEcho(topic),
      });
    }
    const presence = topicUnsubscribed(sub.instance); // undefined without presence
    if (presence) await presence;
    await this.layer.layer?.groupDiscard(sub.group, this.layer.channelName).catch((error) =>
      getLogger().warn(`Could not leave group ${sub.group}`, { error })
    );
  }
}

/**
 * Topics: many subscribable streams over one socket. A Topic class has a pattern
 * (`room:{roomName}`), handlers (the same decorators as consumers), `authorize`, lifecycle hooks
 * and a static `broadcast`. A consumer mounts topics with `static topics = [RoomTopic]`; a topic can
 * also be served alone with `RoomTopic.asConsumer()`.
 *
 * @module
 */
import { Consumer, type ConsumerClass } from "./consumer.ts";
import { compileTopicPattern, matchPattern, type Pattern } from "../app/pattern.ts";
import { DefinitionError, SwitchboardError } from "../errors.ts";
import { safeGroupName } from "../layers/group_names.ts";
import type { JsonValue } from "../layers/layer.ts";
import { type HistoryOptions, sendToGroup } from "../layers/history.ts";
import { DEFAULT_LAYER, layers } from "../layers/registry.ts";
import type { AnyMessage, AnyMessageType } from "../protocol/message.ts";
import { TOPIC_TYPE } from "../layers/messages.ts";
import type { Envelope } from "../protocol/envelope.ts";
import type { PresenceOptions } from "../presence/options.ts";
import type { PresenceRequestPayload } from "../presence/frames.ts";
import { topicPresenceRequest } from "../presence/topic_presence.ts";

/** What a topic instance reaches its host connection through. Internal: subscriptions set it. */
export interface TopicBinding {
  readonly consumer: Consumer;
  send(message: AnyMessage, envelope: Envelope): void;
}

/** Internal key of the {@linkcode TopicBinding} on a topic instance. */
export const TOPIC_BINDING: unique symbol = Symbol("switchboard.topicBinding");

/** Any topic class. */
// deno-lint-ignore no-explicit-any
export type TopicClass<T extends Topic<any> = Topic<any>> =
  & (new () => T)
  & Omit<typeof Topic, "prototype">;

/** Options of {@linkcode Topic.broadcast}. */
export interface TopicBroadcastOptions {
  /** A sequence number for the subscribers' gap detection. */
  seq?: number;
}

const compiled = new WeakMap<object, Pattern>();

/** The compiled pattern of a topic class (cached); throws when the class has none. */
function compile(cls: TopicClass): Pattern {
  let c = compiled.get(cls);
  if (c) return c;
  if (!cls.pattern) {
    throw new DefinitionError(`${cls.name} has no static pattern (e.g. "room:{roomName}")`);
  }
  c = compileTopicPattern(cls.pattern);
  compiled.set(cls, c);
  return c;
}

/**
 * The base class of topics. `Events` types the static {@linkcode Topic.broadcast}.
 *
 * ```ts
 * class RoomTopic extends Topic<MessageOf<typeof RoomEvent>> {
 *   static override pattern = "room:{roomName}";
 *   static override layer = "chat";
 *   static override passthroughEvents = [RoomEvent];
 *   @wsHandler(Post) async handlePost(m: MessageOf<typeof Post>) {
 *     await RoomTopic.broadcast(this.topic, RoomEvent.create(m.payload));
 *   }
 * }
 * ```
 */
export class Topic<Events extends AnyMessage = AnyMessage> {
  /** The topic pattern with `{param}` placeholders (a param never spans `:`). */
  static pattern: string = "";
  /** The layer alias broadcasts use; it must be the host consumer's layer. Default `"default"`. */
  static layer: string | undefined = undefined;
  /** Events forwarded to subscribers unchanged; merged across the class chain. */
  static passthroughEvents: readonly AnyMessageType[] = [];
  /**
   * Message types sent to clients outside handler replies (`broadcastMessage`, group sends,
   * pushes): typed clients receive them; `checkClientApi` checks each is a declared `output`.
   * Merged across the class chain, like `passthroughEvents`: a subclass's list adds to its
   * parent's. The typed client sees the type of the most-derived declaration (as for
   * `passthroughEvents`).
   */
  static broadcasts: readonly AnyMessageType[] = [];
  /**
   * Presence (opt-in): each subscription is tracked in the topic's group under `key(topic)`,
   * with `presence_diff` frames stamped with the topic when `diffs`. See docs/presence.md.
   */
  static presence: PresenceOptions | undefined = undefined;

  /**
   * Opt-in history of this topic (`{size: 1000, ttlMs: 300_000}`): every `broadcast` is kept in a
   * bounded per-topic history, its frames carry their `position`, and a client that reconnects
   * gets what it missed (docs/recovery.md). Default: none.
   */
  static history: HistoryOptions | undefined = undefined;

  /** Phantom field carrying the `Events` type. Never set. */
  declare readonly "~events"?: Events;
  /** @internal */
  [TOPIC_BINDING]?: TopicBinding;
  /** The subscribed topic, e.g. `room:lobby`. */
  topic: string = "";
  /** The topic's parameters, e.g. `{roomName: "lobby"}`. */
  params: Readonly<Record<string, string>> = {};

  /** The host consumer (the connection this subscription belongs to). */
  get consumer(): Consumer {
    const binding = this[TOPIC_BINDING];
    if (!binding) throw new SwitchboardError(`${this.constructor.name} is not subscribed`);
    return binding.consumer;
  }

  /** Decides whether the connection may subscribe. Default: yes. */
  authorize(_params: Readonly<Record<string, string>>): boolean | Promise<boolean> {
    return true;
  }

  /** Runs after the subscription is made (pushes from here carry no `ref`). */
  onSubscribe(): void | Promise<void> {}

  /** Runs exactly once when the subscription ends: unsubscribe or disconnect. */
  onUnsubscribe(): void | Promise<void> {}

  /** @internal The built-in `presence` request (topic classes with `static presence`). */
  "~presence"(message: { payload: PresenceRequestPayload }): Promise<AnyMessage> {
    const cls = this.constructor as typeof Topic;
    return topicPresenceRequest(this, cls.presence, message.payload);
  }

  /** Sends a message to this subscriber, stamped with the topic. */
  sendMessage(message: AnyMessage): Promise<void> {
    const binding = this[TOPIC_BINDING];
    if (!binding) {
      return Promise.reject(new SwitchboardError(`${this.constructor.name} is not subscribed`));
    }
    binding.send(message, { topic: this.topic });
    return Promise.resolve();
  }

  /** The params of `topic` if it matches this class's pattern (linear in the topic's length). */
  static parse(topic: string): Record<string, string> | undefined {
    return matchPattern(compile(this as unknown as TopicClass), topic);
  }

  /** The topic string for `params` (`{roomName: "lobby"}` → `room:lobby`). */
  static format(params: Readonly<Record<string, string>>): string {
    const { names } = compile(this as unknown as TopicClass);
    const missing = names.filter((n) => params[n] === undefined);
    if (missing.length) {
      throw new DefinitionError(
        `${this.name}: pattern '${this.pattern}' needs parameters ${JSON.stringify(missing)}`,
      );
    }
    return this.pattern.replace(/\{(\w+)\}/g, (_m, n: string) => params[n]);
  }

  /** The parameter names of the pattern. */
  static paramNames(): readonly string[] {
    return compile(this as unknown as TopicClass).names;
  }

  /** The layer group of a topic (`RoomTopic.room-lobby`). */
  static groupName(topic: string): string {
    return safeGroupName([topic], this.name);
  }

  /** The layer alias this topic broadcasts on. */
  static layerAlias(): string {
    return this.layer ?? DEFAULT_LAYER;
  }

  /** Sends `event` to every subscriber of `topic`, in any process sharing the layer. */
  static async broadcast<T extends TopicClass>(
    this: T,
    topic: string,
    event: TopicEventOf<T>,
    options: TopicBroadcastOptions = {},
  ): Promise<void> {
    if (!this.parse(topic)) {
      throw new SwitchboardError(
        `'${topic}' does not match ${this.name}'s pattern '${this.pattern}'`,
      );
    }
    const message: Record<string, JsonValue> = {
      type: TOPIC_TYPE,
      topic,
      event: event as unknown as JsonValue,
    };
    if (options.seq !== undefined) message.seq = options.seq;
    await sendToGroup(layers.get(this.layerAlias()), this.groupName(topic), {
      ...message,
      type: TOPIC_TYPE,
    }, this.history);
  }

  /**
   * A consumer class serving this topic alone (`/ws/topics/room/:roomName`): on connect it
   * subscribes to the topic built from the path params, and frames without `topic` belong to it.
   */
  static asConsumer(base?: ConsumerClass): ConsumerClass {
    return standaloneConsumer(this as unknown as TopicClass, base);
  }
}

/** The event type of a topic class. */
// deno-lint-ignore no-explicit-any
export type TopicEventOf<T> = T extends abstract new (...args: any) => infer I
  ? I extends { readonly "~events"?: infer E } ? Exclude<E, undefined> : never
  : never;

/**
 * The consumer class of {@linkcode Topic.asConsumer}: `base` (default {@linkcode Consumer}) with
 * the topic as its only and default topic, on the topic's layer, named after it
 * (`RoomTopic` → `RoomConsumer`).
 */
function standaloneConsumer(topic: TopicClass, base?: ConsumerClass): ConsumerClass {
  const Base = (base ?? Consumer) as ConsumerClass;
  const name = `${topic.name.replace(/Topic$/, "")}Consumer`;
  const made = {
    [name]: class extends Base {
      static override topics: readonly TopicClass[] = [topic];
      static override defaultTopic: TopicClass | undefined = topic;
      static override layer: string | null | undefined = topic.layerAlias();
    },
  }[name];
  return made as unknown as ConsumerClass;
}

/**
 * Capturing `broadcastEvent` calls of a consumer class without a layer.
 *
 * @module
 */
import type { BroadcastEventOptions, ConsumerClass } from "../src/consumer/consumer.ts";
import type { AnyMessage } from "../src/protocol/message.ts";
import type { TopicBroadcastOptions, TopicClass } from "../src/consumer/topic.ts";

/** One captured `broadcastEvent` call. */
export interface CapturedBroadcastEvent {
  /** The event. */
  event: AnyMessage;
  /** The groups exactly as passed (`undefined` = the class defaults). */
  groups: string | readonly string[] | undefined;
}

/** The handle returned by {@linkcode captureBroadcastEvents}; dispose it to restore the class. */
export interface BroadcastCapture extends Disposable {
  /** Every call so far. */
  readonly events: CapturedBroadcastEvent[];
  /** Restores the original `broadcastEvent`. */
  restore(): void;
}

/**
 * Records every `Consumer.broadcastEvent` call of `cls` (and its subclasses). With `suppress`
 * (default true) nothing reaches the layer.
 *
 * ```ts
 * using captured = captureBroadcastEvents(ChatConsumer);
 * await sendChatMessage();
 * assert.equal(captured.events.length, 1);
 * ```
 */
export function captureBroadcastEvents(
  cls: ConsumerClass,
  options: { suppress?: boolean } = {},
): BroadcastCapture {
  const suppress = options.suppress ?? true;
  const had = Object.hasOwn(cls, "broadcastEvent");
  const original = cls.broadcastEvent;
  const events: CapturedBroadcastEvent[] = [];
  Object.defineProperty(cls, "broadcastEvent", {
    configurable: true,
    writable: true,
    value: function (this: ConsumerClass, event: AnyMessage, opts: BroadcastEventOptions = {}) {
      events.push({ event, groups: opts.groups });
      // deno-lint-ignore no-explicit-any
      return suppress ? Promise.resolve() : (original as any).call(this, event, opts);
    },
  });
  const restore = () => {
    if (had) {
      Object.defineProperty(cls, "broadcastEvent", {
        value: original,
        configurable: true,
        writable: true,
      });
    } else delete (cls as unknown as Record<string, unknown>).broadcastEvent;
  };
  return { events, restore, [Symbol.dispose]: restore };
}

/** One captured `Topic.broadcast` call. */
export interface CapturedTopicBroadcast {
  /** The topic. */
  topic: string;
  /** The event. */
  event: AnyMessage;
  /** The sequence number, if given. */
  seq: number | undefined;
}

/** The handle returned by {@linkcode captureTopicBroadcasts}. */
export interface TopicBroadcastCapture extends Disposable {
  /** Every call so far. */
  readonly broadcasts: CapturedTopicBroadcast[];
  /** Restores the original `broadcast`. */
  restore(): void;
}

/** Records every `Topic.broadcast` call of `cls`; with `suppress` (default) nothing is sent. */
export function captureTopicBroadcasts(
  cls: TopicClass,
  options: { suppress?: boolean } = {},
): TopicBroadcastCapture {
  const suppress = options.suppress ?? true;
  const had = Object.hasOwn(cls, "broadcast");
  const original = cls.broadcast;
  const broadcasts: CapturedTopicBroadcast[] = [];
  Object.defineProperty(cls, "broadcast", {
    configurable: true,
    writable: true,
    value: function (
      this: TopicClass,
      topic: string,
      event: AnyMessage,
      opts: TopicBroadcastOptions = {},
    ) {
      broadcasts.push({ topic, event, seq: opts.seq });
      // deno-lint-ignore no-explicit-any
      return suppress ? Promise.resolve() : (original as any).call(this, topic, event, opts);
    },
  });
  const restore = () => {
    if (had) {
      Object.defineProperty(cls, "broadcast", {
        value: original,
        configurable: true,
        writable: true,
      });
    } else delete (cls as unknown as Record<string, unknown>).broadcast;
  };
  return { broadcasts, restore, [Symbol.dispose]: restore };
}

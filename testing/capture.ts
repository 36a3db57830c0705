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
  const events: CapturedBroadcastEvent[] = [];
  const restore = replaceStatic(
    cls,
    "broadcastEvent",
    (original) =>
      function (this: ConsumerClass, event: AnyMessage, opts: BroadcastEventOptions = {}) {
        events.push({ event, groups: opts.groups });
        return suppress ? Promise.resolve() : original.call(this, event, opts);
      },
  );
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
  const broadcasts: CapturedTopicBroadcast[] = [];
  const restore = replaceStatic(
    cls,
    "broadcast",
    (original) =>
      function (
        this: TopicClass,
        topic: string,
        event: AnyMessage,
        opts: TopicBroadcastOptions = {},
      ) {
        broadcasts.push({ topic, event, seq: opts.seq });
        return suppress ? Promise.resolve() : original.call(this, topic, event, opts);
      },
  );
  return { broadcasts, restore, [Symbol.dispose]: restore };
}

/**
 * Replaces the static method `key` of `cls` (own or inherited) with what `make` builds from the
 * original; returns the function that puts the original back (or removes the own property again).
 */
function replaceStatic(
  cls: object,
  key: string,
  // deno-lint-ignore no-explicit-any
  make: (original: (...args: any[]) => Promise<void>) => (...args: any[]) => Promise<void>,
): () => void {
  const target = cls as Record<string, unknown>;
  const had = Object.hasOwn(cls, key);
  // deno-lint-ignore no-explicit-any
  const original = target[key] as (...args: any[]) => Promise<void>;
  const define = (value: unknown) =>
    Object.defineProperty(cls, key, { value, configurable: true, writable: true });
  define(make(original));
  return () => {
    if (had) define(original);
    else delete target[key];
  };
}

/**
 * Capturing `broadcastEvent` calls of a consumer class without a layer.
 *
 * @module
 */
import type { BroadcastEventOptions, ConsumerClass } from "../src/consumer.ts";
import type { AnyMessage } from "../src/message.ts";

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

/**
 * The channel layer contract: how consumers in one or many processes reach one connection
 * (a channel) or many (a group). {@linkcode ChannelLayer} is the interface every layer
 * implements (memory, Redis pub/sub, Redis queue); this module also holds what layers share
 * with it: the message and event types, the {@linkcode ReceiveSink} of `receiveNow`, the
 * `onEvent` listeners, the resync message type and the capacity rules.
 *
 * Delivery is at most once and ordered per sender and channel. The rules an implementation
 * follows are listed in MUST / MUST NOT terms in `kit.ts` (the kit for layer authors);
 * tests/layers/conformance.ts checks them on every layer.
 *
 * @module
 */
import { globToRegExp } from "../app/pattern.ts";
import { getLogger } from "../logger.ts";

export { globToRegExp };

/** A JSON value: what layer messages are made of. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };

/**
 * A message carried by a layer: a JSON object with a string `type`. Keys starting with `__` are
 * reserved for layers.
 */
export interface LayerMessage {
  /** What kind of message this is; consumers dispatch on it. */
  type: string;
  /** Any other JSON fields. */
  [key: string]: JsonValue;
}

/** Options for {@linkcode ChannelLayer.receive}. */
export interface ReceiveOptions {
  /**
   * Aborts the wait; the promise then rejects with the signal's reason. Nothing is lost, unless
   * the reason is a `ClosedError`: the receiver is then gone for good (a closed connection), and
   * the layer releases the channel (its queued messages are forgotten, it gets no more resyncs),
   * whether a wait was pending when the signal aborted or not.
   */
  signal?: AbortSignal;
}

/**
 * Where {@linkcode ChannelLayer.receiveNow} hands the next message of a channel when none was
 * waiting: the layer parks the sink and later calls exactly one of its methods, once.
 *
 * A sink may be called synchronously from inside another party's call (a `send`, a `groupSend`,
 * the layer's reader, `close()`, the signal's `abort()`), even before `receiveNow` returned, so it
 * must not throw (a layer logs and ignores what it throws) and should not block. A sink is parked
 * at most once at a time: call `receiveNow` with it again only after it was settled.
 */
export interface ReceiveSink {
  /** Takes the next message of the channel (the one `receive` would have resolved with). */
  resolve(message: LayerMessage): void;
  /**
   * Ends the wait without a message: with the signal's reason when it aborted, or with a
   * `ClosedError` when the layer closed. Nothing is lost, as for an aborted `receive`.
   */
  reject(reason: unknown): void;
}

/**
 * Something that happened to a layer that consumers may need to know about, for example a
 * reconnect after which messages may have been missed.
 */
export interface LayerEvent {
  /** `disconnected`: the layer lost its backend; `resync`: it is back and messages may be lost. */
  type: "disconnected" | "resync";
  /** Human-readable cause. */
  reason: string;
}

/**
 * The contract every channel layer implements (memory, Redis pub/sub, Redis queue).
 *
 * The layer delivers a `{type: "switchboard.resync", reason}` message into every local channel
 * after it recovers from an outage in which messages may have been missed, so that consumers can
 * resynchronise their clients.
 */
export interface ChannelLayer {
  /** Optional features: `"groups"`, `"flush"`. */
  readonly extensions: readonly string[];
  /** Creates a new process-local channel name (`<prefix>.<process>!<random>`) owned by this layer. */
  newChannel(prefix?: string): Promise<string>;
  /** Sends `message` to `channel`. Throws `ChannelFull` when the channel is at capacity. */
  send(channel: string, message: LayerMessage): Promise<void>;
  /** Waits for the next message on `channel`. */
  receive(channel: string, options?: ReceiveOptions): Promise<LayerMessage>;
  /**
   * Optional push-based {@linkcode ChannelLayer.receive}, with no promise per message (a
   * connection's receive loop uses it when the layer has it). Answers:
   * - a message: one was waiting on `channel`; it is taken, and `sink` is not kept;
   * - `undefined`: none was waiting; `sink` is parked and later gets exactly one
   *   {@linkcode ReceiveSink.resolve} or {@linkcode ReceiveSink.reject} (see there);
   * - `null`: the layer cannot answer at once (closed, not subscribed yet, a bad name, an
   *   aborted signal...); `sink` is not kept: call `receive`, which settles the matter.
   *
   * The rules of `receive` hold (order, expiry, aborts, release on a `ClosedError`); it never
   * throws.
   */
  receiveNow?(
    channel: string,
    sink: ReceiveSink,
    options?: ReceiveOptions,
  ): LayerMessage | undefined | null;
  /** Adds `channel` to `group` (idempotent). */
  groupAdd(group: string, channel: string): Promise<void>;
  /** Removes `channel` from `group` (no error if it was not a member). */
  groupDiscard(group: string, channel: string): Promise<void>;
  /** Sends `message` to every member of `group`. Full members are skipped and logged, never thrown. */
  groupSend(group: string, message: LayerMessage): Promise<void>;
  /** Forgets every channel, group and queued message. */
  flush(): Promise<void>;
  /** Releases every resource (connections, timers). The layer cannot be used afterwards. */
  close(): Promise<void>;
  /** Subscribes to layer events; returns the unsubscribe function. */
  onEvent?(listener: (event: LayerEvent) => void): () => void;
}

/** The listeners of a layer's {@linkcode LayerEvent}s: what `onEvent` subscribes to. */
export class LayerEvents {
  readonly #listeners = new Set<(event: LayerEvent) => void>();
  readonly #label: string;

  /** `label` names the layer in the log line written when a listener throws. */
  constructor(label: string) {
    this.#label = label;
  }

  /** Adds a listener; returns the function that removes it. */
  listen(listener: (event: LayerEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Tells every listener; a listener that throws is logged and the others still run. */
  emit(event: LayerEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        getLogger().error(`${this.#label}: onEvent listener threw`, { error });
      }
    }
  }

  /** Removes every listener (on close). */
  clear(): void {
    this.#listeners.clear();
  }
}

/** The message type layers deliver into local channels after an outage. */
export const RESYNC_MESSAGE_TYPE = "switchboard.resync";

/** Capacity rules shared by layers: a default and per-name overrides by glob or RegExp. */
export interface CapacityOptions {
  /** Messages a channel may hold before `send` throws `ChannelFull`. Default 100. */
  capacity?: number;
  /** Per-channel overrides: glob (`"jobs.*"`) or RegExp → capacity. First match wins. */
  channelCapacity?: Record<string, number> | Array<[string | RegExp, number]>;
}

/** Compiles {@linkcode CapacityOptions} into a lookup `name → capacity`. */
export function capacityLookup(options: CapacityOptions): (name: string) => number {
  const fallback = options.capacity ?? 100;
  const entries = Array.isArray(options.channelCapacity)
    ? options.channelCapacity
    : Object.entries(options.channelCapacity ?? {});
  const compiled = entries.map(([p, n]) =>
    [typeof p === "string" ? globToRegExp(p) : p, n] as const
  );
  return (name) => {
    for (const [re, n] of compiled) if (re.test(name)) return n;
    return fallback;
  };
}

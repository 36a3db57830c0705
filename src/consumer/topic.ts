/**
 * Topics: many subscribable streams over one socket. A Topic class has a pattern
 * (`room:{roomName}`), handlers (the same decorators as consumers), `authorize`, lifecycle hooks
 * and a static `broadcast`. A consumer mounts topics with `static topics = [RoomTopic]`; a topic can
 * also be served alone with `RoomTopic.asConsumer()`.
 *
 * @module
 */
import { Consumer, type ConsumerClass } from "./consumer.ts";
import { DefinitionError, SwitchboardError } from "../errors.ts";
import { safeGroupName } from "../layers/group_names.ts";
import type { JsonValue } from "../layers/layer.ts";
import { DEFAULT_LAYER, layers } from "../layers/registry.ts";
import type { AnyMessage, AnyMessageType } from "../protocol/message.ts";
import { TOPIC_TYPE } from "../layers/messages.ts";
import type { Envelope } from "../protocol/envelope.ts";

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

/**
 * One `:`-free piece of a pattern (a parameter never spans a `:`, so the topic's `:`s line up
 * with the pattern's): its literal text around its `params` parameters,
 * `lits[0] {…} lits[1] … {…} lits[params]`.
 */
interface Segment {
  lits: string[];
  /** How many parameters the segment has. */
  params: number;
  /** The index (in the whole pattern) of the segment's first parameter. */
  first: number;
}

interface CompiledPattern {
  segments: Segment[];
  names: string[];
}

const compiled = new WeakMap<object, CompiledPattern>();

function compile(cls: TopicClass): CompiledPattern {
  let c = compiled.get(cls);
  if (c) return c;
  const pattern = cls.pattern;
  if (!pattern) {
    throw new DefinitionError(`${cls.name} has no static pattern (e.g. "room:{roomName}")`);
  }
  const names: string[] = [];
  let lits = [""];
  const segments: Segment[] = [];
  let last = 0;
  const literal = (text: string) => {
    const pieces = text.split(":");
    lits[lits.length - 1] += pieces[0];
    for (const piece of pieces.slice(1)) {
      segments.push({ lits, params: lits.length - 1, first: names.length - (lits.length - 1) });
      lits = [piece];
    }
  };
  for (const m of pattern.matchAll(/\{(\w+)\}/g)) {
    literal(pattern.slice(last, m.index));
    names.push(m[1]);
    lits.push("");
    last = m.index! + m[0].length;
  }
  literal(pattern.slice(last));
  segments.push({ lits, params: lits.length - 1, first: names.length - (lits.length - 1) });
  c = { segments, names };
  compiled.set(cls, c);
  return c;
}

/**
 * Matches one `:`-free piece of a topic against a segment, writing the params into `out`. The
 * same answer as the regex `^lit0([^:]+)lit1…([^:]+)litk$` (earlier params as long as
 * possible), found without backtracking: each literal is placed as far right as it can go, from
 * the last one back, so the time is linear in the piece's length.
 */
function matchSegment(piece: string, seg: Segment, out: string[]): boolean {
  const { lits, first } = seg;
  const k = seg.params;
  if (k === 0) return piece === lits[0];
  const head = lits[0];
  const tail = lits[k];
  if (piece.length < head.length + tail.length + k) return false;
  if (!piece.startsWith(head) || !piece.endsWith(tail)) return false;
  let end = piece.length - tail.length; // exclusive end of param k-1
  for (let j = k - 1; j >= 1; j--) {
    const lit = lits[j];
    // lit must end before `end - 1` (param j nonempty) and leave one char per earlier param.
    const at = piece.lastIndexOf(lit, end - 1 - lit.length);
    if (at < head.length + j || at + lit.length >= end) return false;
    out[first + j] = piece.slice(at + lit.length, end);
    end = at;
  }
  if (end <= head.length) return false;
  out[first] = piece.slice(head.length, end);
  return true;
}

function parseTopic(topic: string, c: CompiledPattern): Record<string, string> | undefined {
  let colons = 0;
  for (let i = topic.indexOf(":"); i !== -1; i = topic.indexOf(":", i + 1)) {
    if (++colons >= c.segments.length) return undefined;
  }
  if (colons !== c.segments.length - 1) return undefined;
  const pieces = topic.split(":");
  const values: string[] = [];
  for (let i = 0; i < pieces.length; i++) {
    if (!matchSegment(pieces[i], c.segments[i], values)) return undefined;
  }
  return Object.fromEntries(c.names.map((n, i) => [n, values[i]]));
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
   */
  static broadcasts: readonly AnyMessageType[] = [];

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
    return parseTopic(topic, compile(this as unknown as TopicClass));
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
    await layers.get(this.layerAlias()).groupSend(this.groupName(topic), {
      ...message,
      type: TOPIC_TYPE,
    });
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

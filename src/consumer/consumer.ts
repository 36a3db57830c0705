/**
 * The Consumer base class: one class per WebSocket endpoint, one instance per connection.
 *
 * @module
 */
import { EVENT_TYPE } from "../layers/messages.ts";
import { layers } from "../layers/registry.ts";
import type { HistoryOptions } from "../layers/history.ts";
import type { ChannelLayer, JsonValue } from "../layers/layer.ts";
import type { AnyMessage, AnyMessageType } from "../protocol/message.ts";
import { DEFAULT_MAX_JSON_DEPTH } from "../protocol/json_depth.ts";
import { DefinitionError, SwitchboardError } from "../errors.ts";
import { assertGroupName } from "../layers/names.ts";
import { mergedStatic } from "./handlers.ts";
import type { TopicClass } from "./topic.ts";
import type { PresenceList, PresenceMeta, PresenceStats } from "../presence/backend.ts";
import type { PresenceRequestPayload } from "../presence/frames.ts";
import type { PresenceOptions } from "../presence/options.ts";
import { existingPresence, presenceOf } from "../presence/connection_presence.ts";

/** What {@linkcode Consumer.authenticate} may answer: allow (`true`/nothing), refuse (`false` = 403), or a Response. */
export type AuthResult = boolean | void | Response;

/** Options of {@linkcode Consumer.broadcastMessage}. */
export interface BroadcastOptions {
  /** Target groups (default: this connection's groups, including ones joined since connecting). */
  groups?: string | readonly string[];
  /** Do not deliver to this connection itself. */
  excludeCurrent?: boolean;
}

/** Options of {@linkcode Consumer.broadcastEvent}. */
export interface BroadcastEventOptions {
  /** Target groups (default: the class's `groups` + `extraGroups`). */
  groups?: string | readonly string[];
}

/**
 * What a consumer instance reaches its connection through (its request, params, channel, and the
 * connection's send/broadcast/join/leave/close). Internal: the App sets it, first a provisional
 * one for `authenticate`, then the accepted connection's.
 */
export interface ConsumerBinding {
  readonly request: Request;
  /** The upgrade request's URL (read without rebuilding a `Request`). */
  readonly requestUrl: string;
  readonly params: Readonly<Record<string, string>>;
  readonly channelName: string;
  send(message: AnyMessage): Promise<void>;
  broadcast(message: AnyMessage, options: BroadcastOptions): Promise<void>;
  join(group: string): Promise<void>;
  leave(group: string): Promise<void>;
  close(code?: number, reason?: string): void;
  readonly closed: boolean;
  /** Sends a frozen message shared by many sockets (presence diffs: serialized once). */
  sendShared?(message: AnyMessage): void;
}

/** Internal key of the {@linkcode ConsumerBinding} on an instance. */
export const CONSUMER_BINDING: unique symbol = Symbol("switchboard.consumerBinding");

/** Any consumer class. */
// deno-lint-ignore no-explicit-any
export type ConsumerClass<C extends Consumer<any, any> = Consumer<any, any>> =
  & (new () => C)
  & Omit<typeof Consumer, "prototype">;

/**
 * What a consumer mixin takes and returns: any (possibly abstract) consumer class, with the
 * statics. `function Mixin<T extends ConsumerMixinBase>(Base: T) { return class extends Base {…} }`.
 */
// deno-lint-ignore no-explicit-any
export type ConsumerMixinBase<Events extends AnyMessage = any> =
  // deno-lint-ignore no-explicit-any
  & (abstract new (...args: any[]) => Consumer<Events, any>)
  & Omit<typeof Consumer, "prototype">;

/** The event messages a consumer class (or instance) accepts: the type argument of `Consumer<Events>`. */
// deno-lint-ignore no-explicit-any
export type EventOf<C> = (C extends abstract new (...args: any) => infer I ? I : C) extends
  { readonly "~events"?: infer E } ? Exclude<E, undefined>
  : never;

function toList(groups: string | readonly string[]): string[] {
  return typeof groups === "string" ? [groups] : [...groups];
}

/**
 * The path parameter names a consumer class declares (its `Params` type argument); `string` when it
 * declares none.
 */
// deno-lint-ignore no-explicit-any
export type ParamsOf<C> = (C extends abstract new (...args: any) => infer I ? I : C) extends
  { readonly params: infer R } ? Extract<keyof R, string>
  : string;

/**
 * The base class of every consumer. Subclass it, mark methods with `@wsHandler` / `@eventHandler`,
 * and mount it with `app.ws(path, MyConsumer)`.
 *
 * `Events` is the union of server-side events the class accepts; it types the static
 * {@linkcode Consumer.sendEvent} and {@linkcode Consumer.broadcastEvent}. `Params` names the path
 * parameters the class reads (`Consumer<never, "room">` → `this.params.room`); `app.ws` then
 * refuses, at compile time, a route without them (`/ws/room/:roomName`). Reading a parameter the
 * route does not have throws `MissingParamError` at run time either way.
 */
export class Consumer<Events extends AnyMessage = AnyMessage, Params extends string = string> {
  /** The layer alias this consumer uses (default `"default"`, the in-memory layer); `null` for none. */
  static layer: string | null | undefined = undefined;
  /** Groups every connection joins on connect (and that `broadcastEvent` targets by default). */
  static groups: readonly string[] = [];
  /** Groups contributed by mixins; merged across the class chain. */
  static extraGroups: readonly string[] = [];
  /** Send `complete` / `group_complete` / `event_complete` frames (for tests). Default false. */
  static sendCompletion: boolean = false;
  /** camelCase wire mode: incoming keys are decamelized, outgoing keys camelized (broadcasts too). */
  static camelCase: boolean = false;
  /** Log each received and sent frame at debug level. Default false. */
  static logMessages: boolean = false;
  /** Events forwarded to the client unchanged (no handler needed); merged across the class chain. */
  static passthroughEvents: readonly AnyMessageType[] = [];
  /**
   * Message types sent to clients outside handler replies (`broadcastMessage`, group sends,
   * pushes): typed clients receive them; `checkClientApi` checks each is a declared `output`.
   * Merged across the class chain, like `passthroughEvents`: a subclass's list adds to its
   * parent's. The typed client sees the type of the most-derived declaration (as for
   * `passthroughEvents`).
   */
  static broadcasts: readonly AnyMessageType[] = [];
  /** Per-consumer frame size limit in bytes (default: the app's). */
  static maxFrameBytes: number | undefined = undefined;
  /**
   * How deep arrays and objects may nest in one client frame (the frame object is level 1).
   * A deeper frame is refused with a `json_too_deep` error frame before it is parsed. Default 64.
   */
  static maxJsonDepth: number = DEFAULT_MAX_JSON_DEPTH;
  /** Topic classes clients may subscribe to over this connection. */
  static topics: readonly TopicClass[] = [];
  /** The topic this consumer serves alone (set by `Topic.asConsumer()`); frames without `topic` go to it. */
  static defaultTopic: TopicClass | undefined = undefined;
  /**
   * Presence (opt-in): connections are tracked in their groups after `postAuthentication`,
   * clients may send the built-in `presence` request, and members get `presence_diff` frames
   * with `diffs: true`. See docs/presence.md.
   */
  static presence: PresenceOptions | undefined = undefined;

  /**
   * Opt-in history of this consumer's groups (`{size: 1000, ttlMs: 300_000}`): its
   * `broadcastMessage` frames are kept in a bounded per-group history, carry their `position`,
   * and a client that reconnects gets what it missed (docs/recovery.md). Default: none.
   */
  static history: HistoryOptions | undefined = undefined;

  /** Phantom field carrying the `Events` type. Never set. */
  declare readonly "~events"?: Events;
  /** @internal */
  [CONSUMER_BINDING]?: ConsumerBinding;

  #binding(): ConsumerBinding {
    const binding = this[CONSUMER_BINDING];
    if (!binding) {
      throw new SwitchboardError(
        `${this.constructor.name} is not attached to a connection yet (use it from hooks and handlers)`,
      );
    }
    return binding;
  }

  /**
   * The HTTP upgrade request. After the upgrade the connection keeps only its URL, method and
   * headers (an idle connection stays small), so this is then an equivalent `Request` rebuilt on
   * first use (the same object from then on); a property set on the original is not on it.
   */
  get request(): Request {
    return this.#binding().request;
  }
  /**
   * Path parameters (`/ws/room/:roomName` → `{roomName}`). Reading a name the route does not have
   * throws `MissingParamError`.
   */
  get params(): Readonly<Record<Params, string>> {
    return this.#binding().params as Readonly<Record<Params, string>>;
  }
  /** Query parameters of the upgrade request. */
  get query(): URLSearchParams {
    return new URL(this.#binding().requestUrl).searchParams;
  }
  /** This connection's layer channel name (what `sendEvent` targets). */
  get channelName(): string {
    return this.#binding().channelName;
  }
  /** True once the connection is closing or closed. */
  get closed(): boolean {
    return this.#binding().closed;
  }

  /** This connection's groups: the class groups plus those joined since connecting. */
  groups: string[] = [];

  /**
   * Runs before the WebSocket upgrade. Return `false` to refuse with 403, a `Response` to answer
   * with it (e.g. 401), anything else to accept. Throwing answers 500 and is logged.
   */
  authenticate(_request: Request): AuthResult | Promise<AuthResult> {
    return true;
  }

  /** Runs once the socket is open and the class groups are joined. */
  postAuthentication(): void | Promise<void> {}

  /** Runs exactly once when the connection ends, before its groups are left. */
  onDisconnect(_code: number): void | Promise<void> {}

  /**
   * Runs when the layer recovered from an outage during which messages to this connection may
   * have been lost. Override it to resynchronise the client.
   */
  onResync(_reason: string): void | Promise<void> {}

  /** Sends a message to this connection's client. */
  sendMessage(message: AnyMessage): Promise<void> {
    return this.#binding().send(message);
  }

  /** Sends a message to every connection in the groups (through the layer, so across processes). */
  broadcastMessage(message: AnyMessage, options: BroadcastOptions = {}): Promise<void> {
    return this.#binding().broadcast(message, options);
  }

  /** Joins a group while connected; it is left automatically on disconnect. */
  joinGroup(group: string): Promise<void> {
    const joined = this.#binding().join(group);
    const presence = existingPresence(this); // no extra step without presence
    return presence ? joined.then(() => presence.joined(this, group)) : joined;
  }

  /** Leaves a group (and stops being tracked in it). */
  leaveGroup(group: string): Promise<void> {
    const left = this.#binding().leave(group);
    const presence = existingPresence(this);
    return presence ? left.then(() => presence.untrack([group])) : left;
  }

  // --- presence (docs/presence.md) -------------------------------------------------------------

  #presence() {
    const cls = this.constructor as typeof Consumer;
    return presenceOf(this, cls.presence, this.#binding());
  }

  /**
   * Tracks this connection under `key` (a user id: three tabs are one key with three metas) in
   * `groups` (default: its groups). Rejects with `PresenceUnavailableError` while the backend is
   * away (a Redis backend tracks it again once back) or `PresenceLimitError` past a bound.
   */
  track(key: string, meta: PresenceMeta = {}, groups?: string | readonly string[]): Promise<void> {
    return this.#presence().track(key, meta, groups === undefined ? this.groups : toList(groups));
  }

  /** Stops tracking this connection in `groups` (default: everywhere). */
  untrack(groups?: string | readonly string[]): Promise<void> {
    return this.#presence().untrack(groups === undefined ? undefined : toList(groups));
  }

  /** Who is in `group`: at most `limit` keys (default 1000) with their metas. */
  presence(group: string, limit?: number): Promise<PresenceList> {
    return this.#presence().list(group, limit);
  }

  /** The counts of `group` (keys and connections), in O(1). */
  presenceStats(group: string): Promise<PresenceStats> {
    return this.#presence().stats(group);
  }

  /** Sends this connection the batched `presence_diff` frames of `group` (or stops them). */
  watchPresence(group: string, on = true): Promise<void> {
    return on ? this.#presence().watch(group) : this.#presence().unwatch(group);
  }

  /** @internal The built-in `presence` request (classes with `static presence`). */
  "~presence"(message: { payload: PresenceRequestPayload }): Promise<AnyMessage> {
    return this.#presence().request(message.payload);
  }

  /** Closes the connection (default code 1000). */
  close(code?: number, reason?: string): void {
    this.#binding().close(code, reason);
  }

  /** The layer this class uses, from the process-wide registry. */
  static getLayer(): ChannelLayer {
    if (this.layer === null) {
      throw new DefinitionError(`${this.name} has no channel layer (static layer = null)`);
    }
    return layers.get(this.layer ?? undefined);
  }

  /** The groups `broadcastEvent` targets by default: `groups` + merged `extraGroups`. */
  static defaultGroups(): string[] {
    const extra = mergedStatic<string>(this, "extraGroups");
    const all = extra.length ? [...this.groups, ...extra] : this.groups;
    return all.length ? [...new Set(all)] : []; // read per connection: nothing more when empty
  }

  /**
   * Sends an event to one connection, from any code in any process that shares the layer. The
   * consumer's matching `@eventHandler` runs and its return value goes to that client.
   */
  static sendEvent<C extends ConsumerClass>(
    this: C,
    event: EventOf<C>,
    channelName: string,
  ): Promise<void> {
    return this.getLayer().send(channelName, {
      type: EVENT_TYPE,
      event: event as unknown as JsonValue,
    });
  }

  /** Sends an event to every connection in the groups (default: the class's groups). */
  static async broadcastEvent<C extends ConsumerClass>(
    this: C,
    event: EventOf<C>,
    options: BroadcastEventOptions = {},
  ): Promise<void> {
    const groups = options.groups === undefined ? this.defaultGroups() : toList(options.groups);
    const layer = this.getLayer();
    for (const g of groups) assertGroupName(g);
    await Promise.all(
      groups.map((g) =>
        layer.groupSend(g, { type: EVENT_TYPE, event: event as unknown as JsonValue })
      ),
    );
  }
}

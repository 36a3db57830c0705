/**
 * Types of the Switchboard client runtime (`client.js`). Self-contained: code generated from an
 * AsyncAPI document copies this file and `client.js` and needs nothing else.
 *
 * @module
 */

/** A frame on the wire: `{action, payload}` plus the topic envelope. */
export interface WireMessage {
  /** The routing key. */
  readonly action: string;
  /** The body (`null` for payload-less messages; may be omitted when sending those). */
  readonly payload?: unknown;
}

/** The envelope fields a received frame may carry. */
export interface Envelope {
  /** Protocol version of topic frames (1). */
  readonly version?: number;
  /** The topic of a topic frame. */
  readonly topic?: string;
  /** The request id the frame answers. */
  readonly ref?: string;
  /** The publisher's sequence number (gap detection). */
  readonly seq?: number;
  /** Where a broadcast sits in its history (consumers and topics with history). */
  readonly position?: { readonly group?: string; readonly offset: number; readonly epoch: string };
}

/** One validation problem in an `error` frame. */
export interface ErrorItem {
  /** Machine-readable kind (`json_invalid`, `union_tag_invalid`, `missing`, …). */
  type: string;
  /** Where: `[]` for the frame, `[action, "payload", ...path]` inside a payload. */
  loc: Array<string | number>;
  /** Human-readable text. */
  msg: string;
}

/** The payload of an `error` frame: validation items, `{detail}` or a topic `{reason, detail}`. */
export type ErrorFramePayload = ErrorItem[] | { detail: string; reason?: string };

/** Frames every endpoint may send besides its own messages. */
export type ProtocolMessage =
  | { readonly action: "error"; readonly payload: ErrorFramePayload }
  | { readonly action: "complete"; readonly payload: null }
  | { readonly action: "group_complete"; readonly payload: null }
  | { readonly action: "event_complete"; readonly payload: null };

/** Frames a topic may answer besides its own messages. */
export type TopicProtocolMessage =
  | ProtocolMessage
  | { readonly action: "subscribed"; readonly payload: null }
  | { readonly action: "unsubscribed"; readonly payload: null };

/** The reply each client action gets from its handler: action → reply message(s). */
export type RepliesMap = { [action: string]: WireMessage };

/**
 * The static shape of an endpoint: what a client may send and receive, and what its topics take.
 * `createClient<Api>()` takes one; `@switchboard/switchboard/client` derives it from a consumer
 * class, generated clients declare it.
 */
export interface ApiTypes {
  /** Messages the client may send. */
  send: WireMessage;
  /** Messages the server sends (besides {@linkcode ProtocolMessage}). */
  receive: WireMessage;
  /** Messages the client may send to a topic. */
  topicSend: WireMessage;
  /** Messages a topic sends (besides {@linkcode TopicProtocolMessage}). */
  topicReceive: WireMessage;
  /** What `request()` of each action resolves to (default: any of `receive`). */
  replies?: RepliesMap;
  /** What a topic's `request()` of each action resolves to (default: any of `topicReceive`). */
  topicReplies?: RepliesMap;
}

/** The reply of action `A` in `Replies` (an {@linkcode ApiTypes} `replies` map), else `Fallback`. */
export type ReplyIn<Replies, A, Fallback> = [Replies] extends [RepliesMap]
  ? A extends keyof Replies ? Replies[A] : Fallback
  : Fallback;

/** What `request()` of a message with action `A` resolves to, besides protocol frames. */
export type ReplyOf<Api extends ApiTypes, A> = ReplyIn<
  Api extends { replies: infer R extends RepliesMap } ? R : unknown,
  A,
  Api["receive"]
>;

/** What a topic's `request()` of a message with action `A` resolves to, besides protocol frames. */
export type TopicReplyOf<Api extends ApiTypes, A> = ReplyIn<
  Api extends { topicReplies: infer R extends RepliesMap } ? R : unknown,
  A,
  Api["topicReceive"]
>;

/** The untyped shape: any action, any payload. */
export interface AnyApi extends ApiTypes {
  /** Any message. */
  send: WireMessage;
  /** Any message. */
  receive: WireMessage & { readonly payload: unknown };
  /** Any message. */
  topicSend: WireMessage;
  /** Any message. */
  topicReceive: WireMessage & { readonly payload: unknown };
}

/** The connection state. */
export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

/** What a state listener gets besides the state. */
export interface StateInfo {
  /** Connection attempts since the last successful open. */
  attempt: number;
  /** The wait before the next attempt (state `reconnecting`). */
  delayMs?: number;
  /** The close code that caused the change, if any. */
  code?: number;
  /** The close reason, if any. */
  reason?: string;
}

/** Reconnect policy: exponential backoff from `initialDelayMs`, capped at `maxDelayMs`. */
export interface ReconnectOptions {
  /** First wait (default 250 ms). */
  initialDelayMs?: number;
  /** Longest wait (default 10 000 ms). */
  maxDelayMs?: number;
  /** Growth per attempt (default 2). */
  factor?: number;
  /** Wait a random 50–100 % of the delay, so clients do not reconnect in lockstep (default true). */
  jitter?: boolean;
  /** Attempts in a row before giving up and closing (default: never give up). */
  maxAttempts?: number;
}

/**
 * A WebSocket as the client uses it (browsers', Deno's, Node 22's or the `ws` package's). The
 * event handlers take `any` events: each implementation has its own event classes, and the client
 * reads only `data`, `code` and `reason`.
 */
export interface SocketLike {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** Sends a text frame. */
  send(data: string): void;
  /** Closes the socket. */
  close(code?: number, reason?: string): void;
  /** Open handler. */
  // deno-lint-ignore no-explicit-any
  onopen: ((ev: any) => void) | null;
  /** Message handler (`ev.data` is a string for text frames). */
  // deno-lint-ignore no-explicit-any
  onmessage: ((ev: any) => void) | null;
  /** Close handler (`ev.code`, `ev.reason`). */
  // deno-lint-ignore no-explicit-any
  onclose: ((ev: any) => void) | null;
  /** Error handler. */
  // deno-lint-ignore no-explicit-any
  onerror: ((ev: any) => void) | null;
}

/**
 * A WebSocket constructor, structurally: `globalThis.WebSocket` (browsers, Deno, Node 22+) or the
 * `ws` package's `WebSocket` class (Node 20), with no cast.
 */
// deno-lint-ignore no-explicit-any
export type WebSocketConstructor = new (url: string, ...args: any[]) => SocketLike;

/** Options of {@linkcode createClient}. */
export interface ClientOptions {
  /** The WebSocket class to use; required on Node 20 (`import { WebSocket } from "ws"`). */
  WebSocket?: WebSocketConstructor;
  /** Full control over socket creation (tests, proxies). Wins over `WebSocket`. */
  createSocket?: (url: string, protocols?: string | string[]) => SocketLike;
  /** Subprotocols. */
  protocols?: string | string[];
  /**
   * Headers of the upgrade request (Deno and `ws`; browsers cannot send them, and the client
   * refuses this option there instead of dropping it silently).
   */
  headers?: Record<string, string>;
  /** Base of a relative URL outside browsers (`http://host:8080` or `ws://…`). */
  baseUrl?: string;
  /** Reconnect policy, or `false` to close for good when the connection drops. */
  reconnect?: ReconnectOptions | false;
  /** Decides per close whether to reconnect (default: always). */
  shouldReconnect?: (close: { code: number; reason: string }) => boolean;
  /** Most frames kept while offline; `send` throws `QueueFullError` beyond (default 100). */
  maxQueue?: number;
  /** Default timeout of `request()` and `subscribe()` (default 10 000 ms). */
  requestTimeoutMs?: number;
  /** Buffer of each `messages()` iterator; the oldest frames are dropped beyond (default 1000). */
  maxBufferedMessages?: number;
  /** Connect in the constructor (default true); otherwise call `connect()`. */
  autoConnect?: boolean;
  /**
   * Send the last history positions seen when reconnecting (the `recover` query parameter), so a
   * server with history replays what was missed (default true; docs/recovery.md).
   */
  recover?: boolean;
}

/** Where a frame sits in its history: offset and epoch. */
export interface StreamPosition {
  /** The offset (one more per message). */
  offset: number;
  /** The history's epoch (a new one when the history was lost). */
  epoch: string;
}

/** The outcome of a recovery, for `onRecovery`. */
export interface RecoveryOutcome {
  /** The consumer group (for a group stream). */
  group?: string;
  /** The topic (for a topic stream). */
  topic?: string;
  /** True when every missed message was replayed. */
  recovered: boolean;
  /** Why not (`epoch_changed`, `trimmed`, `too_old`, `too_many`, `position_ahead`, `unavailable`). */
  reason?: string;
  /** Messages replayed (when recovered). */
  replayed?: number;
  /** Where the stream is now. */
  position: StreamPosition;
}

/** Options of `request()`, `subscribe()` and `unsubscribe()`. */
export interface RequestOptions {
  /** Reject with `TimeoutError` after this long (default: the client's `requestTimeoutMs`). */
  timeoutMs?: number;
  /** Abort waiting (rejects with the signal's reason). */
  signal?: AbortSignal;
}

/** What a received frame looks like to listeners: the message plus its envelope. */
export type Received<M> = M & Envelope;

/** The message of union `M` with action `A`. */
export type ActionOf<M, A> = M extends { readonly action: A } ? M
  : M extends { readonly action: infer X } ? string extends X ? M : never
  : never;

/** A bounded async iterator of frames (`dropped` counts frames lost to a slow reader). */
export interface MessageStream<M> extends AsyncIterableIterator<M> {
  /** Frames dropped because the reader fell behind by more than `maxBufferedMessages`. */
  readonly dropped: number;
}

/** A topic over the client's socket. Send/receive types come from the topic classes. */
export declare class TopicHandle<
  Send extends WireMessage = WireMessage,
  Receive extends WireMessage = WireMessage,
  Replies = unknown,
> {
  private constructor();
  /** The topic, e.g. `room:lobby`. */
  readonly name: string;
  /** True while the server confirmed the subscription on the current socket. */
  readonly subscribed: boolean;
  /** True when the client re-subscribes this topic after a reconnect. */
  readonly wanted: boolean;
  /** Subscribes (resolves on `subscribed`, rejects with `RequestError` on an error frame); re-subscribed after each reconnect. */
  subscribe(options?: RequestOptions): Promise<void>;
  /** Unsubscribes and stops re-subscribing. */
  unsubscribe(options?: RequestOptions): Promise<void>;
  /** Sends a message to the topic (fire and forget; queued while offline). */
  send(message: Send): "sent" | "queued";
  /** Sends with a `ref`; resolves with the topic's frame echoing it (typed as that handler's reply). */
  request<A extends Send["action"]>(
    message: Send & { readonly action: A },
    options?: RequestOptions,
  ): Promise<Received<ReplyIn<Replies, A, Receive> | TopicProtocolMessage>>;
  /** Calls `handler` for each frame of `action` on this topic. Returns an unsubscribe function. */
  on<A extends (Receive | TopicProtocolMessage)["action"]>(
    action: A,
    handler: (message: Received<ActionOf<Receive | TopicProtocolMessage, A>>) => void,
  ): () => void;
  /** Calls `handler` for every frame on this topic. */
  onAny(handler: (message: Received<Receive | TopicProtocolMessage>) => void): () => void;
  /** Iterates this topic's frames (of `actions`, or all). */
  messages<A extends (Receive | TopicProtocolMessage)["action"] = never>(
    ...actions: A[]
  ): MessageStream<
    Received<
      [A] extends [never] ? Receive | TopicProtocolMessage
        : ActionOf<Receive | TopicProtocolMessage, A>
    >
  >;
}

/** A client of one endpoint. `Api` types what it sends and receives. */
export declare class SwitchboardClient<Api extends ApiTypes = AnyApi> implements AsyncDisposable {
  private constructor();
  /** The resolved `ws://`/`wss://` URL. */
  readonly url: string;
  /** The connection state. */
  readonly state: ConnectionState;
  /** Frames waiting in the offline queue. */
  readonly queued: number;
  /** Connection attempts since the last successful open. */
  readonly attempt: number;
  /** Requests waiting for their answer. */
  readonly pendingRequests: number;
  /** Sends a message now, or queues it while (re)connecting (`QueueFullError` when the queue is full). */
  send(message: Api["send"]): "sent" | "queued";
  /**
   * Sends a message with a fresh `ref`; resolves with the frame echoing it: the handler's reply
   * (typed as that handler's return type when the API knows it, {@linkcode ReplyOf}), `complete`
   * when it replied nothing, or an error frame as `RequestError`. Also rejects with
   * `TimeoutError`, `ConnectionLostError` (socket dropped after sending) or `ClientClosedError`.
   */
  request<A extends Api["send"]["action"]>(
    message: Api["send"] & { readonly action: A },
    options?: RequestOptions,
  ): Promise<Received<ReplyOf<Api, A> | ProtocolMessage>>;
  /** Calls `handler` for each frame of `action` (frames without a topic). Returns an unsubscribe function. */
  on<A extends (Api["receive"] | ProtocolMessage)["action"]>(
    action: A,
    handler: (message: Received<ActionOf<Api["receive"] | ProtocolMessage, A>>) => void,
  ): () => void;
  /** Calls `handler` for every frame without a topic. */
  onAny(handler: (message: Received<Api["receive"] | ProtocolMessage>) => void): () => void;
  /**
   * Presence: who is in `group` (one the connection is in, default: the first it is tracked in, on an endpoint with
   * `static presence`). `diffs: true` also starts its `presence_diff` frames (`false` stops them).
   * Rejects with `RequestError` (`presence_refused`) for a group the connection is not in.
   */
  presence(
    group?: string,
    options?: RequestOptions & { diffs?: boolean; limit?: number },
  ): Promise<PresenceListPayload>;
  /** Calls `handler` with each batched presence diff. Returns an unsubscribe function. */
  onPresence(handler: (diff: PresenceDiffPayload) => void): () => void;
  /** Calls `handler` on each state change (and on each scheduled reconnect). */
  onState(handler: (state: ConnectionState, info: StateInfo) => void): () => void;
  /** Calls `handler` on each open; `reconnected` is true after the first. Resync state here. */
  onOpen(handler: (info: { reconnected: boolean }) => void): () => void;
  /**
   * Calls `handler` with the outcome of each history recovery (after a reconnect, and when the
   * server could not fill a gap): `recovered: false` means messages were missed for good.
   */
  onRecovery(handler: (outcome: RecoveryOutcome) => void): () => void;
  /** The last history positions seen, by group and by topic (what a reconnect sends). */
  readonly positions: {
    groups: Record<string, StreamPosition>;
    topics: Record<string, StreamPosition>;
  };
  /** Errors with nowhere else to go (listener exceptions, bad frames, failed re-subscriptions). Default: console.error. */
  onError(handler: (error: unknown) => void): () => void;
  /** Iterates frames without a topic (of `actions`, or all), until the client closes. */
  messages<A extends (Api["receive"] | ProtocolMessage)["action"] = never>(
    ...actions: A[]
  ): MessageStream<
    Received<
      [A] extends [never] ? Api["receive"] | ProtocolMessage
        : ActionOf<Api["receive"] | ProtocolMessage, A>
    >
  >;
  /** Same as `messages()`. */
  [Symbol.asyncIterator](): MessageStream<Received<Api["receive"] | ProtocolMessage>>;
  /** Resolves once the socket is open (now, if it is). */
  opened(options?: { timeoutMs?: number }): Promise<void>;
  /** A topic on this socket; the same handle for the same name. */
  topic(
    name: string,
  ): TopicHandle<
    Api["topicSend"],
    Api["topicReceive"],
    Api extends { topicReplies: infer R extends RepliesMap } ? R : unknown
  >;
  /** Opens a client made with `autoConnect: false`, or one that gave up reconnecting. */
  connect(): void;
  /** Closes for good: pending requests reject, queued frames are dropped, iterators end. */
  close(code?: number, reason?: string): Promise<void>;
  /** Closes the client. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Presence entries: key (a user id) → the metas of its connections. */
export type PresenceEntriesPayload = Record<string, Array<Record<string, unknown>>>;

/** The reply of `presence()`. */
export interface PresenceListPayload {
  /** The group. */
  group: string;
  /** At most `limit` keys (default 1000) with their metas. */
  entries: PresenceEntriesPayload;
  /** Counts of the whole group. */
  stats: { keys: number; connections: number };
  /** True when the group has more keys than `entries`. */
  truncated: boolean;
}

/** A `presence_diff` frame's payload: apply `leaves`, then `joins`; `resync`: list again. */
export interface PresenceDiffPayload {
  /** The group. */
  group: string;
  /** Keys that appeared, with their metas. */
  joins: PresenceEntriesPayload;
  /** Keys that are gone, with the metas they held. */
  leaves: PresenceEntriesPayload;
  /** Diffs were lost or too many: fetch the list again. */
  resync?: true;
}

/** Applies a diff to a presence list in place (leaves, then joins) and returns it. */
export declare function applyPresenceDiff(
  entries: PresenceEntriesPayload,
  diff: PresenceDiffPayload,
): PresenceEntriesPayload;

/** Connects to an endpoint. Relative URLs resolve against the page (browsers) or `baseUrl`. */
export declare function createClient<Api extends ApiTypes = AnyApi>(
  url: string,
  options?: ClientOptions,
): SwitchboardClient<Api>;

/** A runtime list of message types (values made with `message()`), as `clientApi` takes. */
export interface MessageTypeLike {
  /** The action literal. */
  readonly action: string;
}

/**
 * The value of `static api = clientApi({ send })`: the messages clients send. Its phantom `~types`
 * carries their static (input) type. What clients receive is not part of it: handler return
 * types and `static broadcasts` give that.
 */
export interface ClientApi<Send extends WireMessage = WireMessage> {
  /** Message types clients may send. */
  readonly send: readonly MessageTypeLike[];
  /** Phantom: never set. */
  readonly "~types"?: { send: Send };
}

/**
 * Declares what a consumer's clients send; see `@switchboard/switchboard/client`'s `clientApi`
 * for the typed form. Throws a `TypeError` for the old `receive` list (use `static broadcasts`).
 */
export declare function clientApi(api: { send: readonly MessageTypeLike[] }): ClientApi;

/** The completion actions. */
export declare const COMPLETION_ACTIONS: readonly ["complete", "group_complete", "event_complete"];

/** Base class of every error this client raises. */
export declare class ClientError extends Error {}
/** A request answered with an `error` frame carrying its `ref`. */
export declare class RequestError extends ClientError {
  /** Wraps the error frame that answered a request. */
  constructor(frame: WireMessage & Envelope);
  /** The error frame as received. */
  readonly frame: WireMessage & Envelope;
  /** Its payload. */
  readonly payload: unknown;
  /** `reason` of a topic error (`unknown_topic`, `unauthorized`, `not_subscribed`), if any. */
  readonly reason: string | undefined;
}
/** A request got no answer in time. */
export declare class TimeoutError extends ClientError {}
/** The connection dropped after a request was sent and before its answer (it may or may not have run). */
export declare class ConnectionLostError extends ClientError {}
/** The client is closed. */
export declare class ClientClosedError extends ClientError {}
/** The offline queue is full. */
export declare class QueueFullError extends ClientError {
  /** `limit` is the queue's capacity (`maxQueue`). */
  constructor(limit: number);
}

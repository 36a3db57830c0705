/**
 * The typed client: `createClient<typeof RoomChatConsumer>(url)` sends only what the consumer
 * handles and types what it receives, for code that shares the server's consumer classes (Deno,
 * Node, bundled browser apps). Plain browser pages can import `client.js` directly; clients that
 * do not share the server's code generate the same types from the AsyncAPI document
 * (`npx switchboard client --schema asyncapi.json --out client/`, or `deno run -A
 * jsr:@switchboard/switchboard/cli client …`).
 *
 * ```ts ignore
 * import { createClient } from "@switchboard/switchboard/client";
 * import type { RoomChatConsumer } from "./room_chat/consumer.ts";
 *
 * const chat = createClient<typeof RoomChatConsumer>("ws://localhost:8080/ws/room/lobby");
 * chat.on("room_notification", (m) => console.log(m.payload.message));
 * chat.send({ action: "room_chat", payload: { message: "hi" } });
 * const pong = await chat.request({ action: "ping" });
 * ```
 *
 * Where the types come from (decorators do not change static types, so the client reads what
 * the handlers' own signatures and the consumer's statics say — once, nothing repeated):
 * - what the client may **send**: the first parameter types of the handler methods
 *   (`handleX(m: MessageOf<typeof X>)`, input types: payload fields with defaults are optional),
 *   minus the events declared with `Consumer<Events>`; or, when the consumer declares it,
 *   `static api = clientApi({ send: [...] })`;
 * - what it **receives**: each handler's return type (its `output` reply, for `@wsHandler` and
 *   `@eventHandler` alike), `static broadcasts = [...]` (what it sends outside replies:
 *   `broadcastMessage`, group sends, `sendMessage` pushes), `passthroughEvents`, plus the protocol
 *   frames (`error`, completions);
 * - what **`request()`** resolves to: the reply type of the handler of that action (its return
 *   type), or a protocol frame — not every receivable message;
 * - **topics**: the same, from each class in `static topics`.
 *
 * `checkClientApi(cls)` / `checkClientApis(app)` (from `@switchboard/switchboard/client/check`)
 * check at run time that `api.send` names exactly the `@wsHandler` inputs and that every
 * `broadcasts` entry is a declared handler `output` (or a passthrough event).
 *
 * @module
 */
import type { AnyMessageType, MessageOf, MessageType } from "../src/protocol/message.ts";
import type { Consumer, EventOf } from "../src/consumer/consumer.ts";
import type { Topic } from "../src/consumer/topic.ts";
import {
  type AnyApi,
  type ApiTypes,
  type ClientApi,
  clientApi as runtimeClientApi,
  type ClientOptions,
  createClient as runtimeCreateClient,
  type SwitchboardClient,
  type WireMessage,
} from "./client.js";

export {
  type ActionOf,
  type AnyApi,
  type ApiTypes,
  applyPresenceDiff,
  type ClientApi,
  ClientClosedError,
  ClientError,
  type ClientOptions,
  COMPLETION_ACTIONS,
  ConnectionLostError,
  type ConnectionState,
  type Envelope,
  type ErrorFramePayload,
  type ErrorItem,
  type MessageStream,
  type MessageTypeLike,
  type PresenceDiffPayload,
  type PresenceEntriesPayload,
  type PresenceListPayload,
  type ProtocolMessage,
  QueueFullError,
  type Received,
  type ReconnectOptions,
  type RecoveryOutcome,
  type RepliesMap,
  type ReplyIn,
  type ReplyOf,
  RequestError,
  type RequestOptions,
  type SocketLike,
  type StateInfo,
  type StreamPosition,
  SwitchboardClient,
  TimeoutError,
  TopicHandle,
  type TopicProtocolMessage,
  type TopicReplyOf,
  type WebSocketConstructor,
  type WireMessage,
} from "./client.js";

/**
 * What a client writes for message type `T`: the action and the schema's *input* payload (fields
 * with defaults optional); payload-less messages may omit `payload`.
 */
export type OutgoingOf<T> = T extends MessageType<infer A, infer P, infer I>
  ? [P] extends [null] ? { readonly action: A; readonly payload?: null }
  : { readonly action: A; readonly payload: I }
  : never;

/** The instance type of a class (or never). */
// deno-lint-ignore no-explicit-any
export type InstanceOf<C> = C extends abstract new (...args: any) => infer I ? I : never;
/** The method names of a consumer or topic instance that are its own (not the base class API). */
// deno-lint-ignore no-explicit-any
export type HandlerKeys<I> = Exclude<keyof I, keyof Consumer<any> | keyof Topic<any>>;
/** `M` when its action is a string literal, else never (drops the untyped base message). */
export type LiteralMessage<M> = M extends
  { readonly action: infer A extends string; readonly payload: unknown }
  ? string extends A ? never : M
  : never;
/** The message a handler method takes, when its action is a literal. */
export type ParamMessage<F> = F extends (message: infer M) => unknown ? LiteralMessage<M> : never;
/** The message a handler method returns (awaited), when its action is a literal. */
// deno-lint-ignore no-explicit-any
export type ReturnMessage<F> = F extends (...args: any) => infer R ? LiteralMessage<Awaited<R>>
  : never;
/** The actions of the events declared with `Consumer<Events>`: handlers of those are not client messages. */
export type DeclaredEventActions<C> = EventOf<C> extends { readonly action: infer A extends string }
  ? string extends A ? never : A
  : never;
/** The `send` message union of a class's static `api`, if it declares one. */
export type Api<C> = C extends { readonly api: ClientApi<infer S extends WireMessage> }
  ? { send: S }
  : never;
/** The passthrough events of a class, which reach clients unchanged. */
export type Passthrough<C> = C extends { readonly passthroughEvents: readonly (infer T)[] }
  ? T extends AnyMessageType ? LiteralMessage<MessageOf<T>> : never
  : never;
/** The messages of a class's `static broadcasts`: what it sends outside handler replies. */
export type Broadcasts<C> = C extends { readonly broadcasts: readonly (infer T)[] }
  ? T extends AnyMessageType ? LiteralMessage<MessageOf<T>> : never
  : never;

/** A message as a client writes it: the schema's input payload; payload-less messages may omit `payload`. */
export type Sendable<M> = M extends
  { readonly action: infer A extends string; readonly payload: infer P }
  ? [P] extends [null] ? { readonly action: A; readonly payload?: null }
  : { readonly action: A; readonly payload: InputOf<M, P> }
  : never;

/** The schema's input payload type carried by `Message`'s phantom, else the payload type itself. */
export type InputOf<M, P> = M extends { readonly "~input"?: infer I } ? unknown extends I ? P : I
  : P;

/** The messages a consumer's handlers take, inferred from their parameter types. */
export type InferredClientMessageOf<C> = Exclude<
  { [K in HandlerKeys<InstanceOf<C>>]-?: ParamMessage<InstanceOf<C>[K]> }[
    HandlerKeys<
      InstanceOf<C>
    >
  ],
  { readonly action: DeclaredEventActions<C> }
>;

/** The messages a consumer's handlers return, its broadcasts and its passthrough events. */
export type InferredServerMessageOf<C> =
  | { [K in HandlerKeys<InstanceOf<C>>]-?: ReturnMessage<InstanceOf<C>[K]> }[
    HandlerKeys<
      InstanceOf<C>
    >
  ]
  | Broadcasts<C>
  | Passthrough<C>;

/** The handler methods (their function types) of instance `I` that take action `A`. */
export type HandlerOf<I, A> = {
  [K in HandlerKeys<I>]-?: [ParamMessage<I[K]>] extends [never] ? never
    : ParamMessage<I[K]> extends { readonly action: A } ? I[K]
    : never;
}[HandlerKeys<I>];

/**
 * What a request of action `A` to class(es) `C` resolves to: the return type of its handler, or
 * every message the class sends when no handler method's parameter names `A`.
 */
export type ReplyFor<C, A> = [C extends unknown ? HandlerOf<InstanceOf<C>, A> : never] extends
  [never] ? ServerMessageOf<C>
  : ReturnMessage<C extends unknown ? HandlerOf<InstanceOf<C>, A> : never>;

/** The reply of each client action of class(es) `C` (an {@linkcode ApiTypes} `replies` map). */
export type RepliesOf<C> = { [A in ClientMessageOf<C>["action"]]: ReplyFor<C, A> };

/** What clients of consumer (or topic) class `C` may send. */
export type ClientMessageOf<C> = C extends unknown
  ? [Api<C>] extends [never] ? Sendable<InferredClientMessageOf<C>> : Api<C>["send"]
  : never;

/** What clients of consumer (or topic) class `C` receive, besides the protocol frames. */
export type ServerMessageOf<C> = C extends unknown ? InferredServerMessageOf<C> : never;

/** The topic classes of a consumer class (`static topics`), or the class itself if it is a topic. */
export type TopicsOf<C> = C extends { readonly topics: readonly (infer T)[] } ? T
  : C extends { readonly pattern: string; readonly parse: unknown } ? C
  : never;

/**
 * The {@linkcode ApiTypes} of `S`: a consumer or topic class (derived as described in the module
 * docs), an `ApiTypes` already (generated clients), or `unknown` for untyped use.
 */
export type ApiOf<S> = unknown extends S ? AnyApi
  : S extends ApiTypes ? S
  : {
    send: ClientMessageOf<S>;
    receive: ServerMessageOf<S>;
    topicSend: ClientMessageOf<TopicsOf<S>>;
    topicReceive: ServerMessageOf<TopicsOf<S>>;
    replies: RepliesOf<S>;
    topicReplies: RepliesOf<TopicsOf<S>>;
  };

/**
 * Connects to an endpoint; `S` is the consumer class (`typeof RoomChatConsumer`) or an `ApiTypes`.
 * Relative URLs resolve against the page in browsers, or `options.baseUrl`.
 */
export function createClient<S = unknown>(
  url: string,
  options?: ClientOptions,
): SwitchboardClient<ApiOf<S>> {
  return runtimeCreateClient<ApiOf<S>>(url, options);
}

/**
 * Declares what a consumer's clients send, for `static api = clientApi({ send: [...] })`: the
 * handled client messages (clients then write their *input* types). Optional: without it, the
 * handler methods' parameter types say the same. What clients receive is never declared here:
 * it comes from the handlers' return types and `static broadcasts` (see the module docs).
 * `checkClientApi` verifies `send` against the decorators.
 */
export function clientApi<const S extends readonly AnyMessageType[]>(
  api: { send: S },
): ClientApi<OutgoingOf<S[number]>> {
  return runtimeClientApi(api) as ClientApi<OutgoingOf<S[number]>>;
}

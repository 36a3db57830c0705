/**
 * Handler declaration: the `@wsHandler`, `@eventHandler` and `@channel` decorators (TC39
 * standard decorators) and the decorator-free form for plain JavaScript (`registerHandlers`). Both
 * record the same {@linkcode HandlerInfo} (see `handler_table.ts`, which resolves a class's
 * handlers; `replies.ts` checks what they return).
 *
 * @module
 */
import { DefinitionError } from "../errors.ts";
import type { AnyMessageType, MessageOf } from "../protocol/message.ts";
import {
  type ChannelOptions,
  checkHandlers,
  type HandlerHost,
  type HandlerOptions,
  makeInfo,
  type Metadata,
  metadataOf,
  recordChannel,
  recordHandler,
} from "./handler_table.ts";
import type { HandlerResult, ReplyOf } from "./replies.ts";

export {
  type ChannelOptions,
  checkHandlers,
  type HandlerHost,
  type HandlerInfo,
  type HandlerOptions,
  type HandlerTable,
  handlerTable,
  mergedStatic,
} from "./handler_table.ts";
export { checkReply, type HandlerResult, type ReplyCheck, type ReplyOf } from "./replies.ts";

/**
 * The decorator returned by {@linkcode wsHandler} and {@linkcode eventHandler}: the method takes
 * the message of `M` and returns `R` (a {@linkcode ReplyOf} the declared output).
 */
export type HandlerDecorator<M extends AnyMessageType, R extends HandlerResult = HandlerResult> = <
  This,
  Returned extends R,
>(
  method: (this: This, message: MessageOf<M>) => Returned,
  context: ClassMethodDecoratorContext<This, (this: This, message: MessageOf<M>) => Returned>,
) => void;

function decorator<M extends AnyMessageType, R extends HandlerResult>(
  kind: "ws" | "event",
  input: M,
  options: HandlerOptions,
): HandlerDecorator<M, R> {
  return (_method, context) => {
    if (context.static || context.private || typeof context.name !== "string") {
      throw new DefinitionError(
        `@${kind}Handler must decorate a public, non-static method with a string name`,
      );
    }
    recordHandler(
      context.metadata as Metadata,
      makeInfo(kind, input, context.name, options, true),
      "A consumer",
    );
  };
}

/**
 * Marks a method as the handler of client messages of type `input`. The method receives the
 * validated message; what it returns is sent back to the sender, and must be of a type listed in
 * `output` (or an `error` message) when `output` is given.
 *
 * ```ts
 * @wsHandler(Ping, { output: Pong })
 * handlePing(_m: MessageOf<typeof Ping>): MessageOf<typeof Pong> { return Pong.create(); }
 * ```
 */
export function wsHandler<
  M extends AnyMessageType,
  O extends AnyMessageType | readonly AnyMessageType[] = never,
>(
  input: M,
  options: HandlerOptions & { output?: O } = {},
): HandlerDecorator<M, ReplyOf<O>> {
  return decorator("ws", input, options);
}

/**
 * Marks a method as the handler of server-side events of type `input`, sent with the consumer's
 * static `sendEvent` / `broadcastEvent`. What it returns goes to this consumer's client, and must
 * be of a type listed in `output` when `output` is given.
 */
export function eventHandler<
  M extends AnyMessageType,
  O extends AnyMessageType | readonly AnyMessageType[] = never,
>(
  input: M,
  options: HandlerOptions & { output?: O } = {},
): HandlerDecorator<M, ReplyOf<O>> {
  return decorator("event", input, options);
}

/** The class decorator returned by {@linkcode channel}. */
export type ChannelDecorator = (
  value: abstract new (...args: never[]) => unknown,
  context: ClassDecoratorContext,
) => void;

/** Documents the consumer's channel (AsyncAPI name, description, tags). */
export function channel(options: ChannelOptions): ChannelDecorator {
  return (value, context) => {
    recordChannel(context.metadata as Metadata, options);
    // The class's metadata is attached only once every decorator has run: check duplicates then.
    context.addInitializer(() => checkHandlers(value as unknown as HandlerHost));
  };
}

/** A handler declared without decorators, for {@linkcode registerHandlers}. */
export interface HandlerSpec {
  /** `ws` (client message) or `event` (server-side event). */
  kind: "ws" | "event";
  /** The input message type. */
  input: AnyMessageType;
  /** Documentation options. */
  options?: HandlerOptions;
}

/** A client-message handler for {@linkcode registerHandlers}. */
export function onMessage(input: AnyMessageType, options?: HandlerOptions): HandlerSpec {
  return { kind: "ws", input, options };
}

/** A server-event handler for {@linkcode registerHandlers}. */
export function onEvent(input: AnyMessageType, options?: HandlerOptions): HandlerSpec {
  return { kind: "event", input, options };
}

/**
 * The decorator-free form, for plain JavaScript (Node 20 has no decorator syntax). Produces the
 * same consumer as the decorators do.
 *
 * ```js
 * class Echo extends Consumer { handlePing() { return Pong.create(); } }
 * registerHandlers(Echo, { handlePing: onMessage(Ping, { output: Pong }) }, { name: "echo" });
 * ```
 */
export function registerHandlers<C extends HandlerHost>(
  cls: C,
  handlers: Record<string, HandlerSpec>,
  channelOptions?: ChannelOptions,
): C {
  const meta = metadataOf(cls, true)!;
  for (const [method, spec] of Object.entries(handlers)) {
    if (typeof (cls.prototype as Record<string, unknown>)[method] !== "function") {
      throw new DefinitionError(`registerHandlers(${cls.name}): ${method}() is not a method`);
    }
    recordHandler(
      meta,
      makeInfo(spec.kind, spec.input, method, spec.options ?? {}, false),
      cls.name,
    );
  }
  if (channelOptions) recordChannel(meta, channelOptions);
  checkHandlers(cls);
  return cls;
}

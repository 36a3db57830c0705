/**
 * Handler registration: the `@wsHandler`, `@eventHandler` and `@channel` decorators (TC39
 * standard decorators), a decorator-free form for plain JavaScript, and the per-class handler table.
 *
 * @module
 */
import { DefinitionError } from "../errors.ts";
import type { AnyMessage, AnyMessageType, Message, MessageOf } from "../protocol/message.ts";
import { validatePayload } from "../protocol/validation.ts";

// Node 20 has no Symbol.metadata; TypeScript's decorator helpers only fill context.metadata when it exists.
// deno-lint-ignore no-explicit-any
(Symbol as any).metadata ??= Symbol.for("Symbol.metadata");
const METADATA: symbol = (Symbol as unknown as { metadata: symbol }).metadata;
const HANDLERS = Symbol.for("switchboard.handlers");
const CHANNEL = Symbol.for("switchboard.channel");

/** What a handler may return: a reply message, nothing, or a promise of either. */
export type HandlerResult = AnyMessage | void | undefined | Promise<AnyMessage | void | undefined>;

/**
 * What a handler declaring `output: O` may return: a message of one of those types, an `error`
 * message, nothing, or a promise of one of them. Any {@linkcode HandlerResult} when `O` is `never`
 * (no output declared).
 */
export type ReplyOf<O> = [O] extends [never] ? HandlerResult
  : O extends AnyMessageType | readonly AnyMessageType[] ?
      | MessageOf<O extends readonly AnyMessageType[] ? O[number] : Extract<O, AnyMessageType>>
      | Message<"error", unknown>
      | void
      | undefined
      | Promise<
        | MessageOf<O extends readonly AnyMessageType[] ? O[number] : Extract<O, AnyMessageType>>
        | Message<"error", unknown>
        | void
        | undefined
      >
  : HandlerResult;

/** Documentation options shared by both handler decorators. */
export interface HandlerOptions {
  /**
   * The message type(s) this handler sends back (documentation and typed clients), by return
   * value or otherwise (broadcasts). A reply of another type does not compile with the decorators
   * and is not sent at run time: the client gets an `invalid_reply` error frame instead (so does a
   * return value that is not a message at all). For handlers registered with
   * {@linkcode registerHandlers} (plain JavaScript), the reply's payload is also validated against
   * the output type's schema.
   */
  output?: AnyMessageType | readonly AnyMessageType[];
  /** One line for the AsyncAPI operation. */
  summary?: string;
  /** Longer text for the AsyncAPI operation. */
  description?: string;
  /** AsyncAPI tags. */
  tags?: readonly string[];
  /** AsyncAPI operation id (default: the method name). */
  operationId?: string;
}

/** One registered handler. */
export interface HandlerInfo {
  /** `ws` for client messages, `event` for server-side events. */
  readonly kind: "ws" | "event";
  /** The wire action it handles. */
  readonly action: string;
  /** The method name on the consumer. */
  readonly method: string;
  /** The input message type. */
  readonly input: AnyMessageType;
  /** Output message types (documentation). */
  readonly output: readonly AnyMessageType[];
  /** AsyncAPI summary. */
  readonly summary?: string;
  /** AsyncAPI description. */
  readonly description?: string;
  /** AsyncAPI tags. */
  readonly tags: readonly string[];
  /** AsyncAPI operation id. */
  readonly operationId: string;
  /** True for a handler generated from `passthroughEvents`. */
  readonly passthrough: boolean;
}

/**
 * Handlers registered with {@linkcode registerHandlers}: TypeScript did not check their replies,
 * so their payloads are validated against the output schema at run time. (Kept out of
 * {@linkcode HandlerInfo}, so both forms build the same table.)
 */
const untyped = new WeakSet<HandlerInfo>();

/** Channel-level documentation given with `@channel`. */
export interface ChannelOptions {
  /** AsyncAPI channel name (default: the consumer name in snake_case). */
  name?: string;
  /** AsyncAPI channel description. */
  description?: string;
  /** AsyncAPI tags. */
  tags?: readonly string[];
}

type Metadata = Record<PropertyKey, unknown>;

function ownList(meta: Metadata): HandlerInfo[] {
  if (!Object.hasOwn(meta, HANDLERS)) {
    Object.defineProperty(meta, HANDLERS, { value: [], enumerable: false });
  }
  return meta[HANDLERS] as HandlerInfo[];
}

function describeKind(kind: "ws" | "event"): string {
  return kind === "ws" ? "message" : "event";
}

function duplicateError(owner: string, kind: "ws" | "event", action: string, a: string, b: string) {
  const [x, y] = [a, b].sort();
  return new DefinitionError(
    `${owner} has two ${
      describeKind(kind)
    } handlers for action '${action}': ${x}() and ${y}(). Actions must be unique within a consumer.`,
  );
}

function record(meta: Metadata | undefined, info: HandlerInfo, owner: string): void {
  if (!meta) {
    throw new DefinitionError(
      `@${info.kind}Handler on ${info.method}(): decorator metadata is missing. Use standard (TC39) ` +
        `decorators (no "experimentalDecorators"), or registerHandlers() in plain JavaScript.`,
    );
  }
  const list = ownList(meta);
  const clash = list.find((h) =>
    h.kind === info.kind && h.action === info.action && h.method !== info.method
  );
  if (clash) throw duplicateError(owner, info.kind, info.action, clash.method, info.method);
  const same = list.findIndex((h) => h.method === info.method);
  if (same !== -1) list.splice(same, 1);
  list.push(info);
}

function outputs(output: HandlerOptions["output"]): readonly AnyMessageType[] {
  if (!output) return [];
  return Array.isArray(output) ? output : [output as AnyMessageType];
}

function makeInfo(
  kind: "ws" | "event",
  input: AnyMessageType,
  method: string,
  options: HandlerOptions,
  typed: boolean,
): HandlerInfo {
  if (!input || typeof input.action !== "string") {
    throw new DefinitionError(
      `${
        kind === "ws" ? "@wsHandler" : "@eventHandler"
      } on ${method}(): the first argument must be ` +
        `a message type made with message()`,
    );
  }
  const info: HandlerInfo = {
    kind,
    action: input.action,
    method,
    input,
    output: outputs(options.output),
    summary: options.summary,
    description: options.description,
    tags: options.tags ?? [],
    operationId: options.operationId ?? method,
    passthrough: false,
  };
  if (!typed) untyped.add(info);
  return info;
}

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
    record(
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
    (context.metadata as Metadata)[CHANNEL] = { ...options };
    // The class's metadata is attached only once every decorator has run: check duplicates then.
    context.addInitializer(() => checkHandlers(value as unknown as HandlerHost));
  };
}

/** Any class handlers can be registered on: a consumer, a topic, or a mixin's class. */
// deno-lint-ignore no-explicit-any
export type HandlerHost = abstract new (...args: any[]) => unknown;

function metadataOf(cls: HandlerHost, create: boolean): Metadata | undefined {
  if (Object.hasOwn(cls, METADATA)) return (cls as unknown as Record<symbol, Metadata>)[METADATA];
  if (!create) return undefined;
  const parent = (Object.getPrototypeOf(cls) as Record<symbol, Metadata> | null)?.[METADATA];
  const meta = Object.create(parent ?? null) as Metadata;
  Object.defineProperty(cls, METADATA, { value: meta, configurable: true });
  return meta;
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
    record(meta, makeInfo(spec.kind, spec.input, method, spec.options ?? {}, false), cls.name);
  }
  if (channelOptions) meta[CHANNEL] = { ...channelOptions };
  checkHandlers(cls);
  return cls;
}

/** The resolved handlers of a consumer class (own, inherited and from mixins). */
export interface HandlerTable {
  /** Client-message handlers by action, sorted by method name. */
  readonly ws: ReadonlyMap<string, HandlerInfo>;
  /** Event handlers by action: explicit ones sorted by method name, then passthroughs. */
  readonly events: ReadonlyMap<string, HandlerInfo>;
  /** Channel documentation from `@channel`, if any. */
  readonly channel: ChannelOptions | undefined;
  /** The accepted client actions, quoted and comma-separated (for error messages). */
  readonly expected: string;
}

const tables = new WeakMap<object, HandlerTable>();

function chain(cls: HandlerHost): HandlerHost[] {
  const out: HandlerHost[] = [];
  for (
    let c: HandlerHost | null = cls;
    c && c !== Function.prototype;
    c = Object.getPrototypeOf(c)
  ) {
    out.push(c);
  }
  return out.reverse(); // base first
}

/** Merges a static array property across the class chain, most-derived first, without duplicates. */
export function mergedStatic<T>(cls: HandlerHost, key: string): T[] {
  const seen = new Set<T>();
  for (const c of chain(cls).reverse()) {
    if (Object.hasOwn(c, key)) {
      for (const v of (c as unknown as Record<string, T[]>)[key] ?? []) seen.add(v);
    }
  }
  return [...seen];
}

function pascalToSnake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/([A-Z])([A-Z][a-z])/g, "$1_$2")
    .toLowerCase();
}

/** Builds (and caches) the handler table of `cls`; throws {@linkcode DefinitionError} on duplicates. */
export function handlerTable(cls: HandlerHost): HandlerTable {
  const cached = tables.get(cls);
  if (cached) return cached;
  const byMethod = new Map<string, HandlerInfo>();
  let channelOptions: ChannelOptions | undefined;
  for (const c of chain(cls)) {
    const meta = metadataOf(c, false);
    if (!meta) continue;
    if (Object.hasOwn(meta, HANDLERS)) {
      for (const h of meta[HANDLERS] as HandlerInfo[]) {
        byMethod.delete(h.method);
        byMethod.set(h.method, h);
      }
    }
    if (Object.hasOwn(meta, CHANNEL)) channelOptions = meta[CHANNEL] as ChannelOptions;
  }
  const sorted = [...byMethod.values()].sort((a, b) =>
    a.method < b.method ? -1 : a.method > b.method ? 1 : 0
  );
  const ws = new Map<string, HandlerInfo>();
  const events = new Map<string, HandlerInfo>();
  for (const h of sorted) {
    const map = h.kind === "ws" ? ws : events;
    const clash = map.get(h.action);
    if (clash) throw duplicateError(cls.name, h.kind, h.action, clash.method, h.method);
    map.set(h.action, h);
  }
  for (const type of mergedStatic<AnyMessageType>(cls, "passthroughEvents")) {
    if (!type || typeof type.action !== "string") {
      throw new DefinitionError(
        `${cls.name}.passthroughEvents must hold message types made with message()`,
      );
    }
    if (events.has(type.action)) continue; // an explicit handler wins
    const method = `handlePassthrough${type.title.replace(/Message$/, "")}`;
    events.set(type.action, {
      kind: "event",
      action: type.action,
      method,
      input: type,
      output: [type],
      description: `Passthrough handler for ${type.title}`,
      tags: [],
      operationId: pascalToSnake(method),
      passthrough: true,
    });
  }
  const table: HandlerTable = {
    ws,
    events,
    channel: channelOptions,
    expected: [...ws.keys()].map((a) => `'${a}'`).join(", "),
  };
  tables.set(cls, table);
  return table;
}

/** Validates a consumer class's handlers now (duplicates across mixins and inheritance). */
export function checkHandlers(cls: HandlerHost): void {
  tables.delete(cls);
  handlerTable(cls);
}

/** The outcome of {@linkcode checkReply}: the message to send, or what is wrong with the reply. */
export type ReplyCheck = { ok: true; message: AnyMessage } | { ok: false; problem: string };

function describeValue(value: unknown): string {
  if (typeof value === "string") return `a string (${JSON.stringify(value.slice(0, 40))})`;
  if (typeof value !== "object" || value === null) return `${typeof value} ${String(value)}`;
  return Array.isArray(value) ? "an array" : "an object without a string 'action'";
}

/**
 * Checks what a handler returned (anything but `undefined`/`null`) before it is sent: a message
 * (`{action, payload}`), of one of the declared `output` types when there are any (`error`
 * messages always pass), and — for handlers TypeScript did not check ({@linkcode registerHandlers})
 * — with a payload its output schema accepts (the validated payload is what gets sent).
 */
export async function checkReply(handler: HandlerInfo, result: unknown): Promise<ReplyCheck> {
  if (
    typeof result !== "object" || result === null ||
    typeof (result as AnyMessage).action !== "string"
  ) {
    return { ok: false, problem: `returned ${describeValue(result)}, not a message` };
  }
  const reply = result as AnyMessage;
  if (handler.output.length === 0 || reply.action === "error") return { ok: true, message: reply };
  const type = handler.output.find((t) => t.action === reply.action);
  if (!type) {
    return {
      ok: false,
      problem: `returned '${reply.action}', which is not in its declared output (${
        handler.output.map((t) => `'${t.action}'`).join(", ")
      })`,
    };
  }
  if (!untyped.has(handler)) return { ok: true, message: reply };
  const checked = await validatePayload(type, reply.payload, true);
  if (!checked.ok) {
    return {
      ok: false,
      problem: `returned a '${reply.action}' whose payload its schema refuses (${
        checked.errors.map((e) => `${e.loc.join(".")}: ${e.msg}`).join("; ")
      })`,
    };
  }
  return { ok: true, message: { action: reply.action, payload: checked.value } };
}

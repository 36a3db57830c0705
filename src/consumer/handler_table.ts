/**
 * What a handler is ({@linkcode HandlerInfo}), how declarations are recorded in a class's decorator
 * metadata, and the resolved per-class {@linkcode HandlerTable} (own, inherited and mixed-in
 * handlers, then `passthroughEvents`), checked for duplicate actions.
 *
 * @module
 */
import { DefinitionError } from "../errors.ts";
import type { AnyMessageType } from "../protocol/message.ts";
import { PresenceDiffMessage, PresenceReply, PresenceRequest } from "../presence/frames.ts";

// Node 20 has no Symbol.metadata; TypeScript's decorator helpers only fill context.metadata when it exists.
// deno-lint-ignore no-explicit-any
(Symbol as any).metadata ??= Symbol.for("Symbol.metadata");
const METADATA: symbol = (Symbol as unknown as { metadata: symbol }).metadata;
const HANDLERS = Symbol.for("switchboard.handlers");
const CHANNEL = Symbol.for("switchboard.channel");

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

/** Channel-level documentation given with `@channel`. */
export interface ChannelOptions {
  /** AsyncAPI channel name (default: the consumer name in snake_case). */
  name?: string;
  /** AsyncAPI channel description. */
  description?: string;
  /** AsyncAPI tags. */
  tags?: readonly string[];
}

/**
 * Handlers registered with {@linkcode registerHandlers}: TypeScript did not check their replies,
 * so their payloads are validated against the output schema at run time. (Kept out of
 * {@linkcode HandlerInfo}, so both forms build the same table.)
 */
const untyped = new WeakSet<HandlerInfo>();

/** True for a handler registered with {@linkcode registerHandlers} (replies checked at run time). */
export function isUntyped(handler: HandlerInfo): boolean {
  return untyped.has(handler);
}

/** Any class handlers can be registered on: a consumer, a topic, or a mixin's class. */
// deno-lint-ignore no-explicit-any
export type HandlerHost = abstract new (...args: any[]) => unknown;

/** The class's own decorator metadata, created (inheriting its parent's) when `create`. */
export function metadataOf(cls: HandlerHost, create: boolean): Metadata | undefined {
  if (Object.hasOwn(cls, METADATA)) return (cls as unknown as Record<symbol, Metadata>)[METADATA];
  if (!create) return undefined;
  const parent = (Object.getPrototypeOf(cls) as Record<symbol, Metadata> | null)?.[METADATA];
  const meta = Object.create(parent ?? null) as Metadata;
  Object.defineProperty(cls, METADATA, { value: meta, configurable: true });
  return meta;
}

/** The decorator metadata object of a class. */
export type Metadata = Record<PropertyKey, unknown>;

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

/**
 * Records `info` in `meta` (the class's own list): a second method for the same action throws
 * {@linkcode DefinitionError}; the same method again replaces its former entry.
 */
export function recordHandler(meta: Metadata | undefined, info: HandlerInfo, owner: string): void {
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

/** Records the `@channel` options of a class. */
export function recordChannel(meta: Metadata, options: ChannelOptions): void {
  meta[CHANNEL] = { ...options };
}

function outputs(output: HandlerOptions["output"]): readonly AnyMessageType[] {
  if (!output) return [];
  return Array.isArray(output) ? output : [output as AnyMessageType];
}

/**
 * The {@linkcode HandlerInfo} of a declared handler; `typed` is false for handlers registered
 * without decorators (their replies are validated at run time).
 */
export function makeInfo(
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

/** The built-in `presence` request of classes with `static presence` (`Consumer["~presence"]`). */
const PRESENCE_HANDLER: HandlerInfo = Object.freeze({
  kind: "ws",
  action: PresenceRequest.action,
  method: "~presence",
  input: PresenceRequest,
  output: [PresenceReply, PresenceDiffMessage],
  summary: "Presence: the list of a group, and its diff frames on or off",
  tags: [],
  operationId: "presence",
  passthrough: false,
});

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
  // Read per connection (`defaultGroups`): no array of the chain, no Set while nothing is found.
  let seen: Set<T> | undefined;
  for (
    let c: HandlerHost | null = cls;
    c && c !== Function.prototype;
    c = Object.getPrototypeOf(c)
  ) {
    const list = Object.hasOwn(c, key) ? (c as unknown as Record<string, T[]>)[key] : undefined;
    if (list) { for (let i = 0; i < list.length; i++) (seen ??= new Set()).add(list[i]); }
  }
  return seen ? [...seen] : [];
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
  // Presence (opt-in, `static presence`): the built-in `presence` request.
  if ((cls as { presence?: unknown }).presence && !ws.has(PresenceRequest.action)) {
    ws.set(PresenceRequest.action, PRESENCE_HANDLER);
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

/**
 * Typed messages: `{action, payload}` frames whose payload is validated by any Standard Schema.
 *
 * @module
 */
import type { StandardSchemaV1 } from "./standard_schema.ts";

/** Any message on the wire. */
export interface AnyMessage {
  /** The routing key. */
  readonly action: string;
  /** The body; `null` for payload-less messages. */
  readonly payload: unknown;
}

/** Options of {@linkcode message}. */
export interface MessageOptions {
  /** A one-line description, used in the AsyncAPI document. */
  description?: string;
  /** The name of this message type in documentation (default: PascalCase of the action + "Message"). */
  title?: string;
  /**
   * Frames of this type may be dropped for a slow client instead of closing it (with the app's
   * `slowClientPolicy: "drop"`): telemetry, presence, progress — anything superseded by the next one.
   */
  droppable?: boolean;
}

const droppable = new Set<string>();

/** True when frames with this action were declared droppable. */
export function isDroppable(action: string): boolean {
  return droppable.has(action);
}

/**
 * A message type: an action literal, an optional payload schema and a typed constructor.
 * `P` is the validated payload type (what handlers get), `I` the input type (what senders write).
 */
export interface MessageType<A extends string = string, P = unknown, I = P> {
  /** The action literal that routes this message. */
  readonly action: A;
  /** The payload schema, or `undefined` for a payload-less message (payload `null`). */
  readonly schema: StandardSchemaV1<unknown, P> | undefined;
  /** Documentation title. */
  readonly title: string;
  /** Documentation description. */
  readonly description: string | undefined;
  /**
   * Builds a message of this type. The payload is validated and defaults are applied; an invalid
   * payload throws a `TypeError` naming the problems.
   */
  create(...payload: P extends null ? [payload?: null] : [payload: I]): Message<A, P, I>;
  /** True when `value` is a message of this type (checks the action only). */
  is(value: unknown): value is Message<A, P, I>;
}

/** A message value of action `A` and payload `P`. */
export interface Message<A extends string = string, P = unknown, I = P> extends AnyMessage {
  /** The routing key. */
  readonly action: A;
  /** The body. */
  readonly payload: P;
  /**
   * Phantom: the sender-side payload type (the schema's input, where defaults are optional). Never
   * set at run time; typed clients read it to know what a client may write.
   */
  readonly "~input"?: I;
}

/** Any message type. */
// deno-lint-ignore no-explicit-any
export type AnyMessageType = MessageType<string, any, any>;

/** The static type of the messages a message type makes: `MessageOf<typeof Ping>`. */
export type MessageOf<T extends AnyMessageType> = T extends MessageType<infer A, infer P, infer I>
  ? Message<A, P, I>
  : never;

/** The input (sender-side) payload type of a message type. */
export type PayloadInputOf<T extends AnyMessageType> = T extends
  MessageType<string, unknown, infer I> ? I : never;

/** The union of messages of a list of message types. */
export type MessagesOf<T extends readonly AnyMessageType[]> = MessageOf<T[number]>;

/** `room_chat` → `RoomChatMessage`; an action that already ends in "message" keeps one. */
function defaultTitle(action: string): string {
  const name = pascal(action);
  return name.endsWith("Message") ? name : `${name}Message`;
}

function pascal(action: string): string {
  return action.split(/[^a-zA-Z0-9]+/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1))
    .join("");
}

function parseSync(
  action: string,
  schema: StandardSchemaV1 | undefined,
  payload: unknown,
): unknown {
  if (!schema) {
    if (payload !== undefined && payload !== null) {
      throw new TypeError(`${action}.create(): this message has no payload`);
    }
    return null;
  }
  const result = schema["~standard"].validate(payload);
  if (result instanceof Promise) {
    throw new TypeError(
      `${action}.create(): the schema validates asynchronously; build the message by hand`,
    );
  }
  if (result.issues) {
    const details = result.issues.map((i) =>
      `${
        (i.path ?? []).map((p) => typeof p === "object" ? String(p.key) : String(p)).join(".") ||
        "payload"
      }: ${i.message}`
    ).join("; ");
    throw new TypeError(`${action}.create(): invalid payload (${details})`);
  }
  return result.value;
}

/** Defines a payload-less message type: its payload is always `null`. */
export function message<A extends string>(
  action: A,
  options?: MessageOptions,
): MessageType<A, null>;
/** Defines a message type whose payload is validated by `schema` (zod v4 or any Standard Schema). */
export function message<A extends string, S extends StandardSchemaV1>(
  action: A,
  schema: S,
  options?: MessageOptions,
): MessageType<A, StandardSchemaV1.InferOutput<S>, StandardSchemaV1.InferInput<S>>;
export function message(
  action: string,
  schemaOrOptions?: StandardSchemaV1 | MessageOptions,
  maybeOptions?: MessageOptions,
): AnyMessageType {
  if (typeof action !== "string" || action.length === 0) {
    throw new TypeError("message(): the action must be a non-empty string");
  }
  const schema = schemaOrOptions && "~standard" in schemaOrOptions
    ? schemaOrOptions as StandardSchemaV1
    : undefined;
  const options = (schema ? maybeOptions : schemaOrOptions as MessageOptions | undefined) ?? {};
  if (schemaOrOptions && !schema && maybeOptions) {
    throw new TypeError(`message('${action}'): the second argument must be a Standard Schema`);
  }
  if (options.droppable) droppable.add(action);
  return {
    action,
    schema,
    title: options.title ?? defaultTitle(action),
    description: options.description,
    create: (payload?: unknown) => ({ action, payload: parseSync(action, schema, payload) }),
    is: (value: unknown): value is Message =>
      typeof value === "object" && value !== null && (value as AnyMessage).action === action,
  };
}

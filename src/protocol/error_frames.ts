/**
 * Error frames: the `error` message the server sends a client, its payload types, every code and
 * reason it carries on the wire, and the builders of each error the core sends.
 *
 * An error frame's payload is either a list of items `{type, loc, msg}` (the frame or its payload
 * was wrong; `type` is one of {@linkcode ErrorCode} or a schema library's issue code) or an object
 * `{reason?, detail}` (the request could not be served; `reason` is one of
 * {@linkcode ErrorReason}).
 *
 * @module
 */
import { message, type MessageType } from "./message.ts";
import type { AnyMessage } from "./message.ts";
import type { StandardSchemaV1 } from "./standard_schema.ts";
import { describeInput, truncateForEcho } from "./truncate.ts";

// --- payload types ---------------------------------------------------------------------------

/** One entry of a validation error frame: what was wrong, where, in words. */
export interface ErrorItem {
  /** A machine-readable kind (`json_invalid`, `union_tag_invalid`, `missing`, zod's issue codes…). */
  type: string;
  /** Where: `[]` for the frame, `[action, "payload", ...path]` inside a payload. */
  loc: Array<string | number>;
  /** A human-readable explanation. */
  msg: string;
}

/** The payload of an `error` frame: a list of items, or `{detail}` when a handler failed. */
export type ErrorPayload = ErrorItem[] | { detail: string; [key: string]: unknown };

/** Hand-written Standard Schema accepting any error payload (the core imports no schema library). */
const anyPayload: StandardSchemaV1<ErrorPayload, ErrorPayload> = {
  "~standard": {
    version: 1,
    vendor: "switchboard",
    validate: (value: unknown) => ({ value: value as ErrorPayload }),
  },
};

/** `{"action":"error","payload": [...] | {detail}}`. */
export const ErrorMessage: MessageType<"error", ErrorPayload> = message("error", anyPayload, {
  title: "ErrorMessage",
});

// --- codes -----------------------------------------------------------------------------------

/** The `type` of the error items the core itself sends (schema issues carry their own codes). */
export const ErrorCode = {
  /** The frame is not JSON. */
  jsonInvalid: "json_invalid",
  /** The frame is JSON but not an object. */
  modelType: "model_type",
  /** A binary frame (the protocol is JSON text). */
  frameType: "frame_type",
  /** The frame has no `action`. */
  unionTagNotFound: "union_tag_not_found",
  /** No handler for the frame's `action`. */
  unionTagInvalid: "union_tag_invalid",
  /** An envelope key (`topic`, `ref`) is not a string. */
  stringType: "string_type",
  /** An envelope key is longer than its limit. */
  stringTooLong: "string_too_long",
  /** The frame nests arrays and objects deeper than the connection's `maxJsonDepth`. */
  jsonTooDeep: "json_too_deep",
  /** A client frame carries an envelope key only the server sets (`seq`). */
  extraForbidden: "extra_forbidden",
  /** The frame's `version` is not the one this server speaks. */
  versionUnsupported: "version_unsupported",
  /** Over the connection's rate limit. */
  rateLimited: "rate_limited",
  /** Too many frames waiting to be handled on the connection. */
  tooManyPending: "too_many_pending",
  /** A payload where the message type takes none. */
  noneRequired: "none_required",
  /** No payload where the message type needs one. */
  missing: "missing",
  /** A schema issue without a code of its own. */
  valueError: "value_error",
  /** The last item of a long list: how many more were not listed. */
  tooManyErrors: "too_many_errors",
} as const;

/** The `reason` of the `{reason, detail}` error frames. */
export const ErrorReason = {
  /** The channel layer cannot be reached (the connection stays open; joins are retried). */
  layerUnavailable: "layer_unavailable",
  /** The server's handler returned a reply its declaration refuses; nothing else was sent. */
  invalidReply: "invalid_reply",
  /** A topic frame for a topic the connection is not subscribed to. */
  notSubscribed: "not_subscribed",
  /** A subscription past the connection's `maxSubscriptions`. */
  tooManySubscriptions: "too_many_subscriptions",
  /** A topic no topic class of the consumer matches. */
  unknownTopic: "unknown_topic",
  /** The topic's `authorize` refused (or failed). */
  unauthorized: "unauthorized",
} as const;

// --- builders --------------------------------------------------------------------------------

/** An `error` frame with `payload`. */
export function errorFrame(payload: ErrorItem[] | { detail: string; reason?: string }): AnyMessage {
  return { action: ErrorMessage.action, payload };
}

/** An `error` frame with one frame-level item (`loc: []`). */
function itemFrame(type: string, msg: string): AnyMessage {
  return errorFrame([{ type, loc: [], msg }]);
}

/** An `error` frame `{reason, detail}`. */
export function reasonFrame(reason: string, detail: string): AnyMessage {
  return errorFrame({ reason, detail });
}

/** The frame is not JSON (`error` is JSON.parse's exception, its text cut). */
export function jsonInvalid(error: unknown): AnyMessage {
  return itemFrame(
    ErrorCode.jsonInvalid,
    `Invalid JSON: ${truncateForEcho(String((error as Error).message))}`,
  );
}

/** The frame nests arrays and objects deeper than `max` levels. */
export function jsonTooDeep(max: number): AnyMessage {
  return itemFrame(ErrorCode.jsonTooDeep, `Nesting deeper than ${max} levels`);
}

/** The frame is JSON but not an object. */
export function notAnObject(): AnyMessage {
  return itemFrame(
    ErrorCode.modelType,
    "Input should be a JSON object with 'action' and 'payload'",
  );
}

/** A binary frame. */
export function binaryRefused(): AnyMessage {
  return itemFrame(ErrorCode.frameType, "Binary frames are not supported: send JSON text frames");
}

/** The frame has no `action`. */
export function actionMissing(): AnyMessage {
  return itemFrame(
    ErrorCode.unionTagNotFound,
    "Unable to extract tag using discriminator 'action'",
  );
}

/** No handler for `action`; `expected` lists the handled actions. */
export function actionUnknown(action: unknown, expected: string): AnyMessage {
  return itemFrame(
    ErrorCode.unionTagInvalid,
    `Input tag '${
      describeInput(action)
    }' found using 'action' does not match any of the expected tags: ${expected || "(none)"}`,
  );
}

/** Over the rate limit of `perSecond` frames. */
export function rateLimited(perSecond: number): AnyMessage {
  return itemFrame(
    ErrorCode.rateLimited,
    `Too many messages: the limit is ${perSecond} per second`,
  );
}

/** Over the pending-frames budget. */
export function tooManyPending(maxFrames: number, maxBytes: number): AnyMessage {
  return itemFrame(
    ErrorCode.tooManyPending,
    `Too many messages waiting to be handled: the limit is ${maxFrames} ` +
      `messages and ${maxBytes} bytes per connection`,
  );
}

/** The channel layer cannot be reached. */
export function layerUnavailable(error: Error): AnyMessage {
  return reasonFrame(ErrorReason.layerUnavailable, error.message);
}

/** A handler failed (its error stays in the server log). */
export function handlerFailed(action?: string): AnyMessage {
  return errorFrame({
    detail: action === undefined
      ? "Failed to process message"
      : `Failed to process message for ${action}`,
  });
}

/** A handler's reply was refused by its declaration. */
export function invalidReply(action: string): AnyMessage {
  return reasonFrame(
    ErrorReason.invalidReply,
    `The server's handler for '${action}' gave an invalid reply`,
  );
}

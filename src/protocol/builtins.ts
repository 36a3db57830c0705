/**
 * Wire constants: the completion actions and the built-in message types.
 *
 * @module
 */
import { message, type MessageType } from "./message.ts";
import type { StandardSchemaV1 } from "./standard_schema.ts";

/** Sent to a client after each of its frames was fully handled (completion signals on). */
export const MESSAGE_ACTION_COMPLETE = "complete" as const;
/** Sent to each receiver after it relayed a broadcast (never to an excluded sender). */
export const GROUP_ACTION_COMPLETE = "group_complete" as const;
/** Sent to a client after its consumer handled a server-side event (also after an error). */
export const EVENT_ACTION_COMPLETE = "event_complete" as const;
/** The three completion actions. */
export const COMPLETE_ACTIONS: ReadonlySet<string> = new Set([
  MESSAGE_ACTION_COMPLETE,
  GROUP_ACTION_COMPLETE,
  EVENT_ACTION_COMPLETE,
]);

/** `{"action":"ping","payload":null}` — every tutorial consumer answers it with pong. */
export const Ping: MessageType<"ping", null> = message("ping", { title: "PingMessage" });
/** `{"action":"pong","payload":null}`. */
export const Pong: MessageType<"pong", null> = message("pong", { title: "PongMessage" });
/** `{"action":"complete","payload":null}`. */
export const Complete: MessageType<"complete", null> = message(MESSAGE_ACTION_COMPLETE, {
  title: "CompleteMessage",
});
/** `{"action":"group_complete","payload":null}`. */
export const GroupComplete: MessageType<"group_complete", null> = message(GROUP_ACTION_COMPLETE, {
  title: "GroupCompleteMessage",
});
/** `{"action":"event_complete","payload":null}`. */
export const EventComplete: MessageType<"event_complete", null> = message(EVENT_ACTION_COMPLETE, {
  title: "EventCompleteMessage",
});

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

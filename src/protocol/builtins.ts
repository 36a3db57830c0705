/**
 * Wire constants: the completion actions, the topic control actions and the built-in message
 * types (the error frame is in `error_frames.ts`).
 *
 * @module
 */
import { message, type MessageType } from "./message.ts";

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

/** The topic control actions: a client sends `subscribe` / `unsubscribe` with a `topic`. */
export const TopicAction = {
  /** Client → server: subscribe to the frame's `topic`. */
  subscribe: "subscribe",
  /** Client → server: end the subscription to the frame's `topic`. */
  unsubscribe: "unsubscribe",
  /** Server → client: the subscription is made (or was already). */
  subscribed: "subscribed",
  /** Server → client: the subscription is ended (or did not exist). */
  unsubscribed: "unsubscribed",
} as const;

/**
 * The layer messages consumers exchange (internal wire between processes, JSON).
 *
 * @module
 */
export { RESYNC_MESSAGE_TYPE } from "./layer.ts";

/** `{type, message, exclude?}`: a broadcast frame to relay to the client unless it is `exclude`. */
export const GROUP_TYPE = "switchboard.group";
/** `{type, event}`: a server-side event for the consumer's `@eventHandler`. */
export const EVENT_TYPE = "switchboard.event";
/** `{type, topic, event, seq?}`: a topic broadcast for the subscription to `topic`. */
export const TOPIC_TYPE = "switchboard.topic";

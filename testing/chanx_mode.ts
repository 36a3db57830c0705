/**
 * The frame filter behind the communicator's Chanx compatibility (`topicCompletions: false`,
 * `chanx: true`): Chanx's topics send no completion frames, ours do; a ported test sees Chanx's
 * wire when the communicator discards them on arrival.
 *
 * @module
 */
import { COMPLETE_ACTIONS } from "../src/protocol/builtins.ts";

/** Chanx's `receive_all_messages` timeout (1 s), the default under `chanx: true`, in ms. */
export const CHANX_RECEIVE_ALL_TIMEOUT = 1000;

/**
 * True for a completion frame (`complete`, `group_complete`, `event_complete`) that carries a
 * `topic` envelope key, i.e. the completion of a topic frame. Unparseable frames are kept.
 */
export function isTopicCompletion(raw: string): boolean {
  try {
    const frame = JSON.parse(raw) as { action?: unknown; topic?: unknown };
    return typeof frame === "object" && frame !== null && frame.topic !== undefined &&
      COMPLETE_ACTIONS.has(String(frame.action));
  } catch {
    return false;
  }
}

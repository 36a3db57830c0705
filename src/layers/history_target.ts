/**
 * The target line `#<offset> <epoch>` of a message sent with history over pub/sub (the Redis
 * pub/sub layer and the NATS layer): {@linkcode stampFromTarget} turns it back into the
 * message's stamp. Runtime-neutral, shared by both adapters.
 *
 * @module
 */
import { HISTORY_KEY } from "./history.ts";
import type { LayerMessage } from "./layer.ts";

/**
 * The message a pub/sub payload's target line `#<offset> <epoch>` belongs to, stamped with its
 * position in `group` (undefined when the line is no position).
 */
export function stampFromTarget(
  message: LayerMessage,
  group: string,
  target: string,
): LayerMessage {
  if (!target.startsWith("#")) return message;
  const space = target.indexOf(" ");
  const offset = Number(target.slice(1, space));
  if (space < 0 || !Number.isSafeInteger(offset)) return message;
  return { ...message, [HISTORY_KEY]: { group, offset, epoch: target.slice(space + 1) } };
}

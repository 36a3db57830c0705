/**
 * The history capability of a channel layer (optional): a bounded, per-group log of group
 * messages in which every message has a {@linkcode StreamPosition} (an offset that grows by one
 * per message, within an epoch that changes whenever the log is lost), so that a receiver that
 * missed messages can read exactly those back, or learn for sure that it cannot.
 *
 * A layer that offers it lists `"history"` in its `extensions` and implements
 * {@linkcode HistoryCapability}: {@linkcode HistoryCapability.appendAndSend} appends a message to
 * the group's history and sends it to the group's members stamped with its position under
 * {@linkcode HISTORY_KEY}; {@linkcode HistoryCapability.readSince} returns what followed a
 * position. `docs/recovery.md` describes the guarantees; tests/layers/conformance_history.ts
 * checks them on every layer.
 *
 * @module
 */
import type { ChannelLayer, LayerMessage } from "./layer.ts";
import { DefinitionError } from "../errors.ts";

/** Where a message sits in a group's history: its offset within an epoch. */
export interface StreamPosition {
  /** The message's offset: 1 for the first message of an epoch, then one more per message. */
  offset: number;
  /** The epoch: a random token that changes whenever the history is lost (offsets restart). */
  epoch: string;
}

/** The bounds of a group's history: what is kept, and for how long. */
export interface HistoryOptions {
  /** Most messages kept per group (the oldest are trimmed). */
  size: number;
  /** How long a message is kept, in ms. */
  ttlMs: number;
}

/** Options of {@linkcode HistoryCapability.readSince}. */
export interface HistoryReadOptions extends HistoryOptions {
  /** Most messages one read returns; more missed than this is `too_many`. Default `size`. */
  limit?: number;
}

/** One message read back from a history. */
export interface HistoryEntry {
  /** Its offset (in the epoch of the read). */
  offset: number;
  /** The message as it was sent (without {@linkcode HISTORY_KEY}). */
  message: LayerMessage;
}

/**
 * Why the messages after a position cannot be read back:
 * - `epoch_changed`: the history was lost (expired, flushed, a Redis without its data) or the
 *   position belongs to another history;
 * - `trimmed`: more messages followed than the history keeps (`size`);
 * - `too_old`: the messages that followed are older than the history keeps (`ttlMs`);
 * - `too_many`: more messages followed than one read may return (`limit`);
 * - `position_ahead`: the position is past the newest message of its epoch (a history restored
 *   from an older copy);
 * - `unavailable`: the layer could not be reached (the connection layer reports it, never a layer).
 */
export type HistoryLossReason =
  | "epoch_changed"
  | "trimmed"
  | "too_old"
  | "too_many"
  | "position_ahead"
  | "unavailable";

/**
 * The answer of {@linkcode HistoryCapability.readSince}: every message after the position, in
 * order, and the newest position; or why they cannot be had, and where the history is now.
 */
export type HistoryRead =
  | {
    /** Every message after the position is here. */
    recovered: true;
    /** The messages after the position, oldest first (none when nothing followed). */
    messages: HistoryEntry[];
    /** The newest position of the history (the last message's, or the position read from). */
    position: StreamPosition;
  }
  | {
    /** Some messages after the position cannot be read back. */
    recovered: false;
    /** Why. */
    reason: HistoryLossReason;
    /** The newest position of the history: where a receiver goes on from. */
    position: StreamPosition;
  };

/** The optional history methods of a layer that lists `"history"` in its `extensions`. */
export interface HistoryCapability {
  /**
   * Appends `message` to `group`'s history (made on first use, with a new epoch) and sends it to
   * the group's members as `groupSend` does, stamped with its position under
   * {@linkcode HISTORY_KEY} (`{group, offset, epoch}`). Offsets of one group grow by one per
   * message. Resolves with the message's position.
   */
  appendAndSend(
    group: string,
    message: LayerMessage,
    options: HistoryOptions,
  ): Promise<StreamPosition>;
  /**
   * The messages of `group`'s history after `since`, oldest first; without `since`, none and the
   * newest position (a history is made, with a new epoch, when there is none yet).
   */
  readSince(
    group: string,
    since: StreamPosition | undefined,
    options: HistoryReadOptions,
  ): Promise<HistoryRead>;
}

/** A channel layer with the history capability. */
export type HistoryLayer = ChannelLayer & HistoryCapability;

/**
 * The key under which a layer stamps a message sent with
 * {@linkcode HistoryCapability.appendAndSend}: `{group, offset, epoch}`.
 */
export const HISTORY_KEY = "__history";

/** The stamp a layer puts under {@linkcode HISTORY_KEY}. */
export interface HistoryStamp extends StreamPosition {
  /** The group whose history holds the message. */
  group: string;
}

/** True when `layer` offers the history capability. */
export function supportsHistory(layer: ChannelLayer): layer is HistoryLayer {
  return layer.extensions.includes("history") &&
    typeof (layer as Partial<HistoryCapability>).appendAndSend === "function" &&
    typeof (layer as Partial<HistoryCapability>).readSince === "function";
}

/** The stamp of a layer message sent with history, or undefined. */
export function historyStamp(message: LayerMessage): HistoryStamp | undefined {
  const stamp = message[HISTORY_KEY] as Record<string, unknown> | undefined;
  if (!stamp || typeof stamp !== "object") return undefined;
  const { group, offset, epoch } = stamp;
  if (typeof group !== "string" || typeof offset !== "number" || typeof epoch !== "string") {
    return undefined;
  }
  return { group, offset, epoch };
}

/** Checks history options (a programmer's error is a `TypeError`); returns them. */
export function checkHistoryOptions(options: HistoryOptions): HistoryOptions {
  if (!Number.isSafeInteger(options?.size) || options.size < 1) {
    throw new TypeError("history.size must be a positive integer");
  }
  if (!(options.ttlMs > 0) || !Number.isFinite(options.ttlMs)) {
    throw new TypeError("history.ttlMs must be a positive number of ms");
  }
  return options;
}

/** The longest epoch a position may carry (layers make 16-character ones). */
export const MAX_EPOCH_LENGTH = 64;

/** True when `value` is a well-formed {@linkcode StreamPosition}. */
export function isStreamPosition(value: unknown): value is StreamPosition {
  if (!value || typeof value !== "object") return false;
  const { offset, epoch } = value as Record<string, unknown>;
  return Number.isSafeInteger(offset) && (offset as number) >= 0 && typeof epoch === "string" &&
    epoch.length <= MAX_EPOCH_LENGTH;
}

/**
 * Sends `message` to `group`: with `history`, appended to the group's history first
 * ({@linkcode HistoryCapability.appendAndSend}), else a plain `groupSend`. A layer without the
 * history capability refuses a send that asks for history with a `DefinitionError`, never
 * silently sending it without.
 */
export async function sendToGroup(
  layer: ChannelLayer,
  group: string,
  message: LayerMessage,
  history: HistoryOptions | undefined,
): Promise<void> {
  if (!history) return await layer.groupSend(group, message);
  if (!supportsHistory(layer)) {
    throw new DefinitionError(
      `history is on for group '${group}', but its channel layer has no history capability`,
    );
  }
  await layer.appendAndSend(group, message, history);
}

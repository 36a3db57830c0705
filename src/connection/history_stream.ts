/**
 * One history stream of a connection (src/connection/recovery.ts): where it is, and the
 * positions its frames carry.
 *
 * @module
 */
import type {
  HistoryLossReason,
  HistoryOptions,
  HistoryRead,
  StreamPosition,
} from "../layers/history.ts";
import type { Envelope } from "../protocol/envelope.ts";
import type { KnownHold } from "./known_positions.ts";

/** Where a stream is. */
export interface Stream {
  readonly group: string;
  /** The topic of a topic stream (frames carry it); undefined for a consumer group. */
  readonly topic: string | undefined;
  readonly history: HistoryOptions;
  /** `waiting`: not started (messages dropped); `live`: sequenced. */
  status: "waiting" | "live";
  /** Undefined until known (a start whose read failed: the next message sets it). */
  epoch: string | undefined;
  /** The last offset delivered (or the start). */
  last: number;
  /** The client's position to recover from, until the start. */
  request: StreamPosition | undefined;
  /**
   * Without a request: the newest position, read before the group is joined (so a message
   * appended between the join and the start is delivered, not skipped), until the start.
   */
  initial?: Promise<HistoryRead | { error: unknown }>;
  /**
   * Without a request: the newest position this process knew of the group when the stream
   * opened (before the join), the start when `initial` failed; until the start.
   */
  fallback?: StreamPosition;
  /** Its hold on the group's known position in this process (released when it closes). */
  held?: KnownHold;
}

export type Outcome = { recovered: true; replayed: number } | {
  recovered: false;
  reason: HistoryLossReason;
};

/** The position of `stream` a `history_position` / `history_recovery` frame tells. */
export function streamPosition(stream: Stream): StreamPosition {
  return { offset: stream.last, epoch: stream.epoch ?? "" };
}

/** The `position` envelope of a frame of `stream` at `offset`. */
export function wirePosition(stream: Stream, offset: number): Envelope["position"] {
  return stream.topic === undefined
    ? { group: stream.group, offset, epoch: stream.epoch! }
    : { offset, epoch: stream.epoch! };
}

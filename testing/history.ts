/**
 * Driving history recovery from tests (docs/recovery.md): a {@linkcode PositionTracker} reads
 * the positions off the frames a communicator receives, and builds the path a reconnect uses to
 * recover from them, as the typed client does by itself.
 *
 * ```ts ignore
 * const tracker = new PositionTracker();
 * const comm = await WebsocketCommunicator.connect(app, "/ws/chat");
 * tracker.track(await comm.receiveJson()); // history_position, then every broadcast
 * await comm.drop();
 * // … messages sent meanwhile …
 * await using back = await WebsocketCommunicator.connect(app, tracker.path("/ws/chat"));
 * // the missed messages, then {"action": "history_recovery", "payload": {"recovered": true, …}}
 * ```
 *
 * @module
 */
import type { StreamPosition } from "../src/layers/history.ts";
import { RECOVER_PARAM } from "../src/connection/recover_param.ts";

/** The positions a reconnect recovers from: by consumer group, and by topic. */
export interface RecoverPositions {
  /** Consumer group → last position. */
  groups?: Record<string, StreamPosition>;
  /** Topic → last position. */
  topics?: Record<string, StreamPosition>;
}

/** `path` with the `recover` query parameter for `positions`. */
export function recoverPath(path: string, positions: RecoverPositions): string {
  const value = encodeURIComponent(JSON.stringify(positions));
  return `${path}${path.includes("?") ? "&" : "?"}${RECOVER_PARAM}=${value}`;
}

/** Remembers the last history position of each group and topic from received frames. */
export class PositionTracker {
  /** Consumer group → last position seen. */
  readonly groups: Map<string, StreamPosition> = new Map();
  /** Topic → last position seen. */
  readonly topics: Map<string, StreamPosition> = new Map();

  /** Reads the position a frame carries (a broadcast's `position`, or a history frame's). */
  track(frame: unknown): void {
    if (!frame || typeof frame !== "object") return;
    const f = frame as Record<string, unknown>;
    const payload = f.payload as Record<string, unknown> | undefined;
    const history = f.action === "history_position" || f.action === "history_recovery";
    const position = (history ? payload?.position : f.position) as
      | (StreamPosition & { group?: string })
      | undefined;
    if (!position || typeof position.offset !== "number") return;
    const at = { offset: position.offset, epoch: String(position.epoch) };
    if (typeof f.topic === "string") this.topics.set(f.topic, at);
    else {
      const group = history ? payload?.group : position.group;
      if (typeof group === "string") this.groups.set(group, at);
    }
  }

  /** The positions seen so far. */
  get positions(): RecoverPositions {
    return { groups: Object.fromEntries(this.groups), topics: Object.fromEntries(this.topics) };
  }

  /** `path` with the `recover` parameter for the positions seen (`path` itself when none). */
  path(path: string): string {
    return this.groups.size + this.topics.size ? recoverPath(path, this.positions) : path;
  }
}

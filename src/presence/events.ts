/**
 * {@linkcode PresenceEvents}: the `onEvent` listeners of a presence backend, and whether its calls
 * reach the store (told on the change only: `disconnected`, then `reconnected`).
 *
 * @module
 */
import { Listeners } from "../listeners.ts";
import type { PresenceEvent, PresenceStats } from "./backend.ts";

/** The listeners of one backend's {@linkcode PresenceEvent}s. */
export class PresenceEvents extends Listeners<PresenceEvent> {
  #down = false;

  /** A track or untrack of this process reached the store. */
  changed(type: "tracked" | "untracked", group: string, key: string, ref: string): void {
    if (this.active) this.emit({ type, group, key, ref });
  }

  /** The counts this process keeps of `group` are now `stats`. */
  counts(group: string, stats: PresenceStats): void {
    if (this.active) this.emit({ type: "counts", group, stats: { ...stats } });
  }

  /** A heartbeat finished; it tracked `tracked` entries again. */
  synced(tracked: number): void {
    this.emit({ type: "synced", tracked });
  }

  /** A call failed or the connection dropped: `disconnected`, unless already told. */
  down(reason: string): void {
    if (this.#down) return;
    this.#down = true;
    this.emit({ type: "disconnected", reason });
  }

  /** A call reached the store or the connection is back: `reconnected`, after a `down`. */
  up(): void {
    if (!this.#down) return;
    this.#down = false;
    this.emit({ type: "reconnected" });
  }
}

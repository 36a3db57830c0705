/**
 * The heartbeat: one policy for every runtime, one implementation for the runtimes that ping
 * themselves. Every `period` seconds each peer that showed no sign of life (a frame, a pong, a
 * ping) since the previous tick is dropped, the others are pinged. A peer that stops answering
 * is thus gone within two periods (dead peers, half-open TCP).
 *
 * - Node (`ws`): a {@linkcode Heartbeat} over its sockets.
 * - Deno: its native ping, the `idleTimeout` of Deno's `upgradeWebSocket`, set to the same period.
 * - The in-process test transport has no wire, hence no heartbeat.
 *
 * The period is always {@linkcode heartbeatSeconds}: the adapter's own option, else the app's
 * `heartbeatSeconds`, else 30; 0 disables it.
 *
 * @module
 */
import { clock } from "../clock.ts";

/** The default heartbeat period, in seconds. */
export const DEFAULT_HEARTBEAT_SECONDS = 30;

/** The heartbeat period: `override` (an adapter option) if given, else the app's, else 30. */
export function heartbeatSeconds(
  appOptions: { readonly heartbeatSeconds?: number },
  override?: number,
): number {
  return override ?? appOptions.heartbeatSeconds ?? DEFAULT_HEARTBEAT_SECONDS;
}

/** What the heartbeat needs from a socket. */
export interface HeartbeatPeer {
  /** Sends a ping frame (may throw when the socket is closing). */
  ping(): void;
  /** Drops the connection without a closing handshake. */
  terminate(): void;
}

/**
 * Pings the peers it tracks on one shared interval (started with the first peer, stopped with the
 * last; it never keeps the process alive) and drops those that stayed silent for a whole period.
 */
export class Heartbeat<P extends HeartbeatPeer> {
  readonly #periodMs: number;
  readonly #alive = new Map<P, boolean>();
  readonly #onDrop: (peer: P) => void;
  #timer: ReturnType<typeof setInterval> | undefined;

  /** `seconds` ≤ 0 disables it; `onDrop` runs before a silent peer is terminated. */
  constructor(seconds: number, onDrop: (peer: P) => void = () => {}) {
    this.#periodMs = seconds * 1000;
    this.#onDrop = onDrop;
  }

  /** Starts watching `peer`. */
  add(peer: P): void {
    if (this.#periodMs <= 0) return;
    this.#alive.set(peer, true);
    this.#timer ??= this.#start();
  }

  /** `peer` showed a sign of life (a frame, a pong or a ping). */
  seen(peer: P): void {
    if (this.#alive.get(peer) === false) this.#alive.set(peer, true); // one lookup per frame
  }

  /** Stops watching `peer` (it closed). */
  delete(peer: P): void {
    this.#alive.delete(peer);
    if (this.#alive.size === 0) this.stop();
  }

  /** Stops the interval (peers added later start it again). */
  stop(): void {
    clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #start(): ReturnType<typeof setInterval> {
    const timer = clock.setInterval(() => this.#tick(), this.#periodMs);
    (timer as { unref?: () => void }).unref?.();
    return timer;
  }

  #tick(): void {
    for (const [peer, alive] of this.#alive) {
      if (!alive) {
        this.#onDrop(peer);
        peer.terminate();
        continue;
      }
      this.#alive.set(peer, false);
      try {
        peer.ping();
      } catch {
        // The socket is closing.
      }
    }
  }
}

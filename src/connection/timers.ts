/**
 * A connection's two lifecycle timers, on the library's clock: the idle timeout (closes a
 * connection that sent nothing for `idleTimeoutMs`) and the close timeout (drops a socket whose
 * peer never completes the closing handshake within `closeTimeoutMs`).
 *
 * @module
 */
import { clock, type TimerHandle } from "../clock.ts";
import { CloseCode } from "../protocol/close_codes.ts";
import { getLogger } from "../logger.ts";

/** What the timers need of their connection. */
export interface TimedConnection {
  /** The consumer class's name, for the log lines. */
  readonly name: string;
  /** The connection's state. */
  readonly state: "new" | "open" | "closing" | "closed";
  /** True once the disconnect has begun. */
  readonly disconnected: boolean;
  /** Closes with a code (the idle timeout: 1001). */
  close(code: number, reason: string): void;
  /** Drops the socket without a closing handshake (the close timeout). */
  terminate(): void;
  /** Runs the disconnect (the close timeout: 1006). */
  closed(code: number, reason: string): void;
}

/** The idle and close timers of one connection. */
export class ConnectionTimers {
  #lastActivity = clock.now();
  #idle: TimerHandle | undefined;
  #close: TimerHandle | undefined;

  readonly idleTimeoutMs: number;
  readonly closeTimeoutMs: number;

  /** `settings`: the connection's (`idleTimeoutMs` 0: no idle timeout; `closeTimeoutMs` 0: none). */
  constructor(
    readonly connection: TimedConnection,
    settings: { readonly idleTimeoutMs: number; readonly closeTimeoutMs: number },
  ) {
    this.idleTimeoutMs = settings.idleTimeoutMs;
    this.closeTimeoutMs = settings.closeTimeoutMs;
  }

  /** Records activity from the client (it restarts the idle period). */
  touch(): void {
    this.#lastActivity = clock.now();
  }

  /** Arms the idle timer (no-op without `idleTimeoutMs`). */
  armIdle(): void {
    const idle = this.idleTimeoutMs;
    if (!idle) return;
    const left = this.#lastActivity + idle - clock.now();
    this.#idle = clock.setTimeout(() => {
      const connection = this.connection;
      if (connection.state !== "open") return;
      if (clock.now() - this.#lastActivity >= idle) {
        getLogger().info(`${connection.name}: closing a connection idle for ${idle} ms`);
        connection.close(CloseCode.goingAway, "Idle timeout");
      } else {
        this.armIdle();
      }
    }, Math.max(0, left));
  }

  /**
   * A close ends in a released socket within `closeTimeoutMs`: a peer that stopped reading never
   * answers the closing handshake (its close frame waits behind everything queued for it), so the
   * socket is then dropped and `onDisconnect` runs with 1006.
   */
  armClose(): void {
    const grace = this.closeTimeoutMs;
    if (!grace || this.connection.disconnected) return;
    this.#close = clock.setTimeout(() => {
      const connection = this.connection;
      if (connection.disconnected) return;
      getLogger().warn(
        `${connection.name}: the client did not complete the close within ${grace} ms; dropping it`,
      );
      try {
        connection.terminate();
      } catch (error) {
        getLogger().warn("Dropping the socket failed", { error });
      }
      connection.closed(CloseCode.abnormal, "Close timed out");
    }, grace);
  }

  /** Stops both timers (the connection is closed). */
  clear(): void {
    clock.clearTimeout(this.#idle);
    clock.clearTimeout(this.#close);
  }
}

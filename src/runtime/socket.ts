/**
 * The runtime-neutral socket contract between the core and a runtime adapter (Deno, Node `ws`,
 * Bun, the in-process test transport).
 *
 * @module
 */
import type { GroupMembership } from "../layers/local_fanout.ts";

/** What the core needs from a server-side socket. */
export interface ServerSocket {
  /** Sends one text frame. */
  send(data: string): void;
  /** Closes the socket with a code and reason. */
  close(code?: number, reason?: string): void;
  /** Bytes queued but not yet sent, if the runtime knows. */
  readonly bufferedAmount?: number;
  /**
   * Drops the connection at once, without a closing handshake (a peer that stopped reading never
   * answers one). The core calls it when a close has not completed within its grace period; the
   * adapter must then report `closed()` (the core also does so itself if it does not).
   */
  terminate?(): void;
  /**
   * Optional, for a runtime with native group fan-out (src/layers/local_fanout.ts): the
   * connection joined a group on its layer (called after the layer's `groupAdd`).
   */
  joinedGroup?(membership: GroupMembership): void;
  /** Optional: the connection is leaving a group (called before the layer's `groupDiscard`). */
  leftGroup?(layer: object, group: string): void;
}

/** What an adapter calls on the core for one accepted connection. */
export interface ConnectionHandle {
  /** The socket is open: joins groups and runs `postAuthentication`. Resolves when that is done. */
  opened(): Promise<void>;
  /** A text frame arrived. */
  text(data: string): void;
  /** A binary frame arrived (answered with an error frame: the protocol is JSON text). */
  binary(data: Uint8Array): void;
  /** The socket closed (by either side). Resolves when `onDisconnect` and cleanup are done. */
  closed(code: number, reason?: string): Promise<void>;
}

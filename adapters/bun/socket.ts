/**
 * A Bun `ServerWebSocket` as the core sees it (src/runtime/socket.ts): sends with Bun's return
 * values (a frame Bun dropped past its `backpressureLimit` closes the client as too slow), the
 * buffered bytes the slow-client policy reads, the heartbeat's ping and drop, and the group
 * memberships the native fan-out (./fanout.ts) subscribes to Bun topics.
 *
 * @module
 */
import type { ConnectionHandle, ServerSocket } from "../../src/runtime/socket.ts";
import type { GroupMembership } from "../../src/layers/local_fanout.ts";
import type { UpgradeDecision } from "../../src/runtime/seam.ts";
import { closeOrFallback } from "../../src/runtime/seam.ts";
import { CloseCode } from "../../src/protocol/close_codes.ts";
import { getLogger } from "../../src/logger.ts";
import type { BunServerLike, BunWebSocket } from "./bun_types.ts";

/**
 * What a socket's consumer class asks of the fan-out: its static settings when it was accepted
 * (its topics follow them; the fan-out declines if the class changes them later).
 */
export interface SocketMode {
  /** The consumer class (read again at each fan-out). */
  readonly cls: {
    readonly camelCase?: boolean;
    readonly sendCompletion?: boolean;
    readonly logMessages?: boolean;
  };
  /** camelCase wire mode. */
  readonly camelCase: boolean;
  /** Sends `group_complete` after each group message. */
  readonly completion: boolean;
  /** The slow-client limit (`AppOptions.maxBufferedBytes`). */
  readonly maxBufferedBytes: number;
  /** Whether native fan-out may reach this socket (off when its class logs every frame). */
  readonly native: boolean;
}

/** What the fan-out does with a socket's memberships (implemented by ./fanout.ts). */
export interface MembershipSink {
  /** The socket joined a group. */
  join(socket: BunSocket, membership: GroupMembership): void;
  /** The socket is leaving a group. */
  leave(socket: BunSocket, layer: object, group: string): void;
  /** The socket is closing: forget all its memberships. */
  forget(socket: BunSocket): void;
  /** A frame of `length` UTF-16 units was sent to one of the process's sockets. */
  wrote(length: number): void;
}

/**
 * What the adapter keeps on each Bun socket (`ws.data`): opaque to applications; a `Bun.serve`
 * of your own passes the handler's `websocket` through as it is.
 */
export interface BunSocketState {
  /** The adapter's own state; do not read or write it. */
  readonly switchboard?: never;
}

/** The per-socket data of an upgrade (`server.upgrade(request, { data })`). */
export interface BunSocketData extends BunSocketState {
  /** The accepted decision, until the socket opens (then undefined). */
  decision: (UpgradeDecision & { accepted: true }) | undefined;
  /** The server that upgraded it. */
  server: BunServerLike;
  /** The socket's fan-out mode. */
  mode: SocketMode;
  /** Set once open. */
  socket?: BunSocket;
  /** Set once open. */
  handle?: ConnectionHandle;
}

/**
 * The core's view of a Bun WebSocket. A class, not an object literal with a getter (V8 and JSC
 * keep such literals slow, and every connection holds one).
 */
export class BunSocket implements ServerSocket {
  /** True once the core or the heartbeat closed it (the fan-out skips it from then on). */
  closing = false;
  /** The topic groups it is subscribed to (./fanout.ts), if any. */
  joined: Set<unknown> | undefined;
  /** Its channel on its layer (set by the first membership). */
  channel = "";

  constructor(
    readonly ws: BunWebSocket<BunSocketData>,
    readonly server: BunServerLike,
    readonly mode: SocketMode,
    readonly sink: MembershipSink | undefined,
  ) {}

  send(data: string): void {
    this.sink?.wrote(data.length);
    // -1: queued under backpressure (the slow-client policy reads bufferedAmount); 0: dropped,
    // past Bun's backpressureLimit: the client cannot keep up.
    if (this.ws.send(data) === 0 && this.ws.readyState === 1 && !this.closing) {
      getLogger().warn("Bun dropped a frame past its backpressureLimit: closing a slow client");
      this.close(CloseCode.tryAgainLater, "Client too slow");
    }
  }

  close(code?: number, reason?: string): void {
    this.#stop();
    closeOrFallback((c, r) => this.ws.close(c, r), code, reason);
  }

  terminate(): void {
    this.#stop();
    this.ws.terminate();
  }

  /** The heartbeat's ping (throws when the socket is closing). */
  ping(): void {
    this.sink?.wrote(0);
    this.ws.ping();
  }

  get bufferedAmount(): number {
    return this.ws.getBufferedAmount();
  }

  joinedGroup(membership: GroupMembership): void {
    if (!this.closing) this.sink?.join(this, membership);
  }

  leftGroup(layer: object, group: string): void {
    this.sink?.leave(this, layer, group);
  }

  #stop(): void {
    if (this.closing) return;
    this.closing = true;
    this.sink?.forget(this);
  }

  /** The socket closed (Bun's `close` handler): its memberships go. */
  closedByPeer(): void {
    this.#stop();
  }
}

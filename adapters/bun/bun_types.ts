/**
 * The slice of Bun's API the Bun adapter uses, declared here (no `@types/bun`, no `Bun` global in
 * the library's types): `Bun.serve` with its `fetch` and `websocket` handlers, the server and
 * its `ServerWebSocket`s.
 *
 * @module
 */

/** A `ServerWebSocket` of Bun (the part the adapter uses). */
export interface BunWebSocket<T = unknown> {
  /** What `server.upgrade(request, { data })` attached. */
  readonly data: T;
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** Sends a text frame: bytes sent, -1 queued under backpressure, 0 dropped. */
  send(data: string | Uint8Array, compress?: boolean): number;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  /** Drops the connection at once. */
  terminate(): void;
  /** Sends a ping frame. */
  ping(data?: string | Uint8Array): number;
  /** Bytes queued but not yet written to the socket. */
  getBufferedAmount(): number;
  /** Subscribes to a topic of `server.publish`. */
  subscribe(topic: string): void;
  /** Unsubscribes from a topic. */
  unsubscribe(topic: string): void;
  /** Publishes to every subscriber of `topic` but this socket. */
  publish(topic: string, data: string | Uint8Array, compress?: boolean): number;
}

/** A server made by `Bun.serve` (the part the adapter uses). */
export interface BunServerLike {
  /** The port it listens on. */
  readonly port: number;
  /** The host it listens on. */
  readonly hostname: string;
  /** Upgrades `request` inside `fetch`; false when it cannot (no socket any more). */
  upgrade(request: Request, options?: { data?: unknown; headers?: HeadersInit }): boolean;
  /** Sends to every socket subscribed to `topic`: bytes sent, 0 when none was reached. */
  publish(topic: string, data: string | Uint8Array, compress?: boolean): number;
  /** Stops listening; `true` also closes the open connections. */
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}

/** The `websocket` option of `Bun.serve` (the part the adapter sets). */
export interface BunWebSocketHandler<T> {
  /** A socket opened. */
  open(ws: BunWebSocket<T>): void;
  /** A frame arrived (text as a string, binary as a Buffer). */
  message(ws: BunWebSocket<T>, message: string | Uint8Array): void;
  /** The socket closed. */
  close(ws: BunWebSocket<T>, code: number, reason: string): void;
  /** The socket's send buffer drained after backpressure. */
  drain(ws: BunWebSocket<T>): void;
  /** A ping arrived. */
  ping(ws: BunWebSocket<T>, data: Uint8Array): void;
  /** A pong arrived. */
  pong(ws: BunWebSocket<T>, data: Uint8Array): void;
  /** The largest frame accepted (bigger ones close the socket with 1009). */
  maxPayloadLength: number;
  /** Bytes queued for one socket before Bun drops what is sent to it. */
  backpressureLimit: number;
  /** Close instead of dropping past `backpressureLimit`. */
  closeOnBackpressureLimit: boolean;
  /** Seconds of silence before Bun closes a socket (0: never). */
  idleTimeout: number;
  /** Bun's own pings (off: the adapter runs the shared heartbeat). */
  sendPings: boolean;
  /** Per-message deflate. */
  perMessageDeflate: boolean;
  /** Whether a socket's own `publish` reaches itself. */
  publishToSelf: boolean;
}

/** What `Bun.serve` takes (the part the adapter sets). */
export interface BunServeConfig<T> {
  /** Port (0: a free one). */
  port: number;
  /** Interface. */
  hostname: string;
  /** Every request; `undefined` once upgraded. */
  fetch(request: Request, server: BunServerLike): Promise<Response | undefined>;
  /** The WebSocket handlers. */
  websocket: BunWebSocketHandler<T>;
  /** Errors thrown by `fetch`. */
  error?(error: Error): Response;
  /** Seconds before an idle HTTP connection is closed. */
  idleTimeout?: number;
  /** Largest request body. */
  maxRequestBodySize?: number;
}

/** The `Bun` global, when running on Bun. */
export interface BunGlobal {
  /** Starts a server. */
  serve<T>(config: BunServeConfig<T>): BunServerLike;
  /** Bun's version. */
  readonly version: string;
}

/** `globalThis.Bun`, or `undefined` on another runtime. */
export function bunGlobal(): BunGlobal | undefined {
  return (globalThis as { Bun?: BunGlobal }).Bun;
}

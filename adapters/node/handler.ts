/**
 * The Node adapter's WebSocket side: the `ws` socket as the core sees it, and the listeners of one
 * app (`handleRequest` for HTTP through ./http.ts, `handleUpgrade` deciding with `app.upgrade`
 * before any WebSocket exists, then the steps of src/runtime/seam.ts), with the shared heartbeat
 * (src/runtime/heartbeat.ts) over its sockets.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { setImmediate } from "node:timers";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import type { App } from "../../src/app/app.ts";
import type { ConsumerClass } from "../../src/consumer/consumer.ts";
import { serverError } from "../../src/app/responses.ts";
import { getLogger } from "../../src/logger.ts";
import { Heartbeat, heartbeatSeconds } from "../../src/runtime/heartbeat.ts";
import { closeOrFallback, deliverFrame } from "../../src/runtime/seam.ts";
import type { ConnectionHandle, ServerSocket } from "../../src/runtime/socket.ts";
import { refuse, requestHeaders, requestUrl, toRequest, writeResponse } from "./http.ts";

/**
 * A `ws` socket as the core sees it. A class, not an object literal with a getter: V8 keeps such
 * literals in dictionary mode, and every idle connection holds one (as on Deno:
 * adapters/deno/websocket.ts).
 *
 * Sends are corked until the event loop's check phase (`setImmediate`): the replies to every
 * frame of one read, and the group messages of one turn, leave in one `writev` instead of one
 * system call per frame (uWebSockets corks the same way around its handlers). `ws` counts corked
 * bytes in `bufferedAmount`, so backpressure sees them (a socket with over 64 KiB corked is
 * uncorked at once, so a burst reaches the kernel as before); close frames are corked with the
 * rest, in order, and `terminate()` flushes before it drops the socket.
 */
class WsSocket implements ServerSocket {
  corked = false;
  /** In `corkedSockets` (uncorked early and corked again in one turn: listed once). */
  listed = false;
  /** The connection, once accepted. */
  handle: ConnectionHandle | undefined;
  /** The close code ws sent on a read error (its "close" event then says 1006). */
  sentCode: number | undefined;
  constructor(readonly ws: WebSocket, readonly wiring: Wiring, readonly limit: number) {}
  send(data: string): void {
    if (!this.corked) cork(this);
    this.ws.send(data);
    // A big turn goes out early: corked bytes count as buffered, and the slow-client policy
    // must not take a burst the kernel would have taken for a slow client.
    if (this.corked && (netSocket(this)?.writableLength ?? 0) > CORK_FLUSH_BYTES) uncork(this);
  }
  close(code?: number, reason?: string): void {
    closeOrFallback((c, r) => this.ws.close(c, r), code, reason);
  }
  terminate(): void {
    if (this.corked) uncork(this);
    this.ws.terminate();
  }
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }
}

/** What the listeners of one handler's sockets share. */
interface Wiring {
  readonly heartbeat: Heartbeat<WebSocket>;
  readonly sockets: Set<WebSocket>;
}

/** Where a wired `ws` socket keeps its {@linkcode WsSocket}. */
const WIRED: unique symbol = Symbol("switchboard.wsSocket");
type Wired = WebSocket & { [WIRED]: WsSocket };

// The listeners of every socket: functions of the module, not closures per connection (four
// closures and their context were about 0.3 KiB of each idle connection). `ws` calls them with
// `this` set to the socket.

function onAlive(this: WebSocket): void {
  (this as Wired)[WIRED].wiring.heartbeat.seen(this);
}

function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  const socket = (this as Wired)[WIRED];
  socket.wiring.heartbeat.seen(this);
  deliverFrame(socket.handle!, isBinary ? toBytes(data) : rawText(data));
}

// ws sends its own close frame (1009 for an oversized frame) on a read error, then stops
// reading, so its "close" event says 1006: the code it sent is what the connection closed with.
function onError(this: WebSocket, error: Error & { code?: string }): void {
  if (error.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") {
    const socket = (this as Wired)[WIRED];
    socket.sentCode = 1009;
    getLogger().warn(`Frame over ${socket.limit} bytes, closing with 1009`);
  } else {
    getLogger().debug("WebSocket error", { error });
  }
}

function onClose(this: WebSocket, code: number, reason: Buffer): void {
  const socket = (this as Wired)[WIRED];
  socket.wiring.sockets.delete(this);
  socket.wiring.heartbeat.delete(this);
  const handle = socket.handle!;
  if (code === 1006 && socket.sentCode !== undefined) void handle.closed(socket.sentCode, "");
  else void handle.closed(code, reason.toString("utf8"));
}

/** The net socket under a `ws` socket (`ws` has no public cork; `_socket` is its own field). */
function netSocket(socket: WsSocket): Duplex | undefined {
  return (socket.ws as unknown as { _socket?: Duplex })._socket;
}

/** Corked bytes of one socket past which it is uncorked at once (a turn's burst goes out). */
const CORK_FLUSH_BYTES = 64 * 1024;

/** Sockets corked in this turn of the event loop, uncorked together in its check phase. */
const corkedSockets: WsSocket[] = [];

function cork(socket: WsSocket): void {
  const net = netSocket(socket);
  if (!net || net.destroyed) return;
  net.cork();
  socket.corked = true;
  if (socket.listed) return;
  socket.listed = true;
  if (corkedSockets.push(socket) === 1) setImmediate(uncorkAll);
}

function uncork(socket: WsSocket): void {
  socket.corked = false;
  netSocket(socket)?.uncork();
}

function uncorkAll(): void {
  const batch = corkedSockets.splice(0);
  for (const socket of batch) {
    socket.listed = false;
    if (socket.corked) uncork(socket);
  }
}

/** Options of {@linkcode createNodeHandler} and {@linkcode attach}. */
export interface NodeHandlerOptions {
  /**
   * The heartbeat period in seconds (fractions allowed): every period the server pings each client
   * and drops one that sent nothing (no frame, no pong) since the previous ping. Default: the
   * app's `heartbeatSeconds` (30), as on Deno; `0` disables the heartbeat.
   */
  heartbeatSeconds?: number;
  /** @deprecated Use `heartbeatSeconds` (same meaning; it wins when both are given). */
  idleTimeout?: number;
  /**
   * How long {@linkcode NodeHandler.close} waits for clients to finish the closing handshake
   * before it drops their sockets, in ms. Default 2000.
   */
  closeTimeout?: number;
}

/** Node listeners for one app. Made by {@linkcode createNodeHandler}. */
export interface NodeHandler {
  /** The app. */
  readonly app: App;
  /** A `request` listener: routes plain HTTP requests to `app.handleHttp`. */
  handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /**
   * An `upgrade` listener: routes and authenticates with `app.upgrade` before any WebSocket
   * exists, then refuses with the app's response (401, 403, 404…) or completes the handshake.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void>;
  /** Number of open WebSockets. */
  readonly socketCount: number;
  /**
   * Closes the app (every socket with 1001, each `onDisconnect` awaited, then the layers unless
   * `closeLayers: false`), waits up to `closeTimeout` for the closing handshakes, then drops what
   * is left.
   */
  close(options?: { closeLayers?: boolean }): Promise<void>;
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data));
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString("utf8");
  return data.toString("utf8");
}

/**
 * Makes the Node listeners of `app`: `handleRequest` for plain HTTP and `handleUpgrade` for
 * WebSockets. {@linkcode serve} and {@linkcode attach} use it; call it yourself to mount the app
 * next to other `upgrade` listeners (route by path, then hand over).
 */
export function createNodeHandler(app: App, options: NodeHandlerOptions = {}): NodeHandler {
  const heartbeat = new Heartbeat<WebSocket>(
    heartbeatSeconds(app.options, options.heartbeatSeconds ?? options.idleTimeout),
    () => getLogger().debug("WebSocket heartbeat: no answer within a period, dropping the socket"),
  );
  const closeTimeout = options.closeTimeout ?? 2000;
  // One ws server per frame limit (consumers may override the app's maxFrameBytes).
  const servers = new Map<number, WebSocketServer>();
  const sockets = new Set<WebSocket>();
  const pending = new Set<Duplex>();
  let closing = false;

  function serverFor(maxPayload: number): WebSocketServer {
    let wss = servers.get(maxPayload);
    if (!wss) {
      wss = new WebSocketServer({ noServer: true, maxPayload, clientTracking: false });
      servers.set(maxPayload, wss);
    }
    return wss;
  }

  const wiring: Wiring = { heartbeat, sockets };

  function wire(ws: WebSocket, accept: (socket: ServerSocket) => ConnectionHandle, limit: number) {
    sockets.add(ws);
    heartbeat.add(ws);
    const socket = new WsSocket(ws, wiring, limit);
    (ws as Wired)[WIRED] = socket;
    socket.handle = accept(socket);
    ws.on("pong", onAlive);
    ws.on("ping", onAlive);
    ws.on("message", onMessage);
    ws.on("error", onError);
    ws.on("close", onClose);
    void socket.handle.opened();
  }

  return {
    app,
    get socketCount() {
      return sockets.size;
    },

    async handleRequest(req, res) {
      const controller = new AbortController();
      res.once("close", () => {
        if (!res.writableFinished) controller.abort();
      });
      let response: Response;
      try {
        response = await app.handleHttp(toRequest(req, controller.signal));
      } catch (error) {
        response = serverError(`HTTP ${req.method} ${req.url} failed`, error);
      }
      await writeResponse(response, res, req.method);
    },

    async handleUpgrade(req, socket, head) {
      const onError = (error: Error) => getLogger().debug("Upgrade socket error", { error });
      socket.on("error", onError);
      pending.add(socket);
      try {
        if (req.headers.upgrade?.toLowerCase() !== "websocket") {
          await refuse(socket, new Response("Only WebSocket upgrades are served", { status: 400 }));
          return;
        }
        const request = new Request(requestUrl(req), {
          method: req.method ?? "GET",
          headers: requestHeaders(req),
        });
        const decision = closing
          ? {
            accepted: false as const,
            response: new Response("Server is shutting down", { status: 503 }),
          }
          : await app.upgrade(request);
        if (!decision.accepted) {
          await refuse(socket, decision.response);
          return;
        }
        // The app holds a connection slot for this upgrade: give it back if no socket comes.
        const cancel = () => decision.cancel();
        if (socket.destroyed) decision.cancel();
        else socket.once("close", cancel);
        const cls = decision.consumer.constructor as ConsumerClass;
        const limit = cls.maxFrameBytes ?? app.options.maxFrameBytes ?? 1024 * 1024;
        // If the client left during authentication, ws drops the socket and never calls back:
        // the consumer is then never accepted.
        serverFor(limit).handleUpgrade(req, socket, head, (ws) => {
          socket.off("error", onError);
          // Accepted or cancelled below: a listener kept for the socket's life would keep this
          // upgrade's decision (and its closures) with every idle connection.
          socket.off("close", cancel);
          if (closing) {
            decision.cancel();
            ws.close(1001, "Server shutting down");
            return;
          }
          wire(ws, decision.accept, limit);
        });
      } catch (error) {
        await refuse(
          socket,
          serverError(
            `WebSocket upgrade of ${req.url} failed`,
            error,
            "Upgrade failed with a server error",
          ),
        ).catch(() => socket.destroy());
      } finally {
        pending.delete(socket);
      }
    },

    async close(closeOptions = {}) {
      closing = true;
      try {
        await app.close(closeOptions);
        // Give clients time to answer the closing handshake, then drop the rest.
        const deadline = Date.now() + closeTimeout;
        while (sockets.size && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 10));
        }
        for (const ws of sockets) ws.terminate();
        for (const socket of pending) socket.destroy();
        heartbeat.stop();
        for (const wss of servers.values()) wss.close();
        servers.clear();
      } finally {
        closing = false;
      }
    },
  };
}

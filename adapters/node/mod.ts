/**
 * Serving a Switchboard {@linkcode App} on Node (≥ 20) with `node:http` and the `ws` package: the
 * counterpart of `app.fetch` on Deno, with the same routing, upgrade-time authentication, frame
 * size limit and clean shutdown.
 *
 * ```js
 * import { App } from "@switchboard/switchboard";
 * import { serve } from "@switchboard/switchboard/adapters/node";
 *
 * const app = new App().ws("/ws/echo", Echo);
 * const server = await serve(app, { port: 8080 });
 * process.on("SIGTERM", () => server.close());
 * ```
 *
 * Or attach the app to an `http.Server` you already have (Express, Fastify's `server`, …):
 *
 * ```js
 * import { createServer } from "node:http";
 * import { attach } from "@switchboard/switchboard/adapters/node";
 *
 * const server = createServer(expressApp);
 * const switchboard = attach(server, app); // WebSocket upgrades only
 * server.listen(8080);
 * ```
 *
 * @module
 */
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { Readable } from "node:stream";
import type { Duplex } from "node:stream";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import type { App } from "../../src/app/app.ts";
import type { ConsumerClass } from "../../src/consumer/consumer.ts";
import { getLogger } from "../../src/logger.ts";
import type { ConnectionHandle, ServerSocket } from "../../src/runtime/socket.ts";

/**
 * A `ws` socket as the core sees it. A class, not an object literal with a getter: V8 keeps such
 * literals in dictionary mode, and every idle connection holds one (as on Deno, src/runtime/deno.ts).
 */
class WsSocket implements ServerSocket {
  constructor(readonly ws: WebSocket) {}
  send(data: string): void {
    this.ws.send(data);
  }
  close(code?: number, reason?: string): void {
    try {
      this.ws.close(code, reason);
    } catch (error) {
      // An invalid code or a reason over 123 bytes: close anyway.
      getLogger().debug("ws refused the close code or reason", { error });
      this.ws.close(1011);
    }
  }
  terminate(): void {
    this.ws.terminate();
  }
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }
}

/** Options of {@linkcode createNodeHandler} and {@linkcode attach}. */
export interface NodeHandlerOptions {
  /**
   * Seconds without any frame after which the server pings a client, and closes the socket
   * (1001) if no pong comes back within the same delay. Default: the app's `heartbeatSeconds`
   * (30), as on Deno; `0` disables the heartbeat.
   */
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

/** What {@linkcode attach} returns. */
export interface AttachedApp extends NodeHandler {
  /** The server the app is attached to. */
  readonly server: Server;
  /** Removes the listeners `attach` added (open sockets stay open). */
  detach(): void;
}

/** Options of {@linkcode serve}. */
export interface ServeOptions extends NodeHandlerOptions {
  /** Port; `0` (the default) picks a free one. */
  port?: number;
  /** Interface to listen on. Default `127.0.0.1`; `0.0.0.0` or `::` for every interface. */
  hostname?: string;
  /** Aborting it closes the server, as `close()` does. */
  signal?: AbortSignal;
  /** Called once the server listens (default: nothing is logged). */
  onListen?: (address: { hostname: string; port: number }) => void;
  /**
   * Most ms a client may take to send a request's headers (WebSocket upgrades included); a slower
   * one gets 408 and its connection is closed (slowloris). Default 10000. Node's own default is
   * 60000, checked only every 30 s.
   */
  headersTimeout?: number;
  /**
   * Most ms a client may take to send a whole request, body included; a slower one gets 408.
   * Default 30000 (at least `headersTimeout`); 0 disables it. Node's own default is 300000.
   */
  requestTimeout?: number;
}

/** A running server made by {@linkcode serve}. `await using` closes it. */
export interface NodeServer extends AsyncDisposable {
  /** The `node:http` server. */
  readonly server: Server;
  /** The app's listeners. */
  readonly handler: NodeHandler;
  /** The host it listens on. */
  readonly hostname: string;
  /** The port it listens on. */
  readonly port: number;
  /** `http://host:port`. */
  readonly httpUrl: string;
  /** `ws://host:port` — a communicator's `url`. */
  readonly url: string;
  /**
   * Stops listening, closes the app (sockets with 1001 after their `onDisconnect`; layers unless
   * `closeLayers: false`), then the remaining HTTP connections. Resolves once the server is closed.
   */
  close(options?: { closeLayers?: boolean }): Promise<void>;
  /** Resolves when the server has closed. */
  readonly finished: Promise<void>;
}

const BODYLESS = new Set(["GET", "HEAD"]);

function requestUrl(req: IncomingMessage): string {
  const encrypted = Boolean((req.socket as Socket & { encrypted?: boolean }).encrypted);
  return `${encrypted ? "https" : "http"}://${req.headers.host ?? "localhost"}${req.url ?? "/"}`;
}

function requestHeaders(req: IncomingMessage): Headers {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    if (name.startsWith(":")) continue; // HTTP/2 pseudo-headers
    try {
      headers.append(name, raw[i + 1]);
    } catch {
      // A header value the fetch API refuses: leave it out rather than fail the request.
    }
  }
  return headers;
}

/** Builds a web `Request` from a Node request (the body streams for methods other than GET/HEAD). */
export function toRequest(req: IncomingMessage, signal?: AbortSignal): Request {
  const method = req.method ?? "GET";
  const init: RequestInit & { duplex?: "half" } = {
    method,
    headers: requestHeaders(req),
    signal,
  };
  if (!BODYLESS.has(method)) {
    init.body = Readable.toWeb(req) as unknown as ReadableStream<Uint8Array>;
    init.duplex = "half";
  }
  return new Request(requestUrl(req), init);
}

/** Writes a web `Response` to a Node response, streaming the body with backpressure. */
export async function writeResponse(
  response: Response,
  res: ServerResponse,
  method = "GET",
): Promise<void> {
  res.statusCode = response.status;
  if (response.statusText) res.statusMessage = response.statusText;
  const cookies = response.headers.getSetCookie();
  for (const [name, value] of response.headers) {
    if (name === "set-cookie") continue;
    res.setHeader(name, value);
  }
  if (cookies.length) res.setHeader("set-cookie", cookies);
  if (!response.body || method === "HEAD") {
    await response.body?.cancel();
    res.end();
    return;
  }
  const reader = response.body.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      if (res.destroyed) {
        await reader.cancel();
        return;
      }
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off("drain", done);
            res.off("close", done);
            resolve();
          };
          res.on("drain", done);
          res.on("close", done);
        });
      }
    }
    res.end();
  } catch (error) {
    getLogger().warn("Writing an HTTP response failed", { error });
    res.destroy(error as Error);
  } finally {
    reader.releaseLock();
  }
}

async function refuse(socket: Duplex, response: Response): Promise<void> {
  const body = new Uint8Array(await response.arrayBuffer());
  const status = response.status;
  const lines = [`HTTP/1.1 ${status} ${response.statusText || STATUS_CODES[status] || ""}`];
  for (const [name, value] of response.headers) {
    if (name === "content-length" || name === "connection" || name === "transfer-encoding") {
      continue;
    }
    if (name === "set-cookie") continue;
    lines.push(`${name}: ${value}`);
  }
  for (const cookie of response.headers.getSetCookie()) lines.push(`set-cookie: ${cookie}`);
  lines.push(`content-length: ${body.byteLength}`, "connection: close", "", "");
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.write(lines.join("\r\n"));
  socket.end(body);
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
  const idleTimeout = options.idleTimeout ?? app.options.heartbeatSeconds ?? 30;
  const closeTimeout = options.closeTimeout ?? 2000;
  // One ws server per frame limit (consumers may override the app's maxFrameBytes).
  const servers = new Map<number, WebSocketServer>();
  const sockets = new Set<WebSocket>();
  const pending = new Set<Duplex>();
  const alive = new WeakMap<WebSocket, boolean>();
  let closing = false;
  let heartbeat: ReturnType<typeof setInterval> | undefined;

  function serverFor(maxPayload: number): WebSocketServer {
    let wss = servers.get(maxPayload);
    if (!wss) {
      wss = new WebSocketServer({ noServer: true, maxPayload, clientTracking: false });
      servers.set(maxPayload, wss);
    }
    return wss;
  }

  function startHeartbeat(): void {
    if (heartbeat || idleTimeout <= 0) return;
    heartbeat = setInterval(() => {
      for (const ws of sockets) {
        if (alive.get(ws) === false) {
          getLogger().debug("WebSocket idle timeout: no pong, closing with 1001");
          ws.terminate();
          continue;
        }
        alive.set(ws, false);
        try {
          ws.ping();
        } catch {
          // The socket is closing.
        }
      }
    }, idleTimeout * 1000);
    (heartbeat as { unref?: () => void }).unref?.();
  }

  function wire(ws: WebSocket, accept: (socket: ServerSocket) => ConnectionHandle, limit: number) {
    sockets.add(ws);
    alive.set(ws, true);
    startHeartbeat();
    const handle = accept(new WsSocket(ws));
    const markAlive = () => alive.set(ws, true);
    ws.on("pong", markAlive);
    ws.on("ping", markAlive);
    ws.on("message", (data, isBinary) => {
      markAlive();
      if (isBinary) handle.binary(toBytes(data));
      else handle.text(rawText(data));
    });
    ws.on("error", (error: Error & { code?: string }) => {
      if (error.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") {
        getLogger().warn(`Frame over ${limit} bytes, closing with 1009`);
      } else {
        getLogger().debug("WebSocket error", { error });
      }
    });
    ws.on("close", (code, reason) => {
      sockets.delete(ws);
      if (sockets.size === 0 && heartbeat) {
        clearInterval(heartbeat);
        heartbeat = undefined;
      }
      void handle.closed(code, reason.toString("utf8"));
    });
    void handle.opened();
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
        getLogger().error(`HTTP ${req.method} ${req.url} failed`, { error });
        response = new Response("Internal server error", { status: 500 });
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
        if (socket.destroyed) decision.cancel();
        else socket.once("close", () => decision.cancel()); // a no-op once accepted
        const cls = decision.consumer.constructor as ConsumerClass;
        const limit = cls.maxFrameBytes ?? app.options.maxFrameBytes ?? 1024 * 1024;
        // If the client left during authentication, ws drops the socket and never calls back:
        // the consumer is then never accepted.
        serverFor(limit).handleUpgrade(req, socket, head, (ws) => {
          socket.off("error", onError);
          if (closing) {
            decision.cancel();
            ws.close(1001, "Server shutting down");
            return;
          }
          wire(ws, decision.accept, limit);
        });
      } catch (error) {
        getLogger().error(`WebSocket upgrade of ${req.url} failed`, { error });
        await refuse(socket, new Response("Upgrade failed with a server error", { status: 500 }))
          .catch(() => socket.destroy());
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
        if (heartbeat) clearInterval(heartbeat);
        heartbeat = undefined;
        for (const wss of servers.values()) wss.close();
        servers.clear();
      } finally {
        closing = false;
      }
    },
  };
}

/**
 * Attaches `app` to an existing `node:http` (or `node:https`) server: its `upgrade` event goes to
 * the app (every upgrade: unknown paths are refused with 404), and with `http: true` its `request`
 * event too. Leave `http` off when another framework answers the plain HTTP requests.
 */
export function attach(
  server: Server,
  app: App,
  options: NodeHandlerOptions & { http?: boolean } = {},
): AttachedApp {
  const handler = createNodeHandler(app, options);
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) =>
    void handler.handleUpgrade(req, socket, head);
  const onRequest = (req: IncomingMessage, res: ServerResponse) =>
    void handler.handleRequest(req, res);
  server.on("upgrade", onUpgrade);
  if (options.http) server.on("request", onRequest);
  return {
    app,
    server,
    get socketCount() {
      return handler.socketCount;
    },
    handleRequest: handler.handleRequest,
    handleUpgrade: handler.handleUpgrade,
    close: handler.close,
    detach() {
      server.off("upgrade", onUpgrade);
      server.off("request", onRequest);
    },
  };
}

/**
 * Serves `app` on Node: HTTP routes and WebSocket routes on one port. Resolves once listening.
 *
 * ```js
 * const server = await serve(app, { port: 8080, hostname: "0.0.0.0" });
 * console.log(`listening on ${server.httpUrl}`);
 * process.once("SIGTERM", () => server.close());
 * ```
 */
export function serve(app: App, options: ServeOptions = {}): Promise<NodeServer> {
  const headersTimeout = options.headersTimeout ?? 10_000;
  const requestTimeout = options.requestTimeout ?? 30_000;
  const server = createServer({
    headersTimeout,
    requestTimeout: requestTimeout && Math.max(requestTimeout, headersTimeout),
    // Node checks both timeouts on this interval (default 30 s, so a 10 s timeout would fire at 30 s).
    connectionsCheckingInterval: Math.max(
      10,
      Math.min(1000, Math.floor(Math.min(headersTimeout, requestTimeout || headersTimeout) / 4)),
    ),
  });
  const handler = attach(server, app, { ...options, http: true });
  const hostname = options.hostname ?? "127.0.0.1";
  let resolveFinished!: () => void;
  const finished = new Promise<void>((resolve) => (resolveFinished = resolve));
  server.once("close", () => resolveFinished());
  let closed: Promise<void> | undefined;
  const close = (closeOptions: { closeLayers?: boolean } = {}) => {
    closed ??= (async () => {
      const stopped = new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
      });
      server.closeIdleConnections();
      try {
        await handler.close(closeOptions);
      } finally {
        server.closeAllConnections();
        await stopped;
      }
    })();
    return closed;
  };
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, hostname, () => {
      server.off("error", reject);
      server.on("error", (error) => getLogger().error("HTTP server error", { error }));
      const { port } = server.address() as AddressInfo;
      const host = hostname.includes(":") ? `[${hostname}]` : hostname;
      if (options.signal) {
        if (options.signal.aborted) void close();
        else options.signal.addEventListener("abort", () => void close(), { once: true });
      }
      options.onListen?.({ hostname, port });
      resolve({
        server,
        handler,
        hostname,
        port,
        httpUrl: `http://${host}:${port}`,
        url: `ws://${host}:${port}`,
        close,
        finished,
        [Symbol.asyncDispose]: () => close(),
      });
    });
  });
}

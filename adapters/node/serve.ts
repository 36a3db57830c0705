/**
 * Serving an app on Node: {@linkcode attach} (to an `http.Server` you have) and
 * {@linkcode serve} (a server of its own, with slowloris timeouts), on the listeners of
 * ./handler.ts.
 *
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { type App, checkAppAtStart } from "../../src/app/app.ts";
import { getLogger } from "../../src/logger.ts";
import { createNodeHandler, type NodeHandler, type NodeHandlerOptions } from "./handler.ts";

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
 * Checks the app first (`app.problems()`): a route whose channel layer alias nothing is registered
 * under is logged as an error at once (`Misconfigured app: …`), not at the first request. It does
 * not stop the server: a layer may still be registered before that route's first connection (its
 * upgrades are refused with a 500 until then). Call `app.check()` before `serve` to make it fatal.
 *
 * ```js
 * const server = await serve(app, { port: 8080, hostname: "0.0.0.0" });
 * console.log(`listening on ${server.httpUrl}`);
 * process.once("SIGTERM", () => server.close());
 * ```
 */
export function serve(app: App, options: ServeOptions = {}): Promise<NodeServer> {
  checkAppAtStart(app); // logged now, not at the first request
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

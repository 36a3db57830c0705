/**
 * Serving an app on Bun: {@linkcode serve} runs `Bun.serve` with the handlers of ./handler.ts.
 *
 * @module
 */
import { type App, checkAppAtStart } from "../../src/app/app.ts";
import { bunGlobal, type BunServerLike } from "./bun_types.ts";
import { type BunHandler, type BunHandlerOptions, createBunHandler } from "./handler.ts";

/** Options of {@linkcode serve}. */
export interface ServeOptions extends BunHandlerOptions {
  /** Port; `0` (the default) picks a free one. */
  port?: number;
  /** Interface to listen on. Default `127.0.0.1`; `0.0.0.0` or `::` for every interface. */
  hostname?: string;
  /** Aborting it closes the server, as `close()` does. */
  signal?: AbortSignal;
  /** Called once the server listens (default: nothing is logged). */
  onListen?: (address: { hostname: string; port: number }) => void;
  /** Seconds an HTTP connection may stay idle (Bun's `idleTimeout`, slowloris). Default 10. */
  httpIdleTimeout?: number;
}

/** A running server made by {@linkcode serve}. `await using` closes it. */
export interface BunServer extends AsyncDisposable {
  /** Bun's server. */
  readonly server: BunServerLike;
  /** The app's handlers. */
  readonly handler: BunHandler;
  /** The host it listens on. */
  readonly hostname: string;
  /** The port it listens on. */
  readonly port: number;
  /** `http://host:port`. */
  readonly httpUrl: string;
  /** `ws://host:port` — a communicator's `url`. */
  readonly url: string;
  /**
   * Closes the app (sockets with 1001 after their `onDisconnect`; layers unless
   * `closeLayers: false`), then stops the server. Resolves once it is stopped.
   */
  close(options?: { closeLayers?: boolean }): Promise<void>;
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
}

/**
 * Serves `app` on Bun: HTTP routes and WebSocket routes on one port, with upgrade-time
 * authentication, the frame and buffer limits, the heartbeat, native group fan-out and clean
 * shutdown. Resolves once listening. Throws a `TypeError` when not running on Bun.
 *
 * ```js
 * import { serve } from "@switchboard/switchboard/adapters/bun";
 *
 * const server = await serve(app, { port: 8080, hostname: "0.0.0.0" });
 * console.log(`listening on ${server.httpUrl}`);
 * process.once("SIGTERM", () => server.close());
 * ```
 */
export function serve(app: App, options: ServeOptions = {}): Promise<BunServer> {
  const bun = bunGlobal();
  if (!bun?.serve) {
    return Promise.reject(new TypeError("adapters/bun serve() runs on Bun only (no Bun global)"));
  }
  checkAppAtStart(app); // logged now, not at the first request
  const handler = createBunHandler(app, options);
  const hostname = options.hostname ?? "127.0.0.1";
  const server = bun.serve({
    port: options.port ?? 0,
    hostname,
    idleTimeout: options.httpIdleTimeout ?? 10,
    fetch: (request, s) => handler.fetch(request, s),
    websocket: handler.websocket,
  });
  let resolveFinished!: () => void;
  const finished = new Promise<void>((resolve) => (resolveFinished = resolve));
  let closed: Promise<void> | undefined;
  const close = (closeOptions: { closeLayers?: boolean } = {}) => {
    closed ??= (async () => {
      try {
        await handler.close(closeOptions);
      } finally {
        await server.stop(true);
        resolveFinished();
      }
    })();
    return closed;
  };
  if (options.signal) {
    if (options.signal.aborted) void close();
    else options.signal.addEventListener("abort", () => void close(), { once: true });
  }
  const port = server.port;
  options.onListen?.({ hostname, port });
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return Promise.resolve({
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
}

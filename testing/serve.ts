/**
 * Serving an app on a free loopback port for real-socket tests (Deno).
 *
 * @module
 */
import { type App, checkAppAtStart } from "../src/app/app.ts";

/** A running test server. Dispose it (or call `close`) to stop it and the app. */
export interface TestServer extends AsyncDisposable {
  /** `ws://127.0.0.1:<port>` — pass it as the communicator's `url`. */
  readonly url: string;
  /** `http://127.0.0.1:<port>`. */
  readonly httpUrl: string;
  /** The port. */
  readonly port: number;
  /** Closes the app's sockets, then the server. Layers stay open unless `closeLayers`. */
  close(options?: { closeLayers?: boolean }): Promise<void>;
}

/**
 * Serves `app` with `Deno.serve` on 127.0.0.1 and a free port. A misconfigured app (a route
 * whose layer alias nothing is registered under) is logged as an error at once, not at the first
 * request.
 */
export function serveForTests(app: App): Promise<TestServer> {
  checkAppAtStart(app);
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) => {
        const close = async (options: { closeLayers?: boolean } = {}) => {
          await app.close({ closeLayers: options.closeLayers ?? false });
          await server.shutdown();
        };
        resolve({
          url: `ws://127.0.0.1:${port}`,
          httpUrl: `http://127.0.0.1:${port}`,
          port,
          close,
          [Symbol.asyncDispose]: () => close(),
        });
      },
    }, app.fetch);
  });
}

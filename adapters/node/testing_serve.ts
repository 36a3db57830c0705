/**
 * `serveForTests` on Node: the npm build puts this module in place of `testing/serve.ts` (which
 * uses `Deno.serve`), so `@switchboard/switchboard/testing` serves test apps on Node too.
 *
 * @module
 */
import type { App } from "../../src/app/app.ts";
import type { TestServer } from "../../testing/serve.ts";
import { serve } from "./mod.ts";

export type { TestServer };

/** Serves `app` with the Node adapter on 127.0.0.1 and a free port. */
export async function serveForTests(app: App): Promise<TestServer> {
  const server = await serve(app, { hostname: "127.0.0.1", port: 0, closeTimeout: 1000 });
  const close = (options: { closeLayers?: boolean } = {}) =>
    server.close({ closeLayers: options.closeLayers ?? false });
  return {
    url: server.url,
    httpUrl: server.httpUrl,
    port: server.port,
    close,
    [Symbol.asyncDispose]: () => close(),
  };
}

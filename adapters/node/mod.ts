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
 * The pieces: ./http.ts (the HTTP bridge), ./handler.ts (the WebSocket listeners and the `ws`
 * socket wrapper), ./serve.ts (`serve`, `attach`). The seam they implement: src/runtime/seam.ts.
 *
 * @module
 */
export { toRequest, writeResponse } from "./http.ts";
export { createNodeHandler, type NodeHandler, type NodeHandlerOptions } from "./handler.ts";
export { attach, type AttachedApp, type NodeServer, serve, type ServeOptions } from "./serve.ts";

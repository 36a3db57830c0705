/**
 * Serving a Switchboard {@linkcode App} on Bun (≥ 1.1) with `Bun.serve`: the same routing,
 * upgrade-time authentication, origin check, frame and buffer limits, heartbeat, close codes and
 * clean shutdown as on Deno and Node, plus group fan-out with Bun's native `publish` where it
 * gives the same frames (./fanout.ts).
 *
 * ```js
 * import { App } from "@switchboard/switchboard";
 * import { serve } from "@switchboard/switchboard/adapters/bun";
 *
 * const app = new App().ws("/ws/echo", Echo);
 * const server = await serve(app, { port: 8080 });
 * process.on("SIGTERM", () => server.close());
 * ```
 *
 * Or mount the handlers in a `Bun.serve` of your own:
 *
 * ```js
 * import { createBunHandler } from "@switchboard/switchboard/adapters/bun";
 *
 * const sb = createBunHandler(app);
 * Bun.serve({ port: 8080, fetch: sb.fetch, websocket: sb.websocket });
 * ```
 *
 * The pieces: ./bun_types.ts (the slice of Bun's API used, declared locally), ./socket.ts (the
 * socket wrapper), ./fanout.ts (native topics), ./handler.ts (`fetch` and `websocket`),
 * ./serve.ts (`serve`). The seam they implement: src/runtime/seam.ts.
 *
 * @module
 */
export { type BunHandler, type BunHandlerOptions, createBunHandler } from "./handler.ts";
export { type BunServer, serve, type ServeOptions } from "./serve.ts";
export type { BunServerLike, BunWebSocket, BunWebSocketHandler } from "./bun_types.ts";
export type { BunSocketState } from "./socket.ts";

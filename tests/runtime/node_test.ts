/** The runtime suite on the Node adapter (node:http + npm:ws), run under Deno, with ws clients. */
import { serve } from "@switchboard/switchboard/adapters/node";
import { WebSocket } from "ws";
import { runtimeSuite } from "./suite.ts";

runtimeSuite("node", {
  // The Node adapter's heartbeat is its own option, `idleTimeout` (seconds, fractions allowed:
  // ping every 0.2 s, drop a peer that did not pong by the next tick). Default: the app's 30 s.
  start: (app, { fastHeartbeat }) =>
    serve(app, { port: 0, closeTimeout: 1000, ...(fastHeartbeat ? { idleTimeout: 0.2 } : {}) })
      .then((s) => ({
        url: s.url,
        httpUrl: s.httpUrl,
        close: () => s.close({ closeLayers: false }),
      })),
  WebSocket,
  capabilities: { pings: true },
});

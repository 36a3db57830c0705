/** The runtime suite on the Node adapter (node:http + npm:ws), run under Deno, with ws clients. */
import { serve } from "@switchboard/switchboard/adapters/node";
import { WebSocket } from "ws";
import { runtimeSuite } from "./suite.ts";

runtimeSuite("node", {
  start: async (app) => {
    const s = await serve(app, { port: 0, closeTimeout: 1000 });
    return { url: s.url, httpUrl: s.httpUrl, close: () => s.close({ closeLayers: false }) };
  },
  WebSocket,
  capabilities: { pings: true },
  heartbeatAppOptions: { heartbeatSeconds: 0.2 }, // the adapter's heartbeat reads the app's
});

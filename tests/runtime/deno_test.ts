/** The runtime suite on Deno: `Deno.serve` (testing's serveForTests) and Deno's own WebSocket. */
import { serveForTests } from "@switchboard/switchboard/testing";
import { runtimeSuite } from "./suite.ts";

runtimeSuite("deno", {
  start: (app) => serveForTests(app),
  capabilities: { pings: true },
  // AppOptions.heartbeatSeconds, Deno's native ping (idleTimeout): 1 s of silence, closed 1 s later.
  heartbeatAppOptions: { heartbeatSeconds: 1 },
});

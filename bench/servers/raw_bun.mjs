/**
 * Baseline: raw `Bun.serve` WebSockets, no library. `bun bench/servers/raw_bun.mjs <echo|fanout>`
 * prints `READY <port>`.
 * - echo: every text frame is sent back as is.
 * - fanout: sockets on `/ws/room` subscribe to topic `room`; a frame from `/ws/sender` goes to
 *   them with one `server.publish("room", text)` (Bun frames it once).
 */
const mode = process.argv[2] ?? "echo";
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(req, server) {
    const path = new URL(req.url).pathname;
    if (server.upgrade(req, { data: { path } })) return undefined;
    return new Response("not found", { status: 404 });
  },
  websocket: {
    idleTimeout: 30,
    open(ws) {
      if (mode === "fanout" && ws.data.path === "/ws/room") {
        ws.subscribe("room");
      }
    },
    message(ws, data) {
      if (mode === "echo") ws.send(data);
      else if (ws.data.path === "/ws/sender") server.publish("room", data);
    },
  },
});
console.log(`READY ${server.port}`);
process.once("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});

/**
 * Baseline: raw `Bun.serve` WebSockets, no library. `bun bench/servers/raw_bun.mjs <echo|fanout>`
 * prints `READY <port>`.
 * - echo: every text frame is sent back as is.
 * - fanout: sockets on `/ws/room` subscribe to topic `room`; a frame from `/ws/sender` goes to
 *   them with one `server.publish("room", text)` (Bun frames it once).
 * - cross: as fanout, but a sender's frame is PUBLISHed on Redis (REDIS_URL, node-redis) and every
 *   process publishes it to its own topic when it arrives: the floor of a cross-process broadcast.
 * - idle: sockets are accepted and kept; `GET /mem` answers `{rss, heapUsed, heapTotal, external,
 *   connections}` after `Bun.gc(true)` (in every mode).
 */
const mode = process.argv[2] ?? "echo";
let publisher;
if (mode === "cross") {
  // Loaded in this mode only: a module loaded at startup grows the engine's young generation,
  // which the idle row would count (bench/scenarios/idle.ts).
  const { createClient } = await import("redis");
  publisher = createClient({ url: process.env.REDIS_URL });
  const subscriber = publisher.duplicate();
  await Promise.all([publisher.connect(), subscriber.connect()]);
  await subscriber.subscribe("rawbench:room", (data) => server.publish("room", data));
}
let open = 0;
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(req, server) {
    const path = new URL(req.url).pathname;
    if (path === "/mem") {
      Bun.gc(true);
      const m = process.memoryUsage();
      return Response.json({
        rss: m.rss,
        heapUsed: m.heapUsed,
        heapTotal: m.heapTotal,
        external: m.external,
        connections: open,
      });
    }
    if (server.upgrade(req, { data: { path } })) return undefined;
    return new Response("not found", { status: 404 });
  },
  websocket: {
    idleTimeout: 30,
    open(ws) {
      open++;
      if ((mode === "fanout" || mode === "cross") && ws.data.path === "/ws/room") {
        ws.subscribe("room");
      }
    },
    close() {
      open--;
    },
    message(ws, data) {
      if (mode === "echo") ws.send(data);
      else if (ws.data.path !== "/ws/sender") return;
      else if (mode === "cross") publisher.publish("rawbench:room", String(data));
      else server.publish("room", data);
    },
  },
});
console.log(`READY ${server.port}`);
process.once("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});

/**
 * Baseline of the Node rows: a plain `ws` server on `node:http`, no library — the `ws` package
 * adapters/node uses, from the same node_modules. Compiled with bench/servers/switchboard_node.ts
 * (bench/scenarios/node.ts); `node .bench-node/bench/servers/raw_ws.js <echo|fanout>` prints
 * `READY <port>`.
 * - echo: every frame is sent back as is (the Buffer `ws` hands over: never decoded).
 * - echo-text: a text frame is decoded to a string and sent back as a string (encoded again), as
 *   raw Deno does (Deno hands text frames to JavaScript as strings) and as Switchboard must.
 * - fanout: sockets on `/ws/room` are receivers; a frame from `/ws/sender` is sent to each of them
 *   in a plain loop.
 * - cross: as fanout, but a sender's frame is PUBLISHed on Redis (REDIS_URL, node-redis) and every
 *   process loops over its own receivers when it arrives: the floor of a cross-process broadcast.
 * - idle: sockets are accepted and kept (in a Set). `GET /mem` answers
 *   `{rss, heapUsed, heapTotal, connections}` after a GC (run with `--expose-gc`).
 *
 * @module
 */
import process from "node:process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { type WebSocket, WebSocketServer } from "ws";
import type { createClient } from "redis";

const mode = process.argv[2] ?? "echo";
const receivers = new Set<WebSocket>();
const sockets = new Set<WebSocket>();
type Client = ReturnType<typeof createClient>;
let publisher: Client | undefined;
if (mode === "cross") {
  // Loaded in this mode only: a module loaded at startup grows the engine's young generation,
  // which the idle row would count (bench/scenarios/idle.ts).
  const { createClient } = await import("redis");
  publisher = createClient({ url: process.env.REDIS_URL });
  const subscriber = publisher.duplicate();
  await Promise.all([publisher.connect(), subscriber.connect()]);
  await subscriber.subscribe("rawbench:room", (data) => {
    for (const r of receivers) r.send(data);
  });
}
const http = createServer((req, res) => {
  if (req.url === "/mem") {
    (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      connections: sockets.size,
    }));
    return;
  }
  res.statusCode = 404;
  res.end();
});
const wss = new WebSocketServer({ server: http, clientTracking: false });
wss.on("connection", (socket, req) => {
  socket.on("error", () => {});
  if (mode === "idle") {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  } else if (mode === "echo") {
    socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
  } else if (mode === "echo-text") {
    socket.on("message", (data, isBinary) => socket.send(isBinary ? data : String(data)));
  } else if (req.url === "/ws/room") {
    receivers.add(socket);
    socket.on("close", () => receivers.delete(socket));
  } else if (mode === "cross") {
    socket.on("message", (data) => void publisher!.publish("rawbench:room", String(data)));
  } else {
    socket.on("message", (data, isBinary) => {
      for (const r of receivers) r.send(data, { binary: isBinary });
    });
  }
});
http.listen(0, "127.0.0.1", () => console.log(`READY ${(http.address() as AddressInfo).port}`));
process.once("SIGTERM", () => process.exit(0));

// Baseline: Socket.IO 4 on Node (websocket transport only).
//
// node bench/servers/socketio.mjs <echo|cross>  prints `READY <port>`.
// - echo: `say` → `said` back to the sender.
// - cross: receivers (?role=recv) join room "room"; a `shout` from a sender is emitted to the room
//   through @socket.io/redis-adapter (REDIS_URL), so every process sharing Redis delivers it.
import { createServer } from "node:http";
import { Server } from "socket.io";

const mode = process.argv[2] ?? "echo";
const http = createServer((req, res) => {
  if (req.url === "/mem") {
    globalThis.gc?.();
    const m = process.memoryUsage();
    res.setHeader("content-type", "application/json");
    res.end(
      JSON.stringify({
        rss: m.rss,
        heapUsed: m.heapUsed,
        connections: io.engine.clientsCount,
      }),
    );
    return;
  }
  res.statusCode = 404;
  res.end();
});
const io = new Server(http, { transports: ["websocket"], serveClient: false });

if (mode === "cross") {
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const { createClient } = await import("redis");
  const pub = createClient({ url: process.env.REDIS_URL });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
}

io.on("connection", (socket) => {
  if (mode === "echo") {
    socket.on("say", (payload) => socket.emit("said", payload));
  } else if (socket.handshake.query.role === "recv") {
    socket.join("room");
  } else {
    socket.on("shout", (payload) => io.to("room").emit("said", payload));
  }
});

http.listen(0, "127.0.0.1", () => console.log(`READY ${http.address().port}`));
process.on("SIGTERM", () => process.exit(0));

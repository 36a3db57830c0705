/**
 * Baseline: raw `Deno.upgradeWebSocket` servers, no library.
 *
 * `deno run -A bench/servers/raw_deno.ts <echo|fanout|idle>` prints `READY <port>`.
 * - echo: every text frame is sent back as is.
 * - fanout: sockets on `/ws/room` are receivers; a frame from `/ws/sender` is sent to each of
 *   them in a plain loop.
 * - cross: as fanout, but a sender's frame is PUBLISHed on Redis (REDIS_URL, node-redis) and every
 *   process loops over its own receivers when it arrives: the floor for a cross-process broadcast.
 * - idle: sockets are accepted and kept.
 * `GET /mem` answers bench/servers/mem.ts's `memAnswer` (run with `--v8-flags=--expose-gc`).
 *
 * @module
 */
import type { createClient } from "redis";
import { memAnswer } from "./mem.ts";

const mode = Deno.args[0] ?? "echo";
const sockets = new Set<WebSocket>();
const receivers: WebSocket[] = [];
type Client = ReturnType<typeof createClient>;
let publisher: Client | undefined;
if (mode === "cross") {
  // Loaded in this mode only: a module loaded at startup grows the engine's young generation,
  // which the idle row would count (bench/scenarios/idle.ts).
  const { createClient } = await import("redis");
  publisher = createClient({ url: Deno.env.get("REDIS_URL") });
  const subscriber = publisher.duplicate();
  await Promise.all([publisher.connect(), subscriber.connect()]);
  await subscriber.subscribe("rawbench:room", (data) => {
    for (const r of receivers) r.send(data);
  });
}

function handler(request: Request): Response {
  const url = new URL(request.url);
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    if (url.pathname === "/mem") return memAnswer(sockets.size);
    return new Response("not found", { status: 404 });
  }
  const { socket, response } = Deno.upgradeWebSocket(request, {
    idleTimeout: 30,
  });
  socket.onopen = () => sockets.add(socket);
  socket.onclose = () => {
    sockets.delete(socket);
    const i = receivers.indexOf(socket);
    if (i !== -1) receivers.splice(i, 1);
  };
  socket.onerror = () => {};
  if (mode === "echo") {
    socket.onmessage = (e) => socket.send(e.data);
  } else if (mode === "cross") {
    if (url.pathname === "/ws/room") {
      socket.addEventListener("open", () => receivers.push(socket));
    } else {
      socket.onmessage = (e) => void publisher!.publish("rawbench:room", e.data as string);
    }
  } else if (mode === "fanout") {
    if (url.pathname === "/ws/room") {
      socket.addEventListener("open", () => receivers.push(socket));
    } else {
      socket.onmessage = (e) => {
        for (const r of receivers) r.send(e.data);
      };
    }
  }
  return response;
}

Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(`READY ${port}`),
}, handler);

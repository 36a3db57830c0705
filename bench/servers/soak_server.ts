/**
 * The soak test's server: chat rooms over the Redis pub/sub layer (REDIS_URL), several processes.
 *
 * `deno run -A bench/servers/soak_server.ts` prints `READY <port>`.
 * - `join` / `leave` {room}: join or leave group `room.<room>`, answered by `joined` / `left`;
 * - `say` {room, id, text}: broadcast `said` to the room (every process);
 * - layer outages reach the client as `resync` (from `onResync`); failures as error frames that
 *   carry the request's `ref`.
 * `GET /mem` answers `{rss, heapUsed, connections}` after a GC.
 *
 * @module
 */
import { App, Consumer, layers, message, type MessageOf, wsHandler } from "../../mod.ts";
import { RedisPubSubChannelLayer } from "../../adapters/redis/mod.ts";
import { z } from "zod";

const url = Deno.env.get("REDIS_URL");
if (!url) throw new Error("soak_server needs REDIS_URL");
layers.register("default", new RedisPubSubChannelLayer({ url, prefix: "sbsoak" }));

const Room = z.object({ room: z.string().regex(/^[a-z0-9]{1,20}$/) });
const Join = message("join", Room);
const Joined = message("joined", Room);
const Leave = message("leave", Room);
const Left = message("left", Room);
const Chat = z.object({ room: z.string(), id: z.number().int(), text: z.string().max(200) });
const Say = message("say", Chat);
const Said = message("said", Chat);
const Resync = message("resync", z.object({ reason: z.string() }));

class ChatConsumer extends Consumer {
  @wsHandler(Join, { output: Joined })
  async handleJoin(m: MessageOf<typeof Join>) {
    await this.joinGroup(`room.${m.payload.room}`);
    return Joined.create(m.payload);
  }

  @wsHandler(Leave, { output: Left })
  async handleLeave(m: MessageOf<typeof Leave>) {
    await this.leaveGroup(`room.${m.payload.room}`);
    return Left.create(m.payload);
  }

  @wsHandler(Say)
  async handleSay(m: MessageOf<typeof Say>) {
    await this.broadcastMessage(Said.create(m.payload), { groups: `room.${m.payload.room}` });
  }

  override async onResync(reason: string) {
    await this.sendMessage(Resync.create({ reason }));
  }
}

const app = new App({ allowedOrigins: "*" })
  .ws("/ws/chat", ChatConsumer)
  .get("/mem", () => {
    (globalThis as { gc?: () => void }).gc?.();
    const m = Deno.memoryUsage();
    return Response.json({ rss: m.rss, heapUsed: m.heapUsed, connections: app.connectionCount });
  });

const server = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(`READY ${port}`),
}, app.fetch);

Deno.addSignalListener("SIGTERM", async () => {
  await app.close();
  await server.shutdown();
  Deno.exit(0);
});

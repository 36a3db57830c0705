/**
 * The soak test's server: chat rooms over the Redis pub/sub layer (REDIS_URL), several processes.
 *
 * `deno run -A bench/servers/soak_server.ts` prints `READY <port>`.
 * - `join` / `leave` {room}: join or leave group `room.<room>`, answered by `joined` / `left`;
 * - `say` {room, id, text}: broadcast `said` to the room (every process);
 * - `work` {id}: enqueues a job on the shared RedisJobQueue; a Worker in some server process runs
 *   it (about 20 ms) and pushes `done` {id, by} back with `sendEvent` over the pub/sub layer;
 * - `/ws/plain`: the same chat without history (for `--history` runs: counted apart);
 * - layer outages reach the client as `resync` (from `onResync`); failures as error frames that
 *   carry the request's `ref`.
 * `GET /mem` answers `{rss, heapUsed, connections}` after a GC.
 *
 * @module
 */
import {
  App,
  Consumer,
  eventHandler,
  type JobContext,
  layers,
  message,
  type MessageOf,
  Worker,
  wsHandler,
} from "../../mod.ts";
import { RedisJobQueue, RedisPubSubChannelLayer } from "../../adapters/redis/mod.ts";
import { z } from "zod";

const url = Deno.env.get("REDIS_URL");
if (!url) throw new Error("soak_server needs REDIS_URL");
const layer = new RedisPubSubChannelLayer({ url, prefix: "sbsoak" });
/**
 * Messages read back from the history after a position (gap fills and replays): counted by
 * wrapping the layer's `readSince`, reported by `GET /mem` as `replayed` (the soak's "recovered by
 * replay"). Bench instrumentation only.
 */
let replayed = 0;
const readSince = layer.readSince.bind(layer);
layer.readSince = async (group, since, options) => {
  const read = await readSince(group, since, options);
  if (since && read.recovered) {
    replayed += read.messages.filter((e) => e.offset > since.offset).length;
  }
  return read;
};
layers.register("default", layer);

const Room = z.object({ room: z.string().regex(/^[a-z0-9]{1,20}$/) });
const Join = message("join", Room);
const Joined = message("joined", Room);
const Leave = message("leave", Room);
const Left = message("left", Room);
const Chat = z.object({
  room: z.string(),
  id: z.number().int(),
  text: z.string().max(200),
});
const Say = message("say", Chat);
const Said = message("said", Chat);
const Resync = message("resync", z.object({ reason: z.string() }));
const Work = message("work", z.object({ id: z.number().int() }));
const Done = message(
  "done",
  z.object({ id: z.number().int(), by: z.number().int() }),
);

const queue = new RedisJobQueue({
  url,
  prefix: "sbsoak:jobs",
  keepResultMs: 60_000,
});

class ChatConsumer extends Consumer<MessageOf<typeof Done>> {
  /** `SOAK_HISTORY=1` (`deno task soak --history`): the rooms keep a history (docs/recovery.md). */
  static override history = Deno.env.get("SOAK_HISTORY") === "1"
    ? { size: 10_000, ttlMs: 300_000 }
    : undefined;
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
    await this.broadcastMessage(Said.create(m.payload), {
      groups: `room.${m.payload.room}`,
    });
  }

  @wsHandler(Work)
  async handleWork(m: MessageOf<typeof Work>) {
    await queue.enqueue("work", [m.payload.id, this.channelName], {
      jobId: `w${m.payload.id}`,
    });
  }

  @eventHandler(Done, { output: Done })
  handleDone(e: MessageOf<typeof Done>) {
    return e;
  }

  override async onResync(reason: string) {
    await this.sendMessage(Resync.create({ reason }));
  }
}

/** The same chat without history (`/ws/plain`): today's behaviour, counted apart by the soak. */
class PlainChatConsumer extends ChatConsumer {
  static override history = undefined;
}

const worker = new Worker(queue, {
  concurrency: 20,
  leaseMs: 10_000,
  functions: {
    work: async (_ctx: JobContext, id: number, channelName: string) => {
      await new Promise((r) => setTimeout(r, 20));
      await ChatConsumer.sendEvent(
        Done.create({ id, by: Deno.pid }),
        channelName,
      );
    },
  },
});
const working = worker.start();

const app = new App({ allowedOrigins: "*" })
  .ws("/ws/chat", ChatConsumer)
  .ws("/ws/plain", PlainChatConsumer)
  .get("/mem", (): Response => {
    (globalThis as { gc?: () => void }).gc?.();
    const m = Deno.memoryUsage();
    return Response.json({
      rss: m.rss,
      heapUsed: m.heapUsed,
      connections: app.connectionCount,
      replayed,
    });
  });

const server = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(`READY ${port}`),
}, app.fetch);

Deno.addSignalListener("SIGTERM", async () => {
  await worker.stop();
  await working;
  await app.close();
  await queue.close();
  await server.shutdown();
  Deno.exit(0);
});

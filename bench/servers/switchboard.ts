/**
 * The Switchboard side of every scenario, served with `Deno.serve(app.fetch)`.
 *
 * `deno run -A bench/servers/switchboard.ts <echo|fanout|idle|cross>` prints `READY <port>`.
 * - echo (`/ws/echo`): `say` validated by zod, handler returns a typed `said`.
 * - fanout / cross: `/ws/room` joins group `room`; a `shout` on `/ws/sender` is broadcast to it
 *   with `broadcastMessage` — in memory (fanout) or over the Redis pub/sub layer at REDIS_URL
 *   (cross, several processes).
 * - idle (`/ws/idle`): an ordinary consumer on the default in-memory layer, nothing else.
 * - jobs (`/ws/jobs`): `work` enqueues a job on a RedisJobQueue (REDIS_URL); a Worker in this
 *   process runs it and pushes `done` back to the connection with `sendEvent` (the tutorial's
 *   pattern), so one reply frame per job.
 * `GET /mem` answers `{rss, heapUsed, connections}` after a GC (run with `--v8-flags=--expose-gc`).
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
  Ping,
  Pong,
  Worker,
  wsHandler,
} from "../../mod.ts";
import { RedisJobQueue, RedisPubSubChannelLayer } from "../../adapters/redis/mod.ts";
import { z } from "zod";

const mode = Deno.args[0] ?? "echo";

const Say = message("say", z.object({ text: z.string(), n: z.number().int() }));
const Said = message(
  "said",
  z.object({ text: z.string(), n: z.number().int() }),
);
const Shout = message(
  "shout",
  z.object({ text: z.string(), n: z.number().int() }),
);

if (mode === "cross") {
  const url = Deno.env.get("REDIS_URL");
  const rootNodes = Deno.env.get("REDIS_CLUSTER_URLS")?.split(",");
  if (!url && !rootNodes) throw new Error("cross needs REDIS_URL or REDIS_CLUSTER_URLS");
  layers.register(
    "default",
    new RedisPubSubChannelLayer(
      rootNodes ? { cluster: { rootNodes }, prefix: "sbbench" } : { url, prefix: "sbbench" },
    ),
  );
}

class EchoConsumer extends Consumer {
  @wsHandler(Say, { output: Said })
  handleSay(m: MessageOf<typeof Say>) {
    return Said.create(m.payload);
  }
}

class RoomConsumer extends Consumer {
  static override groups = ["room"];
  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>) {
    return Pong.create();
  }
}

class SenderConsumer extends Consumer {
  @wsHandler(Shout)
  async handleShout(m: MessageOf<typeof Shout>) {
    await this.broadcastMessage(Said.create(m.payload), { groups: "room" });
  }
}

const Work = message("work", z.object({ text: z.string(), n: z.number().int() }));
const Done = message("done", z.object({ text: z.string(), n: z.number().int() }));
const queue = mode === "jobs"
  ? new RedisJobQueue({
    url: Deno.env.get("REDIS_URL"),
    prefix: "sbbench:jobs",
    keepResultMs: 60_000,
  })
  : undefined;

class JobConsumer extends Consumer<MessageOf<typeof Done>> {
  @wsHandler(Work)
  async handleWork(m: MessageOf<typeof Work>) {
    await queue!.enqueue("echo", [m.payload.text, m.payload.n, this.channelName]);
  }

  @eventHandler(Done, { output: Done })
  handleDone(e: MessageOf<typeof Done>) {
    return e;
  }
}

const worker = queue
  ? new Worker(queue, {
    concurrency: 50,
    functions: {
      echo: async (_ctx: JobContext, text: string, n: number, channelName: string) => {
        await JobConsumer.sendEvent(Done.create({ text, n }), channelName);
      },
    },
  })
  : undefined;
const working = worker?.start();

class IdleConsumer extends Consumer {
  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>) {
    return Pong.create();
  }
}

const app = new App({ allowedOrigins: "*" })
  .ws("/ws/echo", EchoConsumer)
  .ws("/ws/room", RoomConsumer)
  .ws("/ws/sender", SenderConsumer)
  .ws("/ws/idle", IdleConsumer)
  .ws("/ws/jobs", JobConsumer)
  .get("/mem", () => {
    (globalThis as { gc?: () => void }).gc?.();
    const m = Deno.memoryUsage();
    return Response.json({
      rss: m.rss,
      heapUsed: m.heapUsed,
      connections: app.connectionCount,
    });
  });

const server = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(`READY ${port}`),
}, app.fetch);

Deno.addSignalListener("SIGTERM", async () => {
  await worker?.stop();
  await working;
  await app.close();
  await queue?.close();
  await server.shutdown();
  Deno.exit(0);
});

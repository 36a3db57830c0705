/**
 * The Switchboard side of every scenario, served with `Deno.serve(app.fetch)`.
 *
 * `deno run -A bench/servers/switchboard.ts <echo|fanout|idle|cross>` prints `READY <port>`.
 * - echo (`/ws/echo`): `say` validated by zod, handler returns a typed `said`.
 * - fanout / cross: `/ws/room` joins group `room`; a `shout` on `/ws/sender` is broadcast to it
 *   with `broadcastMessage` — in memory (fanout) or over the Redis pub/sub layer at REDIS_URL
 *   (cross, several processes).
 * - fanout-history / cross-history: the same with `static history` on the room and the sender.
 * - idle (`/ws/idle`): an ordinary consumer on the default in-memory layer, nothing else.
 * - jobs (`/ws/jobs`): `work` enqueues a job on a RedisJobQueue (REDIS_URL); a Worker in this
 *   process runs it and pushes `done` back to the connection with `sendEvent` (the tutorial's
 *   pattern), so one reply frame per job.
 * `--metrics` (any mode): the app mounts `/metrics` (issue 23), so every frame is counted.
 * `GET /mem` answers bench/servers/mem.ts's `memAnswer` (run with `--v8-flags=--expose-gc`).
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
import { z } from "zod";
import { EchoConsumer, Said, Shout } from "./runtime_app.ts";
import { memAnswer } from "./mem.ts";

const mode = Deno.args[0] ?? "echo";
const SENDER_AWAIT = Deno.env.get("SENDER_AWAIT") !== "0";

/** `fanout-history` / `cross-history`: the same, with the room's history on (docs/recovery.md). */
const history = mode.endsWith("-history") ? { size: 1000, ttlMs: 300_000 } : undefined;

// The Redis, NATS and metrics adapters (and their client libraries) are loaded only in the modes
// that use them: a module loaded at startup grows V8's young generation, which the idle row would
// count (bench/scenarios/idle.ts), and the raw servers load none of them there either.
if (mode.startsWith("cross")) {
  const { RedisPubSubChannelLayer } = await import("../../adapters/redis/mod.ts");
  const { NatsChannelLayer } = await import("../../adapters/nats/mod.ts");
  const url = Deno.env.get("REDIS_URL");
  const nats = Deno.env.get("NATS_URL"); // the engines scenario: the NATS layer instead
  const rootNodes = Deno.env.get("REDIS_CLUSTER_URLS")?.split(",");
  if (!url && !nats && !rootNodes) {
    throw new Error("cross needs REDIS_URL, REDIS_CLUSTER_URLS or NATS_URL");
  }
  layers.register(
    "default",
    nats ? new NatsChannelLayer({ servers: nats, prefix: "sbbench" }) : new RedisPubSubChannelLayer(
      rootNodes ? { cluster: { rootNodes }, prefix: "sbbench" } : { url, prefix: "sbbench" },
    ),
  );
}

class RoomConsumer extends Consumer {
  static override groups = ["room"];
  static override history = history;
  @wsHandler(Ping, { output: Pong })
  handlePing(_m: MessageOf<typeof Ping>) {
    return Pong.create();
  }
}

class SenderConsumer extends Consumer {
  static override history = history;
  @wsHandler(Shout)
  async handleShout(m: MessageOf<typeof Shout>) {
    const sent = this.broadcastMessage(Said.create(m.payload), { groups: "room" });
    // `SENDER_AWAIT=0`: the handler does not wait for the layer's answer (as the raw and
    // Socket.IO senders do not), so one sender's broadcasts are pipelined (bench/results.md Run 9).
    if (SENDER_AWAIT) await sent;
    else sent.catch((error) => console.error("broadcast failed", error));
  }
}

const Work = message("work", z.object({ text: z.string(), n: z.number().int() }));
const Done = message("done", z.object({ text: z.string(), n: z.number().int() }));
const queue = mode === "jobs"
  ? new (await import("../../adapters/redis/mod.ts")).RedisJobQueue({
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

const app: App = new App({ allowedOrigins: "*" })
  .ws("/ws/echo", EchoConsumer)
  .ws("/ws/room", RoomConsumer)
  .ws("/ws/sender", SenderConsumer)
  .ws("/ws/idle", IdleConsumer)
  .ws("/ws/jobs", JobConsumer)
  .get("/mem", () => memAnswer(app.connectionCount));

if (Deno.args.includes("--metrics")) {
  (await import("../../adapters/metrics/mod.ts")).mountMetrics(app);
}

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

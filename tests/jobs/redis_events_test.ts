/**
 * The events of {@linkcode RedisJobQueue} (`onEvent`), each on a private `redis-server`: `waiting`
 * once a `result()` wait is registered on its job (and not for a finished job), and an outage of
 * its three connections told as `disconnected`, `reconnecting` (node-redis's attempts, with their
 * delays) and `reconnected`, then the re-check of the waited job (`rechecked`; it finds the job
 * lost with the server's data).
 *
 * @module
 */
import assert from "node:assert/strict";
import { createClient } from "redis";
import { RedisJobQueue } from "../../adapters/redis/job_queue.ts";
import type {
  RedisJobQueueConnection,
  RedisJobQueueEvent,
} from "../../adapters/redis/job_events.ts";
import { Worker } from "../../src/jobs/worker.ts";
import { JobLostError } from "../../src/jobs/contract.ts";
import { hasRedisServer, RedisServer } from "../helpers/redis_servers.ts";
import { eventLog } from "../helpers/event_log.ts";
import { BOUND_MS, quietLogs, within } from "./contract.ts";

const SKIP = (await hasRedisServer()) ? false : "redis-server is not installed";
quietLogs();

Deno.test({
  name: "RedisJobQueue events: waiting once a result() wait is registered, not for a finished job",
  ignore: SKIP !== false,
  async fn() {
    await using server = await new RedisServer().start();
    const prefix = "ev";
    const queue = new RedisJobQueue({ url: server.url, prefix });
    const side = createClient({ url: server.url });
    side.on("error", () => {});
    await side.connect();
    const log = eventLog<RedisJobQueueEvent>(queue);
    try {
      const job = await queue.enqueue("echo", ["v"]);
      // Told with the registration done: a read sent right then finds it on the job.
      let atEvent: Promise<number> | undefined;
      const off = queue.onEvent((e) => {
        if (e.type === "waiting") atEvent ??= side.sCard(`${prefix}:job:${job.id}:waiters`);
      });
      const waiting = job.result();
      const told = await log.next((e) => e.type === "waiting", "the wait is registered");
      off();
      assert.deepEqual(told, { type: "waiting", jobId: job.id });
      assert.equal(await atEvent, 1);
      const channels = await side.sendCommand([
        "PUBSUB",
        "CHANNELS",
        `${prefix}:events*`,
      ]) as unknown;
      assert.equal((channels as unknown[]).length, 1, "subscribed");
      await new Worker(queue, { functions: { echo: (_c, v: string) => v } }).runBurst();
      assert.equal(await within(waiting, BOUND_MS, "result"), "v");
      // A finished job: result() answers from the hash, with no registration.
      const from = log.seen.length;
      assert.equal(await job.result(), "v");
      assert.deepEqual(log.seen.slice(from), [], "nothing told for a finished job");
    } finally {
      log.stop();
      await queue.close();
      await side.close();
    }
  },
});

Deno.test({
  name:
    "RedisJobQueue events: an outage of its three connections is told (disconnected, reconnecting, reconnected), then the re-check",
  ignore: SKIP !== false,
  async fn() {
    await using server = await new RedisServer().start();
    const backoff = { minDelayMs: 20, maxDelayMs: 40 };
    const queue = new RedisJobQueue({ url: server.url, prefix: "out", backoff });
    const log = eventLog<RedisJobQueueEvent>(queue);
    const worker = new Worker(queue, { functions: {} });
    const running = worker.start(); // the blocking reader
    try {
      // The command connection; delayed, so that the worker leaves it alone.
      const job = await queue.enqueue("never", [], { delay: 600_000 });
      const waiting = job.result(); // the results subscription
      waiting.catch(() => {});
      await log.next((e) => e.type === "waiting", "the wait is registered");
      assert.deepEqual(log.seen.filter((e) => e.type !== "waiting"), [], "nothing else yet");
      const all: RedisJobQueueConnection[] = ["commands", "results", "blocking"];
      const each = (type: string, what: string, extra = (_e: RedisJobQueueEvent) => true) =>
        Promise.all(all.map((c) =>
          log.next(
            (e) => e.type === type && "connection" in e && e.connection === c && extra(e),
            `${c}: ${what}`,
          )
        ));
      await server.stop();
      const down = await each("disconnected", "dropped");
      for (const e of down) assert.ok(e.type === "disconnected" && e.reason.length > 0);
      const retries = await each(
        "reconnecting",
        "a refused attempt, retried later",
        (e) => e.type === "reconnecting" && e.attempt >= 1,
      );
      for (const e of retries) {
        assert.ok(
          e.type === "reconnecting" && e.delayMs >= 20 && e.delayMs < 60,
          JSON.stringify(e),
        );
      }
      const from = log.seen.length;
      await server.start();
      await each("reconnected", "ready again");
      // Once back, the waited job is looked at again: gone with the server's data.
      const rechecked = await log.next((e) => e.type === "rechecked", "the re-check", from);
      assert.deepEqual(rechecked, { type: "rechecked", jobs: 1 });
      await assert.rejects(within(waiting, BOUND_MS, "result()"), JobLostError);
      const told = (type: string, c: string) =>
        log.seen.filter((e) => e.type === type && "connection" in e && e.connection === c).length;
      for (const c of all) {
        assert.equal(told("disconnected", c), 1, `${c}: dropped once`);
        assert.equal(told("reconnected", c), 1, `${c}: back once`);
      }
    } finally {
      log.stop();
      await worker.stop({ graceful: false });
      await running;
      await queue.close();
    }
  },
});

/**
 * The job queue contract on {@linkcode RedisJobQueue}, plus Redis-specific tests: key layout,
 * blocking fetch, and a worker process killed with SIGKILL mid-job whose job another worker
 * completes within the lease. Needs `REDIS_URL`; skipped otherwise.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createClient } from "redis";
import { RedisJobQueue } from "../../adapters/redis/job_queue.ts";
import type { RedisClientLike } from "../../adapters/redis/redis_client.ts";
import { Worker } from "../../src/jobs/worker.ts";
import { spawnApp } from "../../testing/spawn_app.ts";
import { BOUND_MS, jobQueueContract, quietLogs, within } from "./contract.ts";

const REDIS_URL = Deno.env.get("REDIS_URL") || undefined;
const SKIP = REDIS_URL
  ? false
  : "REDIS_URL is not set: Redis job queue tests are skipped (run with REDIS_URL=redis://127.0.0.1:6379)";
if (SKIP) console.warn(SKIP);

/** A key prefix nobody else uses. */
function uniquePrefix(): string {
  return `sbtest:jobs:${crypto.randomUUID().slice(0, 12)}`;
}

/** Deletes every key under `prefix`. */
async function cleanup(prefix: string): Promise<void> {
  const client = createClient({ url: REDIS_URL });
  client.on("error", () => {});
  await client.connect();
  try {
    const keys: string[] = [];
    for await (const batch of client.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 })) {
      keys.push(...(batch as unknown as string[]));
    }
    if (keys.length) await client.del(keys);
  } finally {
    await client.close();
  }
}

jobQueueContract({
  name: "RedisJobQueue",
  skip: SKIP,
  makeQueue: (options = {}) => {
    const prefix = uniquePrefix();
    const queue = new RedisJobQueue({ url: REDIS_URL, prefix, ...options });
    const close = queue.close.bind(queue);
    queue.close = async () => {
      await close();
      await cleanup(prefix);
    };
    return Promise.resolve(queue);
  },
});

quietLogs();

Deno.test({
  name: "RedisJobQueue: key layout under the prefix; the hash holds the job; results expire by TTL",
  ignore: SKIP !== false,
  async fn() {
    const prefix = uniquePrefix();
    const queue = new RedisJobQueue({ url: REDIS_URL, prefix, keepResultMs: 60_000 });
    const client = createClient({ url: REDIS_URL });
    client.on("error", () => {});
    await client.connect();
    try {
      const job = await queue.enqueue("translate", ["hello", "chan!abc"], { jobId: "j1" });
      const delayed = await queue.enqueue("later", [], { delay: 60_000 });
      assert.deepEqual(await client.lRange(`${prefix}:ready`, 0, -1), ["j1"]);
      assert.equal(await client.zCard(`${prefix}:delayed`), 1);
      assert.equal(await client.zScore(`${prefix}:delayed`, delayed.id) !== null, true);
      const hash = await client.hGetAll(`${prefix}:job:j1`);
      assert.equal(hash.name, "translate");
      assert.equal(hash.args, JSON.stringify(["hello", "chan!abc"]));
      assert.equal(hash.state, "queued");
      assert.equal(await client.pTTL(`${prefix}:job:j1`), -1, "queued jobs do not expire");
      const worker = new Worker(queue, {
        functions: { translate: (_c, text: string) => text.toUpperCase() },
      });
      // runBurst would wait a minute for the delayed job: run until j1 is done instead.
      const running = worker.start();
      assert.equal(await within(job.result(), BOUND_MS, "result"), "HELLO");
      await worker.stop();
      await running;
      const ttl = await client.pTTL(`${prefix}:job:j1`);
      assert.ok(ttl > 50_000 && ttl <= 60_000, `result TTL ${ttl}`);
      assert.equal(await client.zCard(`${prefix}:running`), 0);
      assert.equal(await client.lLen(`${prefix}:ready`), 0);
    } finally {
      await queue.close();
      await cleanup(prefix);
      await client.close();
    }
  },
});

Deno.test({
  name:
    "RedisJobQueue: accepts a node-redis client (left open) and workers in other queues see nothing",
  ignore: SKIP !== false,
  async fn() {
    const prefix = uniquePrefix();
    const client = createClient({ url: REDIS_URL });
    client.on("error", () => {});
    await client.connect();
    const queue = new RedisJobQueue({ client: client as unknown as RedisClientLike, prefix });
    const other = new RedisJobQueue({ url: REDIS_URL, prefix: `${prefix}-other` });
    try {
      const job = await queue.enqueue("double", [21]);
      const idle = await new Worker(other, { functions: { double: () => 0 } }).runBurst();
      assert.deepEqual(idle, { completed: 0, failed: 0, retried: 0 });
      const counts = await new Worker(queue, { functions: { double: (_c, n: number) => n * 2 } })
        .runBurst();
      assert.deepEqual(counts, { completed: 1, failed: 0, retried: 0 });
      assert.equal(await job.result(), 42);
      await queue.close();
      assert.equal(client.isReady, true, "a client passed in stays open");
      assert.equal(await client.ping(), "PONG");
    } finally {
      await queue.close();
      await other.close();
      await cleanup(prefix);
      await client.close();
    }
  },
});

Deno.test({
  name: "RedisJobQueue: a blocked worker picks up a new job at once (blocking fetch, no polling)",
  ignore: SKIP !== false,
  async fn() {
    const prefix = uniquePrefix();
    const queue = new RedisJobQueue({ url: REDIS_URL, prefix });
    const producer = new RedisJobQueue({ url: REDIS_URL, prefix });
    // maxBlockMs is a minute: only the wake-up can make the worker fetch in time.
    const worker = new Worker(queue, { maxBlockMs: 60_000, functions: { echo: (_c, v) => v } });
    const running = worker.start();
    try {
      // Let the worker reach its blocking wait (an idle claim happens first).
      const warm = await producer.enqueue("echo", ["warm"]);
      assert.equal(await within(warm.result(), BOUND_MS, "warm-up"), "warm");
      const latencies: number[] = [];
      for (let i = 0; i < 30; i++) {
        const t0 = performance.now();
        const job = await producer.enqueue("echo", [i]);
        assert.equal(await within(job.result(), BOUND_MS, "result"), i);
        latencies.push(performance.now() - t0);
      }
      latencies.sort((a, b) => a - b);
      console.log(
        `Redis enqueue→result (producer and worker on separate connections): median ${
          latencies[15].toFixed(2)
        } ms, max ${latencies[29].toFixed(2)} ms`,
      );
    } finally {
      await worker.stop();
      await running;
      await producer.close();
      await queue.close();
      await cleanup(prefix);
    }
  },
});

Deno.test({
  name:
    "RedisJobQueue: a worker process killed with SIGKILL mid-job; another worker completes the job within the lease",
  ignore: SKIP !== false,
  async fn() {
    const prefix = uniquePrefix();
    const LEASE_MS = 1000;
    const REAP_MS = 250;
    const queue = new RedisJobQueue({ url: REDIS_URL, prefix });
    const job = await queue.enqueue("slowDouble", [21], { maxTries: 3 });
    // A worker process (the kit's spawnApp: ready once it says it started the job).
    const child = await spawnApp(
      new URL("./fixtures/crash_worker.ts", import.meta.url),
      { REDIS_URL: REDIS_URL! },
      { args: [prefix, String(LEASE_MS)], ready: /STARTED \S+ try=\d+/, startTimeoutMs: 30_000 },
    );
    let second: Worker | undefined;
    let running: Promise<void> | undefined;
    try {
      assert.equal(
        /STARTED (\S+) try=(\d+)/.exec(child.output())?.slice(1).join(" "),
        `${job.id} 1`,
      );
      assert.equal(await job.status(), "running");
      const status = await child.kill(); // SIGKILL
      assert.equal(status.signal, "SIGKILL");
      const killedAt = performance.now();
      // The job is still leased by the dead worker.
      assert.equal(await job.status(), "running");

      const tries: number[] = [];
      second = new Worker(queue, {
        leaseMs: LEASE_MS,
        reapIntervalMs: REAP_MS,
        functions: {
          slowDouble: async (ctx, n: number) => {
            tries.push(ctx.tryNumber);
            await new Promise((r) => setTimeout(r, 50));
            return { value: n * 2, tryNumber: ctx.tryNumber };
          },
        },
      });
      running = second.start();
      const result = await within(job.result(), BOUND_MS, "the job completes on the second worker");
      const elapsed = performance.now() - killedAt;
      assert.deepEqual(result, { value: 42, tryNumber: 2 });
      assert.deepEqual(tries, [2]);
      // Bound: lease + one reaper period + the job's 50 ms + slack for a slow machine.
      const bound = LEASE_MS + REAP_MS + 50 + 3000;
      assert.ok(elapsed < bound, `recovered in ${elapsed.toFixed(0)} ms (bound ${bound} ms)`);
      console.log(`SIGKILL recovery: job completed ${elapsed.toFixed(0)} ms after the kill`);
    } finally {
      await child.kill();
      await second?.stop();
      await running;
      await queue.close();
      await cleanup(prefix);
    }
  },
});

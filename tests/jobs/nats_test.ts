/**
 * The job queue contract on {@linkcode NatsJobQueue}, on a private nats-server with JetStream
 * (one per test file run; every queue gets a prefix of its own).
 *
 * @module
 */
import { NatsJobQueue } from "../../adapters/nats/job_queue.ts";
import { type NatsServer, startNats } from "../../testing/nats_server.ts";
import assert from "node:assert/strict";
import { JobQueueUnavailableError } from "../../src/jobs/contract.ts";
import { freePort, skipReason } from "../../testing/services.ts";
import { spawnApp } from "../../testing/spawn_app.ts";
import { BOUND_MS, deferred, jobQueueContract, within } from "./contract.ts";
import { Worker } from "../../src/jobs/worker.ts";
import { ReadyPuller } from "../../adapters/nats/job_pull.ts";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy } from "@nats-io/jetstream";

const SKIP = skipReason("nats") ?? false;
let server: NatsServer | undefined;
let users = 0;

jobQueueContract({
  name: "NatsJobQueue",
  skip: SKIP,
  fakeClock: "timestamps", // leases and expiries on the library clock; JetStream times redelivery
  makeQueue: async (options = {}) => {
    // One server for the whole file, stopped when its last queue closes.
    server ??= await startNats();
    users++;
    const prefix = `sbtest${crypto.randomUUID().slice(0, 8)}`;
    const queue = new NatsJobQueue({ servers: server.url, prefix, ...options });
    const close = queue.close.bind(queue);
    let closed = false;
    queue.close = async () => {
      await close();
      if (closed) return;
      closed = true;
      if (--users === 0) {
        const s = server;
        server = undefined;
        await s?.stop();
      }
    };
    return queue;
  },
});

Deno.test({
  name: "NatsJobQueue: NATS away or paused: calls fail with JobQueueUnavailableError, bounded",
  ignore: SKIP !== false,
  async fn() {
    const timeouts = { connectTimeoutMs: 500, commandTimeoutMs: 500 };
    const away = new NatsJobQueue({ servers: `nats://127.0.0.1:${freePort()}`, timeouts });
    try {
      await assert.rejects(away.enqueue("x", []), JobQueueUnavailableError);
    } finally {
      await away.close();
    }
    await using nats = await startNats();
    const queue = new NatsJobQueue({ servers: nats.url, timeouts });
    try {
      const job = await queue.enqueue("x", [1]);
      nats.pause();
      try {
        const started = performance.now();
        await assert.rejects(queue.enqueue("x", [2]), JobQueueUnavailableError);
        await assert.rejects(job.status(), JobQueueUnavailableError);
        assert.ok(performance.now() - started < 3000, "not bounded by the timeouts");
      } finally {
        nats.resume();
      }
      assert.equal(await job.status(), "queued"); // back once NATS answers again
    } finally {
      await queue.close();
    }
  },
});

/** Retries `call` while NATS is coming back (JobQueueUnavailableError), for at most 10 s. */
async function eventually<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (let delay = 10;; delay = Math.min(delay * 2, 200)) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof JobQueueUnavailableError) || Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, delay)); // waiting for the reconnect
    }
  }
}

Deno.test({
  name: "NatsJobQueue: jobs survive a restart with the store; after one without, the queue " +
    "makes its stream and bucket again",
  ignore: SKIP !== false,
  async fn() {
    await using nats = await startNats();
    const queue = new NatsJobQueue({
      servers: nats.url,
      timeouts: { connectTimeoutMs: 1000, commandTimeoutMs: 1000 },
      backoff: { minDelayMs: 20, maxDelayMs: 100 },
    });
    const functions = { add: (_ctx: unknown, a: number, b: number) => a + b };
    try {
      const job = await queue.enqueue("add", [1, 2]);
      await nats.restart({ keepData: true });
      assert.equal(await eventually(() => job.status()), "queued");
      const worker = new Worker(queue, { functions });
      assert.deepEqual(await worker.runBurst(), { completed: 1, failed: 0, retried: 0 });
      await worker.stop();
      assert.equal(await job.result(), 3);

      await nats.restart(); // without its store: the stream and the bucket are gone
      const again = await eventually(() => queue.enqueue("add", [2, 2]));
      assert.equal(await job.status(), "not_found");
      const second = new Worker(queue, { functions });
      assert.deepEqual(await second.runBurst(), { completed: 1, failed: 0, retried: 0 });
      await second.stop();
      assert.equal(await again.result(), 4);
    } finally {
      await queue.close();
    }
  },
});

Deno.test({
  name: "NatsJobQueue: a worker process killed with SIGKILL mid-job; another worker completes " +
    "the job within the lease",
  ignore: SKIP !== false,
  async fn() {
    await using nats = await startNats();
    const prefix = `sbkill${crypto.randomUUID().slice(0, 8)}`;
    const LEASE_MS = 1000;
    const REAP_MS = 250;
    const queue = new NatsJobQueue({ servers: nats.url, prefix });
    const job = await queue.enqueue("slowDouble", [21], { maxTries: 3 });
    // A worker process (the kit's spawnApp: ready once it says it started the job).
    const child = await spawnApp(
      new URL("./fixtures/nats_crash_worker.ts", import.meta.url),
      {},
      {
        args: [nats.url, prefix, String(LEASE_MS)],
        ready: /STARTED \S+ try=\d+/,
        startTimeoutMs: 30_000,
      },
    );
    let second: Worker | undefined;
    let running: Promise<void> | undefined;
    try {
      assert.equal(
        /STARTED (\S+) try=(\d+)/.exec(child.output())?.slice(1).join(" "),
        `${job.id} 1`,
      );
      assert.equal((await child.kill()).signal, "SIGKILL");
      const killedAt = performance.now();
      assert.equal(await job.status(), "running"); // still leased by the dead worker
      const tries: number[] = [];
      second = new Worker(queue, {
        leaseMs: LEASE_MS,
        reapIntervalMs: REAP_MS,
        functions: {
          slowDouble: (ctx, n: number) => {
            tries.push(ctx.tryNumber);
            return { value: n * 2, tryNumber: ctx.tryNumber };
          },
        },
      });
      running = second.start();
      const result = await within(job.result(), BOUND_MS, "the job completes on the second worker");
      const elapsed = performance.now() - killedAt;
      assert.deepEqual(result, { value: 42, tryNumber: 2 });
      assert.deepEqual(tries, [2]);
      const bound = LEASE_MS + REAP_MS + 3000; // lease + one reaper period + slack
      assert.ok(elapsed < bound, `recovered in ${elapsed.toFixed(0)} ms (bound ${bound} ms)`);
      console.log(
        `SIGKILL recovery on NATS: job completed ${elapsed.toFixed(0)} ms after the kill`,
      );
    } finally {
      await child.kill();
      await second?.stop();
      await running;
      await queue.close();
    }
  },
});

Deno.test({
  name: "NatsJobQueue.depth() counts ready and running jobs",
  ignore: SKIP !== false,
  async fn() {
    await using nats = await startNats();
    const queue = new NatsJobQueue({ servers: nats.url, prefix: "depthtest" });
    try {
      assert.deepEqual(await queue.depth(), { queued: 0, delayed: 0, running: 0 });
      await queue.enqueue("a", []);
      await queue.enqueue("b", []);
      assert.deepEqual(await queue.depth(), { queued: 2, delayed: 0, running: 0 });
      const claimed = await queue.claim("token-1", 30_000);
      assert.ok(claimed.job);
      assert.deepEqual(await queue.depth(), { queued: 1, delayed: 0, running: 1 });
    } finally {
      await queue.close();
    }
  },
});

Deno.test({
  name: "NatsJobQueue: while one worker runs a job, another worker's claims get answers: its " +
    "stop() returns far within the request timeout (nats-server parks a losing no_wait pull)",
  ignore: SKIP !== false,
  async fn() {
    await using nats = await startNats();
    const TIMEOUT_MS = 5000;
    const queue = new NatsJobQueue({
      servers: nats.url,
      prefix: `sbpark${crypto.randomUUID().slice(0, 8)}`,
      timeouts: { connectTimeoutMs: TIMEOUT_MS, commandTimeoutMs: TIMEOUT_MS },
    });
    const started = deferred();
    const finish = deferred();
    const functions = { hold: () => (started.resolve(), finish.promise) };
    const a = new Worker(queue, { functions });
    const b = new Worker(queue, { functions });
    try {
      const job = await queue.enqueue("hold", []);
      // Both claim at once for the one job: the loser's pull used to get no answer at all.
      const runningA = a.start();
      const runningB = b.start();
      await within(started.promise, BOUND_MS, "the job starts");
      const [idle, idleRunning] = a.runningJobs === 0 ? [a, runningA] : [b, runningB];
      const stopping = performance.now();
      await idle.stop();
      await idleRunning;
      const ms = performance.now() - stopping;
      assert.ok(ms < TIMEOUT_MS / 5, `idle worker stopped in ${ms.toFixed(0)} ms`);
      finish.resolve();
      assert.equal(await within(job.result(), BOUND_MS, "result"), null);
      await a.stop();
      await b.stop();
      await Promise.all([runningA, runningB]);
    } finally {
      finish.resolve();
      await a.stop();
      await b.stop();
      await queue.close();
    }
  },
});

Deno.test({
  name: "ReadyPuller: a pull the server holds without an answer answers 'nothing' soon; the " +
    "next message goes to the next pull, not to the abandoned inbox",
  ignore: SKIP !== false,
  async fn() {
    await using nats = await startNats();
    const nc = await connect({ servers: nats.url });
    try {
      // nats-server holds a no_wait pull when a message is pending that it cannot deliver to
      // it: here one message is out unacked under max_ack_pending 1 and one more is stored (the
      // queue's consumer has no such limit; there, the pull lost its message to another pull).
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "P", subjects: ["p"], retention: RetentionPolicy.Workqueue });
      await jsm.consumers.add("P", {
        durable_name: "workers",
        ack_policy: AckPolicy.Explicit,
        max_ack_pending: 1,
      });
      const js = jetstream(nc);
      await js.publish("p", JSON.stringify({ id: "first", ticket: "t1" }));
      await js.publish("p", JSON.stringify({ id: "second", ticket: "t2" }));
      const TIMEOUT_MS = 5000;
      const puller = new ReadyPuller(nc, "P", "workers", TIMEOUT_MS);
      const first = await puller.take();
      assert.deepEqual(first?.body, { id: "first", ticket: "t1" });
      const t = performance.now();
      assert.equal(await within(puller.take(), TIMEOUT_MS, "the held pull"), undefined);
      const ms = performance.now() - t;
      assert.ok(ms < TIMEOUT_MS / 5, `answered in ${ms.toFixed(0)} ms`);
      first!.ack(); // the second message can go out now: to a live pull
      const next = await within(puller.take(), 1000, "the next message (ack wait: 30 s)");
      assert.deepEqual(next?.body, { id: "second", ticket: "t2" });
      assert.equal(next?.delivered, 1);
      next!.ack();
      puller.close();
    } finally {
      await nc.close();
    }
  },
});

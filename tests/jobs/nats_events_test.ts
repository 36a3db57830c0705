/**
 * The events of {@linkcode NatsJobQueue} (`onEvent`), each on a private nats-server: `waiting`
 * once a `result()` wait is subscribed (and not for a finished job), and a producer whose
 * connection is cut while its waited job finishes elsewhere: `disconnected`, `reconnected`, then
 * the re-check (`rechecked`) that reads the job and settles the wait. Without the re-check the
 * `done` message published during the outage is never heard and `result()` waits for ever.
 *
 * @module
 */
import assert from "node:assert/strict";
import { NatsJobQueue } from "../../adapters/nats/job_queue.ts";
import type { NatsJobQueueEvent } from "../../adapters/nats/job_events.ts";
import { startNats } from "../../testing/nats_server.ts";
import { TcpProxy } from "../../testing/tcp_proxy.ts";
import { skipReason } from "../../testing/services.ts";
import { Worker } from "../../src/jobs/worker.ts";
import { JobLostError } from "../../src/jobs/contract.ts";
import { eventLog } from "../helpers/event_log.ts";
import { BOUND_MS, quietLogs, within } from "./contract.ts";

const SKIP = skipReason("nats") ?? false;
quietLogs();
const backoff = { minDelayMs: 20, maxDelayMs: 50 };
const functions = { echo: (_ctx: unknown, v: string) => v };

Deno.test({
  name: "NatsJobQueue events: waiting once a result() wait is subscribed, not for a finished job",
  ignore: SKIP !== false,
  async fn() {
    await using nats = await startNats();
    const queue = new NatsJobQueue({ servers: nats.url, prefix: "ev" });
    const log = eventLog<NatsJobQueueEvent>(queue);
    try {
      const job = await queue.enqueue("echo", ["v"]);
      const waiting = job.result();
      const told = await log.next((e) => e.type === "waiting", "the wait is subscribed");
      assert.deepEqual(told, { type: "waiting", jobId: job.id });
      await new Worker(queue, { functions }).runBurst();
      assert.equal(await within(waiting, BOUND_MS, "result()"), "v");
      const from = log.seen.length;
      assert.equal(await job.result(), "v");
      assert.deepEqual(log.seen.slice(from), [], "nothing told for a finished job");
    } finally {
      log.stop();
      await queue.close();
    }
  },
});

Deno.test({
  name:
    "NatsJobQueue events: a job finished while the producer's connection was cut reaches its result() wait (disconnected, reconnected, rechecked)",
  ignore: SKIP !== false,
  async fn() {
    await using nats = await startNats();
    await using proxy = await TcpProxy.start(nats.port);
    const prefix = `sbev${crypto.randomUUID().slice(0, 8)}`;
    const producer = new NatsJobQueue({ servers: proxy.url("nats"), prefix, backoff });
    const workers = new NatsJobQueue({ servers: nats.url, prefix });
    const log = eventLog<NatsJobQueueEvent>(producer);
    try {
      const job = await producer.enqueue("echo", ["during the outage"]);
      const waiting = job.result();
      waiting.catch(() => {});
      await log.next((e) => e.type === "waiting", "the wait is subscribed");
      proxy.refuse();
      proxy.cut();
      await log.next((e) => e.type === "disconnected", "the producer's connection dropped");
      // The job finishes while the producer cannot hear its `done` message.
      const worker = new Worker(workers, { functions });
      assert.deepEqual(await worker.runBurst(), { completed: 1, failed: 0, retried: 0 });
      await worker.stop();
      const from = log.seen.length;
      proxy.heal();
      await log.next((e) => e.type === "reconnected", "the producer is back", from);
      const rechecked = await log.next((e) => e.type === "rechecked", "the re-check", from);
      assert.deepEqual(rechecked, { type: "rechecked", jobs: 1 });
      assert.equal(await within(waiting, BOUND_MS, "result()"), "during the outage");
      assert.equal(log.seen.filter((e) => e.type === "disconnected").length, 1, "dropped once");
    } finally {
      log.stop();
      await producer.close();
      await workers.close();
    }
  },
});

Deno.test({
  name:
    "NatsJobQueue events: after a restart without the store the re-check finds the waited job gone (JobLostError, not a wait for ever)",
  ignore: SKIP !== false,
  async fn() {
    await using nats = await startNats();
    const queue = new NatsJobQueue({ servers: nats.url, backoff });
    const log = eventLog<NatsJobQueueEvent>(queue);
    try {
      const job = await queue.enqueue("never", [], { delay: 600_000 });
      const waiting = job.result();
      waiting.catch(() => {});
      await log.next((e) => e.type === "waiting", "the wait is subscribed");
      await nats.restart(); // its JetStream store is gone with it
      await log.next((e) => e.type === "reconnected", "back");
      await assert.rejects(within(waiting, BOUND_MS, "result()"), JobLostError);
    } finally {
      log.stop();
      await queue.close();
    }
  },
});

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
import { jobQueueContract } from "./contract.ts";

const SKIP = skipReason("nats") ?? false;
let server: NatsServer | undefined;
let users = 0;

jobQueueContract({
  name: "NatsJobQueue",
  skip: SKIP,
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

/**
 * `result()` waits of {@linkcode NatsJobQueue} beyond the contract, each on a private nats-server:
 * the periodic re-check (`resultRecheckMs`) settles a wait whose `done` message never came without
 * any reconnect; the re-check after a reconnect sets the store up once, not once per wait; and a
 * wait whose confirmation throws (the link is down) rejects typed and leaves nothing behind.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { NatsJobQueue } from "../../adapters/nats/job_queue.ts";
import type { NatsJobQueueEvent } from "../../adapters/nats/job_events.ts";
import { ResultWaiters } from "../../adapters/nats/job_results.ts";
import { keyOf } from "../../adapters/nats/job_store.ts";
import type { NatsConnectionLike } from "../../adapters/nats/link.ts";
import { startNats } from "../../testing/nats_server.ts";
import { TcpProxy } from "../../testing/tcp_proxy.ts";
import { skipReason } from "../../testing/services.ts";
import { LayerUnavailableError } from "../../src/layers/kit.ts";
import { JobQueueUnavailableError } from "../../src/jobs/contract.ts";
import { eventLog } from "../helpers/event_log.ts";
import { BOUND_MS, quietLogs, within } from "./contract.ts";

const SKIP = skipReason("nats") ?? false;
quietLogs();

Deno.test({
  name:
    "NatsJobQueue results: a job finished with no done message (a worker that died before publishing it) settles its wait at the periodic re-check",
  ignore: SKIP !== false,
  async fn() {
    await using nats = await startNats();
    const prefix = `sbrc${crypto.randomUUID().slice(0, 8)}`;
    const queue = new NatsJobQueue({ servers: nats.url, prefix, resultRecheckMs: 100 });
    const log = eventLog<NatsJobQueueEvent>(queue);
    const side = await connect({ servers: nats.url });
    try {
      const job = await queue.enqueue("never", [], { delay: 600_000 });
      const waiting = job.result();
      await log.next((e) => e.type === "waiting", "the wait is subscribed");
      // What a worker writes when it completes the job, without the `done` message after it.
      const kv = await new Kvm(jetstream(side)).open(`SB_${prefix}_default`);
      const key = `j.${keyOf(job.id)}`;
      const entry = JSON.parse((await kv.get(key))!.string());
      await kv.put(key, JSON.stringify({ ...entry, state: "completed", result: '"done anyway"' }));
      const from = log.seen.length;
      assert.equal(await within(waiting, BOUND_MS, "result()"), "done anyway");
      assert.ok(
        log.seen.slice(from).some((e) => e.type === "rechecked"),
        "settled by a re-check",
      );
      assert.ok(!log.seen.some((e) => e.type === "disconnected"), "with no reconnect");
    } finally {
      log.stop();
      await queue.close();
      await side.close();
    }
  },
});

Deno.test({
  name:
    "NatsJobQueue results: the re-check after a reconnect sets the store up once for 50 waits, not once per wait",
  ignore: SKIP !== false,
  async fn() {
    await using nats = await startNats();
    await using proxy = await TcpProxy.start(nats.port);
    const spy = await connect({ servers: nats.url });
    let setUps = 0;
    spy.subscribe("$JS.API.STREAM.INFO.>", { callback: () => void setUps++ });
    await spy.flush();
    const queue = new NatsJobQueue({
      servers: proxy.url("nats"),
      prefix: "pv",
      backoff: { minDelayMs: 20, maxDelayMs: 50 },
    });
    const log = eventLog<NatsJobQueueEvent>(queue);
    try {
      const jobs = await Promise.all(
        Array.from({ length: 50 }, (_, i) => queue.enqueue("x", [i], { delay: 600_000 })),
      );
      const waits = jobs.map((j) => j.result());
      for (const w of waits) w.catch(() => {});
      for (const job of jobs) {
        await log.next((e) => e.type === "waiting" && e.jobId === job.id, `waiting ${job.id}`);
      }
      await spy.flush();
      setUps = 0;
      proxy.cut();
      await log.next((e) => e.type === "rechecked", "the re-check");
      await spy.flush();
      // One set-up asks for the ready stream's info and the bucket's (two STREAM.INFO).
      assert.ok(setUps >= 1 && setUps <= 2, `${setUps} STREAM.INFO requests for one reconnect`);
      assert.deepEqual(
        log.seen.filter((e) => e.type === "reconnected" || e.type === "rechecked"),
        [{ type: "reconnected" }, { type: "rechecked", jobs: 50 }],
      );
    } finally {
      log.stop();
      await queue.close();
      await spy.close();
    }
  },
});

Deno.test("NatsJobQueue results: a confirmation that throws (the link is down) rejects typed and leaves nothing behind", async () => {
  let unsubscribed = 0;
  const connection = {
    subscribe: () => ({ unsubscribe: () => unsubscribed++, isClosed: () => false }),
  } as unknown as NatsConnectionLike;
  const waiters = new ResultWaiters({
    confirm: () => Promise.resolve(),
    emit: () => {},
    recheckMs: 60_000,
  });
  try {
    const error = await waiters.wait("a", {
      subject: "x",
      connection,
      confirm: () => {
        throw new LayerUnavailableError("result() failed: NATS (job queue) is unavailable");
      },
      read: () => Promise.resolve(undefined),
    }).catch((e: unknown) => e);
    assert.ok(error instanceof JobQueueUnavailableError, String(error));
    assert.equal(waiters.size, 0, "the wait is not left pending");
    assert.equal(unsubscribed, 1, "its subscription is ended");
  } finally {
    await waiters.close();
  }
});

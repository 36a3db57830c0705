/**
 * A part of the job queue contract: a {@linkcode Worker}'s life — startup and shutdown hooks,
 * graceful and immediate stops, and a job whose worker's lease expired being run again by
 * another worker. Every backend must pass it unchanged (registered by `jobQueueContract`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { JobAbortedError, type JobBackend, type JobQueue } from "../../src/jobs/contract.ts";
import { Worker } from "../../src/jobs/worker.ts";
import { BOUND_MS, deferred, within } from "./contract.ts";

type Q = JobQueue & JobBackend;
type Use = <W extends { stop(options?: { graceful?: boolean }): Promise<void> }>(w: W) => W;
type Register = (name: string, fn: (q: Q, use: Use) => Promise<void>) => void;

/** Registers the worker lifecycle cases with the suite's `test` function. */
export function lifecycleContract(test: Register): void {
  test("startup and shutdown hooks get the shared state", async (q, use) => {
    const events: string[] = [];
    const state = { ready: false };
    const worker = use(
      new Worker(q, {
        state,
        onStartup: (s) => {
          events.push("startup");
          s.ready = true;
        },
        onShutdown: (s) => {
          events.push(`shutdown ready=${s.ready}`);
        },
        functions: { check: (ctx) => (events.push("job"), ctx.state.ready) },
      }),
    );
    const job = await q.enqueue("check", []);
    await worker.runBurst();
    await worker.runBurst();
    assert.equal(await job.result(), true);
    await worker.stop();
    assert.deepEqual(events, ["startup", "job", "shutdown ready=true"]);
  });

  test("graceful stop lets running jobs finish and fetches nothing new", async (q, use) => {
    const started = deferred();
    const finish = deferred();
    const worker = use(
      new Worker(q, {
        functions: {
          work: async (_c, v: string) => {
            started.resolve();
            await finish.promise; // still running while the worker stops
            return v;
          },
        },
      }),
    );
    const running = worker.start();
    const a = await q.enqueue("work", ["a"]);
    await within(started.promise, BOUND_MS, "job start");
    const stopping = worker.stop({ timeout: BOUND_MS });
    const b = await q.enqueue("work", ["b"]);
    finish.resolve();
    await stopping;
    await running;
    assert.equal(await a.status(), "completed");
    assert.equal(await a.result(), "a");
    assert.equal(await b.status(), "queued");
  });

  test(
    "stop timeout returns unfinished jobs to the queue; the try does not count",
    async (q, use) => {
      const started = deferred();
      let reason: unknown;
      const worker = use(
        new Worker(q, {
          functions: {
            work: (ctx) => {
              started.resolve();
              return new Promise((_, reject) =>
                ctx.signal.addEventListener("abort", () => {
                  reason = ctx.signal.reason;
                  reject(reason);
                })
              );
            },
          },
        }),
      );
      const running = worker.start();
      const job = await q.enqueue("work", [], { maxTries: 1 });
      await within(started.promise, BOUND_MS, "job start");
      await worker.stop({ timeout: 100 });
      await running;
      assert.ok(reason instanceof JobAbortedError && reason.reason === "shutdown");
      assert.equal(await job.status(), "queued");
      const tries: number[] = [];
      const counts = await use(
        new Worker(q, { functions: { work: (ctx) => (tries.push(ctx.tryNumber), "second") } }),
      ).runBurst();
      assert.deepEqual(counts, { completed: 1, failed: 0, retried: 0 });
      assert.deepEqual(tries, [1]);
      assert.equal(await job.result(), "second");
    },
  );

  test("stop({ graceful: false }) returns running jobs at once", async (q, use) => {
    const started = deferred();
    const worker = use(
      new Worker(q, {
        functions: {
          work: (ctx) => {
            started.resolve();
            return new Promise((resolve) =>
              ctx.signal.addEventListener("abort", () => resolve("late"))
            );
          },
        },
      }),
    );
    const running = worker.start();
    const job = await q.enqueue("work", []);
    await within(started.promise, BOUND_MS, "job start");
    const t0 = performance.now();
    await worker.stop({ graceful: false });
    await running;
    assert.ok(performance.now() - t0 < BOUND_MS / 2);
    assert.equal(await job.status(), "queued");
  });

  test("a job whose lease expired is run again by another worker", async (q, use) => {
    const job = await q.enqueue("recover", [21]);
    const t0 = performance.now();
    // A "dead" worker claims it with a short lease and never renews it.
    const claimed = await q.claim("dead-worker-token", 300);
    assert.equal(claimed.job?.id, job.id);
    assert.equal(await job.status(), "running");
    const tries: number[] = [];
    const worker = use(
      new Worker(q, {
        leaseMs: 1000,
        reapIntervalMs: 100,
        functions: { recover: (ctx, v: number) => (tries.push(ctx.tryNumber), v * 2) },
      }),
    );
    const running = worker.start();
    assert.equal(await within(job.result(), BOUND_MS, "recovered result"), 42);
    const elapsed = performance.now() - t0;
    assert.ok(elapsed >= 290, `not before the lease expired (${elapsed} ms)`);
    assert.deepEqual(tries, [2]);
    // The dead worker's late completion is refused.
    assert.equal(await q.complete(job.id, "dead-worker-token", 0), false);
    assert.equal(await job.result(), 42);
    await worker.stop();
    await running;
  });
}

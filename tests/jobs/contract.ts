/**
 * The job queue contract suite: every backend (in-memory, Redis) must pass it unchanged.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type JobBackend,
  JobFailedError,
  type JobQueue,
  JobTimeoutError,
  ResultTimeoutError,
  UnrecoverableJobError,
} from "../../src/jobs/contract.ts";
import { Worker } from "../../src/jobs/worker.ts";
import { clock as libraryClock } from "../../src/clock.ts";
import { fakeClock } from "../../testing/clock.ts";
import { memoryLogger, setLogger } from "../../src/logger.ts";
import { hardeningContract } from "./contract_hardening.ts";
import { eventsContract } from "./contract_events.ts";
import { lifecycleContract } from "./contract_lifecycle.ts";
import { eventLog } from "../helpers/event_log.ts";
import type { WorkerEvent } from "../../src/jobs/worker.ts";

/** Queue options the suite varies. */
export interface QueueTestOptions {
  /** Passed to the queue. */
  keepResultMs?: number;
}

/** How the suite gets a fresh, empty queue (the test closes it). */
export interface JobHarness {
  /** Test name prefix. */
  name: string;
  /** Why the suite is skipped, or false. */
  skip: string | false;
  /** A new queue with its own keys. */
  makeQueue(options?: QueueTestOptions): Promise<JobQueue & JobBackend>;
  /**
   * The queue keeps time on the library's clock only (not on a server's): the tests whose
   * subject is time move a fake clock instead of waiting. `"timestamps"`: it reads the library's
   * clock, but each of its steps is a network round trip, which a fake clock's advance does not
   * wait for; only the tests that read timestamps (not those that race timers) move the clock.
   */
  fakeClock?: boolean | "timestamps";
}

/** Failure bound for waits that should be quick. Never what makes a test pass. */
export const BOUND_MS = 10_000;

/** A promise with its resolve function. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => resolve = r);
  return { promise, resolve };
}

/** Rejects after `ms` with a message (a failure bound). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms` (for jobs whose work is waiting). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Quiet logs (retries and failures are expected in these tests). */
export function quietLogs(): void {
  setLogger(memoryLogger());
}

/** What the suite stops after each test. */
type Stoppable = { stop(options?: { graceful?: boolean }): Promise<void> };

/** Registers the contract tests for `h`. */
export function jobQueueContract(h: JobHarness): void {
  quietLogs();
  const test = (
    name: string,
    fn: (q: JobQueue & JobBackend, use: <W extends Stoppable>(w: W) => W) => Promise<void>,
    options: QueueTestOptions = {},
  ) =>
    Deno.test({
      name: `${h.name}: ${name}`,
      ignore: h.skip !== false,
      async fn() {
        const q = await h.makeQueue(options);
        const workers: Stoppable[] = [];
        try {
          await fn(q, <W extends Stoppable>(w: W): W => {
            workers.push(w);
            return w;
          });
        } finally {
          for (const w of workers) await w.stop({ graceful: false });
          await q.close();
        }
      },
    });

  test(
    "runs a job; result() gives its return value; ctx has id, name, try, enqueue time, state",
    async (q, use) => {
      const seen: unknown[] = [];
      const before = Date.now();
      const job = await q.enqueue("add", [2, 3]);
      assert.equal(job.name, "add");
      assert.equal(await job.status(), "queued");
      const worker = use(
        new Worker(q, {
          state: { label: "shared" },
          functions: {
            add: (ctx, a: number, b: number) => {
              seen.push({
                jobId: ctx.jobId,
                name: ctx.name,
                tryNumber: ctx.tryNumber,
                label: ctx.state.label,
                enqueuedAt: ctx.enqueuedAt instanceof Date,
              });
              assert.ok(ctx.enqueuedAt.getTime() >= before - 1000);
              assert.ok(ctx.enqueuedAt.getTime() <= Date.now() + 1000);
              return { sum: a + b };
            },
          },
        }),
      );
      const counts = await worker.runBurst();
      assert.deepEqual(counts, { completed: 1, failed: 0, retried: 0 });
      assert.deepEqual(await job.result(), { sum: 5 });
      assert.equal(await job.status(), "completed");
      assert.deepEqual(seen, [{
        jobId: job.id,
        name: "add",
        tryNumber: 1,
        label: "shared",
        enqueuedAt: true,
      }]);
      const again = await q.getJob(job.id);
      assert.equal(again?.name, "add");
      assert.deepEqual(await again!.result(), { sum: 5 });
    },
  );

  test("result() of a job run by a started worker is delivered by an event", async (q, use) => {
    const worker = use(new Worker(q, { functions: { echo: (_ctx, v: string) => v } }));
    const running = worker.start();
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      const job = await q.enqueue("echo", [`v${i}`]);
      assert.equal(await within(job.result(), BOUND_MS, "result"), `v${i}`);
      latencies.push(performance.now() - t0);
    }
    // A returned undefined is stored as null.
    await worker.stop();
    await running;
    latencies.sort((a, b) => a - b);
    console.log(
      `${h.name}: enqueue→result latency median ${latencies[10].toFixed(2)} ms, ` +
        `max ${latencies[19].toFixed(2)} ms`,
    );
  });

  test("undefined results become null; non-JSON results fail the job", async (q, use) => {
    const a = await q.enqueue("nothing", []);
    const b = await q.enqueue("bigint", []);
    const counts = await use(
      new Worker(q, { functions: { nothing: () => undefined, bigint: () => 1n } }),
    ).runBurst();
    assert.deepEqual(counts, { completed: 1, failed: 1, retried: 0 });
    assert.equal(await a.result(), null);
    await assert.rejects(b.result(), (e) => e instanceof JobFailedError && /JSON/.test(e.error));
  });

  test("generated job ids are unique", async (q) => {
    const handles = await Promise.all(
      Array.from({ length: 50 }, (_, i) => q.enqueue("noop", [i])),
    );
    assert.equal(new Set(handles.map((j) => j.id)).size, 50);
  });

  test("enqueueing a jobId that is still queued returns the existing job", async (q, use) => {
    const calls: string[] = [];
    const a = await q.enqueue("say", ["first"], { jobId: "unique-1" });
    const b = await q.enqueue("say", ["second"], { jobId: "unique-1" });
    assert.equal(a.id, "unique-1");
    assert.equal(b.id, "unique-1");
    const counts = await use(
      new Worker(q, { functions: { say: (_c, s: string) => (calls.push(s), s) } }),
    ).runBurst();
    assert.deepEqual(calls, ["first"]);
    assert.deepEqual(counts, { completed: 1, failed: 0, retried: 0 });
    assert.equal(await b.result(), "first");
  });

  test("a running jobId is not duplicated; once finished the id can run again", async (q, use) => {
    const started = deferred();
    const gate = deferred();
    const calls: string[] = [];
    const worker = use(
      new Worker(q, {
        functions: {
          say: async (_c, s: string) => {
            calls.push(s);
            started.resolve();
            await gate.promise;
            return s;
          },
        },
      }),
    );
    const running = worker.start();
    const a = await q.enqueue("say", ["first"], { jobId: "unique-2" });
    await within(started.promise, BOUND_MS, "job start");
    assert.equal(await a.status(), "running");
    const dup = await q.enqueue("say", ["dup"], { jobId: "unique-2" });
    assert.equal(dup.id, "unique-2");
    gate.resolve();
    assert.equal(await within(a.result(), BOUND_MS, "first result"), "first");
    const again = await q.enqueue("say", ["again"], { jobId: "unique-2" });
    assert.equal(await within(again.result(), BOUND_MS, "second result"), "again");
    assert.deepEqual(calls, ["first", "again"]);
    await worker.stop();
    await running;
  });

  test("retries with backoff, then completes", async (q, use) => {
    const tries: { n: number; at: number }[] = [];
    const job = await q.enqueue("flaky", [], { maxTries: 3 });
    const counts = await use(
      new Worker(q, {
        retryBackoff: { type: "fixed", delayMs: 60 },
        functions: {
          flaky: (ctx) => {
            tries.push({ n: ctx.tryNumber, at: performance.now() });
            if (ctx.tryNumber < 3) throw new Error(`fail ${ctx.tryNumber}`);
            return "ok";
          },
        },
      }),
    ).runBurst();
    assert.deepEqual(counts, { completed: 1, failed: 0, retried: 2 });
    assert.equal(await job.result(), "ok");
    assert.deepEqual(tries.map((t) => t.n), [1, 2, 3]);
    for (let i = 1; i < tries.length; i++) {
      assert.ok(tries[i].at - tries[i - 1].at >= 50, `retry ${i} came after the backoff`);
    }
  });

  test(
    "final failure: result() rejects with JobFailedError (message, attempts)",
    async (q, use) => {
      const job = await q.enqueue("broken", ["x"], { maxTries: 2 });
      const counts = await use(
        new Worker(q, {
          retryBackoff: { delayMs: 10 },
          functions: {
            broken: (_c, v: string) => {
              throw new Error(`boom ${v}`);
            },
          },
        }),
      ).runBurst();
      assert.deepEqual(counts, { completed: 0, failed: 1, retried: 1 });
      assert.equal(await job.status(), "failed");
      await assert.rejects(job.result(), (e) => {
        assert.ok(e instanceof JobFailedError);
        assert.equal(e.jobId, job.id);
        assert.equal(e.error, "boom x");
        assert.equal(e.attempts, 2);
        return true;
      });
    },
  );

  test("UnrecoverableJobError fails at once; unknown functions fail at once", async (q, use) => {
    const a = await q.enqueue("fatal", [], { maxTries: 5 });
    const b = await q.enqueue("missing", [], { maxTries: 5 });
    const counts = await use(
      new Worker(q, {
        functions: {
          fatal: () => {
            throw new UnrecoverableJobError("bad input");
          },
        },
      }),
    ).runBurst();
    assert.deepEqual(counts, { completed: 0, failed: 2, retried: 0 });
    await assert.rejects(a.result(), (e) => e instanceof JobFailedError && e.attempts === 1);
    await assert.rejects(
      b.result(),
      (e) => e instanceof JobFailedError && /Unknown job function 'missing'/.test(e.error),
    );
  });

  test("timeout fails the try and aborts ctx.signal with JobTimeoutError", async (q, use) => {
    let reason: unknown;
    const job = await q.enqueue("hang", [], { timeout: 100, maxTries: 1 });
    const t0 = performance.now();
    const counts = await use(
      new Worker(q, {
        functions: {
          hang: (ctx) =>
            new Promise((_, reject) => {
              ctx.signal.addEventListener("abort", () => {
                reason = ctx.signal.reason;
                reject(ctx.signal.reason);
              });
            }),
        },
      }),
    ).runBurst();
    assert.ok(performance.now() - t0 >= 90);
    assert.deepEqual(counts, { completed: 0, failed: 1, retried: 0 });
    assert.ok(reason instanceof JobTimeoutError);
    await assert.rejects(
      job.result(),
      (e) => e instanceof JobFailedError && /timed out/.test(e.error),
    );
  });

  test("a timed-out try is retried when tries are left", async (q, use) => {
    const job = await q.enqueue("slowOnce", [], { timeout: 100, maxTries: 2 });
    const counts = await use(
      new Worker(q, {
        retryBackoff: { delayMs: 10 },
        functions: {
          // The first try ignores its signal and never settles by itself.
          slowOnce: (ctx) => ctx.tryNumber === 1 ? new Promise(() => {}) : `try ${ctx.tryNumber}`,
        },
      }),
    ).runBurst();
    assert.deepEqual(counts, { completed: 1, failed: 0, retried: 1 });
    assert.equal(await job.result(), "try 2");
  });

  test("a delayed job is 'delayed', then runs no earlier than its delay", async (q, use) => {
    let ranAt = 0;
    const t0 = Date.now();
    const job = await q.enqueue("later", [], { delay: 300 });
    assert.equal(await job.status(), "delayed");
    const counts = await use(
      new Worker(q, { functions: { later: () => (ranAt = Date.now(), "done") } }),
    ).runBurst();
    assert.deepEqual(counts, { completed: 1, failed: 0, retried: 0 });
    assert.ok(ranAt - t0 >= 290, `ran after ${ranAt - t0} ms`);
    assert.equal(await job.result(), "done");
  });

  test("result({ timeout }) rejects with ResultTimeoutError while nothing runs the job", async (q) => {
    const job = await q.enqueue("never", []);
    await assert.rejects(job.result({ timeout: 50 }), ResultTimeoutError);
    assert.equal(await job.status(), "queued");
  });

  test("unknown ids: getJob() is undefined", async (q) => {
    assert.equal(await q.getJob("no-such-job"), undefined);
  });

  test("results expire after keepResultMs", async (q, use) => {
    using clock = h.fakeClock ? fakeClock() : undefined;
    let ranAt = 0;
    const job = await q.enqueue("quick", [1]);
    await use(
      new Worker(q, { functions: { quick: (_c, v: number) => (ranAt = Date.now(), v + 1) } }),
    ).runBurst();
    assert.equal(await job.status(), "completed");
    assert.equal(await job.result(), 2);
    if (clock) {
      await clock.advance(399);
      assert.equal(await job.status(), "completed", "kept 399 ms");
      await clock.advance(1);
      assert.equal(await job.status(), "not_found", "gone at 400 ms");
      assert.equal(await q.getJob(job.id), undefined);
      return;
    }
    // A poll, bounded, not a negative window: the result expires on the server's clock (a Redis
    // key TTL, a NATS entry read after its time), which tells nobody; nothing here can be awaited.
    while ((await job.status()) !== "not_found") {
      assert.ok(Date.now() - ranAt < BOUND_MS, "the result expired within the bound");
      await sleep(25);
    }
    // It finished after ranAt, so it cannot have expired before ranAt + keepResultMs.
    assert.ok(Date.now() - ranAt >= 390, `kept ${Date.now() - ranAt} ms`);
    assert.equal(await q.getJob(job.id), undefined);
  }, { keepResultMs: 400 });

  test("concurrency limit is respected", async (q, use) => {
    let now = 0;
    let max = 0;
    const pair = deferred();
    const jobs = await Promise.all(Array.from({ length: 6 }, (_, i) => q.enqueue("work", [i])));
    const worker: Worker = use(
      new Worker(q, {
        concurrency: 2,
        functions: {
          work: async (ctx, i: number) => {
            now++;
            max = Math.max(max, now);
            if (now === 2) pair.resolve();
            // The first job waits for a second one; then each try holds its slot until the
            // worker looked for more work after it started (it found its slots full, or no job
            // ready): a third job would start meanwhile if the limit were broken.
            await within(pair.promise, BOUND_MS, "two jobs at once");
            const start = log.seen.findIndex((e) => e.type === "started" && e.job.id === ctx.jobId);
            await log.next(
              (e) => e.type === "full" || e.type === "idle",
              "the worker looks for more work",
              start,
            );
            now--;
            return i;
          },
        },
      }),
    );
    const log = eventLog<WorkerEvent>(worker);
    const counts = await worker.runBurst();
    log.stop();
    assert.deepEqual(counts, { completed: 6, failed: 0, retried: 0 });
    assert.equal(max, 2);
    assert.deepEqual(await Promise.all(jobs.map((j) => j.result())), [0, 1, 2, 3, 4, 5]);
  });

  test("heartbeats keep the lease of a job that runs longer than leaseMs", async (q, use) => {
    using clock = h.fakeClock === true ? fakeClock() : undefined;
    const tries: number[] = [];
    const job = await q.enqueue("long", []);
    const options = {
      leaseMs: 300,
      reapIntervalMs: 50,
      functions: {
        long: async (ctx: { tryNumber: number }) => {
          tries.push(ctx.tryNumber);
          await (clock ? libraryClock.sleep(1000) : sleep(1000));
          return "done";
        },
      },
    };
    // Two workers reaping every 50 ms: an expired lease would hand the job to the other one.
    const a = use(new Worker(q, options));
    const b = use(new Worker(q, options));
    const runningA = a.start();
    const runningB = b.start();
    await clock?.advance(1000); // on a fake clock: 20 reaps and 10 renewals, in order
    assert.equal(await within(job.result(), BOUND_MS, "result"), "done");
    assert.deepEqual(tries, [1]);
    await a.stop();
    await b.stop();
    await runningA;
    await runningB;
  });

  test("close() rejects pending result() waits", async (q) => {
    const job = await q.enqueue("never", []);
    const waiting = assert.rejects(job.result());
    await q.close();
    await waiting;
  });

  lifecycleContract((name, fn) => test(name, fn));
  hardeningContract((name, fn) => test(name, fn));
  eventsContract((name, fn) => test(name, fn));
}

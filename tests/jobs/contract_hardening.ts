/**
 * The second part of the job queue contract: hostile arguments and errors, a worker holding two
 * leases of one job, and tries that ignore their abort signal. Every backend must pass it
 * unchanged (registered by `jobQueueContract`).
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  JobArgsError,
  type JobBackend,
  JobFailedError,
  type JobQueue,
  type Lease,
  MAX_JSON_DEPTH,
  MAX_JSON_VALUES,
} from "../../src/jobs/contract.ts";
import { Worker, type WorkerEvent } from "../../src/jobs/worker.ts";
import { eventLog } from "../helpers/event_log.ts";
import { BOUND_MS, deferred, within } from "./contract.ts";

type Q = JobQueue & JobBackend;
type Use = <W extends { stop(options?: { graceful?: boolean }): Promise<void> }>(w: W) => W;
type Register = (name: string, fn: (q: Q, use: Use) => Promise<void>) => void;

class Point {
  x = 1;
}

/** Registers the hardening cases with the suite's `test` function. */
export function hardeningContract(test: Register): void {
  test("enqueue rejects arguments JSON would change, naming the path", async (q, use) => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    let deep: unknown = 0;
    for (let i = 0; i < MAX_JSON_DEPTH + 5; i++) deep = [deep];
    const cases: [unknown[], string, RegExp][] = [
      [[NaN], "args[0]", /NaN is not JSON/],
      [[1, Infinity], "args[1]", /Infinity is not JSON/],
      [[undefined], "args[0]", /undefined is not JSON/],
      [[{ a: { b: undefined } }], "args[0].a.b", /undefined/],
      [[() => 1], "args[0]", /function/],
      [[{ when: new Map() }], "args[0].when", /^Map is not JSON$/],
      [[[new Set([1])]], "args[0][0]", /^Set is not JSON$/],
      [[10n], "args[0]", /BigInt/],
      [[{ at: new Date(0) }], "args[0].at", /Date is not JSON/],
      [[new Point()], "args[0]", /^Point is not JSON$/],
      [[{ "a b": Symbol("s") }], 'args[0]["a b"]', /symbol/],
      // deno-lint-ignore no-sparse-arrays
      [[[1, , 3]], "args[0][1]", /hole/],
      [[cyclic], "args[0].self", /circular/],
      [[{ [Symbol("k")]: 1 }], "args[0]", /symbol keys/],
      [[deep], `args[0]${"[0]".repeat(MAX_JSON_DEPTH - 1)}`, /nested deeper/],
    ];
    for (const [args, path, problem] of cases) {
      await assert.rejects(
        q.enqueue("noop", args as never),
        (e) => {
          assert.ok(e instanceof JobArgsError, `${path}: ${e}`);
          assert.equal(e.path, path);
          assert.match(e.problem, problem);
          assert.ok(e.message.includes(path));
          return true;
        },
      );
    }
    // Too many values: bounded, one pass.
    const big = new Array(MAX_JSON_VALUES).fill(0);
    await assert.rejects(q.enqueue("noop", [big]), (e) => e instanceof JobArgsError);
    // Nothing was enqueued; JSON-safe values still pass, unchanged.
    const ok = [null, true, -1.5, "s", [1, [2]], { a: { b: [null] } }, Object.create(null)];
    const job = await q.enqueue("echo", ok);
    const counts = await use(new Worker(q, { functions: { echo: (_c, ...a) => a } })).runBurst();
    assert.deepEqual(counts, { completed: 1, failed: 0, retried: 0 });
    assert.deepEqual(await job.result(), JSON.parse(JSON.stringify(ok)));
  });

  test(
    "errors whose message, toString or traps throw still fail the try at once",
    async (q, use) => {
      const hostile: Record<string, () => unknown> = {
        message: () => {
          const e = new Error("x");
          Object.defineProperty(e, "message", {
            get() {
              throw new Error("message getter");
            },
          });
          return e;
        },
        toString: () => ({
          toString() {
            throw new Error("toString");
          },
        }),
        nullProto: () => Object.create(null),
        proxy: () =>
          new Proxy({}, {
            get() {
              throw new Error("get trap");
            },
            getPrototypeOf() {
              throw new Error("getPrototypeOf trap");
            },
          }),
      };
      const jobs = await Promise.all(
        Object.keys(hostile).map((kind) => q.enqueue("throwIt", [kind], { maxTries: 1 })),
      );
      const counts = await use(
        new Worker(q, {
          leaseMs: 60_000, // a try whose error handling broke would wait a whole lease
          functions: {
            throwIt: (_c, kind: string) => {
              throw hostile[kind]();
            },
          },
        }),
      ).runBurst();
      assert.deepEqual(counts, { completed: 0, failed: jobs.length, retried: 0 });
      for (const job of jobs) {
        await assert.rejects(within(job.result(), BOUND_MS, "result"), (e) => {
          assert.ok(e instanceof JobFailedError);
          assert.equal(typeof e.error, "string");
          assert.ok(e.error.length > 0);
          return true;
        });
      }
    },
  );

  test("a lost lease aborts only the old try, not the same worker's fresh try", async (q, use) => {
    // Heartbeats stall (renew hangs) long enough for the lease to be reaped; the same worker
    // claims the job again; then the stalled renew reports the old lease lost.
    const stall = deferred();
    const backend: JobBackend = {
      claim: (t, l) => q.claim(t, l),
      openWorkSignal: () => q.openWorkSignal(),
      renew: async (leases: readonly Lease[], ms: number) => {
        await stall.promise;
        return await q.renew(leases, ms);
      },
      complete: (i, t, r) => q.complete(i, t, r),
      retry: (i, t, e, d) => q.retry(i, t, e, d),
      fail: (i, t, e) => q.fail(i, t, e),
      release: (i, t) => q.release(i, t),
      reap: () => q.reap(),
    };
    const fresh = deferred();
    const finishFresh = deferred();
    const oldAborted = deferred();
    const aborted: number[] = [];
    const job = await q.enqueue("twice", [], { maxTries: 5 });
    const worker = use(
      new Worker(backend, {
        concurrency: 2,
        // Long enough that the fresh try's renews (every 50 ms) keep its lease on a loaded
        // machine (300 ms lost it once on a cluster, at load 14); try 1's lease expires anyway.
        leaseMs: 1000,
        heartbeatMs: 50,
        reapIntervalMs: 50,
        functions: {
          twice: (ctx) => {
            ctx.signal.addEventListener("abort", () => {
              aborted.push(ctx.tryNumber);
              if (ctx.tryNumber === 1) oldAborted.resolve();
            });
            if (ctx.tryNumber === 1) {
              return new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
            }
            fresh.resolve();
            return finishFresh.promise.then(() => `fresh try ${ctx.tryNumber}`);
          },
        },
      }),
    );
    const running = worker.start();
    await within(fresh.promise, BOUND_MS, "the same worker re-claims the reaped job");
    stall.resolve();
    // The renew of both leases reports the first one lost: only try 1 is aborted.
    await within(oldAborted.promise, BOUND_MS, "try 1 aborted");
    finishFresh.resolve();
    assert.equal(await within(job.result(), BOUND_MS, "the fresh try's result"), "fresh try 2");
    assert.deepEqual(aborted, [1]);
    await worker.stop();
    await running;
  });

  test(
    "a lease reported lost after the function returned aborts nothing (its outcome is being recorded)",
    async (q, use) => {
      // complete() hangs; every renew meanwhile reports the lease lost (as a renew that started
      // before the outcome was written and read the job finished does).
      const completing = deferred();
      const finish = deferred();
      let lostReports = 0;
      let onRenew: (() => void) | undefined;
      let onAbort: (() => void) | undefined;
      const backend: JobBackend = {
        claim: (t, l) => q.claim(t, l),
        openWorkSignal: () => q.openWorkSignal(),
        renew: (leases: readonly Lease[]) => {
          lostReports++;
          onRenew?.();
          return Promise.resolve([...leases]);
        },
        complete: async (i, t, r) => {
          completing.resolve();
          await finish.promise;
          return await q.complete(i, t, r);
        },
        retry: (i, t, e, d) => q.retry(i, t, e, d),
        fail: (i, t, e) => q.fail(i, t, e),
        release: (i, t) => q.release(i, t),
        reap: () => Promise.resolve(0),
      };
      const aborted: number[] = [];
      const job = await q.enqueue("quick", []);
      const worker = use(
        new Worker(backend, {
          leaseMs: 1000,
          heartbeatMs: 20,
          functions: {
            quick: (ctx) => {
              ctx.signal.addEventListener("abort", () => {
                aborted.push(ctx.tryNumber);
                onAbort?.();
              });
              return "done";
            },
          },
        }),
      );
      const running = worker.start();
      await within(completing.promise, BOUND_MS, "the outcome is being recorded");
      // Heartbeats go on while complete() hangs: three more loss reports (the first two of them
      // handled by the worker by the time the third is asked for).
      const target = lostReports + 3;
      await within(
        new Promise<void>((resolve) => {
          onRenew = () => lostReports >= target && resolve();
          onAbort = resolve; // the defect: the returned try aborted (and no more renews)
        }),
        BOUND_MS,
        "three more loss reports",
      );
      finish.resolve();
      assert.equal(await within(job.result(), BOUND_MS, "the result"), "done");
      assert.deepEqual(aborted, [], "the returned try was not aborted");
      await worker.stop();
      await running;
    },
  );

  test(
    "a timed-out try that ignores its signal keeps its slot until it returns",
    async (q, use) => {
      const release = deferred();
      const started: string[] = [];
      const a = await q.enqueue("work", ["a"], { timeout: 100, maxTries: 1 });
      const b = await q.enqueue("work", ["b"]);
      const worker = use(
        new Worker(q, {
          concurrency: 1,
          functions: {
            work: async (_ctx, v: string) => {
              started.push(v);
              if (v === "a") await release.promise; // ignores ctx.signal
              return v;
            },
          },
        }),
      );
      const log = eventLog<WorkerEvent>(worker);
      const running = worker.start();
      await assert.rejects(
        within(a.result(), BOUND_MS, "a times out"),
        (e) => e instanceof JobFailedError && /timed out/.test(e.error),
      );
      // "a" still runs: with concurrency 1, "b" must not start. Once a's outcome was recorded
      // the worker looked at its slots again: it must find them full, not take "b".
      const failed = await log.next(
        (e) => e.type === "finished" && e.job.id === a.id,
        "a's outcome recorded",
      );
      const looked = await log.next(
        (e) => e.type === "full" || e.type === "started",
        "the worker looks at its slots after a's outcome",
        log.indexOf(failed) + 1,
      );
      log.stop();
      assert.deepEqual(looked, { type: "full", running: 1 }, "b was not taken");
      assert.deepEqual(started, ["a"]);
      assert.equal(worker.runningJobs, 1);
      assert.equal(await b.status(), "queued");
      release.resolve();
      assert.equal(await within(b.result(), BOUND_MS, "b runs once a returned"), "b");
      assert.deepEqual(started, ["a", "b"]);
      await worker.stop();
      await running;
    },
  );
}

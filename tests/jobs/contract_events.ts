/**
 * The third part of the job queue contract: the events a {@linkcode Worker} tells its `onEvent`
 * listeners (`started`, `finished`, `full`, `idle`, `fetchFailed`), that they come when the
 * worker did what they say, and with what. Every backend must pass it unchanged (registered by
 * `jobQueueContract`).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { JobBackend, JobQueue, JobStatus } from "../../src/jobs/contract.ts";
import { Worker, type WorkerEvent } from "../../src/jobs/worker.ts";
import { memoryLogger, setLogger } from "../../src/logger.ts";
import { eventLog } from "../helpers/event_log.ts";
import { BOUND_MS, deferred, within } from "./contract.ts";

type Q = JobQueue & JobBackend;
type Use = <W extends { stop(options?: { graceful?: boolean }): Promise<void> }>(w: W) => W;
type Register = (name: string, fn: (q: Q, use: Use) => Promise<void>) => void;

/** `started name try` / `finished name try outcome`, for comparing sequences. */
function describe(e: WorkerEvent): string | undefined {
  if (e.type === "started") return `started ${e.job.name} ${e.job.tryNumber}`;
  if (e.type === "finished") return `finished ${e.job.name} ${e.job.tryNumber} ${e.outcome}`;
  return undefined;
}

/** Registers the worker event cases with the suite's `test` function. */
export function eventsContract(test: Register): void {
  test(
    "worker events: each try is started, then finished with the outcome it recorded",
    async (q, use) => {
      const ok = await q.enqueue("ok", [1]);
      const flaky = await q.enqueue("flaky", [], { maxTries: 2 });
      const bad = await q.enqueue("bad", [], { maxTries: 1 });
      const worker = use(
        new Worker(q, {
          retryBackoff: { delayMs: 10 },
          functions: {
            ok: (_c, n: number) => n,
            flaky: (ctx) => {
              if (ctx.tryNumber === 1) throw new Error("once");
              return "fine";
            },
            bad: () => {
              throw new Error("always");
            },
          },
        }),
      );
      // The state each finished try left on the queue, read when its event was told.
      const states: Promise<[string, JobStatus]>[] = [];
      const off = worker.onEvent((e) => {
        if (e.type !== "finished") return;
        const read = q.getJob(e.job.id).then((h) => h!.status());
        states.push(read.then((state) => [e.outcome, state]));
      });
      const log = eventLog<WorkerEvent>(worker);
      const counts = await worker.runBurst();
      log.stop();
      off();
      assert.deepEqual(counts, { completed: 2, failed: 1, retried: 1 });
      const of = (job: { id: string }) =>
        log.seen.filter((e) => "job" in e && e.job.id === job.id).map(describe);
      assert.deepEqual(of(ok), ["started ok 1", "finished ok 1 completed"]);
      assert.deepEqual(of(flaky), [
        "started flaky 1",
        "finished flaky 1 retried",
        "started flaky 2",
        "finished flaky 2 completed",
      ]);
      assert.deepEqual(of(bad), ["started bad 1", "finished bad 1 failed"]);
      for (const e of log.seen) {
        if (e.type === "finished") assert.ok(e.seconds >= 0 && e.seconds < BOUND_MS / 1000);
      }
      // Told once the outcome is on the queue: a read made then sees it.
      // (A retried job is delayed, or already due again, or running its next try.)
      const expected = {
        completed: ["completed"],
        failed: ["failed"],
        retried: ["delayed", "queued", "running"],
      };
      for (const [outcome, state] of await Promise.all(states)) {
        assert.ok(
          expected[outcome as keyof typeof expected].includes(state),
          `${outcome}: ${state}`,
        );
      }
    },
  );

  test("worker events: idle when no job is ready; a job enqueued then runs", async (q, use) => {
    const worker = use(
      new Worker(q, { maxBlockMs: 100, functions: { echo: (_c, v: string) => v } }),
    );
    const log = eventLog<WorkerEvent>(worker);
    const running = worker.start();
    const idle = await log.next((e) => e.type === "idle", "the worker finds nothing ready");
    assert.deepEqual(idle, { type: "idle", nextDueInMs: undefined });
    assert.equal(log.seen.some((e) => e.type === "started"), false);
    const job = await q.enqueue("echo", ["woken"]);
    assert.equal(await within(job.result(), BOUND_MS, "the waiting worker runs it"), "woken");
    // A delayed job: the worker is idle until it is due (and says when, where the queue knows).
    const from = log.seen.length;
    await q.enqueue("echo", ["later"], { delay: 60_000 });
    const later = await log.next((e) => e.type === "idle", "idle with a delayed job", from);
    assert.equal(later.type, "idle");
    const due = (later as { nextDueInMs: number | undefined }).nextDueInMs;
    assert.ok(due === undefined || (due >= 0 && due <= 60_000), `nextDueInMs ${due}`);
    log.stop();
    await worker.stop();
    await running;
  });

  test(
    "worker events: full while every slot is in use; the worker takes nothing meanwhile",
    async (q, use) => {
      const release = deferred();
      const a = await q.enqueue("work", ["a"]);
      const b = await q.enqueue("work", ["b"]);
      const started: string[] = [];
      const worker = use(
        new Worker(q, {
          concurrency: 1,
          functions: {
            work: async (_c, v: string) => {
              started.push(v);
              if (v === "a") await release.promise;
              return v;
            },
          },
        }),
      );
      const log = eventLog<WorkerEvent>(worker);
      const running = worker.start();
      const full = await log.next((e) => e.type === "full", "the only slot is taken");
      assert.deepEqual(full, { type: "full", running: 1 });
      assert.equal(worker.runningJobs, 1);
      assert.deepEqual(started, ["a"]);
      assert.equal(await b.status(), "queued");
      release.resolve();
      assert.equal(await within(b.result(), BOUND_MS, "b once a finished"), "b");
      assert.equal(await a.result(), "a");
      const order = log.seen.map((e) =>
        e.type === "full" ? "full" : e.type === "started" ? `started ${e.job.id}` : undefined
      ).filter((x) => x !== undefined);
      assert.deepEqual(order.slice(0, 3), [`started ${a.id}`, "full", `started ${b.id}`]);
      log.stop();
      await worker.stop();
      await running;
    },
  );

  test(
    "worker events: fetchFailed tells a claim that failed and the retry delay; the worker carries on",
    async (q, use) => {
      const broken = new Error("the queue is away");
      let fail = 2;
      const backend: JobBackend = {
        claim: (t, l) => fail-- > 0 ? Promise.reject(broken) : q.claim(t, l),
        openWorkSignal: () => q.openWorkSignal(),
        renew: (leases, ms) => q.renew(leases, ms),
        complete: (i, t, r) => q.complete(i, t, r),
        retry: (i, t, e, d) => q.retry(i, t, e, d),
        fail: (i, t, e) => q.fail(i, t, e),
        release: (i, t) => q.release(i, t),
        reap: () => q.reap(),
      };
      const job = await q.enqueue("echo", ["after"]);
      const worker = use(new Worker(backend, { functions: { echo: (_c, v: string) => v } }));
      const log = eventLog<WorkerEvent>(worker);
      const running = worker.start();
      assert.equal(await within(job.result(), BOUND_MS, "the job runs once claims work"), "after");
      assert.deepEqual(log.seen.filter((e) => e.type === "fetchFailed"), [
        { type: "fetchFailed", error: broken, failures: 1, retryInMs: 200 },
        { type: "fetchFailed", error: broken, failures: 2, retryInMs: 400 },
      ]);
      log.stop();
      await worker.stop();
      await running;
    },
  );

  test(
    "worker events: a listener that throws is logged and changes nothing; off() stops them",
    async (q, use) => {
      const logged = memoryLogger();
      const previous = setLogger(logged);
      try {
        const worker = use(new Worker(q, { functions: { echo: (_c, v: string) => v } }));
        const seen: string[] = [];
        const offThrowing = worker.onEvent(() => {
          throw new Error("a broken listener");
        });
        const off = worker.onEvent((e) => {
          if (e.type === "started" || e.type === "finished") seen.push(e.type);
        });
        const first = await q.enqueue("echo", ["one"]);
        assert.deepEqual(await worker.runBurst(), { completed: 1, failed: 0, retried: 0 });
        assert.equal(await first.result(), "one");
        assert.deepEqual(seen, ["started", "finished"]);
        assert.ok(
          logged.lines.some((l) => l.level === "error" && /onEvent listener threw/.test(l.message)),
        );
        off();
        offThrowing();
        await q.enqueue("echo", ["two"]);
        assert.deepEqual(await worker.runBurst(), { completed: 1, failed: 0, retried: 0 });
        assert.deepEqual(seen, ["started", "finished"], "nothing after off()");
      } finally {
        setLogger(previous);
      }
    },
  );
}

/**
 * {@linkcode Worker}: runs job functions for jobs on any {@linkcode JobBackend} (the in-memory
 * and Redis job queues), with a concurrency limit, per-try timeouts, retries with backoff, lease
 * renewal, crash recovery of other workers' jobs, graceful shutdown and a burst mode for tests.
 * It tells `onEvent` listeners what it does ({@linkcode WorkerEvent}): tries started and
 * finished, slots full, nothing ready, fetches that failed.
 *
 * @module
 */
import { clock } from "../clock.ts";
import type { ClaimedJob, JobBackend, WorkSignal } from "./contract.ts";
import { getLogger } from "../logger.ts";
import { Listeners } from "../listeners.ts";
import { describeError } from "./values.ts";
import { reapLeases, releaseAll, renewLeases } from "./leases.ts";
import { executeTry, newTry, type RunningTry, type TryRunner } from "./tries.ts";
import {
  type BurstResult,
  type StopOptions,
  type WorkerEvent,
  type WorkerEventJob,
  type WorkerOptions,
  type WorkerSettings,
  workerSettings,
} from "./worker_options.ts";

export type {
  BurstResult,
  StopOptions,
  WorkerEvent,
  WorkerEventJob,
  WorkerOptions,
} from "./worker_options.ts";

let workerCounter = 0;

/**
 * Runs jobs from a queue.
 *
 * ```ts ignore
 * const worker = new Worker(queue, {
 *   functions: { translate: async (ctx, content: string, channel: string) => ({ ok: true }) },
 *   concurrency: 10,
 * });
 * const running = worker.start(); // until stop()
 * await worker.stop();
 * // in tests: await worker.runBurst(); // everything queued, then return
 * worker.onEvent((e) => e.type === "finished" && console.log(e.job.id, e.outcome));
 * ```
 */
export class Worker<S = Record<string, unknown>> {
  readonly #backend: JobBackend;
  readonly #options: WorkerOptions<S>;
  readonly #settings: WorkerSettings<S>;
  /** What each try gets from this worker. */
  readonly #runner: TryRunner<S>;
  readonly #id: string;
  #tokenCounter = 0;
  /** Tries whose outcome is not recorded yet, by lease token. */
  #running = new Map<string, RunningTry>();
  /** Tries whose outcome is recorded but whose function still runs (it ignored its signal). */
  #lingering = new Set<RunningTry>();
  #changed: { promise: Promise<void>; resolve: () => void } | undefined;
  #loop: Promise<BurstResult> | undefined;
  #stopController: AbortController | undefined;
  #stopOptions: Required<StopOptions> = { graceful: true, timeout: 30_000 };
  #startedUp = false;
  #counts: BurstResult = { completed: 0, failed: 0, retried: 0 };
  readonly #events = new Listeners<WorkerEvent>("Job worker");

  /** Creates a worker for `backend` (an `InMemoryJobQueue` or a `RedisJobQueue`). */
  constructor(backend: JobBackend, options: WorkerOptions<S>) {
    const settings = workerSettings(options);
    this.#backend = backend;
    this.#options = options;
    this.#settings = settings;
    this.#runner = {
      backend,
      functions: settings.functions,
      state: settings.state,
      jobTimeoutMs: settings.jobTimeoutMs,
      backoff: settings.backoff,
      count: (outcome, entry) => {
        this.#counts[outcome]++;
        const seconds = (performance.now() - entry.startedAt) / 1000;
        options.observer?.finished(entry.job.name, outcome, seconds); // metrics (issue 23)
        if (this.#events.active) {
          this.#events.emit({ type: "finished", job: eventJob(entry.job), outcome, seconds });
        }
      },
    };
    this.#id = `${Date.now().toString(36)}${++workerCounter}${
      Math.random().toString(36).slice(2, 8)
    }`;
  }

  /** The shared state. */
  get state(): S {
    return this.#settings.state;
  }

  /**
   * How many tries this worker is running now: the slots in use, counting tries that timed out
   * or lost their lease while their function still runs.
   */
  get runningJobs(): number {
    return this.#running.size + this.#lingering.size;
  }

  /**
   * Calls `listener` with each {@linkcode WorkerEvent}, synchronously (a listener that throws is
   * logged); returns the function that removes it.
   */
  onEvent(listener: (event: WorkerEvent) => void): () => void {
    return this.#events.listen(listener);
  }

  /** True while `start()` or `runBurst()` is in progress. */
  get isRunning(): boolean {
    return this.#loop !== undefined;
  }

  /**
   * Runs jobs until {@linkcode stop} is called; resolves when the worker stopped. Rejects if
   * `onStartup` throws or the worker is already running.
   */
  async start(): Promise<void> {
    await this.#begin(false);
  }

  /**
   * Processes every queued job, including jobs that become due while it runs (delays, retry
   * backoff), waits for its own running jobs, then resolves with what it did. Jobs running in
   * other workers are not waited for.
   */
  runBurst(): Promise<BurstResult> {
    return this.#begin(true);
  }

  /**
   * Stops the worker (see {@linkcode StopOptions}), then runs `onShutdown`. Resolves when
   * everything is done.
   */
  async stop(options: StopOptions = {}): Promise<void> {
    const loop = this.#loop;
    if (loop) {
      this.#stopOptions = {
        graceful: options.graceful ?? true,
        timeout: Math.max(0, options.timeout ?? 30_000),
      };
      this.#stopController?.abort();
      this.#notify();
      await loop.catch(() => {});
    }
    if (this.#startedUp) {
      this.#startedUp = false;
      await this.#options.onShutdown?.(this.#settings.state);
    }
  }

  async #begin(burst: boolean): Promise<BurstResult> {
    if (this.#loop) throw new Error("Worker is already running");
    const stop = new AbortController();
    this.#stopController = stop;
    this.#stopOptions = { graceful: true, timeout: 30_000 };
    const loop = this.#run(burst, stop.signal);
    this.#loop = loop;
    try {
      return await loop;
    } finally {
      if (this.#loop === loop) this.#loop = undefined;
    }
  }

  async #run(burst: boolean, stop: AbortSignal): Promise<BurstResult> {
    if (!this.#startedUp) {
      await this.#options.onStartup?.(this.#settings.state);
      this.#startedUp = true;
    }
    const counts: BurstResult = { completed: 0, failed: 0, retried: 0 };
    this.#counts = counts;
    const signal = await this.#backend.openWorkSignal();
    const heartbeat = clock.setInterval(
      () => renewLeases(this.#backend, this.#running, this.#settings.leaseMs),
      this.#settings.heartbeatMs,
    );
    const reaper = clock.setInterval(
      () => reapLeases(this.#backend),
      this.#settings.reapIntervalMs,
    );
    try {
      await this.#fetchLoop(burst, stop, signal);
      await this.#drain(stop.aborted ? this.#stopOptions : { graceful: true, timeout: Infinity });
    } finally {
      clock.clearTimeout(heartbeat);
      clock.clearTimeout(reaper);
      await signal.close().catch(() => {});
    }
    return { ...counts };
  }

  async #fetchLoop(burst: boolean, stop: AbortSignal, signal: WorkSignal): Promise<void> {
    const log = getLogger();
    let failures = 0;
    while (!stop.aborted) {
      if (this.runningJobs >= this.#settings.concurrency) {
        this.#events.emit({ type: "full", running: this.runningJobs });
        await this.#changedOnce();
        continue;
      }
      let claimed;
      try {
        claimed = await this.#backend.claim(this.#nextToken(), this.#settings.leaseMs);
        failures = 0;
      } catch (error) {
        failures++;
        if (failures === 1) log.warn("Job worker: cannot fetch jobs", { error });
        const retryInMs = Math.min(100 * 2 ** failures, 2000);
        this.#events.emit({ type: "fetchFailed", error, failures, retryInMs });
        await this.#sleep(retryInMs);
        continue;
      }
      if (stop.aborted) {
        // Claimed after stop was requested: hand it straight back.
        if (claimed.job) await this.#backend.release(claimed.job.id, claimed.job.token);
        break;
      }
      if (claimed.job) {
        this.#launch(claimed.job);
        continue;
      }
      if (burst && claimed.nextDueInMs === undefined && this.#running.size === 0) break;
      this.#events.emit({ type: "idle", nextDueInMs: claimed.nextDueInMs });
      const wait = Math.max(
        1,
        Math.min(claimed.nextDueInMs ?? this.#settings.maxBlockMs, this.#settings.maxBlockMs),
      );
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        signal.wait(wait).catch(() => {}),
        new Promise<void>((resolve) => timer = clock.setTimeout(resolve, wait + 5)),
        this.#changedOnce(),
      ]);
      clock.clearTimeout(timer);
    }
  }

  async #drain(options: Required<StopOptions>): Promise<void> {
    if (this.#running.size === 0) return;
    if (options.graceful && options.timeout > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const all = Promise.all([...this.#running.values()].map((r) => r.done));
      if (options.timeout === Infinity) await all;
      else {
        await Promise.race([
          all,
          new Promise<void>((resolve) => timer = clock.setTimeout(resolve, options.timeout)),
        ]);
        clock.clearTimeout(timer);
      }
    }
    await releaseAll(this.#backend, this.#running);
  }

  #launch(job: ClaimedJob): void {
    const entry = newTry(job);
    this.#running.set(job.token, entry);
    if (this.#events.active) this.#events.emit({ type: "started", job: eventJob(job) });
    entry.done = executeTry(entry, this.#runner).catch((error) => {
      getLogger().error("Job worker: internal error", {
        jobId: job.id,
        error: describeError(error),
      });
    }).finally(() => {
      this.#running.delete(job.token);
      this.#linger(entry);
      this.#notify();
    });
  }

  /** Keeps the slot of a try whose function still runs after its outcome was recorded. */
  #linger(entry: RunningTry): void {
    if (entry.returned) return;
    this.#lingering.add(entry);
    getLogger().warn(
      `Job ${entry.job.id}: try ${entry.job.tryNumber} ignored its abort signal and still runs; ` +
        `it keeps its concurrency slot until it returns`,
    );
    entry.settled.then(() => {
      this.#lingering.delete(entry);
      this.#notify();
    });
  }

  #nextToken(): string {
    return `${this.#id}.${(++this.#tokenCounter).toString(36)}`;
  }

  #notify(): void {
    const changed = this.#changed;
    this.#changed = undefined;
    changed?.resolve();
  }

  #changedOnce(): Promise<void> {
    if (!this.#changed) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => resolve = r);
      this.#changed = { promise, resolve };
    }
    return this.#changed.promise;
  }

  /** Sleeps `ms`, or less when a job finishes or `stop()` is called. */
  async #sleep(ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      new Promise<void>((resolve) => timer = clock.setTimeout(resolve, ms)),
      this.#changedOnce(),
    ]);
    clock.clearTimeout(timer);
  }
}

/** What a {@linkcode WorkerEvent} says of a try. */
function eventJob(job: ClaimedJob): WorkerEventJob {
  return { id: job.id, name: job.name, tryNumber: job.tryNumber };
}

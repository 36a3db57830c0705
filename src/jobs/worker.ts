/**
 * {@linkcode Worker}: runs job functions for jobs on any {@linkcode JobBackend} (the in-memory
 * and Redis job queues), with a concurrency limit, per-try timeouts, retries with backoff, lease
 * renewal, crash recovery of other workers' jobs, graceful shutdown and a burst mode for tests.
 *
 * @module
 */
import {
  backoffDelay,
  type ClaimedJob,
  DEFAULT_RETRY_BACKOFF,
  describeError,
  JobAbortedError,
  type JobBackend,
  type JobContext,
  type JobFunction,
  JobTimeoutError,
  type JsonValue,
  type RetryBackoff,
  UnrecoverableJobError,
  type WorkSignal,
} from "./contract.ts";
import { getLogger } from "../logger.ts";

/** Options of a {@linkcode Worker}. `S` is the type of the shared state. */
export interface WorkerOptions<S = Record<string, unknown>> {
  /** The job functions by name. A job whose name is not here fails at once. */
  functions: Record<string, JobFunction<S>>;
  /**
   * How many tries run at the same time. Default 10. A try whose outcome is already recorded
   * (it timed out, or its lease was lost) but whose function has not returned yet — it ignores
   * `ctx.signal` — keeps its slot until its promise settles, so the limit holds for the work
   * really running.
   */
  concurrency?: number;
  /** Shared state passed to hooks and to every job as `ctx.state`. Default `{}`. */
  state?: S;
  /** Runs once before the first job is fetched (`start()` or the first `runBurst()`). */
  onStartup?(state: S): unknown;
  /** Runs in `stop()` after the last job finished or was returned to the queue. */
  onShutdown?(state: S): unknown;
  /**
   * How long a claimed job stays leased without a heartbeat; a job whose worker died runs again
   * within about `leaseMs + reapIntervalMs`. Default 30,000.
   */
  leaseMs?: number;
  /** How often leases are renewed. Default `leaseMs / 3`. */
  heartbeatMs?: number;
  /** How often expired leases (of any worker) are returned to the queue. Default `leaseMs / 2`. */
  reapIntervalMs?: number;
  /** Timeout of a try when the job has none. Default 300,000 ms. */
  jobTimeoutMs?: number;
  /** Delay before a retry. Default {@linkcode DEFAULT_RETRY_BACKOFF}. */
  retryBackoff?: RetryBackoff;
  /** Longest single blocking wait for work, in ms. Default 5,000. */
  maxBlockMs?: number;
}

/** Options of {@linkcode Worker.stop}. */
export interface StopOptions {
  /**
   * True (default): stop fetching and let running jobs finish for up to `timeout` ms, then
   * return the unfinished ones to the queue. False: return running jobs to the queue at once.
   */
  graceful?: boolean;
  /** How long a graceful stop waits for running jobs, in ms. Default 30,000. */
  timeout?: number;
}

/** What {@linkcode Worker.runBurst} did. */
export interface BurstResult {
  /** Jobs that completed. */
  completed: number;
  /** Jobs that finally failed. */
  failed: number;
  /** Failed tries that were scheduled to run again. */
  retried: number;
}

interface Running {
  job: ClaimedJob;
  controller: AbortController;
  abandoned: boolean;
  done: Promise<void>;
  /** Settles when the job function's promise settles (or at once if it never started). */
  settled: Promise<void>;
  /** True once the job function's promise settled (or when it never started). */
  returned: boolean;
}

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
 * ```
 */
export class Worker<S = Record<string, unknown>> {
  readonly #backend: JobBackend;
  readonly #functions: Record<string, JobFunction<S>>;
  readonly #concurrency: number;
  readonly #state: S;
  readonly #options: WorkerOptions<S>;
  readonly #leaseMs: number;
  readonly #heartbeatMs: number;
  readonly #reapIntervalMs: number;
  readonly #jobTimeoutMs: number;
  readonly #backoff: RetryBackoff;
  readonly #maxBlockMs: number;
  readonly #id: string;
  #tokenCounter = 0;
  /** Tries whose outcome is not recorded yet, by lease token. */
  #running = new Map<string, Running>();
  /** Tries whose outcome is recorded but whose function still runs (it ignored its signal). */
  #lingering = new Set<Running>();
  #changed: { promise: Promise<void>; resolve: () => void } | undefined;
  #loop: Promise<BurstResult> | undefined;
  #stopController: AbortController | undefined;
  #stopOptions: Required<StopOptions> = { graceful: true, timeout: 30_000 };
  #startedUp = false;
  #counts: BurstResult = { completed: 0, failed: 0, retried: 0 };

  /** Creates a worker for `backend` (an `InMemoryJobQueue` or a `RedisJobQueue`). */
  constructor(backend: JobBackend, options: WorkerOptions<S>) {
    if (!options || typeof options.functions !== "object" || options.functions === null) {
      throw new TypeError("Worker needs options.functions");
    }
    for (const [name, fn] of Object.entries(options.functions)) {
      if (typeof fn !== "function") throw new TypeError(`Job function '${name}' is not a function`);
    }
    this.#backend = backend;
    this.#functions = { ...options.functions };
    this.#options = options;
    this.#concurrency = positiveInt(options.concurrency ?? 10, "concurrency");
    this.#state = options.state ?? ({} as S);
    this.#leaseMs = positive(options.leaseMs ?? 30_000, "leaseMs");
    this.#heartbeatMs = positive(options.heartbeatMs ?? this.#leaseMs / 3, "heartbeatMs");
    this.#reapIntervalMs = positive(options.reapIntervalMs ?? this.#leaseMs / 2, "reapIntervalMs");
    this.#jobTimeoutMs = positive(options.jobTimeoutMs ?? 300_000, "jobTimeoutMs");
    this.#backoff = options.retryBackoff ?? DEFAULT_RETRY_BACKOFF;
    this.#maxBlockMs = positive(options.maxBlockMs ?? 5_000, "maxBlockMs");
    this.#id = `${Date.now().toString(36)}${++workerCounter}${
      Math.random().toString(36).slice(2, 8)
    }`;
  }

  /** The shared state. */
  get state(): S {
    return this.#state;
  }

  /**
   * How many tries this worker is running now: the slots in use, counting tries that timed out
   * or lost their lease while their function still runs.
   */
  get runningJobs(): number {
    return this.#running.size + this.#lingering.size;
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
      await this.#options.onShutdown?.(this.#state);
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
      await this.#options.onStartup?.(this.#state);
      this.#startedUp = true;
    }
    const counts: BurstResult = { completed: 0, failed: 0, retried: 0 };
    this.#counts = counts;
    const signal = await this.#backend.openWorkSignal();
    const heartbeat = setInterval(() => this.#heartbeat(), this.#heartbeatMs);
    const reaper = setInterval(() => this.#reap(), this.#reapIntervalMs);
    try {
      await this.#fetchLoop(burst, stop, signal);
      await this.#drain(stop.aborted ? this.#stopOptions : { graceful: true, timeout: Infinity });
    } finally {
      clearInterval(heartbeat);
      clearInterval(reaper);
      await signal.close().catch(() => {});
    }
    return { ...counts };
  }

  async #fetchLoop(burst: boolean, stop: AbortSignal, signal: WorkSignal): Promise<void> {
    const log = getLogger();
    let failures = 0;
    while (!stop.aborted) {
      if (this.runningJobs >= this.#concurrency) {
        await this.#changedOnce();
        continue;
      }
      let claimed;
      try {
        claimed = await this.#backend.claim(this.#nextToken(), this.#leaseMs);
        failures = 0;
      } catch (error) {
        failures++;
        if (failures === 1) log.warn("Job worker: cannot fetch jobs", { error });
        await this.#sleep(Math.min(100 * 2 ** failures, 2000));
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
      const wait = Math.max(1, Math.min(claimed.nextDueInMs ?? this.#maxBlockMs, this.#maxBlockMs));
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        signal.wait(wait).catch(() => {}),
        new Promise<void>((resolve) => timer = setTimeout(resolve, wait + 5)),
        this.#changedOnce(),
      ]);
      clearTimeout(timer);
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
          new Promise<void>((resolve) => timer = setTimeout(resolve, options.timeout)),
        ]);
        clearTimeout(timer);
      }
    }
    const left = [...this.#running.values()];
    await Promise.all(left.map(async (r) => {
      r.abandoned = true;
      r.controller.abort(new JobAbortedError(r.job.id, "shutdown"));
      try {
        await this.#backend.release(r.job.id, r.job.token);
      } catch (error) {
        getLogger().warn("Job worker: cannot return a job to the queue (its lease will expire)", {
          jobId: r.job.id,
          error,
        });
      }
      this.#running.delete(r.job.token);
    }));
  }

  #launch(job: ClaimedJob): void {
    const entry: Running = {
      job,
      controller: new AbortController(),
      abandoned: false,
      done: Promise.resolve(),
      settled: Promise.resolve(),
      returned: true,
    };
    this.#running.set(job.token, entry);
    entry.done = this.#execute(entry).catch((error) => {
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
  #linger(entry: Running): void {
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

  async #execute(entry: Running): Promise<void> {
    const { job, controller } = entry;
    const log = getLogger();
    const fn = Object.hasOwn(this.#functions, job.name) ? this.#functions[job.name] : undefined;
    if (!fn) {
      const message = `Unknown job function '${job.name}'`;
      log.error(`Job ${job.id}: ${message}`);
      if (await this.#backend.fail(job.id, job.token, message)) this.#counts.failed++;
      return;
    }
    const ctx: JobContext<S> = {
      jobId: job.id,
      name: job.name,
      tryNumber: job.tryNumber,
      maxTries: job.maxTries,
      enqueuedAt: new Date(job.enqueuedAt),
      state: this.#state,
      signal: controller.signal,
    };
    const timeoutMs = job.timeout ?? this.#jobTimeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let ok = false;
    let value: unknown;
    let failure: unknown;
    const call = Promise.resolve().then(() => fn(ctx, ...job.args));
    entry.returned = false;
    const returned = () => {
      entry.returned = true;
    };
    entry.settled = call.then(returned, returned);
    try {
      value = await Promise.race([
        call,
        new Promise((_, reject) => {
          timer = setTimeout(() => {
            const error = new JobTimeoutError(job.id, timeoutMs);
            controller.abort(error);
            reject(error);
          }, timeoutMs);
        }),
        new Promise((_, reject) => {
          if (controller.signal.aborted) reject(controller.signal.reason);
          controller.signal.addEventListener("abort", () => reject(controller.signal.reason), {
            once: true,
          });
        }),
      ]);
      ok = true;
    } catch (error) {
      failure = error;
    } finally {
      clearTimeout(timer);
    }
    if (entry.abandoned || isInstance(failure, JobAbortedError)) return;
    if (ok) {
      let json: JsonValue;
      try {
        json = value === undefined ? null : JSON.parse(JSON.stringify(value));
      } catch (error) {
        ok = false;
        failure = new UnrecoverableJobError(
          `Result is not JSON-serializable: ${describeError(error)}`,
        );
      }
      if (ok) {
        if (await this.#backend.complete(job.id, job.token, json!)) this.#counts.completed++;
        else log.warn(`Job ${job.id}: finished after its lease was lost; result dropped`);
        return;
      }
    }
    const message = describeError(failure);
    const last = job.tryNumber >= job.maxTries || isInstance(failure, UnrecoverableJobError);
    if (last) {
      log.warn(`Job ${job.id} (${job.name}) failed after ${job.tryNumber} tries: ${message}`);
      if (await this.#backend.fail(job.id, job.token, message)) this.#counts.failed++;
    } else {
      const delay = backoffDelay(job.tryNumber, this.#backoff);
      log.info(`Job ${job.id} (${job.name}) try ${job.tryNumber} failed, retrying in ${delay} ms`, {
        error: message,
      });
      if (await this.#backend.retry(job.id, job.token, message, delay)) this.#counts.retried++;
    }
  }

  async #heartbeat(): Promise<void> {
    const leases = [...this.#running.values()].filter((r) => !r.abandoned).map((r) => ({
      id: r.job.id,
      token: r.job.token,
    }));
    if (leases.length === 0) return;
    try {
      // By token, not by job id: this worker may hold a fresh try of a job whose old try lost
      // its lease, and only the old one must be aborted.
      const lost = new Set((await this.#backend.renew(leases, this.#leaseMs)).map((l) => l.token));
      if (lost.size === 0) return;
      for (const r of this.#running.values()) {
        if (lost.has(r.job.token) && !r.abandoned) {
          getLogger().warn(`Job ${r.job.id}: lease lost; another worker may run it`);
          r.abandoned = true;
          r.controller.abort(new JobAbortedError(r.job.id, "lease_lost"));
        }
      }
    } catch (error) {
      getLogger().warn("Job worker: cannot renew leases", { error: describeError(error) });
    }
  }

  async #reap(): Promise<void> {
    try {
      const n = await this.#backend.reap();
      if (n > 0) {
        getLogger().warn(`Job worker: ${n} job(s) with expired leases returned to the queue`);
      }
    } catch (error) {
      getLogger().debug("Job worker: reaping failed", { error });
    }
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
      new Promise<void>((resolve) => timer = setTimeout(resolve, ms)),
      this.#changedOnce(),
    ]);
    clearTimeout(timer);
  }
}

/** `instanceof` that never throws (a Proxy's `getPrototypeOf` trap may). */
function isInstance(value: unknown, type: abstract new (...args: never[]) => unknown): boolean {
  try {
    return value instanceof type;
  } catch {
    return false;
  }
}

function positive(value: number, name: string): number {
  if (typeof value !== "number" || !(value > 0)) {
    throw new TypeError(`${name} must be a positive number`);
  }
  return value;
}

function positiveInt(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new TypeError(`${name} must be a positive integer`);
  }
  return value;
}

/**
 * The options of a {@linkcode Worker}, of its `stop()`, what a burst reports and the events it
 * tells its `onEvent` listeners, with the checks and defaults applied when a worker is made.
 *
 * @module
 */
import type { JobObserver } from "../observe/hooks.ts";
import { DEFAULT_RETRY_BACKOFF, type JobFunction, type RetryBackoff } from "./contract.ts";

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
  /** Told of every finished try (`ServerMetrics.jobs` from `./metrics`). Default: nobody. */
  observer?: JobObserver;
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

/** The try a {@linkcode WorkerEvent} is about. */
export interface WorkerEventJob {
  /** The job id. */
  readonly id: string;
  /** The job function's name. */
  readonly name: string;
  /** The try, 1-based. */
  readonly tryNumber: number;
}

/**
 * What a {@linkcode Worker} tells its `onEvent` listeners, synchronously, as it happens:
 *
 * - `started`: a try was claimed and its function is called next.
 * - `finished`: the outcome of a try is recorded on the queue (what `runBurst()` counts):
 *   `completed`, `retried` (it runs again after the backoff) or `failed` (for good). Tries given
 *   up without an outcome (a lost lease, a stop) have none; `seconds` is the try's duration.
 * - `full`: every slot is in use (`concurrency`, counting tries that still run after their outcome
 *   was recorded); the worker fetches nothing until one is free. Told each time it finds them so.
 * - `idle`: the worker looked for a job and none was ready; it waits for a wake-up, for the next
 *   delayed job (`nextDueInMs`, undefined when none is delayed) or for `maxBlockMs`, then looks
 *   again. Not told when a burst ends instead.
 * - `fetchFailed`: a claim could not reach the queue (`error`, the `failures` in a row); the
 *   worker tries again in `retryInMs` (sooner when a try ends or `stop()` is called).
 */
export type WorkerEvent =
  | { readonly type: "started"; readonly job: WorkerEventJob }
  | {
    readonly type: "finished";
    readonly job: WorkerEventJob;
    readonly outcome: keyof BurstResult;
    readonly seconds: number;
  }
  | { readonly type: "full"; readonly running: number }
  | { readonly type: "idle"; readonly nextDueInMs: number | undefined }
  | {
    readonly type: "fetchFailed";
    readonly error: unknown;
    readonly failures: number;
    readonly retryInMs: number;
  };

/** {@linkcode WorkerOptions} checked, with every default filled in. */
export interface WorkerSettings<S> {
  /** A copy of the job functions. */
  readonly functions: Record<string, JobFunction<S>>;
  /** Tries at the same time. */
  readonly concurrency: number;
  /** The shared state. */
  readonly state: S;
  /** Lease length, ms. */
  readonly leaseMs: number;
  /** Lease renewal interval, ms. */
  readonly heartbeatMs: number;
  /** Reaping interval, ms. */
  readonly reapIntervalMs: number;
  /** Default per-try timeout, ms. */
  readonly jobTimeoutMs: number;
  /** Retry backoff. */
  readonly backoff: RetryBackoff;
  /** Longest blocking wait, ms. */
  readonly maxBlockMs: number;
}

/** Checks `options` (throwing `TypeError`) and fills in the defaults. */
export function workerSettings<S>(options: WorkerOptions<S>): WorkerSettings<S> {
  if (!options || typeof options.functions !== "object" || options.functions === null) {
    throw new TypeError("Worker needs options.functions");
  }
  for (const [name, fn] of Object.entries(options.functions)) {
    if (typeof fn !== "function") throw new TypeError(`Job function '${name}' is not a function`);
  }
  const functions = { ...options.functions };
  const concurrency = positiveInt(options.concurrency ?? 10, "concurrency");
  const state = options.state ?? ({} as S);
  const leaseMs = positive(options.leaseMs ?? 30_000, "leaseMs");
  return {
    functions,
    concurrency,
    state,
    leaseMs,
    heartbeatMs: positive(options.heartbeatMs ?? leaseMs / 3, "heartbeatMs"),
    reapIntervalMs: positive(options.reapIntervalMs ?? leaseMs / 2, "reapIntervalMs"),
    jobTimeoutMs: positive(options.jobTimeoutMs ?? 300_000, "jobTimeoutMs"),
    backoff: options.retryBackoff ?? DEFAULT_RETRY_BACKOFF,
    maxBlockMs: positive(options.maxBlockMs ?? 5_000, "maxBlockMs"),
  };
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
